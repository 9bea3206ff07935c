// What both paths of the btrfs facade (native.ts) share: the error they throw, the errno names and
// messages, and the checks and opens of the paths they are given, so both give the same errors.
import { closeSync, constants, fstatSync, openSync } from 'node:fs';
import { NAME_MAX } from './ioctl/abi.js';

/** An absolute path; any bytes but NUL (a string is taken as its UTF-8 bytes). */
export type BtrfsPath = string | Buffer;
export type BtrfsOperation = 'snapshot' | 'create' | 'delete' | 'sync' | 'list';

/**
 * The one error of this module. `code` is the errno name the kernel gave ('ENOSPC', 'EEXIST', 'EROFS',
 * 'ENOTEMPTY', 'EPERM', 'EINVAL', 'ENOENT', …), the same under both paths: the process path maps
 * btrfs-progs' message to it. The message names the path(s) and is built from the code alone, so it
 * is identical under both paths too; `cause` keeps btrfs-progs' own output when there was one.
 */
export class BtrfsError extends Error {
  override name = 'BtrfsError';
  constructor(
    readonly code: string,
    readonly operation: BtrfsOperation,
    /** The path the error is about, printable (see showPath). */
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** strerror(3) of glibc for the errnos btrfs operations give; btrfs-progs prints these after "%m". */
export const STRERROR: Readonly<Record<string, string>> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  EIO: 'Input/output error',
  EBADF: 'Bad file descriptor',
  EAGAIN: 'Resource temporarily unavailable',
  ENOMEM: 'Cannot allocate memory',
  EACCES: 'Permission denied',
  EBUSY: 'Device or resource busy',
  EEXIST: 'File exists',
  EXDEV: 'Invalid cross-device link',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  EINVAL: 'Invalid argument',
  EMFILE: 'Too many open files',
  ENOTTY: 'Inappropriate ioctl for device',
  ETXTBSY: 'Text file busy',
  EFBIG: 'File too large',
  ENOSPC: 'No space left on device',
  EROFS: 'Read-only file system',
  EMLINK: 'Too many links',
  ENAMETOOLONG: 'File name too long',
  ENOSYS: 'Function not implemented',
  ENOTEMPTY: 'Directory not empty',
  ELOOP: 'Too many levels of symbolic links',
  EOVERFLOW: 'Value too large for defined data type',
  EOPNOTSUPP: 'Operation not supported',
  EDQUOT: 'Disk quota exceeded',
};

/** Linux errno numbers (asm-generic/errno-base.h, errno.h; x86, arm, riscv) of the names above. */
const ERRNO_NAMES: Readonly<Record<number, string>> = {
  1: 'EPERM', 2: 'ENOENT', 5: 'EIO', 9: 'EBADF', 11: 'EAGAIN', 12: 'ENOMEM', 13: 'EACCES', 16: 'EBUSY', 17: 'EEXIST',
  18: 'EXDEV', 20: 'ENOTDIR', 21: 'EISDIR', 22: 'EINVAL', 24: 'EMFILE', 25: 'ENOTTY', 26: 'ETXTBSY', 27: 'EFBIG',
  28: 'ENOSPC', 30: 'EROFS', 31: 'EMLINK', 36: 'ENAMETOOLONG', 38: 'ENOSYS', 39: 'ENOTEMPTY', 40: 'ELOOP',
  75: 'EOVERFLOW', 95: 'EOPNOTSUPP', 122: 'EDQUOT',
};

/** The errno name of a number ('E' + the number when it is not one btrfs operations give). */
export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `E${errno}`;
}

/** A path for messages: its text when it is UTF-8 without control characters, else with \xNN escapes for the other bytes. */
export function showPath(path: BtrfsPath): string {
  const bytes = typeof path === 'string' ? Buffer.from(path) : path;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    // eslint-disable-next-line no-control-regex
    if (!/[\u0000-\u001f\u007f-\u009f\\]/.test(text)) return text;
  } catch {
    // not UTF-8: escape byte by byte
  }
  let out = '';
  for (const b of bytes) out += b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  return out;
}

const VERB: Record<BtrfsOperation, string> = {
  snapshot: 'cannot snapshot',
  create: 'cannot create subvolume',
  delete: 'cannot delete subvolume',
  sync: 'cannot commit the filesystem of',
  list: 'cannot list the subvolumes of',
};

/** The error for `code` about `path` (and, for a snapshot, its source). */
export function btrfsError(code: string, operation: BtrfsOperation, path: BtrfsPath, options?: { source?: BtrfsPath; cause?: unknown }): BtrfsError {
  const what = operation === 'snapshot' && options?.source !== undefined ? `${showPath(options.source)} to ${showPath(path)}` : showPath(path);
  const text = STRERROR[code] ?? code;
  return new BtrfsError(code, operation, showPath(path), `${VERB[operation]} ${what}: ${text} (${code})`, options?.cause === undefined ? undefined : { cause: options.cause });
}

