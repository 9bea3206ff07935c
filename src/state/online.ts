// The online state rollback (issue 14): for subvolumes the running system does not need to boot — stop the units
// that use them, refuse while anything still holds files open there (saying what), unmount, swap (a checked plan run
// by the one executor), mount again, start the units again; and put everything back as it was when a step fails.
// What is taken (stopped units, unmounted mounts) is registered with src/cli/signals.ts, so SIGINT/SIGTERM/SIGHUP
// gives it back.
import { closeSync, lstatSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/load-config.js';
import { runCommand } from '../btrfs/run.js';
import { hold, yieldToSignals, type Held } from '../cli/signals.js';
import type { Execution } from '../engine/execute.js';
import { describeError, InternalError, PreconditionError, StepError, UsageError } from '../errors.js';
import { openMountableNoFollow, unmountEntry } from '../fs/held-mounts.js';
import { readMountinfo, type MountEntry } from '../fs/mountinfo.js';
import { fdPathForChild, othersMayChange } from '../fs/open-dir.js';
import type { Logger } from '../log/logger.js';
import { describeHolders, findForeignMounts, findHolders, type Holder } from './holders.js';
import type { ObservedState } from './observe.js';
import type { StatePlan } from './plan.js';
import { executeStatePlan, makeStatePlan, stateRecovery } from './run.js';
import { activeUnits, changeUnits, dependentsOf, stoppable, systemdRunning } from './units.js';

/** Mount points the running system cannot do without: a subvolume mounted there is rolled back at boot only. */
const ESSENTIAL = ['/', '/nix', '/persistent', '/usr', '/etc', '/var', '/var/log', '/boot'];

export interface OnlineOptions {
  top: string;
  config: Config;
  raw: string;
  now: Date;
  dryRun: boolean;
  log: Logger;
  failpoint?: number | undefined;
  mountinfo?: () => MountEntry[];
}

export interface OnlineResult {
  plan: StatePlan;
  observed: ObservedState;
  /** Units that were active and are stopped for the swap (and started again). */
  units: string[];
  /** Mounts unmounted for the swap (mounted again afterwards), in mount order. */
  mounts: { mountPoint: string; subvolume: string; options: string }[];
  /** Who held files open when the run looked (a dry run shows them; a real run refuses while there are any). */
  holders: Holder[];
  execution: Execution | undefined;
  /** What happened to units and mounts, in order, for the report. */
  log: string[];
  /** Seconds each phase took (stop, swap, start…), for `npm run bench`. */
  timings: Record<string, number>;
}

interface Remount {
  entry: MountEntry;
  /**
   * subvol: mount the rolled-back subvolume again by its path (from the top level; its new id is the new state's);
   * subvolid: a subvolume nested in it, mounted by itself, again by its id (it was moved over, the same subvolume: by
   * path the kernel would follow a symlink a user put on the way); bind: bind the same path from a remounted mount, or
   * from the tool's own top-level mount when none of those holds it.
   */
  how: { subvol: string } | { subvolid: string; subvol: string } | { bind: string };
}

/** Generic VFS options of a mount (what `mount -o` must give again); the btrfs ones are filesystem-wide and stay. */
function vfsOptions(options: string): string {
  return options
    .split(',')
    .filter((o) => /^(ro|rw|nodev|nosuid|noexec|noatime|relatime|nodiratime|strictatime|lazytime|nosymfollow)$/.test(o))
    .join(',');
}

/**
 * The mounts to take down for the swap of `subvolumes`, deepest first, each with how to bring it back: every mount of
 * one of them (or of something inside it) and every mount below their mount points. Refuses (PreconditionError) a
 * mount of another filesystem below them (a tmpfs would lose its contents) and a subvolume mounted where the running
 * system cannot do without it. Refuses too (PreconditionError; the next boot rolls back with nothing mounted) a bind
 * that would not come back as it is: of a deleted directory; with flags (ro, nosuid, nodev, noexec, nosymfollow) that
 * a bind made again does not keep; or reached, inside its subvolume, through a directory someone other than root may
 * change (`changeable`, given a path below the top level): a user who renames it away and makes another in its place
 * would have root bind their directory instead.
 */
export function mountsToTakeDown(subvolumes: readonly string[], topMajorMinor: string, mounts: readonly MountEntry[], config: Config, top: string, changeable: (dir: string) => boolean): Remount[] {
  const inside = (root: string) => subvolumes.some((sv) => root === `/${sv}` || root.startsWith(`/${sv}/`));
  const points = mounts.filter((m) => m.majorMinor === topMajorMinor && m.fsType === 'btrfs' && inside(m.root)).map((m) => m.mountPoint);
  const below = (mp: string) => points.some((p) => mp === p || mp.startsWith(p === '/' ? '/' : `${p}/`));
  const chosen = mounts.filter((m) => (m.majorMinor === topMajorMinor && m.fsType === 'btrfs' && inside(m.root)) || below(m.mountPoint));
  const out: Remount[] = [];
  for (const m of chosen) {
    const needed = config.persistentTree.find((e) => e.path === m.mountPoint && e.neededForBoot);
    if (ESSENTIAL.includes(m.mountPoint) || needed) {
      throw new UsageError(`state-rollback: ${m.root.slice(1)} is mounted at ${m.mountPoint}, which the running system needs${needed ? ' (neededForBoot)' : ''}: roll it back at the next boot instead (state-rollback --next-boot …)`);
    }
    if (m.majorMinor !== topMajorMinor || m.fsType !== 'btrfs') {
      throw new PreconditionError(`${m.fsType} ${m.source} is mounted at ${m.mountPoint}, inside what is rolled back: unmount it first (its contents are not on this filesystem)`);
    }
    const id = /(?:^|,)subvolid=(\d+)(?:,|$)/.exec(m.superOptions)?.[1];
    const rolledBack = subvolumes.some((sv) => m.root === `/${sv}`);
    out.push({ entry: m, how: !rolledBack && id !== undefined ? { subvolid: id, subvol: m.root.slice(1) } : { subvol: m.root.slice(1) } });
  }
  // A mount whose root is not the subvolume its super options name (subvol=) is a bind of a directory inside it: it
  // comes back as a bind of the same path from the deepest mount of a subvolume holding it that comes back before it.
  const subvolOf = (m: MountEntry) => /(?:^|,)subvol=([^,]*)/.exec(m.superOptions)?.[1];
  const later = `: take it off first, or roll back at the next boot (state-rollback --next-boot …)`;
  for (const r of out) {
    const subvol = subvolOf(r.entry);
    if (subvol === undefined || subvol === r.entry.root) continue;
    const m = r.entry;
    if (m.root.endsWith('//deleted')) throw new PreconditionError(`${m.mountPoint} is a bind of a directory that was deleted (${m.root.slice(1, -'//deleted'.length)})${later}`);
    const flags = vfsOptions(m.options).split(',').filter((o) => ['ro', 'nosuid', 'nodev', 'noexec', 'nosymfollow'].includes(o));
    if (flags.length) throw new PreconditionError(`${m.mountPoint} is a bind with ${flags.join(',')}, which a bind made again does not keep${later}`);
    const parts = m.root.slice(subvol.length + 1).split('/');
    for (let i = 0; i < parts.length; i++) {
      const dir = [subvol.slice(1), ...parts.slice(0, i)].join('/');
      if (changeable(dir)) throw new PreconditionError(`${m.mountPoint} is a bind of ${m.root.slice(1)}, reached through ${dir}, which someone other than root may change${later}`);
    }
    const parent = out
      .filter((o) => o !== r && subvolOf(o.entry) === o.entry.root && m.root.startsWith(`${o.entry.root}/`))
      .sort((a, b) => b.entry.root.length - a.entry.root.length)[0];
    // Without one (a bind made from the top level), from the tool's own top-level mount: as subvol= the path of a
    // directory failed, or mounted whatever subvolume a symlink a user put there named.
    r.how = { bind: parent ? join(parent.entry.mountPoint, r.entry.root.slice(parent.entry.root.length)) : join(top, r.entry.root) };
  }
  return out;
}

/**
 * Mounts one taken-down mount again; returns the error text, or undefined. The mount point (and a bind's source) is
 * opened first, walked from / without following a symlink, and mount(8) is given the held descriptor
 * (/proc/<pid>/fd/N, kept as it is with --no-canonicalize): a user who owns a directory on the way, inside what was
 * rolled back, cannot swap a symlink in and have root mount there instead (their directory over /etc).
 */
function remount(r: Remount): string | undefined {
  const m = r.entry;
  const opts = vfsOptions(m.options);
  const held: number[] = [];
  try {
    const open = (abs: string) => {
      const fd = openMountableNoFollow(abs);
      held.push(fd);
      return fdPathForChild(fd);
    };
    const which = 'subvolid' in r.how ? `subvolid=${r.how.subvolid}` : 'subvol' in r.how ? `subvol=/${r.how.subvol}` : '';
    const argv =
      'subvol' in r.how
        ? ['mount', '--no-canonicalize', '-t', 'btrfs', '-o', `${opts ? `${opts},` : ''}${which}`, '--', m.source, open(m.mountPoint)]
        : ['mount', '--bind', '--no-canonicalize', '--', open(r.how.bind), open(m.mountPoint)];
    const res = runCommand(argv);
    return res.code === 0 ? undefined : `mounting ${'subvol' in r.how ? `${r.how.subvol} of ${m.source}` : `a bind of ${r.how.bind}`} at ${m.mountPoint} again failed: ${res.stderr.trim() || `exit ${res.code}`}`;
  } catch (error) {
    return `cannot mount ${m.mountPoint} again: ${describeError(error)}`;
  } finally {
    for (const fd of held) closeSync(fd);
  }
}

/**
 * Runs (or, with dryRun, only plans) an online state rollback of the request `raw`. Throws UsageError for a refused
 * request, PreconditionError when something holds files open (nothing was changed; stopped units were started
 * again), StepError when a step failed (everything was put back; what could not be is said).
 */
export async function runOnline(o: OnlineOptions): Promise<OnlineResult> {
  const mountinfo = o.mountinfo ?? (() => readMountinfo());
  const timings: Record<string, number> = {};
  const lap = (name: string, since: number) => (timings[name] = Math.round((performance.now() - since) * 100) / 100 / 1000);
  const events: string[] = [];
  let t = performance.now();
  const first = makeStatePlan(o.top, o.config, { origin: 'operator', raw: o.raw, useMountinfo: true, now: o.now });
  const { plan } = first;
  if (plan.result === 'refused') throw new UsageError(`state-rollback: refused (nothing was changed): ${plan.refused.map((r) => `${r.spec}: ${r.reason}`).join('; ')}`);
  const subvolumes = plan.rollbacks.map((r) => r.subvolume);
  const mounts = mountinfo();
  const topPath = realpathSync(o.top);
  const topEntry = mounts.filter((m) => m.mountPoint === topPath).at(-1);
  if (!topEntry) throw new InternalError(`the top level ${o.top} is not in mountinfo`);
  // A directory on a bind's way, in the state now and in the snapshot it is rolled back to: only root may change it.
  const changeable = (dir: string): boolean => {
    const roll = plan.rollbacks.find((r) => dir === r.subvolume || dir.startsWith(`${r.subvolume}/`));
    for (const path of [dir, ...(roll ? [`${roll.from}${dir.slice(roll.subvolume.length)}`] : [])]) {
      const st = lstatSync(join(topPath, path), { throwIfNoEntry: false });
      if (st && (!st.isDirectory() || othersMayChange(st))) return true;
    }
    return false;
  };
  const down = mountsToTakeDown(subvolumes, topEntry.majorMinor, mounts, o.config, topPath, changeable);
  const devs = new Set<number>();
  for (const sv of subvolumes) devs.add(statSync(join(o.top, sv)).dev);
  for (const r of down) {
    try {
      devs.add(statSync(r.entry.mountPoint).dev);
    } catch {
      // a mount point that cannot be read is unmounted anyway
    }
  }
  const mountPoints = down.map((r) => r.entry.mountPoint);
  const candidates = [...new Set([...o.config.persistentTree.filter((e) => subvolumes.includes(e.subvolume)).flatMap((e) => e.units), ...dependentsOf(mountPoints).filter(stoppable)])];
  const units = activeUnits(candidates);
  const result: OnlineResult = { ...first, units, mounts: down.map((r) => ({ mountPoint: r.entry.mountPoint, subvolume: r.entry.root.slice(1), options: vfsOptions(r.entry.options) })), holders: [], execution: undefined, log: events, timings };
  if (!systemdRunning()) events.push('systemd is not running here: no units to stop');
  lap('plan', t);
  if (o.dryRun) {
    result.holders = findHolders(devs);
    return result;
  }

  // Stop, and give back on a signal or a failure.
  t = performance.now();
  let unitsHeld: Held | undefined;
  if (units.length) {
    const problem = changeUnits('stop', units);
    unitsHeld = hold(`started ${units.join(' ')} again`, () => changeUnits('start', units));
    if (problem) {
      unitsHeld.release();
      throw new PreconditionError(`${problem}; the units were started again`);
    }
    events.push(`stopped ${units.join(' ')}`);
  }
  lap('stop', t);
  await yieldToSignals();
  const giveBackUnits = () => {
    const problem = unitsHeld?.release();
    if (units.length) events.push(problem ? `could not start ${units.join(' ')} again: ${problem}` : `started ${units.join(' ')} again`);
    return problem;
  };

  // Nothing may hold files open in what is swapped: its processes would go on writing into the archive.
  t = performance.now();
  const holders = findHolders(devs);
  lap('holders', t);
  result.holders = holders;
  if (holders.length) {
    giveBackUnits();
    throw new PreconditionError(`files are open in ${subvolumes.join(', ')}: ${describeHolders(holders)}; stop those processes (or their units) and try again`);
  }

  t = performance.now();
  const unmounted: Remount[] = [];
  /** What remountAll mounted again, in the order it did. */
  const remounted: Remount[] = [];
  const remountAll = (): string[] => {
    const problems: string[] = [];
    for (const r of [...unmounted].reverse()) {
      const p = remount(r);
      if (p) problems.push(p);
      else {
        events.push(`mounted ${r.entry.mountPoint} again`);
        remounted.push(r);
      }
    }
    unmounted.length = 0;
    return problems;
  };
  const mountsHeld = hold('mounted what was unmounted again', () => remountAll().join('; ') || undefined);
  for (const r of [...down].reverse()) {
    // Reached from / without following a symlink and unmounted only when the kernel names that very mount there
    // (src/fs/held-mounts.ts): by name, a user who renamed a directory on the way and put a symlink in its place had
    // root unmount another filesystem (a tmpfs, whose contents went with it).
    const problem = unmountEntry(r.entry, mounts);
    if (problem) {
      const problems = remountAll();
      mountsHeld.release();
      giveBackUnits();
      throw new PreconditionError(`umount ${r.entry.mountPoint} failed: ${problem}; everything was mounted and started again${problems.length ? `, except: ${problems.join('; ')}` : ''}`);
    }
    unmounted.push(r);
    events.push(`unmounted ${r.entry.mountPoint}`);
  }
  // A mount in a directory others may write is detached lazily (src/fs/held-mounts.ts): a process that went into it
  // after the first look would keep it, and write into what becomes the archive. Looked for again, now nothing new can.
  const late = findHolders(devs);
  if (late.length) {
    const problems = remountAll();
    mountsHeld.release();
    giveBackUnits();
    result.holders = late;
    throw new PreconditionError(`files were opened in ${subvolumes.join(', ')} while it was being unmounted: ${describeHolders(late)}; everything was mounted and started again${problems.length ? `, except: ${problems.join('; ')}` : ''}; stop those processes and try again`);
  }
  // Copies of its mounts in other mount namespaces that the unmounts did not reach (a user's unshare -Urm): each would
  // keep the subvolume that becomes the archive, writable, after the swap.
  const foreign = findForeignMounts(topEntry.majorMinor, subvolumes);
  if (foreign.length) {
    const problems = remountAll();
    mountsHeld.release();
    giveBackUnits();
    result.holders = foreign;
    throw new PreconditionError(`${subvolumes.join(', ')} is still mounted in another mount namespace, which the unmounts here do not reach: ${describeHolders(foreign)}; after the swap that mount would go on serving, writable, the state that is archived; everything was mounted and started again${problems.length ? `, except: ${problems.join('; ')}` : ''}; end those processes (or unmount it in their namespace, e.g. nsenter -t PID -m umount MOUNTPOINT) and try again, or roll back at the next boot (state-rollback --next-boot)`);
  }
  lap('unmount', t);
  await yieldToSignals();

  // The swap, planned again from what is now on disk (nothing of it mounted any more), checked, executed.
  t = performance.now();
  // The request pinned to what the first plan chose (mount points resolved, the exact snapshot), so nothing moves under it.
  const pinned = plan.rollbacks.map((r) => `${r.subvolume}=${r.from.slice(o.config.subvolumes.snapshots.length + 1)}`).join(',');
  const again = makeStatePlan(o.top, o.config, { origin: 'operator', raw: pinned, useMountinfo: false, now: o.now });
  const same = again.plan.result === 'ok' && again.plan.rollbacks.map((r) => `${r.subvolume}<${r.from}`).join() === plan.rollbacks.map((r) => `${r.subvolume}<${r.from}`).join();
  if (!same || again.plan.blockers.length) {
    const problems = remountAll();
    mountsHeld.release();
    giveBackUnits();
    throw new PreconditionError(`the state changed while the units stopped (${again.plan.blockers.join('; ') || again.plan.refused.map((r) => r.reason).join('; ') || 'another snapshot is now chosen'}); everything was mounted and started again${problems.length ? `, except: ${problems.join('; ')}` : ''}`);
  }
  result.plan = again.plan;
  result.observed = again.observed;
  let failure: unknown;
  try {
    result.execution = executeStatePlan(again.plan, again.observed, o.top, o.log, o.failpoint);
  } catch (error) {
    failure = error;
    if (error instanceof StepError) result.execution = error.execution as Execution;
  }
  lap('swap', t);

  t = performance.now();
  const problems = remountAll();
  mountsHeld.release();
  if (problems.length && failure === undefined && result.execution) {
    // The new state cannot be mounted in full: put the old one back and mount that. What did come back serves the new
    // state, and a mounted subvolume must not be renamed away and deleted under it (its mount then served a deleted
    // subvolume while the message said the old state was back): those are taken down again first, each reached as
    // it was unmounted before; when one cannot be, the new state stays, and the message says so.
    const execution = result.execution;
    const completed = again.plan.steps.filter((s) => execution.status.get(s.n) === 'done').map((s) => `${s.n} ${s.action}`);
    const stuck: string[] = [];
    const back = [...remounted].reverse();
    remounted.length = 0;
    for (const r of back) {
      // mountinfo read again for each: the one above may have been stacked on it.
      const fresh = readMountinfo();
      const now = fresh.filter((m) => m.mountPoint === r.entry.mountPoint).at(-1);
      const problem = now ? unmountEntry(now, fresh) : `${r.entry.mountPoint} is no longer mounted under that name`;
      if (problem) {
        stuck.push(problem);
        break;
      }
      events.push(`unmounted ${r.entry.mountPoint} again`);
      unmounted.push(r);
    }
    if (stuck.length) {
      // What was taken down again for nothing comes back (the new state stays; its mounts with it).
      const notBack = remountAll();
      failure = new StepError(`mounting the new state failed: ${problems.join('; ')}`, completed, `the new state stays in place, since what of it was mounted again could not be taken down to put the old one back (${stuck.join('; ')})${notBack.length ? `; could not mount again: ${notBack.join('; ')}` : ''}; the state it had is archived in ${plan.rollbacks.map((r) => r.archive.path).join(', ')}`);
    } else {
      unmounted.length = 0;
      const undone = stateRecovery(again.plan, again.observed, o.top)(execution);
      unmounted.push(...[...down].reverse());
      const still = remountAll();
      failure = new StepError(`mounting the new state failed: ${problems.join('; ')}`, completed, `${undone}${still.length ? `; could not mount: ${still.join('; ')}` : ''}`);
    }
  }
  lap('mount', t);
  t = performance.now();
  const startProblem = giveBackUnits();
  lap('start', t);
  if (failure !== undefined) throw failure;
  if (startProblem) throw new StepError(`the state was rolled back, but ${startProblem}`, [], `${subvolumes.join(', ')} rolled back; the archived state is in ${plan.rollbacks.map((r) => r.archive.path).join(', ')} (see journalctl -u for why the units failed)`);
  return result;
}

/** The error text for a failure of the online path, naming the state it left. */
export function describeOnlineFailure(error: unknown): string {
  return error instanceof StepError ? `${error.message}; ${error.state}` : describeError(error);
}
