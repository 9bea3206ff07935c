// The boot's pure stages run once on a made-up layout while Node builds its start-up snapshot of the boot entry
// (src/bin-boot-snapshot.ts), so the snapshot holds their compiled code and stage 1 does not compile them again.
import { formatTimestamp } from '../archive/naming.js';
import { parseFlags } from '../cli/args.js';
import { rollbackParameter } from '../cmdline/parse-cmdline.js';
import { describeUnknownKeys, unknownKeys } from '../cmdline/unknown-keys.js';
import { BOOT_FLAGS } from '../commands/boot.js';
import { validateConfig, type Config } from '../config/load-config.js';
import type { Execution } from '../engine/execute.js';
import type { EntryKind } from '../fs/entry-kind.js';
import { isWritableMount, mountsOfSubvolume, parseMountinfo, pathsInUse } from '../fs/mountinfo.js';
import { parseNow } from '../list/clock.js';
import type { SubvolumeRecord } from '../btrfs/inventory.js';
import { LAST_REPORT_FILE, type DirEntry, type Observed } from './observe.js';
import { buildBootReport, formatPlan } from './report.js';
import { planAndCheckBoot } from './run-boot.js';
import { chooseTarget } from './target.js';

/** The made-up clock: a constant, never the system's (the snapshot is built once, long before any boot). */
const NOW = '2026-11-26T06:00:00.000Z';
const DAY_MS = 86_400_000;
const MOUNTINFO = '22 1 0:21 / / rw,relatime shared:1 - btrfs /dev/vda2 rw,space_cache=v2,subvolid=5,subvol=/\n';
const CMDLINE = 'BOOT_IMAGE=/boot/bzImage init=/nix/store/x-nixos-system/init root=fstab ro quiet';

/**
 * Runs what a boot runs between reading its inputs and writing its report — flags, config, kernel command line,
 * mountinfo, the plan and the one check, the report and its JSON — on a made-up layout: a trivial boot (three recent
 * archives, nothing to delete), then one that ages out an archive with a nested subvolume. Nothing of it is kept.
 *
 * Reads nothing: no file, no environment variable, not the clock (only constants above); spawns nothing and changes no
 * module state a run depends on (the only one it reaches is naming.ts's cache of name → time, a pure function). A V8
 * start-up snapshot built after it holds the compiled code of everything it ran (V8 keeps the functions' bytecode in
 * the snapshot); under Bun and in the plain bundle it is never called.
 *
 * Returns, for each of the two boots, the plan's step actions (['rename', 'snapshot'], and one with a 'delete') and
 * the report's JSON, so a test can tell that the made-up layout still reaches the executor's input and that nothing
 * of the run's surroundings (clock, environment) shows in what it computed. Throws what the planner throws.
 */
export function warmUpBoot(): { actions: string[]; report: string }[] {
  const args = parseFlags(['--top-level', '/mnt/top', '--config', '/etc/pantheros/rollback.json', '--cmdline', '/proc/cmdline', '--report', '/run/pantheros-rollback/report.json', '--now', NOW], BOOT_FLAGS, 'boot');
  const now = parseNow(String(args.now), 'boot');
  const config = validateConfig(JSON.parse('{"oldRoots":{"keepDays":30,"keepAtLeast":3}}'));
  const mounts = parseMountinfo(MOUNTINFO);
  const top = mounts[0]!;
  isWritableMount(top);
  const trivial = observedAt(config, now, { facts: false, mountedPaths: pathsInUse(mounts, top.majorMinor), rootMountedAt: mountsOfSubvolume(mounts, top.majorMinor, config.subvolumes.root) });
  const ageOut = observedAt(config, now, { facts: true, mountedPaths: [], rootMountedAt: [] });
  return [trivial, ageOut].map((observed) => {
    const plan = planAndCheckBoot(observed, config, now);
    const execution: Execution = { status: new Map(plan.steps.map((s) => [s.n, 'done'])), items: new Map(), warnings: [] };
    for (const s of plan.steps) if (s.action === 'delete') for (const i of s.items) execution.items.set(i.path, { path: i.path, deleted: true, error: null });
    const report = buildBootReport({ tool: 'warm-up', runtime: 'warm-up', startedAt: now, now, dryRun: false, stage1: true, device: null, plan, execution, result: plan.result, warnings: [], error: null, exitCode: 0 });
    formatPlan(report);
    return { actions: plan.steps.map((s) => s.action), report: JSON.stringify(report, null, 2) };
  });
}

/** The made-up layout at `now`: the default subvolumes, three archives 1–3 days old, and with facts one 40 days old holding a nested subvolume. */
function observedAt(config: Config, now: Date, o: { facts: boolean; mountedPaths: string[]; rootMountedAt: string[] }): Observed {
  const { root, blank, oldRoots, snapshots } = config.subvolumes;
  const kinds: Record<string, EntryKind> = {};
  const along = (path: string, last: EntryKind) => {
    const parts = path.split('/');
    parts.forEach((_, i) => (kinds[parts.slice(0, i + 1).join('/')] = i === parts.length - 1 ? last : 'directory'));
  };
  along(root, 'subvolume');
  along(blank, 'subvolume');
  along(oldRoots, 'directory');
  along(snapshots, 'subvolume');
  const ages = o.facts ? [40, 3, 2, 1] : [3, 2, 1];
  const names = ages.map((days) => formatTimestamp(new Date(now.getTime() - days * DAY_MS)));
  const entries: DirEntry[] = [...names.map((name) => ({ name, kind: 'subvolume' as EntryKind, validName: true })), { name: LAST_REPORT_FILE, kind: 'file', validName: true }];
  for (const e of entries) kinds[`${oldRoots}/${e.name}`] = e.kind;
  let id = 256;
  const record = (path: string, cgen: number, readOnly: boolean, otime: Date | null): [string, SubvolumeRecord] => [
    path,
    { id: id++, gen: cgen, cgen, parent: 5, uuid: `00000000-0000-0000-0000-${String(id).padStart(12, '0')}`, parentUuid: null, receivedUuid: null, path, readOnly, otime, source: 'ioctl' },
  ];
  return {
    top: '/mnt/top',
    kinds,
    rootMountedAt: o.rootMountedAt,
    mountedPaths: o.mountedPaths,
    topWritable: true,
    immutable: [],
    rootReadOnly: false,
    immutableSources: new Set<string>(),
    blankReadOnly: true,
    blankEntries: 0,
    entries,
    request: null,
    space: { totalBytes: 64 * 2 ** 30, freeBytes: 48 * 2 ** 30, freePercent: 75 },
    chosen: chooseTarget(rollbackParameter(CMDLINE), null),
    cmdlineWarnings: describeUnknownKeys(unknownKeys(CMDLINE)),
    spacePressure: false,
    subvolumes: o.facts
      ? {
          records: new Map([
            record(blank, 5, true, null),
            ...names.map((name, i) => record(`${oldRoots}/${name}`, 10 + i, false, new Date(now.getTime() - ages[i]! * DAY_MS))),
            record(root, 100, false, null),
          ]),
          nested: new Map([[`${oldRoots}/${names[0]}`, [{ path: `${oldRoots}/${names[0]}/var/lib/machines`, bytes: Buffer.from(`${oldRoots}/${names[0]}/var/lib/machines`), readOnly: false }]]]),
          defaultId: 5,
          immutable: new Set<string>(),
          notes: [],
        }
      : null,
  };
}