/** The error of a failed open/lstat (Node's error codes are errno names). */
export function fsError(error: unknown, operation: BtrfsOperation, path: BtrfsPath, source?: BtrfsPath): BtrfsError {
  const code = (error as NodeJS.ErrnoException).code;
  return btrfsError(typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : 'EIO', operation, path, { source, cause: error });
}

/** A path split into its parent directory and its last name, as bytes; trailing slashes ignored. */
export interface SplitPath {
  bytes: Buffer;
  parent: Buffer;
  name: Buffer;
}

const SLASH = 0x2f;
/** PATH_MAX of linux/limits.h, with its NUL: open(2) refuses longer paths, and realpath(3) in btrfs-progs too. */
const PATH_MAX = 4096;

/**
 * Checks an absolute path to a subvolume that is to be made or removed, and splits it. Throws EINVAL
 * for a relative path, a NUL byte, or a last name of "." or ".."; ENAMETOOLONG for a last name over
 * 255 bytes (BTRFS_NAME_LEN) or a path of PATH_MAX (4096) bytes or more (the ioctl could reach it
 * through its parent, btrfs-progs cannot) — the same under both paths, before anything runs.
 */
export function splitPath(path: BtrfsPath, operation: BtrfsOperation, source?: BtrfsPath): SplitPath {
  const bytes = typeof path === 'string' ? Buffer.from(path) : Buffer.from(path);
  if (bytes[0] !== SLASH || bytes.includes(0)) throw btrfsError('EINVAL', operation, path, { source });
  let end = bytes.length;
  while (end > 1 && bytes[end - 1] === SLASH) end--;
  const slash = bytes.lastIndexOf(SLASH, end - 1);
  const name = bytes.subarray(slash + 1, end);
  const parent = slash === 0 ? Buffer.from('/') : bytes.subarray(0, slash);
  const nameText = name.toString('latin1');
  if (name.length === 0 || nameText === '.' || nameText === '..') throw btrfsError('EINVAL', operation, path, { source });
  if (name.length > NAME_MAX || bytes.length >= PATH_MAX) throw btrfsError('ENAMETOOLONG', operation, path, { source });
  return { bytes: bytes.subarray(0, end), parent, name };
}

/** Checks an absolute path that is only opened (a source, the filesystem to commit or list): EINVAL if relative or holding NUL. */
export function checkPath(path: BtrfsPath, operation: BtrfsOperation, reported: BtrfsPath = path, source?: BtrfsPath): Buffer {
  const bytes = typeof path === 'string' ? Buffer.from(path) : Buffer.from(path);
  if (bytes[0] !== SLASH || bytes.includes(0)) throw btrfsError('EINVAL', operation, reported, { source });
  if (bytes.length >= PATH_MAX) throw btrfsError('ENAMETOOLONG', operation, reported, { source });
  return bytes;
}

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY;

/** Opens a directory (following symlinks, as open(2) does) or throws the BtrfsError of the failure. */
export function openDirectory(path: Buffer, operation: BtrfsOperation, reported: BtrfsPath, source?: BtrfsPath): number {
  try {
    return openSync(path, DIR_FLAGS);
  } catch (error) {
    throw fsError(error, operation, reported, source);
  }
}

/**
 * Opens the subvolume at path without following a symlink as its last component, and checks that it
 * is one (a directory with inode 256); EINVAL otherwise ("not a subvolume", as btrfs-progs says).
 */
export function openSubvolume(path: Buffer, operation: BtrfsOperation, reported: BtrfsPath, source?: BtrfsPath): number {
  let fd: number;
  try {
    fd = openSync(path, DIR_FLAGS | constants.O_NOFOLLOW);
  } catch (error) {
    throw fsError(error, operation, reported, source);
  }
  if (fstatSync(fd).ino !== 256) {
    closeSync(fd);
    throw btrfsError('EINVAL', operation, reported, { source });
  }
  return fd;
}

/** What became of one path given to deleteSubvolumes. */
export type DeleteResult = { path: BtrfsPath; deleted: true } | { path: BtrfsPath; deleted: false; error: BtrfsError };

export interface DeleteOutcome {
  /** One per path, in the order given. */
  results: DeleteResult[];
  /** Whether the commit asked for was done; false when not asked, when there was no filesystem to commit, or when it failed. */
  committed: boolean;
  /** Why the commit failed (the deletions stand but may not survive a crash). */
  commitError: BtrfsError | null;
}
