// Reads everything the boot planner decides on, without changing anything.
import { accessSync, constants, lstatSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/load-config.js';
import { PreconditionError } from '../errors.js';
import { listReadOnlyIds, listSubvolumes, type SubvolumeInfo } from '../btrfs/list.js';
import { mountAt, mountsOfSubvolume, readMountinfo, type MountEntry } from '../fs/mountinfo.js';

export type EntryKind = 'subvolume' | 'directory' | 'symlink' | 'file' | 'missing' | 'other';

export interface Observed {
  /** Absolute mount point of the top level; the planner works with paths relative to it. */
  top: string;
  /** Kind of every path component the planner may act on or resolve, keyed by path relative to top. */
  kinds: Record<string, EntryKind>;
  /** Mount points where @root (or something inside it) is mounted right now. */
  rootMountedAt: string[];
  blankReadOnly: boolean;
  blankEntries: number;
  /** Direct children of the archive directory. */
  entries: { name: string; kind: EntryKind }[];
  /** The full subvolume listing, when it was taken (only when something may be deleted or ordered by generation). */
  listing: SubvolumeInfo[] | null;
  /** Paths of the read-only subvolumes, taken with the listing. */
  readOnlyPaths: string[] | null;
  /** The next-boot request left by `pantheros-rollback next-boot`, if any. */
  nextBoot: { target: string } | { problem: string } | null;
}

export const NEXT_BOOT_FILE = '.pantheros-next-boot';
export const LAST_REPORT_FILE = '.pantheros-last-report.json';
export const NEW_ROOT_PREFIX = '.pantheros-new-root';
/** Temporary read-only snapshots of the root taken by `diff`; one left behind by a killed diff is removed at boot. */
export const DIFF_SNAPSHOT_PREFIX = '.pantheros-diff-';
/** Names in the archive directory that only ever hold temporary subvolumes of this tool. */
export const LEFTOVER_PREFIXES = [NEW_ROOT_PREFIX, DIFF_SNAPSHOT_PREFIX] as const;
export const isLeftoverName = (name: string) => LEFTOVER_PREFIXES.some((p) => name.startsWith(p));

/** The kind of one path, never following a symlink; a subvolume is a directory with inode 256. */
export function kindOf(abs: string): EntryKind {
  try {
    const st = lstatSync(abs);
    if (st.isSymbolicLink()) return 'symlink';
    if (st.isDirectory()) return st.ino === 256 ? 'subvolume' : 'directory';
    if (st.isFile()) return 'file';
    return 'other';
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'missing';
    throw error;
  }
}

/** Records the kind of each component of rel (a/b/c → a, a/b, a/b/c), stopping below anything that is not a directory. */
export function observePath(top: string, rel: string, kinds: Record<string, EntryKind>): EntryKind {
  const parts = rel.split('/');
  let kind: EntryKind = 'missing';
  for (let i = 1; i <= parts.length; i++) {
    const p = parts.slice(0, i).join('/');
    kind = kinds[p] ?? kindOf(join(top, p));
    kinds[p] = kind;
    if (kind !== 'directory' && kind !== 'subvolume') {
      for (let j = i + 1; j <= parts.length; j++) kinds[parts.slice(0, j).join('/')] = 'missing';
      break;
    }
  }
  return kinds[rel]!;
}

export function isReadOnly(abs: string): boolean {
  try {
    accessSync(abs, constants.W_OK);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EROFS';
  }
}

/** Checks that `top` is the top level (subvolid=5) of a mounted btrfs filesystem; returns its mountinfo entry. */
export function topLevelMount(top: string, mounts: readonly MountEntry[]): MountEntry {
  let real: string;
  try {
    real = realpathSync(top);
  } catch (error) {
    throw new PreconditionError(`top level ${top} does not exist`, { cause: error });
  }
  const entry = mountAt(mounts, real);
  if (!entry) throw new PreconditionError(`${top} is not a mount point; mount the btrfs top level there (mount -o subvolid=5 DEV ${top}) or use --device`);
  if (entry.fsType !== 'btrfs') throw new PreconditionError(`${top} is ${entry.fsType}, not btrfs`);
  if (entry.root !== '/') throw new PreconditionError(`${top} is subvolume ${entry.root} of ${entry.source}, not the top level; mount it with -o subvolid=5`);
  return entry;
}

export interface ObserveOptions {
  /** Snapshot paths (relative to the snapshots directory) a target names, so their components are checked. */
  snapshotPaths?: string[];
  /** Take the full subvolume listing now. */
  listing?: boolean;
  mountinfo?: MountEntry[];
}

export function observeFilesystem(top: string, config: Config, options: ObserveOptions = {}): Observed {
  const { root, blank, oldRoots, snapshots } = config.subvolumes;
  const mounts = options.mountinfo ?? readMountinfo();
  const topEntry = topLevelMount(top, mounts);
  const kinds: Record<string, EntryKind> = {};
  observePath(top, root, kinds);
  const blankKind = observePath(top, blank, kinds);
  const oldKind = observePath(top, oldRoots, kinds);
  observePath(top, snapshots, kinds);
  for (const p of options.snapshotPaths ?? []) observePath(top, `${snapshots}/${p}`, kinds);

  const entries: Observed['entries'] = [];
  let nextBoot: Observed['nextBoot'] = null;
  if (oldKind === 'directory' || oldKind === 'subvolume') {
    for (const d of readdirSync(join(top, oldRoots), { withFileTypes: true })) {
      let kind: EntryKind;
      if (d.isSymbolicLink()) kind = 'symlink';
      else if (d.isDirectory()) kind = kindOf(join(top, oldRoots, d.name));
      else if (d.isFile()) kind = 'file';
      else kind = 'other';
      entries.push({ name: d.name, kind });
      kinds[`${oldRoots}/${d.name}`] = kind;
    }
    const request = entries.find((e) => e.name === NEXT_BOOT_FILE);
    if (request) nextBoot = readRequest(join(top, oldRoots, NEXT_BOOT_FILE), request.kind);
  }
  const blankAbs = join(top, blank);
  const blankOk = blankKind === 'subvolume';
  const listing = options.listing ? listSubvolumes(top) : null;
  const readOnlyIds = options.listing ? listReadOnlyIds(top) : null;
  return {
    top,
    kinds,
    rootMountedAt: mountsOfSubvolume(mounts, topEntry.majorMinor, root),
    blankReadOnly: blankOk && isReadOnly(blankAbs),
    blankEntries: blankOk ? readdirSync(blankAbs).length : 0,
    entries,
    listing,
    readOnlyPaths: listing && readOnlyIds ? listing.filter((s) => readOnlyIds.has(s.id)).map((s) => s.path) : null,
    nextBoot,
  };
}

function readRequest(abs: string, kind: EntryKind): Observed['nextBoot'] {
  if (kind !== 'file') return { problem: `${NEXT_BOOT_FILE} is a ${kind}, not a regular file: ignored` };
  const text = readFileSync(abs, 'utf8');
  if (text.length > 4096) return { problem: `${NEXT_BOOT_FILE} is larger than 4 KiB: ignored` };
  return { target: (text.split('\n')[0] ?? '').trim() };
}
