// Reads everything the state planner decides on, without changing anything: the subvolumes asked for (resolved from
// mount points through the config or /proc/self/mountinfo), their archive directories and leftovers, every snapshot
// in the class directories (their uuids give each subvolume's lineage), and what lies at each nested subvolume's
// place inside the chosen snapshot. Subvolume facts come from the inventory (src/btrfs/inventory.ts) only.
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/load-config.js';
import { immutableByAccess, takeInventory, readDefaultSubvolumeId, type Inventory, type NestedSubvolume, type SubvolumeRecord } from '../btrfs/inventory.js';
import { isDirectoryKind, kindOf, kindOfStats, walkPath, type EntryKind } from '../fs/entry-kind.js';
import { fdChild, inParent } from '../fs/open-dir.js';
import { isWritableMount, pathsInUse, readMountinfo, type MountEntry } from '../fs/mountinfo.js';
import { listDirectory, topLevelMount, type DirEntry } from '../boot/observe.js';
import { decodeSubvolume, parseSnapshotName } from '../retention/snapshots.js';
import { NEW_STATE_NAME, STATE_REQUEST_FILE, parseStateRequest, readStateRequestFile, stateArchiveDir, stateParameter, type ParsedSpec, type StateRequestFile, type Who } from './request.js';

export type RequestOrigin = 'cmdline' | 'next-boot' | 'operator';

/** What lies at a nested subvolume's place inside the snapshot: the empty stub a snapshot leaves, or something else. */
export type PlaceKind = 'stub' | EntryKind;

/** One subvolume asked for, as the filesystem shows it. */
export interface ObservedSubvolume {
  path: string;
  kind: EntryKind;
  record: SubvolumeRecord | undefined;
  /** Every subvolume strictly below it, deepest first (verified on disk). */
  nested: NestedSubvolume[];
  /** Mounts of it (or of something inside it) on this filesystem now. */
  mounts: MountEntry[];
  /** `<oldState>/<encoded subvolume>`. */
  archiveDir: string;
  archiveDirKind: EntryKind;
  entries: DirEntry[];
  /** Facts of the archives in archiveDir (subvolumes with readable, non-hidden names), by path. */
  archives: Map<string, SubvolumeRecord>;
  archiveNested: Map<string, NestedSubvolume[]>;
  /**
   * Which of the subvolume, the directory it is in, its archive directory, its archives and its snapshots are immutable
   * (chattr +i), by path ('' the top level), on a writable mount only: a rename or delete of them fails with EPERM, and
   * a snapshot of an immutable one is immutable too.
   */
  immutable: Set<string>;
  /** Temporary new subvolumes interrupted runs left (names starting with .pantheros-new-state), with what was moved into them. */
  leftovers: { path: string; record: SubvolumeRecord; nested: NestedSubvolume[] }[];
}

/** A snapshot in a class directory, with the facts that decide whether it may be a source. */
export interface ObservedSnapshot {
  path: string;
  class: string;
  name: string;
  /** The subvolume its name encodes; undefined when the name is not one `snapshot` writes. */
  subvolume: string | undefined;
  record: SubvolumeRecord | undefined;
}

export interface ObservedState {
  top: string;
  kinds: Record<string, EntryKind>;
  origin: RequestOrigin;
  /** The request as given (command line value, request file line, or the operator's arguments). */
  raw: string | null;
  specs: ParsedSpec[];
  /** The pending request file (consumed by a boot that acts on a request, whichever won). */
  requestFile: StateRequestFile;
  warnings: string[];
  /** Mount point → subvolume path of this filesystem, for resolving `/var/lib/x=hourly` (running system only). */
  mountedSubvolumes: Map<string, string>;
  subvolumes: Map<string, ObservedSubvolume>;
  /** Every snapshot of every class directory, by path. */
  snapshots: Map<string, ObservedSnapshot>;
  /** Kind of what lies at `<snapshot>/<rel>` for each nested subvolume of each subvolume, keyed by that path. */
  places: Map<string, PlaceKind>;
  mountedPaths: string[];
  defaultId: number | undefined;
  notes: string[];
}

export interface StateObserveOptions {
  /** Where the request comes from and its text; for the boot, the kernel command line decides (see requestAtBoot). */
  origin: RequestOrigin;
  raw: string | null;
  mountinfo?: MountEntry[];
  inventory?: Inventory;
  /** Resolve mount points through /proc/self/mountinfo too (the running system). */
  useMountinfo: boolean;
}

/**
 * What a boot is asked to roll back: `pantheros.rollback.state=` on the kernel command line wins over a pending
 * request file (which is still consumed); an unreadable request file is ignored with a warning. Pure.
 */
