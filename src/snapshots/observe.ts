// Reads what the snapshot planners (prune, snapshot) decide on: the class directories, their entries, and the
// subvolume facts of every entry (verified on disk, src/btrfs/inventory.ts).
import { join } from 'node:path';
import type { Config } from '../config/load-config.js';
import { isDirectoryKind, walkPath, type EntryKind } from '../fs/entry-kind.js';
import { takeInventory, readDefaultSubvolumeId, type Inventory, type NestedSubvolume, type SubvolumeRecord } from '../btrfs/inventory.js';
import { isWritableMount, pathsInUse, readMountinfo, type MountEntry } from '../fs/mountinfo.js';
import { listDirectory, topLevelMount, type DirEntry } from '../boot/observe.js';

export interface ClassDirectory {
  name: string;
  kind: EntryKind;
  entries: DirEntry[];
}

export interface ObservedSnapshots {
  top: string;
  kinds: Record<string, EntryKind>;
  /** Every directory directly under the snapshots directory (class directories and anything else there). */
  classes: ClassDirectory[];
  /** Facts of every subvolume in a class directory and of every subvolume to snapshot, by path. */
  records: Map<string, SubvolumeRecord>;
  nested: Map<string, NestedSubvolume[]>;
  defaultId: number | undefined;
  mountedPaths: string[];
  /** Uuid of the subvolume the running root (/) was made from: that snapshot stays whatever its age. */
  runningRootParentUuid: string | null;
  notes: string[];
  /** Reads the facts of one path again with `btrfs subvolume show` (I/O: for commands, between planning and the check). */
  confirm(path: string): SubvolumeRecord | undefined;
}

/**
 * Observes the snapshots directory of the top level mounted at `top`, and the subvolumes `subvolumes` (to
 * snapshot). Throws PreconditionError when `top` is not the btrfs top level.
 */
export function observeSnapshots(top: string, config: Config, subvolumes: readonly string[] = [], options: { mounts?: MountEntry[]; inventory?: Inventory } = {}): ObservedSnapshots {
  const mounts = options.mounts ?? readMountinfo();
  const { snapshots } = config.subvolumes;
  const topEntry = topLevelMount(top, mounts);
  const kinds: Record<string, EntryKind> = {};
  const base = walkPath(top, snapshots, kinds);
  for (const s of subvolumes) walkPath(top, s, kinds);
  const classes: ClassDirectory[] = isDirectoryKind(base)
    ? listDirectory(join(top, snapshots)).map((c) => ({ name: c.name, kind: c.kind, entries: c.validName && isDirectoryKind(c.kind) ? listDirectory(join(top, snapshots, c.name)) : [] }))
    : [];
  for (const c of classes) {
    kinds[`${snapshots}/${c.name}`] = c.kind;
    for (const e of c.entries) kinds[`${snapshots}/${c.name}/${e.name}`] = e.kind;
  }
  const inventory: Inventory = options.inventory ?? takeInventory(top, { writableMount: isWritableMount(topEntry) });
  const records = new Map<string, SubvolumeRecord>();
  const nested = new Map<string, NestedSubvolume[]>();
  for (const c of classes) {
    const names = c.entries.filter((e) => e.kind === 'subvolume' && e.validName).map((e) => e.name);
    for (const [name, below] of inventory.belowEach(`${snapshots}/${c.name}`, names)) {
      const path = `${snapshots}/${c.name}/${name}`;
      const r = inventory.record(path);
      if (r) {
        records.set(path, r);
        nested.set(path, below);
      }
    }
  }
  for (const s of subvolumes) {
    const r = kinds[s] === 'subvolume' ? inventory.record(s) : undefined;
    if (r) records.set(s, r);
  }
  const same = mounts.filter((m) => m.majorMinor === topEntry.majorMinor && m.fsType === 'btrfs');
  const rootMount = same.find((m) => m.mountPoint === '/');
  const rootRecord = rootMount && rootMount.root !== '/' ? inventory.record(rootMount.root.slice(1)) : undefined;
  return {
    top,
    kinds,
    classes,
    records,
    nested,
    defaultId: readDefaultSubvolumeId(top),
    mountedPaths: pathsInUse(mounts, topEntry.majorMinor),
    runningRootParentUuid: rootRecord?.parentUuid ?? null,
    notes: inventory.notes,
    confirm: (path) => inventory.shown(path),
  };
}
