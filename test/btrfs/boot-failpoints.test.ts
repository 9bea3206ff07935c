// Real btrfs, bundled file, Node and Bun: power loss after every step N of a plan
// (PANTHEROS_FAILPOINT=after-step:N → SIGKILL), then a normal boot must leave a bootable root and lose no archive.
import { readdirSync, renameSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { sh } from '../helpers/btrfs-image.js';
import { BASE_CONFIG, describeRun, NEW_ROOT, NEXT_BOOT, OLD_ROOTS, outsideState, seedArchives, withBootCase, type BootCase } from '../helpers/boot-case.js';
import { requirePrerequisites, RUNTIMES } from '../helpers/prereq.js';

beforeAll(() => requirePrerequisites());

const NOW = '2026-11-26T06:00:00Z';
const LATER = '2026-11-26T06:10:00Z';
const CONFIG = { ...BASE_CONFIG, oldRoots: { keepDays: 30, keepAtLeast: 1 } };
const X = '20260901T000000Z'; // expired: the only archive the age-out may delete
const Y = '20261120T000000Z';
const Z = '20261125T000000Z';
const INTERRUPTED = '20261126T055900Z'; // the root an interrupted earlier run archived

interface Scenario {
  name: string;
  /** Puts the filesystem in the state before the interrupted boot. */
  seed: (c: BootCase) => void;
  cmdline?: string;
  /** Archives the age-out may legitimately delete. */
  deletable: string[];
  /** Actions the plan must contain (so the scenario tests what it says). */
  mustInclude: string[];
  /** The marker of the root the interrupted run puts in place (what the recovery boot then archives). */
  madeRootMarker: string | null;
}

const scenarios: Scenario[] = [
  {
    name: 'a normal boot that also ages out an archive holding a nested subvolume',
    seed: (c) => {
      seedArchives(c, [X, Y, Z]);
      c.createSubvolume(`${OLD_ROOTS}/${X}/var/lib/machines`, { m: 'nested\n' });
    },
    deletable: [X],
    mustInclude: ['snapshot', 'rename', 'delete'],
    madeRootMarker: null,
  },
  {
    name: 'pantheros.rollback=previous',
    seed: (c) => seedArchives(c, [Y, Z]),
    cmdline: 'pantheros.rollback=previous',
    deletable: [],
    mustInclude: ['snapshot', 'rename'],
    madeRootMarker: 'live-root\n',
  },
  {
    name: 'previous from a next-boot request',
    seed: (c) => {
      seedArchives(c, [Y, Z]);
      c.write(NEXT_BOOT, 'previous\n');
    },
    deletable: [],
    mustInclude: ['remove-file', 'snapshot', 'rename', 'commit'],
    madeRootMarker: 'live-root\n',
  },
  {
    name: 'an archive as the source while another archive ages out',
    seed: (c) => seedArchives(c, [X, Y, Z]),
    cmdline: `pantheros.rollback=${Y}`,
    deletable: [X],
    mustInclude: ['snapshot', 'rename', 'delete'],
    madeRootMarker: `archive ${Y}\n`,
  },
  {
    name: 'recovering from an earlier interruption (half-made new root left, @root already archived) while an archive ages out',
    seed: (c) => {
      seedArchives(c, [X, Y, Z]);
      sh('btrfs', ['subvolume', 'snapshot', c.abs('@root-blank'), c.abs(NEW_ROOT)]);
      renameSync(c.abs('@root'), c.abs(`${OLD_ROOTS}/${INTERRUPTED}`));
    },
    deletable: [X],
    // @root is already gone: nothing to rename away, the new root is snapshotted in its place (which commits).
    mustInclude: ['delete', 'snapshot'],
    madeRootMarker: null,
  },
];

/** Steps of the plan for this scenario, from a --dry-run --json report (dry-run changes nothing: boot-normal tests it). */
function planSteps(c: BootCase, s: Scenario): string[] {
  const r = c.boot(NOW, { cmdline: s.cmdline, config: CONFIG, dryRun: true, json: true });
  expect(r.code, describeRun(r)).toBe(0);
  return r.json!.steps.map((step) => step.action);
}

function idsByName(c: BootCase): Map<string, number> {
  return new Map(c.archives().map((n) => [n, c.subvolume(`${OLD_ROOTS}/${n}`)!.id]));
}

describe.each(RUNTIMES)('power loss after every step under $name', (runtime) => {
  it.each(scenarios)('$name: killed after each step N, then a normal boot: bootable root, no archive lost, no leftover', (s) => {
    const steps = withBootCase(runtime, (c) => {
      s.seed(c);
      return planSteps(c, s);
    });
    for (const action of s.mustInclude) expect(steps).toContain(action);
    expect(steps.length).toBeGreaterThanOrEqual(2);

    for (let n = 1; n <= steps.length; n++) {
      const at = `after-step:${n} (${steps[n - 1]})`;
      withBootCase(runtime, (c) => {
        s.seed(c);
        expect(planSteps(c, s), at).toEqual(steps);
        const outside = outsideState(c);
        // The root that is live before the interrupted boot (none when an earlier run already archived it).
        const live = c.subvolume('@root');
        const before = idsByName(c);

        const killed = c.boot(NOW, { cmdline: s.cmdline, config: CONFIG, env: { PANTHEROS_FAILPOINT: `after-step:${n}` } });
        expect(killed.signal, `${at}\n${describeRun(killed)}`).toBe('SIGKILL');
        // At no instant is data lost: the live root still exists, under its name or as an archive.
        if (live) expect(c.image.subvolumes().some((v) => v.id === live.id), at).toBe(true);
        const rootAfterKill = c.subvolume('@root');
        const placed = rootAfterKill !== undefined && rootAfterKill.id !== live?.id ? rootAfterKill : undefined;

        const r = c.boot(LATER, { config: CONFIG });
        expect(r.code, `${at}\n${describeRun(r)}`).toBe(0);
        expect(r.report?.result, at).toBe('ok');
        // A bootable, writable root: a fresh, empty one from the blank — or, when the interrupted run had not yet
        // removed the next-boot request (it goes last, once the new root is in place), the boot that request asked for.
        const requestPending = steps.includes('remove-file') && n < steps.indexOf('remove-file') + 1;
        expect(c.kind('@root'), at).toBe('subvolume');
        expect(c.image.isReadOnly('@root'), at).toBe(false);
        if (requestPending) {
          expect(r.report?.target, at).toMatchObject({ origin: 'next-boot', kind: 'previous' });
          expect(c.read('@root/marker'), at).toBe('live-root\n');
        } else expect(readdirSync(c.abs('@root')), at).toEqual([]);
        // No half-made root left anywhere.
        expect(c.entries().filter((e) => e.startsWith('.pantheros-new-root')), at).toEqual([]);
        expect(c.image.paths().filter((p) => p.includes('.pantheros-new-root')), at).toEqual([]);
        expect(c.kind(NEXT_BOOT), at).toBe('missing');
        // No archive lost: every earlier archive except the expired ones, with the same id ...
        const after = idsByName(c);
        for (const [name, id] of before) {
          if (s.deletable.includes(name)) expect(after.has(name), `${at}: ${name} should have aged out`).toBe(false);
          else expect(after.get(name), `${at}: archive ${name}`).toBe(id);
        }
        expect(c.read(`${OLD_ROOTS}/${Y}/marker`), at).toBe(`archive ${Y}\n`);
        // ... plus the root of the interrupted boot, with its content ...
        const archivedLive = live ? [...after].find(([, id]) => id === live.id) : undefined;
        if (live) {
          expect(archivedLive, `${at}: the root that was live before the interrupted boot is archived`).toBeDefined();
          expect(c.read(`${OLD_ROOTS}/${archivedLive![0]}/marker`), at).toBe('live-root\n');
        } else {
          expect(c.read(`${OLD_ROOTS}/${INTERRUPTED}/marker`), at).toBe('live-root\n');
        }
        // ... plus, if the interrupted boot got as far as putting its new root in place, that root.
        const known = new Set([...before.values(), ...(live ? [live.id] : [])]);
        const extra = [...after].filter(([, id]) => !known.has(id));
        if (placed) {
          expect(extra.map(([, id]) => id), at).toEqual([placed.id]);
          const made = `${OLD_ROOTS}/${extra[0]![0]}`;
          if (s.madeRootMarker === null) expect(readdirSync(c.abs(made)), at).toEqual([]);
          else expect(c.read(`${made}/marker`), at).toBe(s.madeRootMarker);
        } else {
          expect(extra, at).toEqual([]);
        }
        // Names still sort in boot order: the interrupted boot's archive(s) after the seeds.
        if (archivedLive) expect(c.archives().slice(-1 - extra.length)[0], at).toBe(archivedLive[0]);
        if (extra.length) expect(c.archives().at(-1), at).toBe(extra[0]![0]);
        expect(outsideState(c), at).toEqual(outside);
        expect(c.read('@persistent/marker'), at).toBe('persistent\n');
      });
    }
  });
});
