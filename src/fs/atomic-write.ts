// The one atomic file write: readers see the old file or the new one, never half of it, and whoever owns the
// directory cannot turn root's write against another file.
import { closeSync, constants, fchmodSync, fsyncSync, lstatSync, openSync, readlinkSync, renameSync, statSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { PreconditionError } from '../errors.js';
import { fdPath, openDirectoryNoFollow, PathWalkError } from './open-dir.js';

export interface AtomicWriteOptions {
  /** Permission bits of the file (default 0644), set with fchmod so the umask does not narrow them. */
  mode?: number;
  /**
   * false: the directory is not fsync'ed after the rename (default true). The file's data is still fsync'ed before
   * the rename, so after a power cut NAME is the old file or the new one, whole — never empty (btrfs can commit a
   * rename before the data it points to: issue 13) — but the rename itself reaches the disk with the filesystem's
   * next commit (btrfs: its `commit=` interval, 30 s by default; an unmount). For copies that are only convenient
   * (the boot report kept beside the archives): the directory's fsync writes btrfs' log tree again, about 1.5 ms.
   */
  syncDirectory?: boolean;
}

const TEMPORARY_MARK = '.pantheros-tmp-';

/**
 * True when `name` is a temporary file writeFileAtomic made for `fileName` in the same directory
 * (`.NAME.pantheros-tmp-<pid>-<random>`). One that is left means a write was cut off before its rename (a power cut,
 * SIGKILL): `fileName` itself is the old file or the new one, whole, so the temporary holds nothing needed.
 */
export function isAtomicWriteTemporary(name: string, fileName: string): boolean {
  const prefix = `.${fileName}${TEMPORARY_MARK}`;
  return name.startsWith(prefix) && /^\d+-[0-9a-z]+$/.test(name.slice(prefix.length));
}

const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** What a special file at the target is called, or null for a regular file, a symlink, a directory or nothing. */
function specialKind(st: Stats | undefined): string | null {
  if (!st) return null;
  if (st.isCharacterDevice()) return 'character device';
  if (st.isBlockDevice()) return 'block device';
  if (st.isFIFO()) return 'FIFO';
  if (st.isSocket()) return 'socket';
  return null;
}

/**
 * Why the symlink at `path` is one the system needs rather than a file left in the way, or null: it points into /proc
 * (/dev/stdout → /proc/self/fd/1, /dev/fd → /proc/self/fd, wherever fd 1 leads), or at a directory, a device, a FIFO
 * or a socket. A symlink that points nowhere (dangling, a loop, a name too long, a dead mount: any error of the stat)
 * is not one, and is replaced as before. Only looked at: readlink and stat, nothing is opened.
 */
function systemSymlink(path: string, dir: string): string | null {
  try {
    const target = readlinkSync(path);
    // As the kernel resolves it: relative to the link's directory, `..` and `//` folded (../../proc/self/mounts, //proc).
    const resolved = resolve(dir, target);
    if (resolved === '/proc' || resolved.startsWith('/proc/')) return `into /proc (→ ${target})`;
    const st = statSync(path);
    if (st.isDirectory()) return `to a directory (→ ${target})`;
    const kind = specialKind(st);
    return kind ? `to a ${kind} (→ ${target})` : null;
  } catch {
    return null;
  }
}

/**
 * Writes data to path atomically:
 * 1. the directory is reached from "/" one component at a time without following a symlink, and held by fd;
 * 2. a hidden temporary file `.NAME.pantheros-tmp-<pid>-<random>` is created in it with O_CREAT|O_EXCL|O_NOFOLLOW
 *    (a name someone placed there first — file or symlink — is never opened; another name is tried);
 * 3. the data is written, the mode set, the file fsync'ed and closed;
 * 4. it is renamed over NAME (a symlink at NAME is replaced, never followed), and the directory fsync'ed (unless
 *    `syncDirectory: false`).
 * A device, FIFO or socket at NAME, or a symlink into /proc or to a directory, device, FIFO or socket (`/dev/stdout`,
 * `/dev/fd`), is never replaced (`--report /dev/null` replaced the system's /dev/null with a regular file before
 * 2026-12-02): that is an error, and nothing is written. Any other symlink is replaced, never followed.
 * On any failure the temporary file is removed and PATH is as it was. The directory must exist.
 * Throws PreconditionError ("cannot write PATH: …") naming a symlink or missing component, a special file at NAME,
 * or the errno.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): void {
  const abs = resolve(path);
  const dir = dirname(abs);
  const name = basename(abs);
  const fail = (reason: string, cause?: unknown): never => {
    throw new PreconditionError(`cannot write ${path}: ${reason}`, { cause });
  };
  if (name === '' || abs === '/' || path.endsWith('/')) fail('not a file name');
  const syncDirectory = options.syncDirectory ?? true;
  let dirFd: number;
  try {
    dirFd = openDirectoryNoFollow(dir);
  } catch (error) {
    if (error instanceof PathWalkError) return fail(`${error.message}${error.problem === 'symlink' ? ' (the directory must be reached without symlinks; give the real path)' : ''}`, error);
    return fail((error as Error).message, error);
  }
  let tmp: string | undefined;
  try {
    let there: Stats | undefined;
    try {
      there = lstatSync(fdPath(dirFd, name));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    const special = specialKind(there);
    if (special) fail(`it is a ${special}, not a regular file: it is not replaced (give the path of a regular file, or of a new one)`);
    if (there?.isSymbolicLink()) {
      const behind = systemSymlink(fdPath(dirFd, name), dir);
      if (behind) fail(`it is a symlink ${behind}, not to a regular file: it is not replaced (give the path of a regular file, or of a new one)`);
    }
    let fd: number | undefined;
    for (let attempt = 0; fd === undefined; attempt++) {
      const candidate = `.${name}${TEMPORARY_MARK}${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
      try {
        fd = openSync(fdPath(dirFd, candidate), CREATE, options.mode ?? 0o644);
        tmp = candidate;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 9) throw error;
      }
    }
    try {
      fchmodSync(fd, options.mode ?? 0o644);
      const bytes = typeof data === 'string' ? Buffer.from(data) : data;
      for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(fdPath(dirFd, tmp!), fdPath(dirFd, name));
    tmp = undefined;
    if (syncDirectory) fsyncSync(dirFd);
  } catch (error) {
    if (tmp !== undefined) {
      try {
        unlinkSync(fdPath(dirFd, tmp));
      } catch {
        // already gone
      }
    }
    if (error instanceof PreconditionError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    fail(code === 'EISDIR' ? `${abs} is a directory` : (code ?? (error as Error).message), error);
  } finally {
    closeSync(dirFd);
  }
}
