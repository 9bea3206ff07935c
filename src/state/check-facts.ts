// What the one invariant check (src/engine/check.ts) needs to judge a state plan, taken from the observation alone.
import type { Config } from '../config/load-config.js';
import type { CheckFacts, Scope } from '../engine/check.js';
import type { EntryKind } from '../fs/entry-kind.js';
import type { NestedSubvolume, SubvolumeRecord } from '../btrfs/inventory.js';
import { InternalError } from '../errors.js';
import { orderNewestFirst } from '../retention/age-out.js';
import type { ObservedState } from './observe.js';
import type { StatePlan } from './plan.js';
import { STATE_REQUEST_FILE } from './request.js';

/**
 * A state plan owns the archive directories of the subvolumes it touches, may swap those subvolumes (and move their
 * nested subvolumes to and from their temporaries), and may remove the state request file.
 */
export function stateScope(plan: StatePlan, config: Config): Scope {
  return { owned: plan.dirs, swapped: plan.staging.map(([sv]) => sv), files: [`${config.subvolumes.oldState}/${STATE_REQUEST_FILE}`], staging: plan.staging };
}

/**
 * The facts the check decides on: what exists, the confirmed subvolumes, and what must never go — every snapshot the
 * plan reads, every nested subvolume of a subvolume it swaps or of a temporary an interrupted run left (live state,
 * moved, never deleted), the newest archive of each subvolume by creation generation, and the subvolumes themselves.
 */
export function stateCheckFacts(observed: ObservedState, plan: StatePlan): CheckFacts {
  const kinds: Record<string, EntryKind> = { ...observed.kinds };
  for (const [path, place] of observed.places) kinds[path] = place === 'stub' ? 'directory' : place;
  const records = new Map<string, SubvolumeRecord>();
  const nested = new Map<string, NestedSubvolume[]>();
  const present = new Map<string, Set<string>>();
  const protectedPaths = new Map<string, string>();
  for (const s of observed.snapshots.values()) if (s.record) records.set(s.path, s.record);
  for (const sv of observed.subvolumes.values()) {
    present.set(sv.archiveDir, new Set(sv.entries.map((e) => e.name)));
    if (sv.record) {
      records.set(sv.path, sv.record);
      nested.set(sv.path, sv.nested);
      protectedPaths.set(sv.path, 'a subvolume this state rollback swaps');
    }
    for (const [path, r] of sv.archives) {
      records.set(path, r);
      nested.set(path, sv.archiveNested.get(path) ?? []);
    }
    const newest = orderNewestFirst([...sv.archives.values()].map((r) => ({ name: r.path, cgen: r.cgen })))[0];
    if (newest) protectedPaths.set(newest.name, `the newest archived state of ${sv.path} by creation generation`);
    for (const t of sv.leftovers) {
      records.set(t.path, t.record);
      nested.set(t.path, t.nested);
      for (const n of t.nested) protectedPaths.set(n.path, `a nested subvolume of ${sv.path} that an interrupted run moved into ${t.path}: live state`);
      // After a roll-forward the temporary's nested subvolumes are the subvolume's own.
      if (sv.kind === 'missing' && sv.leftovers.length === 1) nested.set(sv.path, t.nested.map((n) => ({ ...n, path: `${sv.path}${n.path.slice(t.path.length)}` })));
    }
    for (const n of sv.nested) protectedPaths.set(n.path, `a nested subvolume of ${sv.path}: live state, moved over, never deleted`);
  }
  for (const s of plan.steps) if (s.action === 'snapshot') protectedPaths.set(s.source, 'the snapshot this state rollback is made from');
  return {
    kinds,
    present,
    records,
    nested,
    protected: protectedPaths,
    defaultId: observed.defaultId,
    mountedPaths: observed.mountedPaths,
  };
}

/** State-only invariants on top of the shared check: every subvolume moved away gets a replacement, then one commit. */
export function checkStateShape(plan: StatePlan): void {
  const refuse = (why: string) => {
    throw new InternalError(`refusing an unsafe state plan (nothing was changed): ${why}`);
  };
  const swapped = new Set(plan.staging.map(([sv]) => sv));
  const archived = (p: string) => plan.dirs.includes(p.split('/').slice(0, -1).join('/'));
  plan.steps.forEach((s, i) => {
    if (s.action !== 'rename' || !swapped.has(s.from) || !archived(s.to)) return;
    if (!plan.steps.slice(i + 1).some((t) => t.action === 'rename' && t.to === s.from)) refuse(`${s.from} is renamed away and nothing takes its place`);
  });
  if (plan.steps.length && plan.steps.at(-1)!.action !== 'commit') refuse('it does not end with a commit');
}
