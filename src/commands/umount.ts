// `umount`: undoes `mount` — only ever mounts of archives or snapshots, never anything else.
import { realpathSync, rmdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from '../cli/command.js';
import { parseFlags, stringFlag } from '../cli/args.js';
import { output } from '../cli/context.js';
import { loadConfig, type Config } from '../config/load-config.js';
import { StepError, UsageError } from '../errors.js';
import { parseTarget } from '../boot/target.js';
import { runCommand } from '../btrfs/run.js';
import { readMountinfo, type MountEntry } from '../fs/mountinfo.js';
import { BROWSE_DIR } from './mount.js';

const USAGE = `Usage: pantheros-rollback umount [DIR | ARCHIVE | CLASS/SNAPSHOT] [--config FILE] [--json]

Unmounts what \`pantheros-rollback mount\` mounted:
  (no argument)        every archive or snapshot mounted under ${BROWSE_DIR}
  DIR                  the mount at DIR (an absolute or ./relative path)
  ARCHIVE | CLASS/NAME every mount of that archive or snapshot
Only btrfs mounts of a path inside the archive or snapshot directory (from the config) are touched;
anything else is refused. Empty mount directories under ${BROWSE_DIR} are removed.

  --config FILE     JSON config, for the archive and snapshot directories (default /etc/pantheros/rollback.json)
  --json            machine-readable output

Exit: 0 unmounted (or nothing was mounted), 1 an unmount failed (e.g. busy), 2 usage, 77 not run as root.`;

/** True for a btrfs mount of something strictly inside the archive or snapshot directory. */
function isBrowseMount(e: MountEntry, config: Config): boolean {
  const { oldRoots, snapshots } = config.subvolumes;
  return e.fsType === 'btrfs' && (e.root.startsWith(`/${oldRoots}/`) || e.root.startsWith(`/${snapshots}/`));
}

function selectMounts(arg: string | undefined, config: Config, mounts: MountEntry[]): MountEntry[] {
  if (arg === undefined) return mounts.filter((e) => e.mountPoint.startsWith(`${BROWSE_DIR}/`) && isBrowseMount(e, config));
  if (arg.startsWith('/') || arg.startsWith('./') || arg.startsWith('../')) {
    let dir: string;
    try {
      dir = realpathSync(resolve(arg));
    } catch {
      throw new UsageError(`umount: ${arg} does not exist`);
    }
    const at = mounts.filter((e) => e.mountPoint === dir);
    if (!at.length) throw new UsageError(`umount: nothing is mounted at ${dir}`);
    const top = at.at(-1)!;
    if (!isBrowseMount(top, config)) throw new UsageError(`umount: ${dir} is ${top.fsType} ${top.root} of ${top.source}, not an archive or snapshot mounted by pantheros-rollback mount; use umount(8)`);
    return [top];
  }
  const target = parseTarget(arg);
  if (target.kind !== 'archive' && target.kind !== 'snapshot') {
    throw new UsageError(`umount: "${arg}" is not a directory (start it with / or ./) nor an archive or snapshot name${target.kind === 'refused' ? `: ${target.reason}` : ''}`);
  }
  const root = target.kind === 'archive' ? `/${config.subvolumes.oldRoots}/${target.name}` : `/${config.subvolumes.snapshots}/${target.path}`;
  const found = mounts.filter((e) => e.fsType === 'btrfs' && e.root === root);
  if (!found.length) throw new UsageError(`umount: ${arg} is not mounted`);
  return found;
}

/** Removes now-empty directories from dir up to (not including) BROWSE_DIR. */
function removeEmptyDirs(dir: string): void {
  for (let d = dir; d.startsWith(`${BROWSE_DIR}/`); d = dirname(d)) {
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
    if (extra.length) throw new UsageError(`umount: unexpected argument ${extra[0]}`);
    const config = loadConfig(stringFlag(args, 'config'));
    // Deepest first, so a mount inside another comes off before it.
    const selected = selectMounts(arg, config, readMountinfo()).sort((a, b) => b.mountPoint.length - a.mountPoint.length);
    const done: { dir: string; path: string }[] = [];
    for (const e of selected) {
      const r = runCommand(['umount', e.mountPoint]);
      if (r.code !== 0) {
        throw new StepError(`umount: cannot unmount ${e.mountPoint}: ${r.stderr.trim()}`, done.map((d) => `unmounted ${d.dir}`), `${e.mountPoint} is still mounted (is a shell or program using it? see: fuser -vm ${e.mountPoint})`);
      }
      removeEmptyDirs(e.mountPoint);
      done.push({ dir: e.mountPoint, path: e.root.slice(1) });
    }
    output(args.json === true, { unmounted: done }, () => (done.length ? done.map((d) => `unmounted ${d.dir} (${d.path})`).join('\n') : `nothing is mounted under ${BROWSE_DIR}`));
    return 0;
  },
};
