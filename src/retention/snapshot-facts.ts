// Which subvolumes of one full `btrfs subvolume list` are our timed snapshots (pure: the listing in, facts out).
import type { SubvolumeInfo } from '../btrfs/list.js';
import { SNAPSHOT_CLASSES, type SnapshotClass } from '../config/load-config.js';
import { parseSnapshotName, type SnapshotFact } from './snapshots.js';

export interface SnapshotCandidates {
  facts: SnapshotFact[];
  /** Subvolumes in a class directory that prune leaves alone, with the reason. */
  ignored: { path: string; reason: string }[];
}

/**
 * Snapshots are subvolumes exactly one level inside <snapshots>/<class>/ whose names parse as ours.
 * `isReadOnly(path)` is asked only for those; writable ones and ones holding nested subvolumes are ignored.
 */
export function collectSnapshotFacts(
  listing: readonly SubvolumeInfo[],
  snapshotsDir: string,
  classes: readonly SnapshotClass[] = SNAPSHOT_CLASSES,
  isReadOnly: (path: string) => boolean = () => true,
): SnapshotCandidates {
  const facts: SnapshotFact[] = [];
  const ignored: SnapshotCandidates['ignored'] = [];
  const paths = listing.map((s) => s.path);
  for (const s of listing) {
    if (!s.path.startsWith(`${snapshotsDir}/`)) continue;
    const rest = s.path.slice(snapshotsDir.length + 1).split('/');
    if (rest.length !== 2) continue;
    const [cls, name] = rest as [string, string];
    if (!(classes as readonly string[]).includes(cls)) continue;
    const parsed = parseSnapshotName(name);
    if (!parsed) {
      ignored.push({ path: s.path, reason: 'name is not <subvolume>.<YYYYMMDDTHHMMSSZ>[_NN]: not made by snapshot, never pruned' });
      continue;
    }
    if (paths.some((p) => p.startsWith(`${s.path}/`))) {
      ignored.push({ path: s.path, reason: 'holds nested subvolumes: never pruned' });
      continue;
    }
    if (!isReadOnly(s.path)) {
      ignored.push({ path: s.path, reason: 'writable: not a snapshot as taken by snapshot (read-only), never pruned' });
      continue;
    }
    facts.push({ class: cls as SnapshotClass, subvolume: parsed.subvolume, name, path: s.path, cgen: s.cgen });
  }
  return { facts, ignored };
}
