// Retention verdicts `list` shows: what the next boot (archives) and `prune` (snapshots) would do, each with its reason. Pure.
import { nextArchiveName, parseArchiveName } from '../archive/naming.js';
import { SNAPSHOT_CLASSES, type Config, type SnapshotClass } from '../config/load-config.js';
import { decideRetention } from '../retention/age-out.js';
import { decideSnapshotRetention, parseSnapshotName, type SnapshotFact } from '../retention/snapshots.js';
import type { StoredItem } from './stored.js';

export interface Verdict {
  action: 'keep' | 'delete';
  reason: string;
}

export interface VerdictContext {
  now: Date;
  /** The root exists, so the next boot archives it first (it then counts as the newest archive). */
  rootExists: boolean;
  /** The pending next-boot request's archive name, which that boot protects as its source. */
  nextBootArchive: string | undefined;
}

const CURRENT_ROOT = 'the current root, which the next boot archives first';

/**
 * Verdicts for archives as the next boot would decide them if it ran at `now`: the current root is archived
 * first (and counts among the newest), then decideRetention applies the config's oldRoots policy.
 */
export function decideArchiveVerdicts(archives: readonly { name: string; cgen: number | undefined }[], config: Config, context: VerdictContext): Map<string, Verdict> {
  const facts = [...archives];
  const protect = new Map<string, string>();
  let virtual: string | undefined;
  if (context.rootExists) {
    virtual = nextArchiveName(context.now, facts.map((a) => a.name)).name;
    facts.push({ name: virtual, cgen: Number.MAX_SAFE_INTEGER });
    protect.set(virtual, CURRENT_ROOT);
  }
  if (context.nextBootArchive && archives.some((a) => a.name === context.nextBootArchive)) {
    protect.set(context.nextBootArchive, "source of the next boot's root (next-boot request)");
  }
  const out = new Map<string, Verdict>();
  for (const v of decideRetention(facts, config.oldRoots, context.now, protect)) {
    if (v.name !== virtual) out.set(v.name, { action: v.action, reason: v.reason });
  }
  return out;
}

/** Time from an archive or snapshot name, when it has one. */
export function timeFromName(item: StoredItem): Date | undefined {
  if (item.kind === 'archive') return parseArchiveName(item.name)?.time;
  return parseSnapshotName(item.name.slice(item.name.indexOf('/') + 1))?.time;
}

/** Verdicts for snapshots as `prune` decides them; snapshots prune does not manage are kept with the reason why. */
export function decideSnapshotVerdicts(snapshots: readonly (StoredItem & { cgen: number | undefined })[], config: Config): Map<string, Verdict> {
  const out = new Map<string, Verdict>();
  const facts: SnapshotFact[] = [];
  for (const s of snapshots) {
    const base = s.name.slice(s.name.indexOf('/') + 1);
    const parsed = parseSnapshotName(base);
    if (!(SNAPSHOT_CLASSES as readonly string[]).includes(s.class ?? '')) {
      out.set(s.path, { action: 'keep', reason: `"${s.class}" is not a snapshot class (${SNAPSHOT_CLASSES.join(', ')}): prune leaves it alone` });
    } else if (!parsed) {
      out.set(s.path, { action: 'keep', reason: 'name is not <subvolume>.<YYYYMMDDTHHMMSSZ>: not made by `snapshot`, prune leaves it alone' });
    } else {
      facts.push({ class: s.class as SnapshotClass, subvolume: parsed.subvolume, name: base, path: s.path, cgen: s.cgen });
    }
  }
  for (const v of decideSnapshotRetention(facts, config.snapshotRetention)) out.set(v.path, { action: v.action, reason: v.reason });
  return out;
}
