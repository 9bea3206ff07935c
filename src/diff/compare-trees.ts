// The walk method of `diff`: compares the root (or an archive) with the blank entry by entry. Pure: every read goes
// through a TreeReader, so tests feed it in-memory trees.
//
// A snapshot shares inode items with its source: an inode the root has not touched since it was snapshotted from the
// blank has the same number, birth time and change time (ns) in both trees. The change time moves on every write,
// chmod, chown, xattr change, link, unlink and rename of an inode, so equal (ino, birth, ctime) means unchanged and
// anything else is reported. Directories are always entered: a directory's own times move only when its own entries
// change, not when a file further down does.
import type { ChangeKind, DiffEntry, EntryType } from './parse-dump.js';
import { isUnder } from './persisted.js';

export type NodeType = 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'device';

/** What lstat says about one entry, as far as the comparison needs it. */
export interface Meta {
  type: NodeType;
  ino: bigint;
  dev: bigint;
  /** Permission bits (07777). */
  mode: number;
  uid: number;
  gid: number;
  size: bigint;
  nlink: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  /** Creation time (btrfs otime): with ino, tells an inode from an unrelated one that happens to have the same number. */
  birthNs: bigint;
}

/** Read access to one tree; paths are relative to its top ('' is the top itself). */
export interface TreeReader {
  /** lstat (never follows a symlink); undefined when the entry is missing. */
  stat(rel: string): Meta | undefined;
  /** Names in a directory, in any order. */
  list(rel: string): string[];
  readlink(rel: string): string;
}

/** Optional second looks that name a change more precisely; without them the comparison stays complete, only coarser. */
export interface Probe {
  /** Same-size regular files whose mtime differs: true when the data is equal (only the times changed), undefined when not checked. */
  sameData?(rel: string): boolean | undefined;
  /** Entries whose change time alone differs: per rel the names of the xattrs that differ; undefined when xattrs cannot be read. */
  xattrChanges?(rels: string[]): Map<string, string[]> | undefined;
}

export interface CompareOptions {
  /** Only paths at or below these (absolute, normalised); empty = everything. Other subtrees are not read. */
  prefixes: readonly string[];
  /** Paths that survive a boot: neither reported nor read below. */
  persisted: readonly string[];
  probe?: Probe;
}

export interface CompareResult {
  entries: DiffEntry[];
  /** Persisted paths (in scope) that differ; what lies below them is not read. */
  persistedSkipped: number;
  /** Paths looked at (either side). */
  visited: number;
}

/** btrfs's BTRFS_EMPTY_SUBVOL_DIR_OBJECTID. */
const STUB_INO = 2n;
const ORDER: ChangeKind[] = ['replaced', 'content', 'mode', 'owner', 'xattr', 'flags', 'times', 'metadata'];

const inodeKey = (m: Meta) => `${m.ino}:${m.birthNs}`;
const sameInode = (a: Meta, b: Meta) => a.ino === b.ino && a.birthNs === b.birthNs && a.type === b.type;
const pathOf = (rel: string) => (rel === '' ? '/' : `/${rel}`);
const byPath = (a: DiffEntry, b: DiffEntry) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

/**
 * A directory that belongs to another subvolume or filesystem: reported as one entry, never entered. Not the empty
 * stub (inode 2, its own st_dev) a snapshot holds where its source had a nested subvolume: that is an empty directory.
 */
function nestedType(m: Meta, top: Meta, rel: string): EntryType | undefined {
  if (m.type !== 'dir' || rel === '' || m.ino === STUB_INO) return undefined;
  if (m.ino === 256n) return 'subvolume';
  return m.dev !== top.dev ? 'mount' : undefined;
}

/** What differs between two states of one inode (blank b, root r); the change time alone is handled by the caller. */
function changesOf(b: Meta, r: Meta, sameData: () => boolean | undefined): ChangeKind[] {
  const c = new Set<ChangeKind>();
  if (r.mode !== b.mode) c.add('mode');
  if (r.uid !== b.uid || r.gid !== b.gid) c.add('owner');
  if (r.type === 'file' && (r.size !== b.size || (r.mtimeNs !== b.mtimeNs && sameData() !== true))) c.add('content');
  if (r.mtimeNs !== b.mtimeNs) c.add('times');
  return ORDER.filter((k) => c.has(k));
}

