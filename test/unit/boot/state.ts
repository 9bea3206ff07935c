// A small builder of observed states for the pure planner and check tests.
import { validateConfig, type Config } from '../../../src/config/load-config.js';
import type { Observed, SubvolumeFacts } from '../../../src/boot/observe.js';
import type { EntryKind } from '../../../src/fs/entry-kind.js';
import type { NestedSubvolume, SubvolumeRecord } from '../../../src/btrfs/inventory.js';
import { chooseTarget } from '../../../src/boot/target.js';
import { rollbackParameter } from '../../../src/cmdline/parse-cmdline.js';
import { describeUnknownKeys, unknownKeys } from '../../../src/cmdline/unknown-keys.js';
import type { Request } from '../../../src/boot/request-file.js';

export const config: Config = validateConfig({});
export const OLD = '@btrfs_tmp/old_roots';

export interface StateOptions {
  root?: EntryKind;
  blank?: EntryKind;
  blankReadOnly?: boolean | null;
  oldRoots?: EntryKind;
  /** Archive names (subvolumes), oldest first; cgen grows in this order unless `cgens` says otherwise. */
  archives?: string[];
  cgens?: Record<string, number>;
  /** Other entries of the archive directory (leftovers are subvolumes with the tool's temporary names). */
  others?: { name: string; kind: EntryKind }[];
  /** Nested subvolumes below an item (path relative to the top level → paths). */
  nested?: Record<string, string[]>;
  /** Nested subvolumes whose read-only flag is known to be set (or unknown: null). */
  nestedReadOnly?: Record<string, boolean | null>;
  /** Item paths whose record says read-only / received. */
  readOnly?: string[];
  received?: string[];
  /** Item paths the filesystem does not confirm (no record). */
  unconfirmed?: string[];
  /** Take subvolume facts (default true); false is the boot's cheap observation. */
  facts?: boolean;
  rootMountedAt?: string[];
  /** The top level's mount is read-write (default true). */
  topWritable?: boolean;
  /** Directories the swap changes that are immutable ('' the top level). */
  immutableDirs?: string[];
  /** The root is read-only (btrfs property ro). */
  rootReadOnly?: boolean;
  /** Archives (paths) whose root is immutable. */
  immutableArchives?: string[];
  /** Possible sources of the new root (the blank, a target, nested ones) that are immutable. */
  immutableSources?: string[];
  mountedPaths?: string[];
  request?: Request;
  cmdline?: string;
  kinds?: Record<string, EntryKind>;
  /** Paths (relative to the top level) of the default subvolume. */
  defaultPath?: string;
  freePercent?: number;
  notes?: string[];
  spacePressure?: boolean;
  /** Creation times (ISO) of subvolumes whose facts came from btrfs subvolume show. */
  otimes?: Record<string, string>;
}

export function state(o: StateOptions = {}): Observed {
  const archives = o.archives ?? [];
  const entries = [
    ...archives.map((name) => ({ name, kind: 'subvolume' as EntryKind, validName: true })),
    ...(o.others ?? []).map((e) => ({ ...e, validName: true })),
    ...(o.request !== undefined && o.request !== null ? [{ name: '.pantheros-next-boot', kind: 'file' as EntryKind, validName: true }] : []),
  ];
  const kinds: Record<string, EntryKind> = {
    '@root': o.root ?? 'subvolume',
    '@root-blank': o.blank ?? 'subvolume',
    '@btrfs_tmp': 'directory',
    [OLD]: o.oldRoots ?? 'directory',
    '@snapshots': 'subvolume',
    ...Object.fromEntries(entries.map((e) => [`${OLD}/${e.name}`, e.kind])),
    ...(o.kinds ?? {}),
  };
  let id = 256;
  const records = new Map<string, SubvolumeRecord>();
  const record = (path: string, cgen: number) => {
    if (o.unconfirmed?.includes(path)) return;
    records.set(path, {
      id: id++,
      gen: cgen,
      cgen,
      parent: 5,
      uuid: `uuid-${id}`,
      parentUuid: null,
      receivedUuid: o.received?.includes(path) ? 'recv' : null,
      path,
      readOnly: o.readOnly?.includes(path) ?? false,
      otime: o.otimes?.[path] ? new Date(o.otimes[path]!) : null,
      source: 'listing',
    });
  };
  record('@root-blank', 1);
  archives.forEach((a, i) => record(`${OLD}/${a}`, o.cgens?.[a] ?? 10 + i));
  for (const e of o.others ?? []) if (e.kind === 'subvolume') record(`${OLD}/${e.name}`, 5);
  if (kinds['@root'] === 'subvolume') record('@root', 1000);
  for (const [path, kind] of Object.entries(o.kinds ?? {})) if (kind === 'subvolume' && !records.has(path)) record(path, 7);
  const nested = new Map<string, NestedSubvolume[]>();
  for (const [item, paths] of Object.entries(o.nested ?? {})) {
    const depth = (p: string) => p.split('/').length;
    nested.set(
      item,
      [...paths].sort((a, b) => depth(b) - depth(a) || (a < b ? 1 : -1)).map((path) => ({ path, bytes: Buffer.from(path), readOnly: o.nestedReadOnly && path in o.nestedReadOnly ? o.nestedReadOnly[path]! : false })),
    );
  }
  const facts: SubvolumeFacts | null =
    o.facts === false ? null : { records, nested, defaultId: o.defaultPath ? records.get(o.defaultPath)?.id : undefined, immutable: new Set(o.immutableArchives ?? []), notes: o.notes ?? [] };
  const request = o.request ?? null;
  return {
    top: '/top',
    kinds,
    rootMountedAt: o.rootMountedAt ?? [],
    mountedPaths: o.mountedPaths ?? [],
    topWritable: o.topWritable ?? true,
    immutable: o.immutableDirs ?? [],
    rootReadOnly: o.rootReadOnly ?? false,
    immutableSources: new Set(o.immutableSources ?? []),
    blankReadOnly: o.blankReadOnly === undefined ? true : o.blankReadOnly,
    blankEntries: 0,
    entries,
    request,
    space: o.freePercent === undefined ? { totalBytes: 100, freeBytes: 50, freePercent: 50 } : { totalBytes: 100, freeBytes: o.freePercent, freePercent: o.freePercent },
    chosen: chooseTarget(rollbackParameter(o.cmdline ?? ''), request),
    cmdlineWarnings: describeUnknownKeys(unknownKeys(o.cmdline ?? '')),
    spacePressure: o.spacePressure ?? false,
    subvolumes: facts,
  };
}
