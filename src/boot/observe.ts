// Reads everything the planners decide on, without changing anything. What it reads depends on what the plan may
// need: the subvolume facts (the listing, verified on disk) only when something may be deleted or copied.
import { readdirSync, realpathSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/load-config.js';
import { PreconditionError } from '../errors.js';
import { isDirectoryKind, kindOf, prefetchLookups, walkPath, type EntryKind } from '../fs/entry-kind.js';
import { readDirectory } from '../btrfs/native.js';
import { immutableByAccess, readDefaultSubvolumeId, readOnlyFromAnswer, takeInventory, writeAccessAnswer, type Inventory, type NestedSubvolume, type SubvolumeRecord } from '../btrfs/inventory.js';
import { isWritableMount, mountAt, mountsOfSubvolume, pathsInUse, readMountinfo, type MountEntry } from '../fs/mountinfo.js';
import { rollbackParameter } from '../cmdline/parse-cmdline.js';
import { describeUnknownKeys, unknownKeys } from '../cmdline/unknown-keys.js';
import { mayAgeOut, pastKeepDays } from '../retention/age-out.js';
import { archiveNameTime } from '../archive/naming.js';
import { NEXT_BOOT_FILE, readRequestFile, type Request } from './request-file.js';
import { chooseTarget, type ChosenTarget } from './target.js';

// Kept for the commands that import them from here.
export { kindOf, type EntryKind } from '../fs/entry-kind.js';
export { NEXT_BOOT_FILE } from './request-file.js';

export const LAST_REPORT_FILE = '.pantheros-last-report.json';
/** The files a boot keeps in the archive directory, each written atomically (src/fs/atomic-write.ts). */
export const BOOT_FILES = [NEXT_BOOT_FILE, LAST_REPORT_FILE] as const;
export const NEW_ROOT_PREFIX = '.pantheros-new-root';
/** Temporary read-only snapshots of the root taken by `diff`; one left behind by a killed diff is removed at boot. */
export const DIFF_SNAPSHOT_PREFIX = '.pantheros-diff-';
/** Names in the archive directory that only ever hold temporary subvolumes of this tool. */
export const LEFTOVER_PREFIXES = [NEW_ROOT_PREFIX, DIFF_SNAPSHOT_PREFIX] as const;
export const isLeftoverName = (name: string) => LEFTOVER_PREFIXES.some((p) => name.startsWith(p));

export interface DirEntry {
  name: string;
  kind: EntryKind;
  /** False when the name is not valid UTF-8 (such entries are reported and left alone). */
  validName: boolean;
}

/** Subvolume facts, taken only when the plan may need them; every one verified (src/btrfs/inventory.ts). */
/** The top level's subvolume id (BTRFS_FS_TREE_OBJECTID, linux/include/uapi/linux/btrfs_tree.h): the default one unless set-default changed it. */
const FS_TREE_ID = 5;

export interface SubvolumeFacts {
  /** Facts of the subvolumes the plan may act on or order, by path relative to the top level. */
  records: Map<string, SubvolumeRecord>;
  /** Subvolumes strictly below each such path (deepest first). */
  nested: Map<string, NestedSubvolume[]>;
  /** Id of the default subvolume, when btrfs said. */
  defaultId: number | undefined;
  /**
   * The path of the default subvolume when it is nested in one of `nested`'s subvolumes (looked for only when the
   * default is not the top level, 5): btrfs refuses to delete it, so what holds it cannot go either.
   */
  defaultNestedPath?: string;
  /** Archives that may age out whose root directory is immutable (chattr +i): btrfs refuses to delete them. */
  immutable: Set<string>;
  /** What the listing held that could not be trusted. */
  notes: string[];
}

export interface Space {
  totalBytes: number;
  /** Available to a non-root writer (statfs f_bavail; for btrfs unallocated space counts). */
  freeBytes: number;
  freePercent: number;
}

export interface Observed {
  /** Absolute mount point of the top level; the planners work with paths relative to it. */
  top: string;
  /** Kind of every path component the planners may act on or resolve, keyed by path relative to top. */
  kinds: Record<string, EntryKind>;
  /** Mount points where the root subvolume (or something inside it) is mounted now: planning goes on, a boot refuses to execute. */
  rootMountedAt: string[];
  /** Paths (relative to the top level) of every subvolume of this filesystem mounted somewhere now. */
  mountedPaths: string[];
  /** The top level's mount is read-write (mount and superblock options; a read-only one makes every step fail with EROFS). */
  topWritable: boolean;
  /**
   * Of the directories the swap changes (the root, the directory it is in, the archive directory; '' is the top level),
   * those that are immutable (chattr +i), looked at on a writable mount only: the rename fails with EPERM there.
   */
  immutable: string[];
  /** The root is read-only (btrfs property ro, access(W_OK) answering EROFS on a writable mount): moving it into another directory fails with EROFS. */
  rootReadOnly: boolean;
  /**
   * Of what the new root may be a snapshot of (the blank, the target and the subvolumes nested in it), those that are
   * immutable (chattr +i), on a writable mount only: a snapshot copies the flag, so the new root (or a directory in it)
   * would be immutable, and nothing could be made in it.
   */
  immutableSources: Set<string>;
  blankReadOnly: boolean | null;
  blankEntries: number;
  /** Direct children of the archive directory. */
  entries: DirEntry[];
  request: Request;
  space: Space | null;
  /** What the boot is asked for (command line, then next-boot request). */
  chosen: ChosenTarget;
  /** Warnings about keys on the kernel command line that look like ours but are not (pantheros.rollbak=). */
  cmdlineWarnings: string[];
  /** The filesystem was found full (a step failed with ENOSPC): archives beyond keepAtLeast may go, as below the floor. */
  spacePressure: boolean;
  subvolumes: SubvolumeFacts | null;
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

/**
 * Names of the entries of directory `real` (a path without symlinks) that something is mounted on now, as this
 * process sees them (/proc/self/mountinfo); null when one of those names cannot be read back exactly (mountinfo is
 * text: a name that is not UTF-8 comes back altered), so that no entry can be taken for uncovered by mistake.
 */
function mountedEntries(real: string, mounts: readonly MountEntry[]): Set<string> | null {
  const prefix = real === '/' ? '/' : `${real}/`;
  const names = new Set<string>();
  for (const m of mounts) {
    if (!m.mountPoint.startsWith(prefix)) continue;
    const name = m.mountPoint.slice(prefix.length);
    if (name.includes('\uFFFD')) return null;
    if (name.length && !name.includes('/')) names.add(name);
  }
  return names;
}

/** True when every byte is ASCII (such bytes are their own UTF-8 text). */
function isAscii(bytes: Buffer): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i]! >= 0x80) return false;
  return true;
}

