// Real btrfs, bundled file, on the btrfs process path (Node, and Bun with PANTHEROS_BTRFS_BACKEND=process): the
// clean-up boot (issue 15). Archives the tool makes are snapshots (each root is a snapshot of the blank), so the
// creation times of every expired archive come from one `btrfs subvolume list -s` instead of one `btrfs subvolume
// show` each (about 45 ms apiece with 2 000 subvolumes: show walks every subvolume to print the snapshots of one).
// The time is believed only when the one trusted record of the archive says it is a snapshot (parent UUID) and exactly
// one line of `list -s` names it, with its id and creation generation; a user's snapshot whose name forges a second
// line sends it back to `show`. Counts of processes, not times: they cannot flake with load.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { sh } from '../helpers/btrfs-image.js';
import { commit, describeRun, OLD_ROOTS, useBootCase, type BootCase } from '../helpers/boot-case.js';
import { NOBODY } from '../helpers/ops.js';
import { PYTHON, requirePython } from '../helpers/attack.js';
import { requirePrerequisites, RUNTIMES, type Runtime } from '../helpers/prereq.js';

beforeAll(() => requirePrerequisites(['btrfs', 'mkfs.btrfs', 'losetup', 'mount', 'umount', 'setpriv'], 'apt-get install -y btrfs-progs util-linux'));
beforeAll(() => requirePython());

const DAY = 86_400_000;
const PROCESS_PATH = { PANTHEROS_BTRFS_BACKEND: 'process' };
const stamp = (ms: number) => new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Archives as the tool leaves them: snapshots of the blank (in the order given = cgen order), `nested` subvolumes in each. */
function seedSnapshotArchives(c: BootCase, names: string[], nested = 0): void {
  for (const name of names) {
    sh('btrfs', ['subvolume', 'snapshot', c.abs('@root-blank'), c.abs(`${OLD_ROOTS}/${name}`)]);
    writeFileSync(c.abs(`${OLD_ROOTS}/${name}/marker`), `archive ${name}\n`);
    for (let i = 0; i < nested; i++) {
      mkdirSync(c.abs(`${OLD_ROOTS}/${name}/var/lib/c`), { recursive: true });
      sh('btrfs', ['subvolume', 'create', c.abs(`${OLD_ROOTS}/${name}/var/lib/c/${i}`)]);
    }
    commit(c);
  }
}

/** The id and creation generation `btrfs subvolume list` gives a path (read as root, as an attacker would guess them). */
function idOf(c: BootCase, rel: string): { id: number; cgen: number } {
  const s = c.subvolume(rel);
  expect(s, rel).toBeDefined();
  return { id: s!.id, cgen: s!.cgen };
}

/**
 * As nobody, in a world-writable directory: a subvolume of the user's own and a snapshot of it whose name holds a
 * newline and a `list -s` line naming `path` with the given id, creation generation and creation time. `lines` is
 * how many lines of `btrfs subvolume list -s` then name the path (2 with the real one of a snapshot).
 */
function forgeSnapshotLine(c: BootCase, path: string, facts: { id: number; cgen: number }, otime: string, lines: number): void {
  chmodSync(c.image.dir, 0o755);
  mkdirSync(c.abs('@persistent/tmp'), { recursive: true });
  chmodSync(c.abs('@persistent/tmp'), 0o1777);
  const line = `ID ${facts.id} gen ${facts.cgen} cgen ${facts.cgen} parent 5 top level 5 otime ${otime} parent_uuid - received_uuid - uuid - path ${path}`;
  // A name cannot hold "/": the line's path is spread over directories, the last component the snapshot's name.
  const script = [
    'import os,sys,subprocess',
    'os.chdir(sys.argv[1])',
    'subprocess.run(["btrfs","-q","subvolume","create","mine"],check=True)',
    'd,n=os.path.split("x\\n"+sys.argv[2])',
    'os.makedirs(d)',
    'subprocess.run(["btrfs","-q","subvolume","snapshot","mine",os.path.join(d,n)],check=True)',
  ].join('\n');
  const r = spawnSync('setpriv', [`--reuid=${NOBODY.uid}`, `--regid=${NOBODY.gid}`, '--clear-groups', PYTHON, '-c', script, c.abs('@persistent/tmp'), line], { encoding: 'utf8' });
  expect(r.status, `python3 as nobody: ${r.stderr}`).toBe(0);
  commit(c);
  const listed = sh('btrfs', ['subvolume', 'list', '-s', '-R', c.top]).split('\n').filter((l) => l.endsWith(` path ${path}`));
  expect(listed.length, listed.join('\n')).toBe(lines);
}

const RUNS = [
  { label: 'node', runtime: RUNTIMES[0], env: {} },
  { label: 'bun on the process path', runtime: RUNTIMES[1], env: PROCESS_PATH },
] as const;

