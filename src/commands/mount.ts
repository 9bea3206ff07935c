// `mount`: an archived root or a snapshot mounted read-only for browsing with ordinary tools.
import { mkdirSync, readdirSync, realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from '../cli/command.js';
import { parseFlags } from '../cli/args.js';
import { output, withTopLevel } from '../cli/context.js';
import { PreconditionError, UsageError } from '../errors.js';
import { kindOf } from '../boot/observe.js';
import { CommandError, runChecked } from '../btrfs/run.js';
import { mountAt, readMountinfo } from '../fs/mountinfo.js';
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
exist yet) and not a mount point. Unmount with: pantheros-rollback umount [DIR|NAME].

Names are checked strictly: no absolute paths, no .. or hidden names, no symlinks on the way, and
the last component must be a subvolume. An unknown name is refused with the list of what exists.

  --device DEV      the btrfs device (default: "device" in the config, or the device of --top-level)
  --top-level DIR   an already-mounted top level, used to check the name and find the device
  --config FILE     JSON config (default /etc/pantheros/rollback.json)
  --json            machine-readable output

Exit: 0 mounted, 2 usage (unknown name, bad DIR), 3 cannot mount (nothing was changed), 77 not run as root.`;

/** Checks DIR can take a mount: creates it if missing; refuses a non-directory, a non-empty directory or a mount point. */
function prepareDir(dir: string): void {
  const kind = kindOf(dir);
  if (kind === 'missing') {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    return;
  }
  if (kind !== 'directory' && kind !== 'subvolume') throw new UsageError(`mount: ${dir} is a ${kind}, not a directory`);
  const real = realpathSync(dir);
  if (mountAt(readMountinfo(), real)) throw new UsageError(`mount: ${dir} is already a mount point (see: pantheros-rollback umount ${dir})`);
  if (readdirSync(dir).length > 0) throw new UsageError(`mount: ${dir} is not empty; mounting there would hide its contents`);
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
      const dir = resolve(dirArg ?? join(BROWSE_DIR, item.name));
      prepareDir(dir);
      const options = [...BROWSE_OPTIONS, `subvol=/${item.path}`].join(',');
      try {
        runChecked(['mount', '-t', 'btrfs', '-o', options, device, dir]);
      } catch (error) {
        const detail = error instanceof CommandError ? error.result.stderr.trim() : String(error);
        throw new PreconditionError(`mount: cannot mount ${item.path} of ${device} at ${dir}: ${detail}`, { cause: error });
      }
      output(json, { kind: item.kind, name: item.name, path: item.path, device, dir, options }, () =>
        [`mounted ${item.kind} ${item.name} read-only at ${dir}`, `  (${item.path} of ${device}, -o ${options})`, `  unmount with: pantheros-rollback umount ${dirArg === undefined ? item.name : dir}`].join('\n'),
      );
      return 0;
    });
  },
};