/** Every path where `source` differs from `blank`, sorted by path, as the send method reports them. */
export function compareTrees(source: TreeReader, blank: TreeReader, options: CompareOptions): CompareResult {
  const comparison = startComparison(source, blank, options);
  while (!comparison.step(Infinity));
  return comparison.result();
}

/** A comparison that runs a few directories at a time, so a caller can show progress and let signals in between. */
export interface Comparison {
  /** Reads up to `directories` more directories; true when the walk is complete. */
  step(directories: number): boolean;
  /** How far it got: paths looked at, differences found so far. */
  progress(): { visited: number; found: number };
  /** The result; call once, after step() returned true. */
  result(): CompareResult;
}

/** Starts the comparison compareTrees runs to completion; the same walk, one directory per unit of work. */
export function startComparison(source: TreeReader, blank: TreeReader, options: CompareOptions): Comparison {
  const { prefixes, persisted, probe = {} } = options;
  const sourceTop = source.stat('');
  const blankTop = blank.stat('');
  if (sourceTop?.type !== 'dir' || blankTop?.type !== 'dir') throw new Error('both trees must be directories');
  const entries: DiffEntry[] = [];
  /** Root-side state of added and replaced entries, to find renames and hard links at the end. */
  const arrived = new Map<DiffEntry, Meta>();
  /** Blank inodes that left their path (deleted or replaced there), by inode. */
  const gone = new Map<string, { path: string; meta: Meta }>();
  /** Root paths of non-directory inodes with several links, by inode. */
  const links = new Map<string, string[]>();
  const ctimeOnly: DiffEntry[] = [];
  let persistedSkipped = 0;
  let visited = 0;

  const scope = (path: string): 'report' | 'descend' | 'skip' => {
    if (prefixes.length === 0 || isUnder(path, prefixes)) return 'report';
    return prefixes.some((p) => path === '/' || p.startsWith(`${path}/`)) ? 'descend' : 'skip';
  };
  const withTarget = (e: DiffEntry, tree: TreeReader, rel: string, m: Meta): DiffEntry => {
    if (m.type === 'symlink') e.target = tree.readlink(rel);
    return e;
  };

  const visit = (rel: string, report: boolean, r: Meta | undefined, b: Meta | undefined): void => {
    visited++;
    const path = pathOf(rel);
    const rNest = r && nestedType(r, sourceTop, rel);
    const bNest = b && nestedType(b, blankTop, rel);
    // A persisted path in scope counts once if it differs; one that only leads to a prefix is walked through like any other.
    if (report && persisted.length && isUnder(path, persisted)) {
      const differs = r && b ? !(rNest && bNest) && !(sameInode(r, b) && r.ctimeNs === b.ctimeNs && r.mtimeNs === b.mtimeNs) : r !== b;
      if (differs) persistedSkipped++;
      return;
    }
    if (r && r.nlink > 1 && r.type !== 'dir') {
      const key = inodeKey(r);
      const list = links.get(key);
      if (list) list.push(path);
      else links.set(key, [path]);
    }
    if (b && !bNest && (!r || rNest || !sameInode(r, b))) gone.set(inodeKey(b), { path, meta: b });
    if (r && !b) {
      if (report) {
        const e = withTarget({ path, status: 'added', type: rNest ?? r.type, changes: [] }, source, rel, r);
        entries.push(e);
        arrived.set(e, r);
      }
      if (!rNest && r.type === 'dir') descend(rel, true, false);
      return;
    }
    if (b && !r) {
      if (report) entries.push({ path, status: 'deleted', type: bNest ?? b.type, changes: [] });
      if (!bNest && b.type === 'dir') descend(rel, false, true);
      return;
    }
    if (!r || !b || (rNest && bNest)) return;
    // Where a snapshot met a nested subvolume it holds an empty stub directory (inode 2) whose times are made up on each read.
    if (r.ino === STUB_INO && b.ino === STUB_INO && r.type === 'dir' && b.type === 'dir') return;
    if (rNest || bNest || !sameInode(r, b)) {
      if (report) {
        const e = withTarget({ path, status: 'changed', type: rNest ?? r.type, changes: ['replaced'] }, source, rel, r);
        entries.push(e);
        arrived.set(e, r);
      }
      descend(rel, !rNest && r.type === 'dir', !bNest && b.type === 'dir');
      return;
    }
    if (report && (r.ctimeNs !== b.ctimeNs || r.mtimeNs !== b.mtimeNs || r.size !== b.size)) {
      const changes = changesOf(b, r, () => probe.sameData?.(rel));
      const e: DiffEntry = { path, status: 'changed', changes };
      entries.push(e);
      if (changes.length === 0) ctimeOnly.push(e);
    }
    if (r.type === 'dir') descend(rel, true, true);
  };

  /** Directories still to read (depth first); the order does not matter, entries are sorted at the end. */
  const work: { rel: string; inSource: boolean; inBlank: boolean }[] = [];
  const descend = (rel: string, inSource: boolean, inBlank: boolean): void => {
    work.push({ rel, inSource, inBlank });
  };

  // Merges the sorted names of both sides of a directory; subtrees outside the prefixes are not read.
  const readDirectory = ({ rel, inSource, inBlank }: (typeof work)[number]): void => {
    const rNames = inSource ? source.list(rel).sort() : [];
    const bNames = inBlank ? blank.list(rel).sort() : [];
    let i = 0;
    let j = 0;
    while (i < rNames.length || j < bNames.length) {
      const rn = rNames[i];
      const bn = bNames[j];
      const name = bn === undefined || (rn !== undefined && rn <= bn) ? rn! : bn;
      const inR = rn === name;
      const inB = bn === name;
      if (inR) i++;
      if (inB) j++;
      const child = rel === '' ? name : `${rel}/${name}`;
      const where = scope(`/${child}`);
      if (where === 'skip') continue;
      visit(child, where === 'report', inR ? source.stat(child) : undefined, inB ? blank.stat(child) : undefined);
    }
  };

  const top = scope('/');
  if (top !== 'skip') visit('', top === 'report', sourceTop, blankTop);

  const finish = (): CompareResult => {
    // Only the change time moved: name the xattrs that changed, or say it was other metadata (links, flags, times set back).
    const xattrs = ctimeOnly.length ? probe.xattrChanges?.(ctimeOnly.map((e) => e.path.slice(1))) : undefined;
    for (const e of ctimeOnly) {
      const names = xattrs?.get(e.path.slice(1));
      if (names?.length) {
        e.changes = ['xattr'];
        e.xattrs = [...names].sort();
      } else e.changes = ['metadata'];
    }
    // An inode that arrived at a path: moved there from a path it left (rename), or another name of a file still in place.
    const addedPaths = new Set([...arrived.keys()].filter((e) => e.status === 'added').map((e) => e.path));
    for (const [e, r] of arrived) {
      if (e.type === 'subvolume' || e.type === 'mount') continue;
      const key = inodeKey(r);
      const from = gone.get(key);
      if (from && from.path !== e.path) {
        e.from = from.path;
        const changes = changesOf(from.meta, r, () => undefined);
        e.changes = e.status === 'changed' ? ['replaced', ...changes] : changes;
        continue;
      }
      if (e.status !== 'added' || r.type === 'dir' || r.nlink < 2) continue;
      const others = (links.get(key) ?? []).filter((p) => p !== e.path).sort();
      const target = others.find((p) => !addedPaths.has(p)) ?? others.find((p) => p < e.path);
      if (target !== undefined) {
        e.type = 'hardlink';
        e.target = target;
      }
    }
    entries.sort(byPath);
    return { entries, persistedSkipped, visited };
  };

  return {
    step(directories) {
      for (let n = 0; n < directories && work.length; n++) readDirectory(work.pop()!);
      return work.length === 0;
    },
    progress: () => ({ visited, found: entries.length }),
    result: finish,
  };
}
