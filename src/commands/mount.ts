// `mount`: an archived root or a snapshot mounted read-only for browsing with ordinary tools.
import { closeSync, readdirSync, readlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from '../cli/command.js';
import { parseFlags } from '../cli/args.js';
import { output, withTopLevel } from '../cli/context.js';
import { PreconditionError, UsageError } from '../errors.js';
import { CommandError, runChecked } from '../btrfs/run.js';
import { fdPath, fdPathForChild, isMountRoot, openOrCreateDirectoryNoFollow, PathWalkError } from '../fs/open-dir.js';
import { showName } from '../cli/show-text.js';
import { locateTopLevel } from '../list/location.js';
import { resolveStored } from '../list/stored.js';
import { ensureRunDir, RUN_LAYOUT } from '../fs/run-dir.js';

/** Where `mount` puts an item when no DIR is given (root only, 0700); `umount` without arguments clears it. */
export const BROWSE_DIR = RUN_LAYOUT.browse.path;
/** Read-only, and no device nodes or set-uid programs from an old root take effect. */
export const BROWSE_OPTIONS = ['ro', 'nosuid', 'nodev'];

const USAGE = `Usage: pantheros-rollback mount ARCHIVE|CLASS/SNAPSHOT [DIR] [--device DEV | --top-level DIR] [--config FILE] [--json]

Mounts an archived root (a name from \`pantheros-rollback list\`, e.g. 20261126T063251Z) or a snapshot
(<class>/<name>, e.g. daily/@persistent.20261126T000000Z) read-only (also nosuid,nodev) for browsing:
  mount -t btrfs -o ro,nosuid,nodev,subvol=/<path> DEV DIR
DIR defaults to ${BROWSE_DIR}/<name> and is created (${BROWSE_DIR} is 0700: only root can
enter it, since an archive keeps the old permissions of files that may have been tightened since; to
let others browse, give a DIR of your choosing). A DIR you give must be an empty directory (or not
exist yet) and not a mount point, reached from / without a symlink on the way (a symlink is refused,
never followed). The directory is opened and checked first, and the mount lands on that very directory
(through its file descriptor), so swapping a symlink in for DIR or a parent meanwhile cannot move it.
Unmount with: pantheros-rollback umount [DIR|NAME].

Names are checked strictly: no absolute paths, no .. or hidden names, no symlinks on the way, and
the last component must be a subvolume. An unknown name is refused with the list of what exists.

  --device DEV      the btrfs device (default: "device" in the config, or the device of --top-level)
  --top-level DIR   an already-mounted top level, used to check the name and find the device
  --config FILE     JSON config (default /etc/pantheros/rollback.json)
  --json            machine-readable output

Exit: 0 mounted, 2 usage (unknown name, bad DIR), 3 cannot mount (nothing was changed), 77 not run as root.`;

/**
 * Opens DIR for a mount, creating it (0755) if missing: every component reached from "/" without following a
 * symlink, the fd held so the mount lands on this very directory whatever happens to its name. Refuses (exit 2) a
 * symlink on the way, a non-directory, a mount point and a non-empty directory. Returns the fd (the caller closes it).
 */
function openMountDir(dir: string): number {
  let fd: number;
  try {
    fd = openOrCreateDirectoryNoFollow(dir, 0o755).fd;
  } catch (error) {
    if (error instanceof PathWalkError) {
      const hint = error.problem === 'symlink' ? '; give the path without symlinks (realpath shows it)' : '';
      throw new UsageError(`mount: cannot use ${showName(dir)}: ${error.message}${hint}`, { cause: error });
    }
    throw new PreconditionError(`mount: cannot create ${showName(dir)}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error });
  }
  try {
    if (isMountRoot(fd)) throw new UsageError(`mount: ${showName(dir)} is already a mount point (see: pantheros-rollback umount ${showName(dir)})`);
    if (readdirSync(fdPath(fd)).length > 0) throw new UsageError(`mount: ${showName(dir)} is not empty; mounting there would hide its contents`);
    return fd;
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

export const mountCommand: Command = {
  name: 'mount',
  usage: USAGE,
  async run(argv) {
    const args = parseFlags(argv, {}, 'mount');
    const [name, dirArg, ...extra] = args._.map(String);
    if (name === undefined) throw new UsageError('mount: name an archive or a snapshot (see: pantheros-rollback list)');
    if (extra.length) throw new UsageError(`mount: unexpected argument ${extra[0]}`);
    return withTopLevel(args, { readOnly: true }, ({ config, top, json }) => {
      const item = resolveStored(top.path, config, name, 'mount');
      if (/[,\\\s]/.test(item.path)) throw new UsageError(`mount: ${item.path} contains a comma, backslash or space, which mount options cannot carry`);
      const device = locateTopLevel(top).device;
      if (!device) throw new PreconditionError(`mount: cannot tell which device holds ${top.path}; give --device`);
      if (dirArg === undefined) ensureRunDir('browse');
      const asked = resolve(dirArg ?? join(BROWSE_DIR, item.name));
      const options = [...BROWSE_OPTIONS, `subvol=/${item.path}`].join(',');
      const fd = openMountDir(asked);
      let dir: string;
      try {
        // The mount point is the directory the fd holds (the kernel resolves /proc/<pid>/fd/N to it), not a name a
        // user could swap a symlink in for; --no-canonicalize keeps mount(8) from turning it back into a name.
        try {
          runChecked(['mount', '--no-canonicalize', '-t', 'btrfs', '-o', options, '--', device, fdPathForChild(fd)]);
        } catch (error) {
          const detail = error instanceof CommandError ? error.result.stderr.trim() : String(error);
          throw new PreconditionError(`mount: cannot mount ${item.path} of ${device} at ${showName(asked)}: ${detail}`, { cause: error });
        }
        // Where that directory is now (the same as DIR unless it was renamed meanwhile).
        dir = readlinkSync(fdPath(fd));
      } finally {
        closeSync(fd);
      }
      output(json, { kind: item.kind, name: item.name, path: item.path, device, dir, options }, () =>
        [
          `mounted ${item.kind} ${showName(item.name)} read-only at ${showName(dir)}`,
          `  (${showName(item.path)} of ${device}, -o ${options})`,
          `  unmount with: pantheros-rollback umount ${showName(dirArg === undefined ? item.name : dir)}`,
        ].join('\n'),
      );
      return 0;
    });
  },
};
