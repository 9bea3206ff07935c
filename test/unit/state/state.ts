// A small builder of observed states for the pure state planner and check tests.
import { validateConfig, type Config } from '../../../src/config/load-config.js';
import type { NestedSubvolume, SubvolumeRecord } from '../../../src/btrfs/inventory.js';
import type { EntryKind } from '../../../src/fs/entry-kind.js';
import type { MountEntry } from '../../../src/fs/mountinfo.js';
import { parseStateRequest, stateArchiveDir } from '../../../src/state/request.js';
import type { ObservedState, ObservedSubvolume, PlaceKind, RequestOrigin } from '../../../src/state/observe.js';
import { subvolumeOfName } from '../../../src/state/observe.js';

export const config: Config = validateConfig({
  persistentTree: [{ path: '/var/lib/postgresql', subvolume: '@persistent/var/lib/postgresql', neededForBoot: false, units: ['postgresql.service'] }],
});
export const PG = '@persistent/var/lib/postgresql';
export const PG_DIR = stateArchiveDir('@btrfs_tmp/old_state', PG);
export const PG_SNAP = (cls: string, time: string) => `@snapshots/${cls}/@persistent~2fvar~2flib~2fpostgresql.${time}`;

export interface SubvolumeSpec {
  kind?: EntryKind;
  uuid?: string;
  parentUuid?: string | null;
  /** Nested subvolume paths (relative to the top level). */
  nested?: string[];
  archives?: { name: string; uuid?: string; parentUuid?: string | null; cgen?: number; readOnly?: boolean }[];
  leftovers?: { name: string; nested?: string[]; parentUuid?: string | null }[];
  mountedAt?: string[];
  /** Paths (relative to the top level) that exist, for move-back targets. */
  present?: string[];
  /** Paths ('' the top level) that are immutable (chattr +i). */
  immutable?: string[];
}

export interface SnapshotSpec {
  path: string;
  uuid?: string;
  parentUuid?: string | null;
  cgen?: number;
  readOnly?: boolean;
  /** What lies at each relative path inside it. */
  places?: Record<string, PlaceKind>;
}

export interface StateOptions {
  raw: string | null;
  origin?: RequestOrigin;
  subvolumes?: Record<string, SubvolumeSpec>;
  snapshots?: SnapshotSpec[];
  requestFile?: boolean;
  classes?: string[];
  mounted?: Record<string, string>;
}

let ids = 300;
export function rec(path: string, o: { uuid?: string; parentUuid?: string | null; cgen?: number; readOnly?: boolean } = {}): SubvolumeRecord {
  const id = ids++;
  return { id, gen: o.cgen ?? id, cgen: o.cgen ?? id, parent: 5, uuid: o.uuid ?? `uuid-${path}`, parentUuid: o.parentUuid === undefined ? null : o.parentUuid, receivedUuid: null, path, otime: null,
    readOnly: o.readOnly ?? false, source: 'listing' };
}
const nestedOf = (paths: string[]): NestedSubvolume[] =>
  [...paths].sort((a, b) => b.split('/').length - a.split('/').length || (a < b ? 1 : -1)).map((path) => ({ path, bytes: Buffer.from(path), readOnly: false }));

export function state(o: StateOptions): ObservedState {
  const kinds: Record<string, EntryKind> = { '@snapshots': 'subvolume', '@btrfs_tmp': 'directory', '@btrfs_tmp/old_state': 'directory' };
  for (const c of o.classes ?? ['hourly', 'daily', 'weekly', 'monthly', 'activation']) kinds[`@snapshots/${c}`] = 'directory';
  if (o.requestFile) kinds['@btrfs_tmp/old_state/.pantheros-state-request'] = 'file';
  const snapshots = new Map();
  const places = new Map<string, PlaceKind>();
  for (const s of o.snapshots ?? []) {
    kinds[s.path] = 'subvolume';
    const name = s.path.split('/').at(-1)!;
    snapshots.set(s.path, { path: s.path, class: s.path.split('/')[1]!, name, subvolume: subvolumeOfName(name), record: rec(s.path, { uuid: s.uuid, parentUuid: s.parentUuid, cgen: s.cgen, readOnly: s.readOnly ?? true }) });
    for (const [rel, k] of Object.entries(s.places ?? {})) places.set(`${s.path}/${rel}`, k);
  }
  const subvolumes = new Map<string, ObservedSubvolume>();
  for (const [path, s] of Object.entries(o.subvolumes ?? {})) {
    const kind = s.kind ?? 'subvolume';
    kinds[path] = kind;
    const archiveDir = stateArchiveDir('@btrfs_tmp/old_state', path);
    const entries = [...(s.archives ?? []).map((a) => a.name), ...(s.leftovers ?? []).map((l) => l.name)].map((name) => ({ name, kind: 'subvolume' as EntryKind, validName: true }));
    kinds[archiveDir] = entries.length ? 'directory' : 'missing';
    for (const e of entries) kinds[`${archiveDir}/${e.name}`] = 'subvolume';
    for (const p of s.present ?? []) kinds[p] = 'subvolume';
    const archives = new Map<string, SubvolumeRecord>();
    for (const a of s.archives ?? []) archives.set(`${archiveDir}/${a.name}`, rec(`${archiveDir}/${a.name}`, a));
    subvolumes.set(path, {
      path,
      kind,
      record: kind === 'subvolume' ? rec(path, { uuid: s.uuid, parentUuid: s.parentUuid, cgen: 1000 }) : undefined,
      nested: nestedOf(s.nested ?? []),
      mounts: (s.mountedAt ?? []).map((mountPoint, i): MountEntry => ({ mountId: i, parentId: 1, majorMinor: '0:1', root: `/${path}`, mountPoint, fsType: 'btrfs', source: '/dev/x', superOptions: '', options: 'rw' })),
      archiveDir,
      archiveDirKind: kinds[archiveDir]!,
      entries,
      immutable: new Set(s.immutable ?? []),
      archives,
      archiveNested: new Map(),
      leftovers: (s.leftovers ?? []).map((l) => ({ path: `${archiveDir}/${l.name}`, record: rec(`${archiveDir}/${l.name}`, { parentUuid: l.parentUuid }), nested: nestedOf(l.nested ?? []) })),
    });
  }
  return {
    top: '/top',
    kinds,
    origin: o.origin ?? 'operator',
    raw: o.raw,
    specs: o.raw === null ? [] : parseStateRequest(o.raw),
    requestFile: o.requestFile ? { text: o.raw ?? '' } : null,
    warnings: [],
    mountedSubvolumes: new Map(Object.entries(o.mounted ?? {})),
    subvolumes,
    snapshots,
    places,
    mountedPaths: [],
    defaultId: undefined,
    notes: [],
  };
}
