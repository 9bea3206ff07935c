// `prune` as a plan: which timed snapshots go, each with its reason (snapper's candidates → filters → remove). Pure.
import { mountedWithin } from '../fs/mountinfo.js';
import { SNAPSHOT_CLASSES, type Config, type SnapshotClass } from '../config/load-config.js';
import type { CheckFacts, Scope } from '../engine/check.js';
import { numberSteps, type DeleteItem, type Notice, type Step } from '../engine/plan.js';
import { orderNewestFirst } from '../retention/age-out.js';
import { decideSnapshotRetention, parseSnapshotName, type SnapshotFact, type SnapshotVerdict } from '../retention/snapshots.js';
import type { ObservedSnapshots } from './observe.js';

export interface Ignored {
  path: string;
  reason: string;
}

export interface PrunePlan {
  kind: 'prune';
  classes: SnapshotClass[];
  /** Real snapshots (read-only, named by `snapshot`, confirmed) with their verdicts, by class, subvolume, newest first. */
  verdicts: SnapshotVerdict[];
  /** Everything else in a class directory, left alone, with why. */
  ignored: Ignored[];
  deletions: DeleteItem[];
  steps: Step[];
  notices: Notice[];
}

/** The snapshots `prune` manages: read-only subvolumes named <subvolume>.<time> directly in a class directory, holding nothing. */
export function realSnapshots(observed: ObservedSnapshots, config: Config, classes: readonly SnapshotClass[]): { facts: SnapshotFact[]; ignored: Ignored[]; notices: Notice[] } {
  const { snapshots } = config.subvolumes;
  const facts: SnapshotFact[] = [];
  const ignored: Ignored[] = [];
  const notices: Notice[] = [];
  for (const c of observed.classes) {
    const dir = `${snapshots}/${c.name}`;
    if (!(SNAPSHOT_CLASSES as readonly string[]).includes(c.name)) {
      if (c.kind !== 'directory' && c.kind !== 'subvolume') notices.push({ severity: 'warning', subject: dir, what: `a ${c.kind} in the snapshots directory`, why: 'it is not a snapshot class directory: left alone', fix: `move ${dir} away` });
      continue;
    }
    if (c.kind !== 'directory' && c.kind !== 'subvolume') {
      notices.push({ severity: 'error', subject: dir, what: `a ${c.kind} where the snapshot class directory belongs`, why: 'snapshots are never looked for through a symlink or in a file', fix: `move ${dir} away` });
      continue;
    }
    if (!classes.includes(c.name as SnapshotClass)) continue;
    for (const e of c.entries) {
      const path = `${dir}/${e.name}`;
      const parsed = e.validName ? parseSnapshotName(e.name) : undefined;
      const record = observed.records.get(path);
      if (e.kind !== 'subvolume') ignored.push({ path, reason: `a ${e.kind}, not a snapshot: never pruned` });
      else if (!parsed) ignored.push({ path, reason: 'name is not <subvolume>.<YYYYMMDDTHHMMSSZ>[_NN]: not made by snapshot, never pruned' });
      else if (!record) ignored.push({ path, reason: 'not confirmed as a subvolume by the filesystem and the subvolume listing: never pruned' });
      else if ((observed.nested.get(path) ?? []).length) ignored.push({ path, reason: 'holds nested subvolumes: never pruned' });
      else if (!record.readOnly) ignored.push({ path, reason: 'writable: not a snapshot as snapshot takes them (read-only), never pruned and never counted' });
      else facts.push({ class: c.name as SnapshotClass, subvolume: parsed.subvolume, name: e.name, path, cgen: record.cgen });
    }
  }
  return { facts, ignored, notices };
}

/** Plans a prune of the given classes: the newest N per class and subvolume stay; what must stay whatever is kept with why. */
export function planPrune(observed: ObservedSnapshots, config: Config, classes: readonly SnapshotClass[] = SNAPSHOT_CLASSES): PrunePlan {
  const { facts, ignored, notices } = realSnapshots(observed, config, classes);
  for (const n of observed.notes) notices.push({ severity: 'warning', subject: null, what: n, why: 'every fact prune acts on must come from the filesystem itself', fix: 'look for subvolumes whose names hold newlines (btrfs subvolume list) and remove them' });
  const deletions: DeleteItem[] = [];
  const verdicts = decideSnapshotRetention(facts, config.snapshotRetention).map((v): SnapshotVerdict => {
    if (v.action !== 'delete') return v;
    const record = observed.records.get(v.path)!;
    const keep = (reason: string): SnapshotVerdict => ({ ...v, action: 'keep', reason });
    if (record.uuid !== null && record.uuid === observed.runningRootParentUuid) return keep('the running root was made from it: kept while it runs');
    if (observed.defaultId === record.id) return keep('the default subvolume (btrfs subvolume set-default): btrfs refuses to delete it');
    const mounted = mountedWithin(observed.mountedPaths, v.path);
    if (mounted) return keep(`mounted (${mounted}): left alone while it is in use`);
    deletions.push({ path: v.path, reason: v.reason, subvolumes: [{ path: v.path }] });
    return v;
  });
  const steps = numberSteps(deletions.length ? [{ action: 'delete', purpose: 'prune', items: deletions, reason: `prune ${deletions.length} snapshot(s) beyond their class's retention` }] : []);
  return { kind: 'prune', classes: [...classes], verdicts, ignored, deletions, steps, notices };
}

/** Prune owns the class directories. */
export function pruneScope(config: Config): Scope {
  return { owned: SNAPSHOT_CLASSES.map((c) => `${config.subvolumes.snapshots}/${c}`), swapped: [], files: [] };
}

/**
 * The facts the one check judges a prune with: the newest real snapshot of every group (class, subvolume) by
 * creation generation, and the snapshot the running root was made from, are protected; a snapshot counts as real
 * only when it is read-only in `confirmed` (its facts read again on their own, not from a listing line).
 */
export function pruneCheckFacts(observed: ObservedSnapshots, config: Config, confirmed: ReadonlyMap<string, { readOnly: boolean; id: number; cgen: number }>): CheckFacts {
  const { facts } = realSnapshots(observed, config, SNAPSHOT_CLASSES);
  const protectedPaths = new Map<string, string>();
  const groups = new Map<string, SnapshotFact[]>();
  for (const f of facts) groups.set(`${f.class}\0${f.subvolume}`, [...(groups.get(`${f.class}\0${f.subvolume}`) ?? []), f]);
  for (const group of groups.values()) {
    const newest = orderNewestFirst(group)[0]!;
    protectedPaths.set(newest.path, `the newest ${newest.class} snapshot of ${newest.subvolume} (id ${observed.records.get(newest.path)?.id})`);
  }
  const records = new Map(observed.records);
  for (const [path, r] of observed.records) {
    if (r.uuid !== null && r.uuid === observed.runningRootParentUuid) protectedPaths.set(path, 'the source of the running root');
    const c = confirmed.get(path);
    if (path.startsWith(`${config.subvolumes.snapshots}/`) && (!c || !c.readOnly || c.id !== r.id || c.cgen !== r.cgen)) records.delete(path);
  }
  return {
    kinds: observed.kinds,
    present: new Map(observed.classes.map((c) => [`${config.subvolumes.snapshots}/${c.name}`, new Set(c.entries.map((e) => e.name))])),
    records,
    nested: observed.nested,
    protected: protectedPaths,
    defaultId: observed.defaultId,
    mountedPaths: observed.mountedPaths,
  };
}