/**
 * Direct children of a real directory with their kinds, never following a symlink; empty when it is not one.
 * Under Bun the kinds come from the directory and the root tree in two calls (readDirectory, src/btrfs/native.ts),
 * except for an entry something is mounted on: lstat sees the mount there, and so does every later step, so such
 * an entry is looked up like every entry is under Node, or when those calls fail. Throws what readdir throws
 * (EACCES, EIO).
 */
export function listDirectory(dirAbs: string): DirEntry[] {
  if (!isDirectoryKind(kindOf(dirAbs))) return [];
  let read = readDirectory(dirAbs);
  if (read) {
    const covered = mountedEntries(realpathSync(dirAbs), readMountinfo());
    read = covered && read.map((e) => (covered.has(e.name.toString('utf8')) ? { name: e.name, kind: null } : e));
  }
  const raw: { name: Buffer; kind: EntryKind | null }[] = read ?? readdirSync(dirAbs, { encoding: 'buffer' }).map((name) => ({ name, kind: null }));
  // A name is kept as text when the text gives its bytes back; the path is then plain text too (a name never holds
  // "/"), and bytes otherwise.
  const dirText = `${dirAbs}/`;
  const entries = raw.map(({ name: bytes, kind }) => {
    const name = bytes.toString('utf8');
    const validName = isAscii(bytes) || Buffer.from(name).equals(bytes);
    return { name, kind, validName, path: validName ? dirText + name : Buffer.concat([Buffer.from(dirText), bytes]) };
  });
  // Each entry still to be looked up (every one under Node; each archive is a subvolume root, read from disk on its
  // first lookup after the mount): all lookups start at once, and the lstat below decides.
  prefetchLookups(entries.filter((e) => e.kind === null).map((e) => e.path));
  return entries
    .map(({ name, kind, validName, path }) => ({ name, kind: kind ?? kindOf(path), validName }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Free space of the filesystem holding `top` (statfs: f_bavail of f_blocks, so unallocated space counts); null when statfs fails. */
export function measureSpace(top: string): Space | null {
  try {
    const s = statfsSync(top);
    const totalBytes = s.blocks * s.bsize;
    const freeBytes = s.bavail * s.bsize;
    return { totalBytes, freeBytes, freePercent: totalBytes > 0 ? (freeBytes / totalBytes) * 100 : 0 };
  } catch {
    return null;
  }
}

export interface ObserveOptions {
  /** Text of the kernel command line (the target decides what must be read). */
  cmdline: string;
  now: Date;
  /** 'auto': subvolume facts only when the plan may need them (the boot); 'full': always (dry runs, operator commands). */
  facts: 'auto' | 'full';
  mountinfo?: MountEntry[];
  /** Plan as if this next-boot request were pending (next-boot checks a target before writing it). */
  request?: Request;
  /** An inventory already taken of this filesystem (operator commands that plan several things share one). */
  inventory?: Inventory;
  /** The filesystem is full (a step failed with ENOSPC): plan as if free space were below the floor. */
  spacePressure?: boolean;
}

/**
 * Observes the top level mounted at `top` for the boot planner. Throws PreconditionError when `top` is not the
 * btrfs top level; everything else (a mounted root, a broken layout) is recorded for the planner to judge.
 */
export function observeBoot(top: string, config: Config, options: ObserveOptions): Observed {
  const { root, blank, oldRoots, snapshots } = config.subvolumes;
  const mounts = options.mountinfo ?? readMountinfo();
  const topEntry = topLevelMount(top, mounts);
  const kinds: Record<string, EntryKind> = {};
  walkPath(top, root, kinds);
  const blankKind = walkPath(top, blank, kinds);
  const oldKind = walkPath(top, oldRoots, kinds);
  walkPath(top, snapshots, kinds);

  const entries = isDirectoryKind(oldKind) ? listDirectory(join(top, oldRoots)) : [];
  for (const e of entries) kinds[`${oldRoots}/${e.name}`] = e.kind;
  const request = options.request !== undefined ? options.request : entries.some((e) => e.name === NEXT_BOOT_FILE) ? readRequestFile(join(top, oldRoots)) : null;
  const chosen = chooseTarget(rollbackParameter(options.cmdline), request);
  if (chosen.target.kind === 'snapshot') walkPath(top, `${snapshots}/${chosen.target.path}`, kinds);
  const space = measureSpace(top);
  const writableMount = isWritableMount(topEntry);
  // access(W_OK) once per path ('' the top level), whatever is asked of its answer (read-only: EROFS, immutable: EPERM).
  const answers = new Map<string, string | null>();
  const answer = (p: string): string | null => {
    if (!answers.has(p)) answers.set(p, writeAccessAnswer(p === '' ? top : join(top, p)));
    return answers.get(p)!;
  };
  // An immutable one makes the first rename fail, boot after boot.
  const rootParent = root.includes('/') ? root.slice(0, root.lastIndexOf('/')) : '';
  const changed = [rootParent, ...(kinds[root] === 'subvolume' ? [root] : []), ...(isDirectoryKind(oldKind) ? [oldRoots] : [])];
  const immutable = writableMount ? changed.filter((p) => answer(p) === 'EPERM') : [];

  // Unknown (null) when access tells nothing (an immutable blank answers EPERM): the blank's record decides when the
  // facts are read, and otherwise no note is made either way.
  let blankReadOnly = blankKind === 'subvolume' && writableMount ? readOnlyFromAnswer(answer(blank)) : null;

  const archiveNames = entries.filter((e) => e.kind === 'subvolume' && e.validName && !e.name.startsWith('.')).map((e) => e.name);
  const leftovers = entries.filter((e) => e.kind === 'subvolume' && isLeftoverName(e.name)).map((e) => e.name);
  const needsFacts =
    options.facts === 'full' ||
    leftovers.length > 0 ||
    ['previous', 'archive', 'snapshot'].includes(chosen.target.kind) ||
    (chosen.target.kind === 'keep' && kinds[root] === 'missing') ||
    mayAgeOut(archiveNames, config.oldRoots, options.now, options.spacePressure ? 0 : space?.freePercent);

  let subvolumes: SubvolumeFacts | null = null;
  if (needsFacts) {
    const inventory = options.inventory ?? takeInventory(top, { writableMount });
    const pressed = options.spacePressure === true || (space !== null && space.freePercent < config.oldRoots.minFreePercent);
    const candidate = (name: string) => {
      const t = archiveNameTime(name);
      return t !== undefined && (pressed || pastKeepDays(t, options.now.getTime(), config.oldRoots.keepDays) || t > options.now.getTime());
    };
    // What the new root may be made from: a named archive, or (with @root missing, for previous and keep) the newest.
    const sources = chosen.target.kind === 'archive' || kinds[root] !== 'subvolume' ? archiveNames : [];
    subvolumes = collectFacts(inventory, config, archiveNames, leftovers, chosen, sources, candidate);
    if (writableMount) for (const name of archiveNames.filter(candidate)) if (answer(`${oldRoots}/${name}`) === 'EPERM') subvolumes.immutable.add(`${oldRoots}/${name}`);
    subvolumes.defaultId = readDefaultSubvolumeId(top);
    if (subvolumes.defaultId !== undefined && subvolumes.defaultId !== FS_TREE_ID) {
      // Rare (set-default to something else than the top level), so looked for only then: one record per nested path.
      const facts = subvolumes;
      const inside = [...facts.nested.values()].flat().find((n) => inventory.record(n.path)?.id === facts.defaultId);
      if (inside) facts.defaultNestedPath = inside.path;
    }
    const blankRecord = subvolumes.records.get(blank);
    if (blankRecord && blankReadOnly === null) blankReadOnly = blankRecord.readOnly;
  }

  const immutableSources = new Set<string>();
  if (writableMount) {
    const t = chosen.target;
    const sources = [
      ...(blankKind === 'subvolume' ? [blank] : []),
      ...(t.kind === 'archive' ? [`${oldRoots}/${t.name}`] : []),
      ...(t.kind === 'snapshot' ? [`${snapshots}/${t.path}`] : []),
      ...(t.kind === 'previous' || t.kind === 'keep' ? (kinds[root] === 'subvolume' ? [root] : archiveNames.map((n) => `${oldRoots}/${n}`)) : []),
    ];
    for (const s of sources) {
      if (answer(s) === 'EPERM') immutableSources.add(s);
      for (const n of subvolumes?.nested.get(s) ?? []) if (immutableByAccess(Buffer.concat([Buffer.from(`${top}/`), n.bytes]))) immutableSources.add(n.path);
    }
  }

  return {
    top,
    kinds,
    rootMountedAt: mountsOfSubvolume(mounts, topEntry.majorMinor, root),
    mountedPaths: pathsInUse(mounts, topEntry.majorMinor),
    topWritable: writableMount,
    immutable,
    rootReadOnly: writableMount && kinds[root] === 'subvolume' && answer(root) === 'EROFS',
    immutableSources,
    blankReadOnly,
    blankEntries: blankKind === 'subvolume' ? readdirSync(join(top, blank)).length : 0,
    entries,
    request,
    space,
    chosen,
    cmdlineWarnings: describeUnknownKeys(unknownKeys(options.cmdline)),
    spacePressure: options.spacePressure === true,
    subvolumes,
  };
}

/**
 * Records of the archive directory's items, the root, the blank and the target; the nested subvolumes below the root,
 * the target, and every archive that may go (`candidate`), is left over, or may be the new root's source (`sources`):
 * only those are read, since each nested subvolume is verified on disk (one lstat per path component) and a server
 * keeps many archives that hold many. An archive that may age out also gets its creation time (Inventory.creationTimes:
 * on the process path one `btrfs subvolume list -s` for the snapshots, one `btrfs subvolume show` for each other one),
 * so a name a clock that was behind wrote cannot make it look older than it is.
 */
function collectFacts(inventory: Inventory, config: Config, archives: string[], leftovers: string[], chosen: ChosenTarget, sources: string[], candidate: (name: string) => boolean): SubvolumeFacts {
  const { root, blank, oldRoots, snapshots } = config.subvolumes;
  const records = new Map<string, SubvolumeRecord>();
  const nested = new Map<string, NestedSubvolume[]>();
  const remember = (path: string) => {
    const r = inventory.record(path);
    if (r) records.set(path, r);
    return r;
  };
  const walked = [...new Set([...archives.filter(candidate), ...sources, ...leftovers])];
  for (const name of [...archives, ...leftovers]) remember(`${oldRoots}/${name}`);
  for (const [name, below] of inventory.belowEach(oldRoots, walked)) if (records.has(`${oldRoots}/${name}`)) nested.set(`${oldRoots}/${name}`, below);
  const aging = archives.filter(candidate).map((name) => `${oldRoots}/${name}`).filter((path) => records.has(path));
  for (const [path, otime] of inventory.creationTimes(aging)) records.set(path, { ...records.get(path)!, otime });
  if (remember(root)) nested.set(root, inventory.below(root));
  remember(blank);
  if (chosen.target.kind === 'snapshot') {
    const path = `${snapshots}/${chosen.target.path}`;
    if (remember(path)) nested.set(path, inventory.below(path));
  }
  return { records, nested, defaultId: undefined, immutable: new Set(), notes: inventory.notes };
}
