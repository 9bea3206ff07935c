// Directories reached one component at a time without following a symlink, and held as file descriptors.
// Node has no openat(2); opening "/proc/self/fd/N/NAME" has its effect: the kernel resolves /proc/self/fd/N to the
// directory the descriptor holds (wherever it has been renamed to since), then NAME inside it. With O_NOFOLLOW a
// final symlink fails with ELOOP; with O_DIRECTORY anything but a directory fails with ENOTDIR.
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, readlinkSync, renameSync, type Stats } from 'node:fs';
import { showName } from '../cli/show-text.js';

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
        ? `${component} is a symlink (→ ${target === undefined ? '?' : showName(target)}); refusing to follow it`
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
    throw walkError(error, fdChild(dirFd, Buffer.from(name)), shown);
  }
}

/**
 * The PathWalkError for a failed open of `child` (/proc/self/fd/N/NAME) as a directory without following it, naming
 * it `shown`: a symlink (ELOOP, or ENOTDIR where the kernel gives that for one), missing, not a directory, unreadable.
 */
function walkError(error: unknown, child: Buffer, shown: string): PathWalkError {
  const code = (error as NodeJS.ErrnoException).code;
  const linkTarget = (): string | undefined => {
    try {
      return readlinkSync(child, 'utf8');
    } catch {
      return undefined;
    }
  };
  if (code === 'ELOOP') return new PathWalkError(shown, 'symlink', linkTarget(), code);
  if (code === 'ENOENT') return new PathWalkError(shown, 'missing', undefined, code);
  if (code === 'ENOTDIR') {
    // O_NOFOLLOW|O_DIRECTORY on a symlink to a directory gives ENOTDIR on some kernels: tell them apart.
    let link = false;
    try {
      link = lstatSync(child).isSymbolicLink();
    } catch {
      link = false;
    }
    if (link) return new PathWalkError(shown, 'symlink', linkTarget(), 'ELOOP');
    return new PathWalkError(shown, 'not-a-directory', undefined, code);
  }
  return new PathWalkError(shown, 'unreadable', undefined, code);
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

// --- Paths given as exact bytes, of any length (names need not be UTF-8; the whole path may exceed PATH_MAX) ---

/**
 * Whether someone other than root may add, remove or rename entries of the directory whose stat this is: owned by
 * another user, or writable by its group or others (with POSIX ACLs the group bits are the mask, so a named user or
 * group with write access sets them too).
 */
export function othersMayChange(st: { uid: number; mode: number }): boolean {
  return st.uid !== 0 || (st.mode & 0o022) !== 0;
}

/** open(2)'s O_PATH (Linux 2.6.39; node:fs has no constant for it): a descriptor that names a file without opening it for I/O. */
export const O_PATH = 0o10000000;
/** Below this many bytes a whole path is handed to the kernel at once (PATH_MAX is 4096, with room to spare). */
export const SHORT_PATH_BYTES = 3800;
const SHORT = SHORT_PATH_BYTES;
const bytes = (...parts: (string | Buffer)[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));

/** Splits relative path bytes at "/". */
function byteComponents(rel: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  for (let i = rel.indexOf(0x2f); i !== -1; i = rel.indexOf(0x2f, start)) {
    out.push(rel.subarray(start, i));
    start = i + 1;
  }
  out.push(rel.subarray(start));
  return out;
}

/**
 * Runs fn with a path prefix that reaches the directory holding the last component of `rel` (bytes, below `top`)
 * and that component's bytes. Short paths are used as they are; long ones through an fd of the parent directory,
 * opened one component at a time (O_PATH|O_DIRECTORY|O_NOFOLLOW: a symlink on the way fails with ELOOP).
 */
export function atParent<T>(top: string, rel: Buffer, fn: (parent: Buffer, name: Buffer) => T): T {
  if (Buffer.byteLength(top) + rel.length < SHORT) {
    // The same bytes as the components joined again, without splitting them (a split per lookup cost a chain of n
    // directories n²/2 components in all).
    const slash = rel.lastIndexOf(0x2f);
    return fn(bytes(top.endsWith('/') ? top : `${top}/`, rel.subarray(0, slash + 1)), rel.subarray(slash + 1));
  }
  return inParent(top, rel, (fd, name) => fn(Buffer.from(`${fdPath(fd)}/`), name));
}

/**
 * atParent for a long path whose directories were judged before (each lstat'ed as a real directory, reached through
 * real directories): the parent of the last component of `rel` (bytes, below `top`) is reached in chunks of whole
 * components, each shorter than SHORT_PATH_BYTES, every chunk opened through the descriptor of the one before it
 * (/proc/self/fd/N/CHUNK, O_PATH|O_DIRECTORY|O_NOFOLLOW). A lookup then costs length / SHORT_PATH_BYTES opens, not one
 * per component: a chain of n directories one inside the next costs about n²/1 900 opens in all, not n²/2 (a local
 * user's chain of 3 000 subvolumes took 24 s to observe before the swap, 2026-12-02). Each chunk must end at the
 * directory `judged(prefix)` remembers for that prefix (same st_dev and st_ino); when it does not (the directory there
 * was replaced since) or was never judged, or a chunk cannot be opened, the walk is atParent's, one component at a
 * time, with its errors. Inside a chunk, as in a short path handed over whole, the kernel follows a symlink swapped in
 * on the way (O_NOFOLLOW holds for a chunk's last component only): what is reached is then the child of the directory
 * judged before, wherever that directory is now — a fact for planning, not for acting (every rename, snapshot and
 * delete walks again one component at a time, inParent, and refuses a symlink; a review, 2026-12-02). Short paths go
 * to atParent as they are.
 */
export function atJudgedParent<T>(top: string, rel: Buffer, judged: (prefix: Buffer) => { dev: number; ino: number } | null | undefined, fn: (parent: Buffer, name: Buffer) => T): T {
  const last = rel.lastIndexOf(0x2f);
  if (Buffer.byteLength(top) + rel.length < SHORT || last < 0) return atParent(top, rel, fn);
  const fd = openJudgedChunks(top, rel, last, judged);
  if (fd === undefined) return atParent(top, rel, fn);
  try {
    return fn(Buffer.from(`${fdPath(fd)}/`), rel.subarray(last + 1));
  } finally {
    closeSync(fd);
  }
}

/** The descriptor of rel's bytes before `last`, opened chunk by chunk and checked against `judged`; undefined when any chunk fails. */
function openJudgedChunks(top: string, rel: Buffer, last: number, judged: (prefix: Buffer) => { dev: number; ino: number } | null | undefined): number | undefined {
  // Room for "/proc/self/fd/N/" before each chunk.
  const chunk = SHORT - 64;
  let fd = openSync(top, O_PATH | constants.O_DIRECTORY);
  try {
    for (let start = 0; start < last; ) {
      const end = last - start <= chunk ? last : rel.lastIndexOf(0x2f, start + chunk);
      if (end <= start) return undefined;
      const next = openSync(bytes(`${fdPath(fd)}/`, rel.subarray(start, end)), O_PATH | constants.O_DIRECTORY | constants.O_NOFOLLOW);
      closeSync(fd);
      fd = next;
      const want = judged(rel.subarray(0, end));
      const st = fstatSync(fd);
      if (!want || want.dev !== st.dev || want.ino !== st.ino) return undefined;
      start = end + 1;
    }
    const held = fd;
    fd = -1;
    return held;
  } catch {
    return undefined;
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/**
 * Runs fn with the directory that holds the last component of `rel` (bytes, below `top`) held open, and that
 * component's bytes. The directory is reached one component at a time whatever the length (O_PATH|O_DIRECTORY|
 * O_NOFOLLOW: a symlink on the way fails), so a path built on the fd (fdChild) names what was walked even when
 * someone renames a component or swaps a symlink in meanwhile. The fd is closed when fn returns; throws a
 * PathWalkError naming the component the walk stopped at (its code ELOOP for a symlink, ENOENT, ENOTDIR).
 */
export function inParent<T>(top: string, rel: Buffer, fn: (parentFd: number, name: Buffer) => T): T {
  const parts = byteComponents(rel);
  const name = parts.pop()!;
  let fd = openSync(top, O_PATH | constants.O_DIRECTORY);
  try {
    let shown = top.replace(/\/+$/, '');
    for (const p of parts) {
      shown = `${shown}/${p.toString('utf8')}`;
      let next: number;
      try {
        next = openSync(fdChild(fd, p), O_PATH | constants.O_DIRECTORY | constants.O_NOFOLLOW);
      } catch (error) {
        throw walkError(error, fdChild(fd, p), showName(shown));
      }
      closeSync(fd);
      fd = next;
    }
    return fn(fd, name);
  } finally {
    closeSync(fd);
  }
}

/** `name` (bytes) in the directory this process holds as fd: /proc/self/fd/N/NAME, resolved through the descriptor. */
export function fdChild(fd: number, name: Buffer): Buffer {
  return bytes(`${fdPath(fd)}/`, name);
}

/**
 * rename(2) of `from` to `to` (paths below `top`, as text or exact bytes), each end named in its parent directory held
 * open (inParent: walked from `top` one component at a time, no symlink followed). A user who may change a directory
 * on the way (their own, inside a state subvolume) cannot point either end elsewhere by renaming it or swapping a
 * symlink in: by path, root moved whatever the path reached by then (its own archive into the user's directory). The
 * entries themselves are never followed (rename acts on names). With noReplace, EEXIST (an Error with that code) when
 * something is at `to` in its held directory. Throws what rename throws, or the walk's error (ELOOP, ENOENT, ENOTDIR).
 */
export function renameBelow(top: string, from: string | Buffer, to: string | Buffer, options: { noReplace?: boolean } = {}): void {
  const b = (p: string | Buffer) => (typeof p === 'string' ? Buffer.from(p) : p);
  inParent(top, b(from), (fromParent, fromName) =>
    inParent(top, b(to), (toParent, toName) => {
      const dest = fdChild(toParent, toName);
      if (options.noReplace) {
        let there = true;
        try {
          lstatSync(dest);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
          there = false;
        }
        if (there) throw Object.assign(new Error(`${String(to)} already exists: refusing to rename onto it`), { code: 'EEXIST' });
      }
      renameSync(fdChild(fromParent, fromName), dest);
    }),
  );
}

/** Opens `rel` (bytes, below `top`) as an O_PATH fd of a directory, walked as inParent walks (no symlink followed). */
export function openDirectoryBelow(top: string, rel: Buffer): number {
  return inParent(top, rel, (fd, name) => openSync(fdChild(fd, name), O_PATH | constants.O_DIRECTORY | constants.O_NOFOLLOW));
}

/**
 * Runs op with a path to `rel` (bytes, below `top`, any length) that the kernel takes: the whole path when short, else
 * /proc/self/fd/N/NAME through its parent directory held open (atParent; no symlink followed on the way). Returns
 * what op returns; throws what op throws, or the walk's error (ENOENT, ENOTDIR, ELOOP).
 */
export function atPathBelow<T>(top: string, rel: Buffer, op: (path: Buffer) => T): T {
  return atParent(top, rel, (parent, name) => op(bytes(parent, name)));
}

/** lstat of `rel` below `top` (bytes, any length); throws the fs error (ENOENT, ENOTDIR, ELOOP for a symlink on the way). */
export function lstatBelow(top: string, rel: Buffer): Stats {
  return atPathBelow(top, rel, (path) => lstatSync(path));
}

/** Opens the directory at absolute path `abs` (bytes, any length) as an O_PATH fd without following a symlink on the way. */
export function openDirectoryBelowRoot(abs: string | Buffer): number {
  const b = typeof abs === 'string' ? Buffer.from(abs) : abs;
  return atParent('/', b.subarray(1), (parent, name) => openSync(bytes(parent, name), O_PATH | constants.O_DIRECTORY | constants.O_NOFOLLOW));
}

// --- Mounts seen through file descriptors (mount and umount act on the directory they checked, never on a name) ---

/**
 * Opens the directory at `path` (absolute) like openDirectoryNoFollow, first creating each missing component with
 * `mode` inside the directory already held (mkdir never follows a symlink at the new name, and the open after it
 * refuses one that a user swapped in meanwhile). Returns the fd and whether the last component was created by this
 * call. Throws PathWalkError (symlink, not a directory, unreadable) or the mkdir error (EACCES, EROFS…).
 */
export function openOrCreateDirectoryNoFollow(path: string, mode: number): { fd: number; created: boolean } {
  const parts = splitAbsolute(path);
  let fd = openSync('/', OPEN_DIR);
  let shown = '';
  let created = false;
  try {
    for (const part of parts) {
      shown = `${shown}/${part}`;
      let next: number;
      created = false;
      try {
        next = openChildDirectory(fd, part, shown);
      } catch (error) {
        if (!(error instanceof PathWalkError) || error.problem !== 'missing') throw error;
        try {
          mkdirSync(fdPath(fd, part), { mode });
          created = true;
        } catch (mkdirError) {
          if ((mkdirError as NodeJS.ErrnoException).code !== 'EEXIST') throw mkdirError;
        }
        next = openChildDirectory(fd, part, shown);
      }
      closeSync(fd);
      fd = next;
    }
    return { fd, created };
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

/**
 * The id of the mount through which fd reaches its object: the `mnt_id:` line of /proc/self/fdinfo/<fd> (Linux ≥
 * 3.15), the same number as the first field of /proc/self/mountinfo. Throws when the line is missing.
 */
export function mountIdOf(fd: number): number {
  const m = /^mnt_id:\s*(\d+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
  if (!m) throw new Error(`/proc/self/fdinfo/${fd} has no mnt_id line`);
  return Number(m[1]);
}

/**
 * True when the directory held by fd is the root of a mount: its ".." is reached through another mount (the
 * kernel steps out of a mount when it resolves ".." at the mount's root), or it is the root directory itself.
 */
export function isMountRoot(fd: number): boolean {
  const up = openSync(fdPath(fd, '..'), constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    if (mountIdOf(up) !== mountIdOf(fd)) return true;
    const a = fstatSync(fd);
    const b = fstatSync(up);
    return a.dev === b.dev && a.ino === b.ino;
  } finally {
    closeSync(up);
  }
}

/**
 * The path by which a child process reaches the directory this process holds as fd (or NAME inside it):
 * /proc/<pid>/fd/<fd>, which the kernel resolves to the object the descriptor holds, whatever its name is now.
 */
export function fdPathForChild(fd: number, name?: string): string {
  const base = `/proc/${process.pid}/fd/${fd}`;
  return name === undefined ? base : `${base}/${name}`;
}