export function requestAtBoot(cmdline: string, file: StateRequestFile): { origin: RequestOrigin; raw: string | null; warnings: string[] } {
  const warnings: string[] = [];
  if (file && 'problem' in file) warnings.push(`state request ${file.problem}`);
  const param = stateParameter(cmdline);
  const pending = file && 'text' in file ? file.text : undefined;
  if (param) {
    if (pending !== undefined) warnings.push(`state request "${pending}" ignored: ${param.key}= on the kernel command line wins`);
    return { origin: 'cmdline', raw: param.value ?? '', warnings };
  }
  if (pending !== undefined) return { origin: 'next-boot', raw: pending, warnings };
  return { origin: 'cmdline', raw: null, warnings };
}

/**
 * The subvolume a spec names: a subvolume path as given; a mount point through the config's persistentTree, then
 * (running system) through what is mounted there. Undefined with the reason when it cannot be told. Pure.
 */
export function resolveWho(who: Who, config: Config, mounted: ReadonlyMap<string, string>): { subvolume: string } | { refused: string } {
  if (who.kind === 'subvolume') return { subvolume: who.path };
  const path = who.path.replace(/\/+$/, '') || '/';
  const entry = config.persistentTree.find((m) => m.path === path);
  if (entry) return { subvolume: entry.subvolume };
  const mountedHere = mounted.get(path);
  if (mountedHere !== undefined) return { subvolume: mountedHere };
  return { refused: `${path} is not a mount point of a subvolume of this filesystem${config.persistentTree.length ? ` (the config's persistentTree has ${config.persistentTree.map((m) => m.path).join(', ')})` : ''}; name the subvolume instead (e.g. @persistent${path})` };
}

/** The subvolume a snapshot name encodes (`<encoded subvolume>.<time>`), or undefined. */
export const subvolumeOfName = (name: string) => parseSnapshotName(name)?.subvolume;

const STUB_INO = 2;

/**
 * What is at `rel` below `top`, an empty stub told apart: reached through its parent directory held open, one
 * component at a time, never through a symlink, whatever the length (inParent). A symlink on the way (a user's
 * directory in a snapshot that held one) makes the place `missing`: by path, the host's own tree behind it was
 * taken for the snapshot's, and a plan the executor then refused was shown as ok. Throws other fs errors (EACCES, EIO).
 */
function placeKind(top: string, rel: string): PlaceKind {
  try {
    return inParent(top, Buffer.from(rel), (parent, name) => {
      const place = fdChild(parent, name);
      const st = lstatSync(place);
      if (st.isDirectory() && st.ino === STUB_INO && readdirSync(place).length === 0) return 'stub';
      return kindOfStats(st);
    });
  } catch (error) {
    if (['ENOENT', 'ENOTDIR', 'ELOOP'].includes((error as NodeJS.ErrnoException).code ?? '')) return 'missing';
    throw error;
  }
}

/**
 * Observes the top level mounted at `top` for the state planner. Throws PreconditionError when `top` is not the btrfs
 * top level. Facts of subvolumes come from one inventory (taken here unless given).
 */
export function observeState(top: string, config: Config, options: StateObserveOptions): ObservedState {
  const { snapshots, oldState } = config.subvolumes;
  const mounts = options.mountinfo ?? readMountinfo();
  const topEntry = topLevelMount(top, mounts);
  const same = mounts.filter((m) => m.majorMinor === topEntry.majorMinor && m.fsType === 'btrfs' && m.root !== '/');
  const mountedSubvolumes = new Map<string, string>(options.useMountinfo ? same.map((m) => [m.mountPoint, m.root.slice(1)]) : []);
  const kinds: Record<string, EntryKind> = {};
  walkPath(top, snapshots, kinds);
  const oldStateKind = walkPath(top, oldState, kinds);
  const requestFile = isDirectoryKind(oldStateKind) ? readStateRequestFile(join(top, oldState)) : null;
  if (isDirectoryKind(oldStateKind)) kinds[`${oldState}/${STATE_REQUEST_FILE}`] = kindOf(join(top, oldState, STATE_REQUEST_FILE));
  const specs = options.raw === null ? [] : parseStateRequest(options.raw);
  // Temporaries left by an interrupted state rollback are recovered by every run, asked for or not: one readdir.
  const leftovers: string[] = [];
  if (isDirectoryKind(oldStateKind)) {
    for (const d of listDirectory(join(top, oldState))) {
      const subvolume = d.validName && isDirectoryKind(d.kind) ? decodeSubvolume(d.name) : undefined;
      if (subvolume !== undefined && listDirectory(join(top, oldState, d.name)).some((e) => e.kind === 'subvolume' && e.name.startsWith(NEW_STATE_NAME))) leftovers.push(subvolume);
    }
  }
  const base = { top, kinds, origin: options.origin, raw: options.raw, specs, requestFile, warnings: [], mountedSubvolumes, mountedPaths: pathsInUse(mounts, topEntry.majorMinor) };
  if (!specs.length && !leftovers.length) return { ...base, subvolumes: new Map(), snapshots: new Map(), places: new Map(), defaultId: undefined, notes: [] };
  const writableMount = isWritableMount(topEntry);
  const inventory = options.inventory ?? takeInventory(top, { writableMount });

  // Every snapshot of every class directory: candidates, and the lineage of each subvolume.
  const snaps = new Map<string, ObservedSnapshot>();
  if (isDirectoryKind(kinds[snapshots])) {
    for (const c of listDirectory(join(top, snapshots))) {
      kinds[`${snapshots}/${c.name}`] = c.kind;
      if (!c.validName || !isDirectoryKind(c.kind)) continue;
      for (const e of listDirectory(join(top, snapshots, c.name))) {
        const path = `${snapshots}/${c.name}/${e.name}`;
        kinds[path] = e.kind;
        if (!e.validName || e.kind !== 'subvolume') continue;
        snaps.set(path, { path, class: c.name, name: e.name, subvolume: subvolumeOfName(e.name), record: inventory.record(path) });
      }
    }
  }

  const wanted = new Set<string>(leftovers);
  for (const spec of specs) {
    if (!('ok' in spec)) continue;
    const who = spec.ok.who ?? (spec.ok.name ? { kind: 'subvolume' as const, path: subvolumeOfName(spec.ok.name) ?? '' } : null);
    if (!who || who.path === '') continue;
    const resolved = resolveWho(who, config, mountedSubvolumes);
    if ('subvolume' in resolved) wanted.add(resolved.subvolume);
  }
  const subvolumes = new Map<string, ObservedSubvolume>();
  const places = new Map<string, PlaceKind>();
  for (const path of wanted) {
    // A name this tool cannot hand to the filesystem safely is judged (refused) by the planner, never looked up.
    if (!path.split('/').every((c) => c !== '' && c !== '.' && c !== '..') || path.startsWith('/')) continue;
    const kind = walkPath(top, path, kinds);
    const record = kind === 'subvolume' ? inventory.record(path) : undefined;
    const archiveDir = stateArchiveDir(oldState, path);
    const archiveDirKind = walkPath(top, archiveDir, kinds);
    const entries = isDirectoryKind(archiveDirKind) ? listDirectory(join(top, archiveDir)) : [];
    for (const e of entries) kinds[`${archiveDir}/${e.name}`] = e.kind;
    const names = entries.filter((e) => e.kind === 'subvolume' && e.validName && !e.name.startsWith('.')).map((e) => e.name);
    const archives = new Map<string, SubvolumeRecord>();
    const archiveNested = new Map<string, NestedSubvolume[]>();
    for (const [name, below] of inventory.belowEach(archiveDir, names)) {
      const r = inventory.record(`${archiveDir}/${name}`);
      if (r) {
        archives.set(r.path, r);
        archiveNested.set(r.path, below);
      }
    }
    const nested = record ? inventory.below(path) : [];
    const leftovers: ObservedSubvolume['leftovers'] = [];
    for (const e of entries) {
      const tmp = `${archiveDir}/${e.name}`;
      const r = e.kind === 'subvolume' && e.validName && e.name.startsWith(NEW_STATE_NAME) ? inventory.record(tmp) : undefined;
      if (r) leftovers.push({ path: tmp, record: r, nested: inventory.below(tmp) });
    }
    // What is at each nested subvolume's place (and at its parent) in the current subvolume and in every snapshot
    // of this subvolume that the planner may choose.
    const rels = [...nested.map((n) => n.path.slice(path.length + 1)), ...leftovers.flatMap((t) => t.nested.map((n) => n.path.slice(t.path.length + 1)))];
    for (const t of leftovers) {
      for (const n of t.nested) {
        const at = `${path}/${n.path.slice(t.path.length + 1)}`;
        kinds[at] = walkPath(top, at, kinds);
      }
    }
    for (const s of snaps.values()) {
      if (s.subvolume !== path) continue;
      for (const rel of rels) {
        places.set(`${s.path}/${rel}`, placeKind(top, `${s.path}/${rel}`));
        const parent = rel.split('/').slice(0, -1).join('/');
        if (parent) places.set(`${s.path}/${parent}`, placeKind(top, `${s.path}/${parent}`));
      }
    }
    const parentDir = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
    // And its snapshots: a snapshot copies the flag, so the new state would be immutable too.
    const ownSnapshots = [...snaps.values()].filter((s) => s.subvolume === path && s.record).map((s) => s.path);
    const mayChange = [...(kind === 'subvolume' ? [path, parentDir] : []), ...(isDirectoryKind(archiveDirKind) ? [archiveDir] : []), ...archives.keys(), ...ownSnapshots];
    const immutable = new Set(writableMount ? mayChange.filter((p) => immutableByAccess(p === '' ? top : join(top, p))) : []);
    subvolumes.set(path, {
      path,
      kind,
      record,
      nested,
      immutable,
      mounts: same.filter((m) => m.root === `/${path}` || m.root.startsWith(`/${path}/`)),
      archiveDir,
      archiveDirKind,
      entries,
      archives,
      archiveNested,
      leftovers,
    });
  }
  return { ...base, subvolumes, snapshots: snaps, places, defaultId: readDefaultSubvolumeId(top), notes: inventory.notes };
}
