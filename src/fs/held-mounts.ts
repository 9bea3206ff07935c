// Mounts reached through file descriptors: a mount point is identified by walking to it from / without following a
// symlink and reading the id of the mount the kernel reached it through; umount and mount act on the held directory
// (/proc/<pid>/fd/N, which mount(8) keeps as it is with --no-canonicalize), never on a name a user could change
// between the check and the act. Used by `umount` and by the online state rollback's unmount and mount again.
import { closeSync, fstatSync, openSync, constants } from 'node:fs';
import { basename, dirname } from 'node:path';
import { runCommand } from '../btrfs/run.js';
import type { MountEntry } from './mountinfo.js';
import { fdChild, fdPathForChild, inParent, mountIdOf, O_PATH, openDirectoryNoFollow, othersMayChange } from './open-dir.js';

/** A mount identified through file descriptors: its mountinfo entry, and its mount point as a name in a held directory. */
export interface Located {
  entry: MountEntry;
  /** The directory holding the mount point, opened from "/" without following a symlink. */
  parentFd: number;
  /** The mount point's name in that directory. */
  name: string;
}

/** Where a mount could not be reached as it was identified (a symlink on the way, renamed, nothing mounted). */
export class NotReachable extends Error {
  override name = 'NotReachable';
}

/**
 * Opens NAME in the directory parentFd holds as an O_PATH descriptor without following it: a directory or a regular
 * file (a bind mount's mount point, or its source, may be either). Throws NotReachable for anything else (a symlink
 * swapped in) or when it cannot be opened.
 */
function openMountPoint(parentFd: number, name: string | Buffer, shown: string): number {
  let fd: number;
  try {
    fd = openSync(fdChild(parentFd, typeof name === 'string' ? Buffer.from(name) : name), O_PATH | constants.O_NOFOLLOW);
  } catch (error) {
    throw new NotReachable(`${shown}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error });
  }
  const st = fstatSync(fd);
  if (st.isDirectory() || st.isFile()) return fd;
  closeSync(fd);
  throw new NotReachable(`${shown} is ${st.isSymbolicLink() ? 'a symlink' : 'neither a directory nor a file'}`);
}

/**
 * Identifies what is mounted at the absolute path dir (a directory, or a file a bind is mounted on): walks to its
 * directory from "/" without following a symlink, opens the last component (O_PATH|O_NOFOLLOW) and reads the id of
 * the mount the kernel reached it through (/proc/self/fdinfo mnt_id), which names the mountinfo entry in `mounts`; it
 * is a mount point when that id is not its directory's. Returns undefined when dir is not the root of a mount; throws
 * NotReachable when it cannot be reached without a symlink. The caller closes the returned parentFd.
 */
export function locateMount(dir: string, mounts: readonly MountEntry[]): Located | undefined {
  if (dir === '/') throw new NotReachable('/ is never unmounted by pantheros-rollback');
  let parentFd: number;
  try {
    parentFd = openDirectoryNoFollow(dirname(dir));
  } catch (error) {
    throw new NotReachable((error as Error).message, { cause: error });
  }
  const name = basename(dir);
  let entry: MountEntry | undefined;
  try {
    const fd = openMountPoint(parentFd, name, dir);
    try {
      const mountId = mountIdOf(fd);
      entry = mountId !== mountIdOf(parentFd) ? mounts.find((e) => e.mountId === mountId) : undefined;
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    closeSync(parentFd);
    throw error;
  }
  if (entry) return { entry, parentFd, name };
  closeSync(parentFd);
  return undefined;
}

/**
 * Unmounts one located mount, never another: in a directory only root can change, through the held directory and
 * the name (a mount point cannot be renamed or replaced while it is one, and nobody else can touch the directory);
 * in a directory others can write, through the file descriptor of the mount's own root, which is exactly that mount
 * — lazily (MNT_DETACH), since the descriptor itself keeps it busy. Returns whether it was detached lazily, and what
 * umount said when it failed.
 */
export function unmountLocated(l: Located): { lazy: boolean; problem: string | undefined } {
  const lazy = othersMayChange(fstatSync(l.parentFd));
  let argv: string[];
  let rootFd: number | undefined;
  if (!lazy) argv = ['umount', '--no-canonicalize', '--', fdPathForChild(l.parentFd, l.name)];
  else {
    rootFd = openMountPoint(l.parentFd, l.name, l.entry.mountPoint);
    if (mountIdOf(rootFd) !== l.entry.mountId || mountIdOf(rootFd) === mountIdOf(l.parentFd)) {
      closeSync(rootFd);
      return { lazy, problem: 'it changed while it was being unmounted (not unmounted)' };
    }
    argv = ['umount', '--lazy', '--no-canonicalize', '--', fdPathForChild(rootFd)];
  }
  try {
    const r = runCommand(argv);
    return { lazy, problem: r.code === 0 ? undefined : r.stderr.trim() || `umount exited ${r.code}` };
  } finally {
    if (rootFd !== undefined) closeSync(rootFd);
  }
}

/**
 * Unmounts the mount `entry` (an entry of `mounts`, as read before) where it is now, reached as locateMount reaches it
 * and only when the kernel names that very mount there (same mount id); returns what went wrong, or undefined.
 */
export function unmountEntry(entry: MountEntry, mounts: readonly MountEntry[]): string | undefined {
  let l: Located | undefined;
  try {
    l = locateMount(entry.mountPoint, mounts);
  } catch (error) {
    if (error instanceof NotReachable) return `cannot reach ${entry.mountPoint} as it was mounted: ${error.message} (not unmounted)`;
    throw error;
  }
  if (!l) return `${entry.mountPoint} is no longer a mount point under that name (not unmounted)`;
  try {
    if (l.entry.mountId !== entry.mountId) return `another mount is on top of ${entry.mountPoint} (not unmounted)`;
    return unmountLocated(l).problem;
  } finally {
    closeSync(l.parentFd);
  }
}

/**
 * Opens the absolute path `abs` as an O_PATH descriptor of a directory or a regular file (what a mount point or a bind
 * source is), walked from "/" one component at a time without following a symlink, the last one included (inParent,
 * then openMountPoint). Throws the walk's fs error (ELOOP for a symlink on the way, ENOENT, ENOTDIR), or NotReachable
 * for a last component that is a symlink or neither a directory nor a file.
 */
export function openMountableNoFollow(abs: string): number {
  return inParent('/', Buffer.from(abs.slice(1)), (parentFd, name) => openMountPoint(parentFd, name, abs));
}
