// `restore`: copies a file or directory tree out of an archived root or a snapshot into the running system.
import { lstatSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from '../cli/command.js';
import { parseFlags, stringFlag } from '../cli/args.js';
import { output, withTopLevel } from '../cli/context.js';
import { StepError, UsageError } from '../errors.js';
import { readMountinfo } from '../fs/mountinfo.js';
import { fdPath } from '../fs/open-dir.js';
import { formatBytes } from '../list/format.js';
import { locateTopLevel } from '../list/location.js';
import { resolveStored } from '../list/stored.js';
import { writeErr } from '../cli/io.js';
import { hold } from '../cli/signals.js';
import { runTracked } from '../cli/run-async.js';
import { checkDestination, copyArgv, currentPath, mountHolding, openDestination } from '../restore/copy.js';
import { countTree, openSource, splitRestorePath, type TreeCount } from '../restore/source.js';
import { createStaging, moveIntoPlace, removeStaging, replacedName, STAGING_PREFIX } from '../restore/stage.js';

const USAGE = `Usage: pantheros-rollback restore PATH --from ARCHIVE|CLASS/SNAPSHOT [--to DEST] [--force] [--dry-run]
                                  [--device DEV | --top-level DIR] [--config FILE] [--json]

Copies PATH — the absolute path as it was in that root or snapshot, e.g. /etc/foo.conf — out of an
archived root or a snapshot, to DEST (default: the same path in the running system). Ownership,
mode, timestamps, xattrs/ACLs and symlinks are preserved, and extents are shared (reflinks) when
DEST is on the same btrfs filesystem (cp -a --reflink=auto --no-target-directory).

Safety — no symlink is followed, and no name a user controls can redirect the copy:
  - PATH may not contain .. and is walked inside the archive one directory at a time, each opened
    without following a symlink (a symlink on the way is refused, wherever it points; a symlink
    named by PATH itself is copied as a symlink);
  - DEST's directory is walked the same way from / (a symlink anywhere on the way is refused: give
    the real path) and held open;
  - the copy goes into a new root-only directory (${STAGING_PREFIX}…, 0700) created inside DEST's
    directory and reached only through open file descriptors, then is moved into place;
  - an existing DEST is replaced only with --force, as a whole (never merged into), and is kept
    beside it as DEST.pantheros-replaced-<UTC time>, which the output names.
On SIGINT/SIGTERM/SIGHUP the copy is stopped and removed, and DEST is left as it was.

  --from NAME       the archive (see: pantheros-rollback list) or snapshot as <class>/<name>
  --to DEST         where to put it (default: PATH); its directory must exist
  --force           replace an existing DEST as a whole, keeping it as DEST.pantheros-replaced-<time>
  --dry-run         print what would be copied and replaced; change nothing
  --device DEV      the btrfs device (default: "device" in the config); mounted read-only, privately
  --top-level DIR   an already-mounted top level instead
  --config FILE     JSON config (default /etc/pantheros/rollback.json)
  --json            machine-readable output

Exit: 0 copied (or dry run), 1 the copy failed (DEST is as it was; the message says so), 2 usage
(unknown archive, bad PATH, DEST exists without --force, a symlink on the way), 3 the top level cannot
be mounted, 77 not run as root, 128+N stopped by signal N (nothing left behind).`;

function describeCounts(counts: TreeCount): string {
  return (
    [
      counts.files && `${counts.files} file${counts.files === 1 ? '' : 's'}`,
      counts.directories && `${counts.directories} director${counts.directories === 1 ? 'y' : 'ies'}`,
      counts.symlinks && `${counts.symlinks} symlink${counts.symlinks === 1 ? '' : 's'}`,
      counts.other && `${counts.other} other`,
    ]
      .filter(Boolean)
      .join(', ') || 'nothing'
  );
}

const shellQuote = (s: string) => (/^[A-Za-z0-9_./:@+=-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`);

export const restoreCommand: Command = {
  name: 'restore',
  usage: USAGE,
  async run(argv) {
    const args = parseFlags(argv, { string: ['from', 'to'], boolean: ['force', 'dry-run'] }, 'restore');
    const [path, ...extra] = args._;
    if (path === undefined) throw new UsageError('restore: name the PATH to restore, e.g. restore /etc/foo.conf --from 20261126T063251Z');
    if (extra.length) throw new UsageError(`restore: unexpected argument ${extra[0]}`);
    const from = stringFlag(args, 'from');
    if (from === undefined) throw new UsageError('restore: --from ARCHIVE|CLASS/SNAPSHOT is required (see: pantheros-rollback list)');
    const parts = splitRestorePath(path);
    const shownPath = `/${parts.join('/')}`;
    const dest = resolve(stringFlag(args, 'to') ?? shownPath);
    const force = args.force === true;
    const dryRun = args['dry-run'] === true;
    const now = new Date();
    return withTopLevel(args, { readOnly: true }, async ({ config, top, json }) => {
      const item = resolveStored(top.path, config, from, 'restore');
      const label = `${item.kind} ${item.name}`;
      const source = openSource(top.path, item.path, parts, label);
      // Its open directory keeps the private mount busy: closed before the unmount, also on a signal.
      const sourceHeld = hold(`closed ${label}`, () => source.close());
      try {
        const destination = openDestination(dest);
        try {
          const { state } = destination;
          checkDestination(dest, state, force);
          const counts = countTree(source.abs);
          const mounts = readMountinfo();
          const destMount = mountHolding(mounts, currentPath(destination.dirFd) ?? destination.dirPath);
          const sameFs = destMount !== undefined && destMount.fsType === 'btrfs' && destMount.majorMinor === locateTopLevel(top, mounts).majorMinor;
          const taken = (c: string) => {
            try {
              lstatSync(fdPath(destination.dirFd, c));
              return true;
            } catch {
              return false;
            }
          };
          const keepAs = state.exists ? replacedName(destination.name, now, taken) : null;
          const base = { from: { kind: item.kind, name: item.name, path: item.path }, path: shownPath, sourceKind: source.kind, dest, counts, sharedExtents: sameFs };
          const what = `${describeCounts(counts)}, ${formatBytes(counts.bytes)}${source.kind === 'symlink' ? ' (the symlink itself, not what it points to)' : ''}`;
          if (dryRun) {
            output(json, { dryRun: true, ...base, replaced: state.exists ? { kind: state.kind, keptAs: join(destination.dirPath, keepAs!) } : null }, () =>
              [
                'dry run — nothing is copied or replaced',
                `would restore ${shownPath} from ${label} to ${dest}`,
                `  ${what}`,
                state.exists
                  ? `  would replace the existing ${state.kind} ${dest} as a whole, keeping it beside it as ${join(destination.dirPath, keepAs!)}`
                  : `  ${dest} does not exist: nothing would be replaced`,
              ].join('\n'),
            );
            return 0;
          }

          const staging = createStaging(destination.dirFd, destination.dirPath);
          const held = hold(`removed the staging directory ${staging.shown}`, () => removeStaging(staging));
          let keptAs: string | null;
          try {
            const argvCp = copyArgv(source.name, destination.name);
            const r = await runTracked(argvCp, { fds: [source.dirFd, staging.fd] });
            if (r.code !== 0) {
              throw new StepError(`restore: ${argvCp.join(' ')} exited ${r.code}: ${r.stderr.trim()}`, [], `${dest} is as it was (the partial copy is removed); the archive is unchanged`);
            }
            keptAs = moveIntoPlace(staging, destination.name, destination.name, source.kind, force, now, dest);
          } finally {
            const problem = held.release();
            if (problem) writeErr(`pantheros-rollback: warning: ${problem}\n`);
          }
          const kept = keptAs === null ? null : join(destination.dirPath, keptAs);
          output(json, { dryRun: false, ...base, replaced: state.exists && kept ? { kind: state.kind, keptAs: kept } : null }, () =>
            [
              `restored ${shownPath} from ${label} to ${dest}`,
              ...(kept && state.exists
                ? [`  replaced the existing ${state.kind} ${dest} as a whole; it is kept beside it as ${kept}`, `  remove it when it is no longer needed: rm -r -- ${shellQuote(kept)}`]
                : []),
              `  ${what}`,
              `  ownership, mode, timestamps, xattrs and symlinks preserved; ${sameFs ? 'extents shared with the archive (same btrfs filesystem)' : 'data copied (DEST is on another filesystem)'}`,
            ].join('\n'),
          );
          return 0;
        } finally {
          destination.close();
        }
      } finally {
        sourceHeld.release();
      }
    });
  },
};