describe.each(RUNS)('clean-up boot under $label', ({ runtime, env }: { runtime: Runtime; env: Record<string, string> }) => {
  it('reads the creation times of 6 expired snapshot archives with one process: 6 btrfs processes in all (one listing, list -s, get-default, delete, commit, snapshot), the same plan as the ioctl path', () => {
    const c = useBootCase(runtime);
    // Named relative to a clock 400 days ahead (made before their names, as on a real machine): 6 expired, 2 recent.
    const now = Date.now() + 400 * DAY;
    const expired = Array.from({ length: 6 }, (_, i) => stamp(now - (45 - i) * DAY));
    const recent = [stamp(now - 2 * DAY), stamp(now - DAY)];
    seedSnapshotArchives(c, [...expired, ...recent], 2);
    const config = { deviceTimeoutSeconds: 1, oldRoots: { keepDays: 30, keepAtLeast: 2 } };
    const ioctlCase = useBootCase(RUNTIMES[1]);
    seedSnapshotArchives(ioctlCase, [...expired, ...recent], 2);
    const r = c.boot(iso(now), { config, env });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.deleted.map((d) => d.path).sort()).toEqual(expired.map((n) => `${OLD_ROOTS}/${n}`));
    expect(c.archives()).toEqual([...recent, stamp(Date.parse(iso(now)))].sort());
    expect(r.report?.spawns, describeRun(r)).toBe(6);
    // The ioctl path (Bun, no process) decides the same from the same state.
    const viaIoctl = ioctlCase.boot(iso(now), { config });
    expect(viaIoctl.code, describeRun(viaIoctl)).toBe(0);
    expect(viaIoctl.report?.spawns).toBe(0);
    const verdicts = (x: typeof r) => [...(x.report?.kept ?? []).map((k) => `keep ${k.name}: ${k.reason}`), ...(x.report?.deleted ?? []).map((d) => `delete ${d.path}`)].sort();
    expect(verdicts(r)).toEqual(verdicts(viaIoctl));
  });

  it('two snapshot archives named by a clock that was behind are aged from their creation times, read from one list -s, whatever the local time zone', () => {
    const c = useBootCase(runtime);
    seedSnapshotArchives(c, ['20240101T000000Z', '20240102T000000Z', stamp(Date.now() - DAY), stamp(Date.now() - 3_600_000)]);
    // list -s prints local time without a zone: 9 hours ahead here, unless the tool runs it in UTC.
    const r = c.boot(iso(Date.now()), { config: { deviceTimeoutSeconds: 1, oldRoots: { keepDays: 30, keepAtLeast: 2 } }, env: { ...env, TZ: 'JST-9' } });
    expect(r.code, describeRun(r)).toBe(0);
    for (const name of ['20240101T000000Z', '20240102T000000Z']) {
      expect(r.report?.kept.find((k) => k.name === name)?.reason).toMatch(/within keepDays .*counted from its creation time .*the clock was behind when it was archived/);
      expect(c.archives()).toContain(name);
    }
    // One listing, list -s (no show), get-default, the snapshot: nothing is deleted.
    expect(r.report?.spawns, describeRun(r)).toBe(4);
  });

  it('a user snapshot whose name forges a list -s line (same id and cgen, otime 2020) for that archive: not believed, the facts come from show, the archive stays', () => {
    const c = useBootCase(runtime);
    seedSnapshotArchives(c, ['20240101T000000Z', stamp(Date.now() - DAY), stamp(Date.now() - 3_600_000)]);
    const path = `${OLD_ROOTS}/20240101T000000Z`;
    forgeSnapshotLine(c, path, idOf(c, path), '2020-01-01 00:00:00', 2);
    const r = c.boot(iso(Date.now()), { config: { deviceTimeoutSeconds: 1, oldRoots: { keepDays: 30, keepAtLeast: 2 } }, env });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.kept.find((k) => k.name === '20240101T000000Z')?.reason).toMatch(/counted from its creation time/);
    expect(c.archives()).toContain('20240101T000000Z');
    // The forged line names the archive in the full listing too, so its record already comes from show (one process).
    expect(r.report?.spawns, describeRun(r)).toBe(4);
  });

  it('a plain-subvolume archive (not in list -s) with a forged list -s line as the only one naming it: not believed, show answers, the archive stays', () => {
    const c = useBootCase(runtime);
    c.createSubvolume(`${OLD_ROOTS}/20240101T000000Z`, { marker: 'plain\n' });
    commit(c);
    seedSnapshotArchives(c, [stamp(Date.now() - DAY), stamp(Date.now() - 3_600_000)]);
    const path = `${OLD_ROOTS}/20240101T000000Z`;
    forgeSnapshotLine(c, path, idOf(c, path), '2020-01-01 00:00:00', 1);
    const r = c.boot(iso(Date.now()), { config: { deviceTimeoutSeconds: 1, oldRoots: { keepDays: 30, keepAtLeast: 2 } }, env });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.kept.find((k) => k.name === '20240101T000000Z')?.reason).toMatch(/counted from its creation time/);
    expect(c.archives()).toContain('20240101T000000Z');
  });
});
