// Paths below a directory given as exact bytes (names need not be UTF-8) and of any length (the whole path may
// exceed PATH_MAX): each directory is opened in turn through /proc/self/fd/N/<name> without following symlinks,
// so only one component at a time is ever resolved by name (Node has no openat; this has its effect).
import { closeSync, constants, lstatSync, openSync, renameSync, type Stats } from 'node:fs';

const O_PATH = 0o10000000;
/** Below this many bytes a whole path is handed to the kernel at once (PATH_MAX is 4096, with room to spare). */
const SHORT = 3800;

const join = (...parts: (string | Buffer)[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));

/** Splits relative path bytes at "/" (empty components refused by the callers' checks). */
function components(rel: Buffer): Buffer[] {
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
 * Runs fn with a path prefix that reaches the directory holding the last component of `rel` (below `top`) and
 * that last component's bytes. Short paths are used as they are; long ones through an fd of the parent directory,
 * opened one component at a time (O_PATH|O_DIRECTORY|O_NOFOLLOW: a symlink on the way fails with ELOOP).
 */
export function atParent<T>(top: string, rel: Buffer, fn: (parent: Buffer, name: Buffer) => T): T {
  const parts = components(rel);
  const name = parts.pop()!;
  if (Buffer.byteLength(top) + rel.length < SHORT) return fn(join(top, '/', ...parts.flatMap((p) => [p, '/'])), name);
  let fd = openSync(top, O_PATH | constants.O_DIRECTORY);
  try {
    for (const p of parts) {
      const next = openSync(join(`/proc/self/fd/${fd}/`, p), O_PATH | constants.O_DIRECTORY | constants.O_NOFOLLOW);
      closeSync(fd);
      fd = next;
    }
    return fn(Buffer.from(`/proc/self/fd/${fd}/`), name);
  } finally {
    closeSync(fd);
  }
}

/** lstat of `rel` below `top` (bytes, any length); throws the fs error (ENOENT, ENOTDIR, ELOOP for a symlink on the way). */
export function lstatBelow(top: string, rel: Buffer): Stats {
  return atParent(top, rel, (parent, name) => lstatSync(join(parent, name)));
}

/** Renames `rel` below `top` (bytes, any length) to the absolute, short path `to`. */
export function renameBelow(top: string, rel: Buffer, to: string): void {
  atParent(top, rel, (parent, name) => renameSync(join(parent, name), to));
}

/** Opens the directory at absolute path `abs` (bytes, any length) as an O_PATH fd without following any symlink on the way. */
export function openDirectoryBelowRoot(abs: string | Buffer): number {
  const bytes = typeof abs === 'string' ? Buffer.from(abs) : abs;
  return atParent('/', bytes.subarray(1), (parent, name) => openSync(join(parent, name), O_PATH | constants.O_DIRECTORY | constants.O_NOFOLLOW));
}
