// The kind of a directory entry and walks along a path, never following a symlink. The one place the
// tool decides what a path is: a subvolume is a directory whose inode number is 256 (BTRFS_FIRST_FREE_OBJECTID,
// the root directory of every subvolume tree; see linux/include/uapi/linux/btrfs_tree.h).
import { lstat, lstatSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { lstatBelow, SHORT_PATH_BYTES } from './open-dir.js';

export type EntryKind = 'subvolume' | 'directory' | 'symlink' | 'file' | 'missing' | 'other';

/** The inode number of the root directory of every btrfs subvolume. */
export const SUBVOLUME_ROOT_INO = 256;

/** The kind of an lstat result (a directory with inode 256 is a subvolume). */
export function kindOfStats(st: Stats): EntryKind {
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isDirectory()) return st.ino === SUBVOLUME_ROOT_INO ? 'subvolume' : 'directory';
  if (st.isFile()) return 'file';
  return 'other';
}

/**
 * The kind of one path, never following a final symlink. `missing` when it (or a component above it) does not
 * exist or is not a directory. Throws on other errors (EACCES, EIO…), which are not facts to decide on.
 */
export function kindOf(abs: string | Buffer): EntryKind {
  try {
    return kindOfStats(lstatSync(abs));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'missing';
    throw error;
  }
}

/**
 * kindOf of `rel` below `top`, at any length: a path longer than the kernel takes at once (a local user's tree deeper
 * than PATH_MAX) is looked at through its parent directory held open (src/fs/open-dir.ts lstatBelow), where a symlink
 * on the way counts as `missing` (nothing is reached through one). Throws as kindOf does.
 */
export function kindBelow(top: string, rel: string): EntryKind {
  if (Buffer.byteLength(top) + Buffer.byteLength(rel) < SHORT_PATH_BYTES) return kindOf(join(top, rel));
  try {
    return kindOfStats(lstatBelow(top, Buffer.from(rel)));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') return 'missing';
    throw error;
  }
}

/** True for the kinds a path may pass through: real directories and subvolumes (never a symlink). */
export const isDirectoryKind = (k: EntryKind | undefined): boolean => k === 'directory' || k === 'subvolume';

/**
 * Records the kind of every component of `rel` below `top` (a/b/c → a, a/b, a/b/c) into `kinds`, looking at each
 * with lstat. Below the first component that is not a directory or subvolume (a symlink, a file, missing) every
 * deeper component is recorded as `missing`: nothing is ever reached through a symlink. Returns the kind of `rel`.
 */
export function walkPath(top: string, rel: string, kinds: Record<string, EntryKind> = {}): EntryKind {
  const parts = rel.split('/');
  let blocked = false;
  for (let i = 1; i <= parts.length; i++) {
    const p = parts.slice(0, i).join('/');
    if (blocked) {
      kinds[p] = 'missing';
      continue;
    }
    const kind = kinds[p] ?? kindBelow(top, p);
    kinds[p] = kind;
    if (!isDirectoryKind(kind)) blocked = true;
  }
  return kinds[rel]!;
}

/** The first component of `rel` (recorded by walkPath) that is neither a directory nor a subvolume, with its kind. */
export function blockingComponent(kinds: Readonly<Record<string, EntryKind>>, rel: string): { path: string; kind: EntryKind } | undefined {
  const parts = rel.split('/');
  for (let i = 1; i < parts.length; i++) {
    const p = parts.slice(0, i).join('/');
    const k = kinds[p];
    if (k !== undefined && !isDirectoryKind(k)) return { path: p, kind: k };
  }
  return undefined;
}

/** Matches a relative path that has an empty, "." or ".." component (join() would change it). */
const ODD_COMPONENT = /(?:^|\/)(?:\.\.?)?(?:\/|$)/;

/**
 * join(top, rel) (node:path) for one `top` and any `rel`, the same string, made once per top: when `top` is absolute
 * and every component of `rel` is a name (no empty, "." or ".." component), `rel` is appended to the normalised top
 * as it is, without normalising again — the executor joins every nested path it deletes, several times.
 */
export function joinerBelow(top: string): (rel: string) => string {
  const base = join(top, '/');
  return top.startsWith('/') ? (rel) => (ODD_COMPONENT.test(rel) ? join(top, rel) : base + rel) : (rel) => join(top, rel);
}

/** Paths longer than this are not prefetched (lstat would answer ENAMETOOLONG: PATH_MAX is 4096 bytes). */
const PREFETCH_MAX_PATH = 4095;

/**
 * Starts an lstat(2) of each absolute path (string or bytes) on the runtime's thread pool (libuv's 4 threads under
 * Node) and drops the answers: nothing is ever decided from them. The kernel meanwhile looks the entries up and
 * caches them — for a subvolume root, the first lookup after a mount reads the subvolume's tree root from disk, about
 * 0.15 ms each on this project's bench (docs/benchmarks.md) — so the synchronous lstat that decides (kindOf,
 * Inventory.isSubvolume) finds them cached, and hundreds of first lookups overlap instead of waiting one after
 * another. Throws nothing; returns at once.
 */
export function prefetchLookups(paths: Iterable<string | Buffer>): void {
  const ignore = () => {};
  for (const path of paths) if ((typeof path === 'string' ? Buffer.byteLength(path) : path.length) <= PREFETCH_MAX_PATH) lstat(path, ignore);
}

