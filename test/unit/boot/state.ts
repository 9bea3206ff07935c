// A small builder of observed states for the pure planner tests.
import { validateConfig, type Config } from '../../../src/config/load-config.js';
import type { EntryKind, Observed } from '../../../src/boot/observe.js';
import type { SubvolumeInfo } from '../../../src/btrfs/list.js';

export const config: Config = validateConfig({});
export const OLD = '@btrfs_tmp/old_roots';

export interface StateOptions {
  root?: EntryKind;
  blank?: EntryKind;
  blankReadOnly?: boolean;
  oldRoots?: EntryKind;
  /** Archive names (subvolumes), oldest first; cgen grows in this order. */
  archives?: string[];
  /** Other entries of the archive directory. */
  others?: { name: string; kind: EntryKind }[];
  /** Extra subvolume paths for the listing (nested subvolumes). */
  nested?: string[];
  listing?: boolean;
  mounted?: string[];
  /** Read-only subvolume paths (taken with the listing). */
  readOnly?: string[];
  nextBoot?: Observed['nextBoot'];
  kinds?: Record<string, EntryKind>;
}

export function state(o: StateOptions = {}): Observed {
  const archives = o.archives ?? [];
  const entries = [...archives.map((name) => ({ name, kind: 'subvolume' as EntryKind })), ...(o.others ?? [])];
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
  const sv = (path: string, cgen: number): SubvolumeInfo => ({ id: id++, gen: cgen, cgen, parent: 5, topLevel: 5, parentUuid: null, uuid: null, path });
  const listing = [
    sv('@root-blank', 1),
    ...archives.map((a, i) => sv(`${OLD}/${a}`, 10 + i)),
    ...entries.filter((e) => e.kind === 'subvolume' && e.name.startsWith('.')).map((e) => sv(`${OLD}/${e.name}`, 5)),
    ...(o.nested ?? []).map((p) => sv(p, 9)),
    ...(kinds['@root'] === 'subvolume' ? [sv('@root', 10 + archives.length)] : []),
  ];
  return {
    top: '/top',
    kinds,
    rootMountedAt: o.mounted ?? [],
    blankReadOnly: o.blankReadOnly ?? true,
    blankEntries: 0,
    entries,
    listing: o.listing === false ? null : listing,
    readOnlyPaths: o.listing === false ? null : ['@root-blank', ...(o.readOnly ?? [])],
    nextBoot: o.nextBoot ?? (entries.some((e) => e.name === '.pantheros-next-boot') ? { target: 'previous' } : null),
  };
}
