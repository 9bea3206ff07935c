// The copy itself: GNU cp with argv (no shell), and the checks on the destination before it runs.
import { lstatSync, realpathSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { UsageError } from '../errors.js';
import type { MountEntry } from '../fs/mountinfo.js';
import type { SourceKind } from './source.js';

/**
 * cp -a keeps ownership, mode, timestamps, xattrs/ACLs and symlinks as symlinks; --reflink=auto shares
 * extents when source and destination are on one btrfs filesystem (and copies otherwise);
 * -T treats DEST as the destination itself, never a directory to copy into.
 */
export function copyArgv(source: string, dest: string, replace: boolean): string[] {
  return ['cp', '-a', '--reflink=auto', '--no-target-directory', ...(replace ? ['--remove-destination'] : []), '--', source, dest];
}

export type DestState = { exists: false } | { exists: true; kind: 'directory' | 'symlink' | 'file' | 'other' };

/** What is at DEST now (not following a final symlink). */
export function destState(dest: string): DestState {
  try {
    const st = lstatSync(dest);
    return { exists: true, kind: st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'directory' : st.isFile() ? 'file' : 'other' };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { exists: false };
    throw new UsageError(`restore: cannot look at ${dest}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error });
  }
}

/** Refuses a copy that would overwrite without --force, or mix a directory with a non-directory; DEST's parent must exist. */
export function checkDestination(dest: string, state: DestState, sourceKind: SourceKind, force: boolean): void {
  let parentIsDir = false;
  try {
    parentIsDir = statSync(dirname(dest)).isDirectory();
  } catch {
    parentIsDir = false;
  }
  if (!parentIsDir) throw new UsageError(`restore: ${dirname(dest)} does not exist (or is not a directory); restore a parent directory instead, or create it first`);
  if (!state.exists) return;
  if (!force) throw new UsageError(`restore: ${dest} exists (${state.kind}); refusing to overwrite it without --force (or restore elsewhere with --to DIR/NAME)`);
  if (sourceKind === 'directory' && state.kind !== 'directory') throw new UsageError(`restore: ${dest} is a ${state.kind} and the source is a directory; move it away first`);
  if (sourceKind !== 'directory' && state.kind === 'directory') throw new UsageError(`restore: ${dest} is a directory and the source is a ${sourceKind}; give --to ${dest}/NAME to restore into it`);
}

/** The mount that holds `path` (the longest mount point that is a prefix of its real path). */
export function mountHolding(mounts: readonly MountEntry[], path: string): MountEntry | undefined {
  let real = path;
  try {
    real = realpathSync(path);
  } catch {
    // keep as given
  }
  let best: MountEntry | undefined;
  for (const e of mounts) {
    const mp = e.mountPoint;
    if ((real === mp || real.startsWith(mp === '/' ? '/' : `${mp}/`)) && (!best || mp.length >= best.mountPoint.length)) best = e;
  }
  return best;
}
