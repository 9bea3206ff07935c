// `restore`: copies a file or directory tree out of an archived root or a snapshot into the running system.
import { dirname, join, resolve } from 'node:path';
import type { Command } from '../cli/command.js';
import { parseFlags, stringFlag } from '../cli/args.js';
import { output, withTopLevel } from '../cli/context.js';
import { StepError, UsageError } from '../errors.js';
import { runCommand } from '../btrfs/run.js';
import { readMountinfo } from '../fs/mountinfo.js';
import { formatBytes } from '../list/format.js';
import { locateTopLevel } from '../list/location.js';
import { resolveStored } from '../list/stored.js';
import { checkDestination, copyArgv, destState, mountHolding } from '../restore/copy.js';
import { countTree, resolveSource, splitRestorePath } from '../restore/source.js';

const USAGE = `Usage: pantheros-rollback restore PATH --from ARCHIVE|CLASS/SNAPSHOT [--to DEST] [--force]
                                  [--device DEV | --top-level DIR] [--config FILE] [--json]

Copies PATH — the absolute path as it was in that root or snapshot, e.g. /etc/foo.conf — out of an
archived root or a snapshot, to DEST (default: the same path in the running system). Ownership,
mode, timestamps, xattrs/ACLs and symlinks are preserved, and extents are shared (reflinks) when
DEST is on the same btrfs filesystem:
  cp -a --reflink=auto --no-target-directory SOURCE DEST

Safety: PATH may not contain .. and is resolved inside the archive one component at a time without
following symlinks — a symlink on the way is refused, wherever it points; a symlink named by PATH
itself is copied as a symlink. An existing DEST is never overwritten without --force; with --force a
file is replaced and a directory is merged into (files from the archive replace files of the same name).

  --from NAME       the archive (see: pantheros-rollback list) or snapshot as <class>/<name>
  --to DEST         where to put it (default: PATH); its parent directory must exist
  --force           replace an existing DEST
  --device DEV      the btrfs device (default: "device" in the config); mounted read-only, privately
  --top-level DIR   an already-mounted top level instead
  --config FILE     JSON config (default /etc/pantheros/rollback.json)
  --json            machine-readable output

Exit: 0 copied, 1 the copy failed part-way (DEST may be partly written), 2 usage (unknown archive,
bad PATH, DEST exists), 3 the top level cannot be mounted.`;

export const restoreCommand: Command = {
  name: 'restore',
  usage: USAGE,
  async run(argv) {
    const args = parseFlags(argv, { string: ['from', 'to'], boolean: ['force'] }, 'restore');
    const [path, ...extra] = args._.map(String);
    if (path === undefined) throw new UsageError('restore: name the PATH to restore, e.g. restore /etc/foo.conf --from 20261126T063251Z');
    if (extra.length) throw new UsageError(`restore: unexpected argument ${extra[0]}`);
    const from = stringFlag(args, 'from');
    if (from === undefined) throw new UsageError('restore: --from ARCHIVE|CLASS/SNAPSHOT is required (see: pantheros-rollback list)');
    const parts = splitRestorePath(path);
    const shownPath = `/${parts.join('/')}`;
    const dest = resolve(stringFlag(args, 'to') ?? shownPath);
    const force = args.force === true;
    return withTopLevel(args, { readOnly: true }, ({ config, top, json }) => {
      const item = resolveStored(top.path, config, from, 'restore');
      const label = `${item.kind} ${item.name}`;
      const source = resolveSource(join(top.path, item.path), parts, label);
      const state = destState(dest);
      checkDestination(dest, state, source.kind, force);
      const counts = countTree(source.abs);
      const mounts = readMountinfo();
      const topMajorMinor = locateTopLevel(top, mounts).majorMinor;
      const destMount = mountHolding(mounts, dirname(dest));
      const sameFs = destMount !== undefined && destMount.fsType === 'btrfs' && destMount.majorMinor === topMajorMinor;
      const argvCp = copyArgv(source.abs, dest, state.exists);
      const r = runCommand(argvCp);
      if (r.code !== 0) {
        throw new StepError(`restore: ${argvCp.join(' ')} exited ${r.code}: ${r.stderr.trim()}`, [], `${dest} may be partly written; the archive is unchanged`);
      }
      const summary = [
        counts.files && `${counts.files} file${counts.files === 1 ? '' : 's'}`,
        counts.directories && `${counts.directories} director${counts.directories === 1 ? 'y' : 'ies'}`,
        counts.symlinks && `${counts.symlinks} symlink${counts.symlinks === 1 ? '' : 's'}`,
        counts.other && `${counts.other} other`,
      ].filter(Boolean).join(', ');
      const result = { from: { kind: item.kind, name: item.name, path: item.path }, path: shownPath, sourceKind: source.kind, dest, replaced: state.exists, counts, sharedExtents: sameFs, argv: argvCp };
      output(json, result, () =>
        [
          `restored ${shownPath} from ${label} to ${dest}${state.exists ? ` (replacing the existing ${state.kind})` : ''}`,
          `  ${summary || 'nothing'}, ${formatBytes(counts.bytes)}${source.kind === 'symlink' ? ' (the symlink itself, not what it points to)' : ''}`,
          `  ownership, mode, timestamps, xattrs and symlinks preserved; ${sameFs ? 'extents shared with the archive (same btrfs filesystem)' : 'data copied (DEST is on another filesystem)'}`,
        ].join('\n'),
      );
      return 0;
    });
  },
};
