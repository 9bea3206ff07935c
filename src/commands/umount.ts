// `umount`: undoes `mount` — only ever mounts of archives or snapshots, never anything else.
import { closeSync, rmdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from '../cli/command.js';
import { parseFlags, stringFlag } from '../cli/args.js';
import { output } from '../cli/context.js';
import { loadConfig, type Config } from '../config/load-config.js';
import { StepError, UsageError } from '../errors.js';
import { parseTarget } from '../boot/target.js';
import { readMountinfo, type MountEntry } from '../fs/mountinfo.js';
import { fdPath } from '../fs/open-dir.js';
import { locateMount, NotReachable, unmountLocated, type Located } from '../fs/held-mounts.js';
import { showName } from '../cli/show-text.js';
import { BROWSE_DIR } from './mount.js';

const USAGE = `Usage: pantheros-rollback umount [DIR | ARCHIVE | CLASS/SNAPSHOT] [--config FILE] [--json]

Unmounts what \`pantheros-rollback mount\` mounted:
  (no argument)        every archive or snapshot mounted under ${BROWSE_DIR}
  DIR                  the mount at DIR (an absolute or ./relative path)
  ARCHIVE | CLASS/NAME every mount of that archive or snapshot
Only btrfs mounts of a path inside the archive or snapshot directory (from the config) are touched;
anything else is refused. Empty mount directories under ${BROWSE_DIR} are removed.
A mount point is reached from / without following a symlink (one on the way is refused) and identified
by the mount id the kernel reports for it; only that mount is unmounted. Where someone other than root
can write the directory holding the mount point, it is detached lazily through its own file descriptor
(a program still using it keeps it until it lets go); elsewhere a busy mount is refused (exit 1).

  --config FILE     JSON config, for the archive and snapshot directories (default /etc/pantheros/rollback.json)
  --json            machine-readable output

Exit: 0 unmounted (or, with no argument, nothing was mounted), 1 an unmount failed (e.g. busy),
      2 usage (also: the DIR, archive or snapshot given is not mounted), 77 not run as root.`;

/** True for a btrfs mount of something strictly inside the archive or snapshot directory. */
function isBrowseMount(e: MountEntry, config: Config): boolean {
  const { oldRoots, snapshots } = config.subvolumes;
  return e.fsType === 'btrfs' && (e.root.startsWith(`/${oldRoots}/`) || e.root.startsWith(`/${snapshots}/`));
}

/** The mounts to take off, each located through file descriptors; failures to locate one are said, not skipped silently. */
function selectMounts(arg: string | undefined, config: Config, mounts: MountEntry[]): { located: Located[]; unreachable: string[] } {
  if (arg !== undefined && (arg.startsWith('/') || arg.startsWith('./') || arg.startsWith('../'))) {
    const dir = resolve(arg);
    let found: Located | undefined;
    try {
      found = locateMount(dir, mounts);
    } catch (error) {
      if (error instanceof NotReachable) throw new UsageError(`umount: cannot use ${showName(dir)}: ${error.message}${/symlink/.test(error.message) ? '; give the path without symlinks (see: findmnt)' : ''}`, { cause: error });
      throw error;
    }
    if (!found) throw new UsageError(`umount: nothing is mounted at ${showName(dir)}`);
    const e = found.entry;
    if (!isBrowseMount(e, config)) {
      closeSync(found.parentFd);
      throw new UsageError(`umount: ${showName(dir)} is ${e.fsType} ${showName(e.root)} of ${showName(e.source)}, not an archive or snapshot mounted by pantheros-rollback mount; use umount(8)`);
    }
    return { located: [found], unreachable: [] };
  }
  let candidates: MountEntry[];
  if (arg === undefined) candidates = mounts.filter((e) => e.mountPoint.startsWith(`${BROWSE_DIR}/`) && isBrowseMount(e, config));
  else {
    const target = parseTarget(arg);
    if (target.kind !== 'archive' && target.kind !== 'snapshot') {
      throw new UsageError(`umount: ${showName(arg)} is not a directory (start it with / or ./) nor an archive or snapshot name${target.kind === 'refused' ? `: ${target.reason}` : ''}`);
    }
    const root = target.kind === 'archive' ? `/${config.subvolumes.oldRoots}/${target.name}` : `/${config.subvolumes.snapshots}/${target.path}`;
    candidates = mounts.filter((e) => e.fsType === 'btrfs' && e.root === root);
    if (!candidates.length) throw new UsageError(`umount: ${showName(arg)} is not mounted`);
  }
  // Each mount point (a name from mountinfo) is reached again without following a symlink, and must lead to the very
  // mount the entry names (same mount id): a name a user changed meanwhile is not unmounted.
  const located: Located[] = [];
  const unreachable: string[] = [];
  for (const e of candidates) {
    try {
      const found = locateMount(e.mountPoint, mounts);
      if (found?.entry.mountId === e.mountId) located.push(found);
      else {
        if (found) closeSync(found.parentFd);
        unreachable.push(`${showName(e.mountPoint)}: ${found ? 'another mount is on top of it' : 'no longer a mount point under that name'}`);
      }
    } catch (error) {
      if (!(error instanceof NotReachable)) throw error;
      unreachable.push(`${showName(e.mountPoint)}: ${error.message}`);
    }
  }
  return { located, unreachable };
}

/** Removes the now-empty mount point (through the held directory) and its empty parents up to (not including) BROWSE_DIR. */
function removeEmptyDirs(l: Located): void {
  if (!l.entry.mountPoint.startsWith(`${BROWSE_DIR}/`)) return;
  try {
    rmdirSync(fdPath(l.parentFd, l.name));
  } catch {
    return;
  }
  for (let d = dirname(l.entry.mountPoint); d.startsWith(`${BROWSE_DIR}/`); d = dirname(d)) {
    try {
      rmdirSync(d);
    } catch {
      return;
    }
  }
}

export const umountCommand: Command = {
  name: 'umount',
  usage: USAGE,
  run(argv) {
    const args = parseFlags(argv, {}, 'umount');
    const [arg, ...extra] = args._.map(String);
    if (extra.length) throw new UsageError(`umount: unexpected argument ${showName(extra[0]!)}`);
    const config = loadConfig(stringFlag(args, 'config'));
    const { located, unreachable } = selectMounts(arg, config, readMountinfo());
    // Deepest first, so a mount inside another comes off before it.
    located.sort((a, b) => b.entry.mountPoint.length - a.entry.mountPoint.length);
    const done: { dir: string; path: string; lazy: boolean }[] = [];
    try {
      for (const [i, l] of located.entries()) {
        const { lazy, problem } = unmountLocated(l);
        if (problem) {
          const left = [l, ...located.slice(i + 1)].map((x) => showName(x.entry.mountPoint));
          throw new StepError(
            `umount: cannot unmount ${showName(l.entry.mountPoint)}: ${problem}`,
            done.map((d) => `unmounted ${showName(d.dir)}`),
            `still mounted: ${left.join(', ')} (is a shell or program using it? see: fuser -vm ${showName(l.entry.mountPoint)})`,
          );
        }
        removeEmptyDirs(l);
        done.push({ dir: l.entry.mountPoint, path: l.entry.root.slice(1), lazy });
      }
    } finally {
      for (const l of located) closeSync(l.parentFd);
    }
    if (unreachable.length) {
      throw new StepError(
        `umount: not unmounted, since their mount points cannot be reached as they were mounted: ${unreachable.join('; ')}`,
        done.map((d) => `unmounted ${showName(d.dir)}`),
        'those are still mounted; see: findmnt',
      );
    }
    output(args.json === true, { unmounted: done }, () =>
      done.length
        ? done.map((d) => `unmounted ${showName(d.dir)} (${showName(d.path)})${d.lazy ? ', detached lazily: a program still using it keeps it until it lets go' : ''}`).join('\n')
        : `nothing is mounted under ${BROWSE_DIR}`,
    );
    return 0;
  },
};
