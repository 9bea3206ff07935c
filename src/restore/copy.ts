// The destination side of `restore`: its directory reached without following a symlink and held by fd, what is at
// DEST now, and the cp argv that writes only through the held directories.
import { closeSync, lstatSync, readlinkSync, realpathSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { UsageError } from '../errors.js';
import { fdPath, openDirectoryNoFollow, PathWalkError } from '../fs/open-dir.js';
import { kindOfStat, type SourceKind } from './source.js';
import { showName } from '../cli/show-text.js';

/** The child's file descriptors: the source's directory and the staging directory (see runTracked). */
export const SOURCE_FD = 3;
export const STAGING_FD = 4;

/**
 * cp -a keeps ownership, mode, timestamps, xattrs/ACLs and symlinks as symlinks (never following one, -P);
 * --reflink=auto shares extents when source and destination are on one btrfs filesystem (and copies otherwise);
 * -T treats the destination as the item itself, never a directory to copy into. Both paths go through the
 * child's fds 3 and 4, so no name outside the held directories is resolved.
 */
export function copyArgv(sourceName: string, itemName: string): string[] {
  return ['cp', '-a', '--reflink=auto', '--no-target-directory', '--', fdPath(SOURCE_FD, sourceName), fdPath(STAGING_FD, itemName)];
}

export type DestState = { exists: false } | { exists: true; kind: SourceKind };

/** DEST's directory, held open, and what is at DEST now. */
export interface OpenedDestination {
  /** DEST as given (absolute). */
  dest: string;
  dirFd: number;
  /** DEST's directory as the operator named it. */
  dirPath: string;
  name: string;
  state: DestState;
  close(): void;
}

/** What is at NAME in the directory held by dirFd (never following a final symlink). */
export function destState(dirFd: number, name: string, shown: string): DestState {
  try {
    return { exists: true, kind: kindOfStat(lstatSync(fdPath(dirFd, name))) };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { exists: false };
    throw new UsageError(`restore: cannot look at ${shown}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error });
  }
}

/**
 * Opens DEST's directory from "/" one component at a time without following a symlink (a symlink anywhere on the
 * way is refused — give the real path; the hint names it), and looks at DEST. Throws UsageError.
 */
export function openDestination(dest: string): OpenedDestination {
  const dirPath = dirname(dest);
  const name = basename(dest);
  if (dest === '/' || name === '' || name === '.' || name === '..') throw new UsageError(`restore: ${JSON.stringify(dest)} is not a name to restore to`);
  let dirFd: number;
  try {
    dirFd = openDirectoryNoFollow(dirPath);
  } catch (error) {
    if (error instanceof PathWalkError && error.problem === 'symlink') {
      let real = '';
      try {
        real = ` (${dest} is really ${realpathSync(dirPath)}/${name})`;
      } catch {
        real = '';
      }
      throw new UsageError(`restore: ${error.component} is a symlink (→ ${error.target === undefined ? '?' : showName(error.target)}); refusing to follow it on the way to ${dest} — give the real path with --to${real}`, { cause: error });
    }
    if (error instanceof PathWalkError && (error.problem === 'missing' || error.problem === 'not-a-directory')) {
      throw new UsageError(`restore: ${dirPath} does not exist (or is not a directory); restore a parent directory instead, or create it first`, { cause: error });
    }
    throw new UsageError(`restore: cannot open ${dirPath}: ${(error as Error).message}`, { cause: error });
  }
  try {
    const state = destState(dirFd, name, dest);
    return { dest, dirFd, dirPath, name, state, close: () => closeSync(dirFd) };
  } catch (error) {
    closeSync(dirFd);
    throw error;
  }
}

/** Refuses to replace an existing DEST without --force; with --force anything at DEST is replaced as a whole (and kept beside it). */
export function checkDestination(dest: string, state: DestState, force: boolean): void {
  if (state.exists && !force) {
    throw new UsageError(`restore: ${dest} exists (${state.kind}); refusing to overwrite it without --force (which replaces it as a whole and keeps it beside it), or restore elsewhere with --to DIR/NAME`);
  }
}

/** Where the directory held by fd is now (readlink of /proc/self/fd/N); undefined when it cannot be told. */
export function currentPath(fd: number): string | undefined {
  try {
    return readlinkSync(fdPath(fd));
  } catch {
    return undefined;
  }
}

/** The mount that holds a path (one implementation, in src/btrfs/top-level.ts). */
export { mountHolding } from '../btrfs/top-level.js';
