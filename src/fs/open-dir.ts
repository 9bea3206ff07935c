// Directories reached one component at a time without following a symlink, and held as file descriptors.
// Node has no openat(2); opening "/proc/self/fd/N/NAME" has its effect: the kernel resolves /proc/self/fd/N to the
// directory the descriptor holds (wherever it has been renamed to since), then NAME inside it. With O_NOFOLLOW a
// final symlink fails with ELOOP; with O_DIRECTORY anything but a directory fails with ENOTDIR.
import { closeSync, constants, fstatSync, lstatSync, openSync, readlinkSync } from 'node:fs';

const OPEN_DIR = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/** The path by which a process reaches NAME inside the directory held by fd (or the directory itself). */
export function fdPath(fd: number, name?: string): string {
  return name === undefined ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${name}`;
}

export type WalkProblem = 'symlink' | 'missing' | 'not-a-directory' | 'unreadable';

/** A component of a path could not be opened as a real directory. */
export class PathWalkError extends Error {
  override name = 'PathWalkError';
  constructor(
    /** The path up to and including the component that failed. */
    readonly component: string,
    readonly problem: WalkProblem,
    /** Where a symlink points; for a symlink only. */
    readonly target: string | undefined,
    readonly code: string | undefined,
  ) {
    super(
      problem === 'symlink'
        ? `${component} is a symlink (→ ${target ?? '?'}); refusing to follow it`
        : problem === 'missing'
          ? `${component} does not exist`
          : problem === 'not-a-directory'
            ? `${component} is not a directory`
            : `cannot open ${component}: ${code ?? 'error'}`,
    );
  }
}

/** The components of an absolute path; . and .. are refused (a caller resolves them first, if it means to). */
export function splitAbsolute(path: string): string[] {
  if (!path.startsWith('/')) throw new Error(`not an absolute path: ${JSON.stringify(path)}`);
  const parts = path.split('/').filter((p) => p !== '');
  if (parts.some((p) => p === '.' || p === '..')) throw new Error(`path has . or .. components: ${JSON.stringify(path)}`);
  return parts;
}

/** Opens NAME inside the directory held by dirFd as a directory, never following a symlink; throws PathWalkError. */
export function openChildDirectory(dirFd: number, name: string, shown: string): number {
  try {
    return openSync(fdPath(dirFd, name), OPEN_DIR);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') {
      let target: string | undefined;
      try {
        target = readlinkSync(fdPath(dirFd, name));
      } catch {
        target = undefined;
      }
      throw new PathWalkError(shown, 'symlink', target, code);
    }
    if (code === 'ENOENT') throw new PathWalkError(shown, 'missing', undefined, code);
    if (code === 'ENOTDIR') {
      // O_NOFOLLOW|O_DIRECTORY on a symlink to a directory gives ENOTDIR on some kernels: tell them apart.
      let link = false;
      try {
        link = lstatSync(fdPath(dirFd, name)).isSymbolicLink();
      } catch {
        link = false;
      }
      if (link) throw new PathWalkError(shown, 'symlink', readlinkSync(fdPath(dirFd, name)), 'ELOOP');
      throw new PathWalkError(shown, 'not-a-directory', undefined, code);
    }
    throw new PathWalkError(shown, 'unreadable', undefined, code);
  }
}

/**
 * Opens the directory at `path` (absolute) from "/", one component at a time, never following a symlink; returns
 * its file descriptor (close it with closeSync). `from` starts the walk at an already-open directory instead, with
 * `path` relative to it and `shownBase` naming it in messages. Throws PathWalkError naming the first component that
 * is a symlink, missing, or not a directory.
 */
export function openDirectoryNoFollow(path: string, from?: { fd: number; shownBase: string }): number {
  const parts = from ? path.split('/').filter((p) => p !== '') : splitAbsolute(path);
  if (from && parts.some((p) => p === '.' || p === '..')) throw new Error(`path has . or .. components: ${JSON.stringify(path)}`);
  // /proc/self/fd/N is itself a (magic) symlink: reopening it must follow it, hence no O_NOFOLLOW there.
  let fd = from ? openSync(fdPath(from.fd), constants.O_RDONLY | constants.O_DIRECTORY) : openSync('/', OPEN_DIR);
  let shown = from ? from.shownBase.replace(/\/$/, '') : '';
  try {
    for (const part of parts) {
      shown = `${shown}/${part}`;
      const next = openChildDirectory(fd, part, shown);
      closeSync(fd);
      fd = next;
    }
    return fd;
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

/** Identity of the object an fd or path refers to, for "is this still the directory I created?" checks. */
export function sameObject(fd: number, path: string): boolean {
  try {
    const a = fstatSync(fd);
    const b = lstatSync(path);
    return a.dev === b.dev && a.ino === b.ino;
  } catch {
    return false;
  }
}
