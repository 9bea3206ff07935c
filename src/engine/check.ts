// The one invariant check every plan passes before its first change (snapper's filter_undeletables, made total).
// It recomputes what must never happen from the observed facts, independently of the planner's reasons.
import { mountedWithin } from '../fs/mountinfo.js';
import type { NestedSubvolume, SubvolumeRecord } from '../btrfs/inventory.js';
import { InternalError } from '../errors.js';
import { basename, dirname } from 'node:path';
import { isAtomicWriteTemporary } from '../fs/atomic-write.js';
import type { EntryKind } from '../fs/entry-kind.js';
import { nearestAncestors, type DeleteItem, type Step } from './plan.js';

/** What a plan may touch: the directories it owns and the subvolumes it may swap. */
export interface Scope {
  /** Directories (relative to the top level) whose direct children the plan may create, rename and delete. */
  owned: string[];
  /** Subvolumes the plan may rename away and replace (the root at boot). */
  swapped: string[];
  /** Files the plan may write or remove; it may also remove their temporaries left by an interrupted write (isAtomicWriteTemporary). */
  files: string[];
  /**
   * State rollback (src/state): swapped subvolume → the temporary name its replacement is made under. Nested
   * subvolumes may move between the two, unchanged and at the same place (rename(2) moves a subvolume between
   * parents), and a temporary left by an interrupted run may be put in place of its missing subvolume.
   */
  staging?: readonly (readonly [subvolume: string, temporary: string])[];
}

/** The facts the check decides on; all observed, none taken from the plan. */
export interface CheckFacts {
  kinds: Readonly<Record<string, EntryKind>>;
  /** Names present in each owned directory now. */
  present: ReadonlyMap<string, ReadonlySet<string>>;
  /** Subvolumes confirmed by the filesystem, by path. */
  records: ReadonlyMap<string, SubvolumeRecord>;
  nested: ReadonlyMap<string, readonly NestedSubvolume[]>;
  /** Items that must never be deleted, with why (newest archive, newest snapshot of a group, source of the running root…). */
  protected: ReadonlyMap<string, string>;
  defaultId: number | undefined;
  /** Subvolume paths mounted anywhere now. */
  mountedPaths: readonly string[];
}

export interface Violation {
  step: number;
  /** The delete item it concerns: dropping that item makes the rest of the plan safe. */
  item?: string;
  text: string;
}

const parentOf = (p: string) => p.split('/').slice(0, -1).join('/');
const nameOf = (p: string) => p.split('/').at(-1)!;
const cleanComponents = (p: string) => p.split('/').every((c) => c !== '' && c !== '.' && c !== '..');
const below = (p: string, dir: string) => p.startsWith(`${dir}/`) && cleanComponents(p);

/** Every violated invariant of the plan's steps, each tied to its step (and delete item, when it is one). */
export function findViolations(steps: readonly Step[], scope: Scope, facts: CheckFacts): Violation[] {
  const v: Violation[] = [];
  const created = new Set<string>();
  const renamedAway = new Set<string>();
  const stubsRemoved = new Set<string>();
  // State rollback: what each new subvolume is a snapshot of, and the nested subvolumes moved so far.
  const snapshotOf = new Map<string, string>();
  const movedAway = new Set<string>();
  const movedIn = new Set<string>();
  const inOwned = (p: string) => scope.owned.some((d) => parentOf(p) === d) && cleanComponents(p);
  const exists = (p: string) => facts.present.get(parentOf(p))?.has(nameOf(p)) ?? (facts.kinds[p] !== undefined && facts.kinds[p] !== 'missing');
  const insideCreated = (p: string) => {
    for (const c of created) if (below(p, c)) return true;
    return false;
  };

  const checkItem = (step: Step, item: DeleteItem) => {
    const bad = (text: string) => v.push({ step: step.n, item: item.path, text: `step ${step.n} deletes ${item.path}: ${text}` });
    if (!inOwned(item.path)) bad(`not directly inside ${scope.owned.join(' or ')}`);
    const record = facts.records.get(item.path);
    if (!record) bad('not a subvolume confirmed by the filesystem');
    const why = facts.protected.get(item.path);
    if (why) bad(`protected (${why})`);
    // Nothing protected may go with it: neither listed, nor still inside it (a nested subvolume moved in is live state).
    for (const s of item.subvolumes) if (s.path !== item.path && facts.protected.has(s.path)) bad(`${s.path} is protected (${facts.protected.get(s.path)})`);
    const goneWith = (p: string) => [...movedAway].some((m) => p === m || p.startsWith(`${m}/`));
    for (const n of facts.nested.get(item.path) ?? []) if (facts.protected.has(n.path) && !goneWith(n.path)) bad(`${n.path} inside it is protected (${facts.protected.get(n.path)}) and still there`);
    if (record && facts.defaultId === record.id) bad('it is the default subvolume');
    const mounted = mountedWithin(facts.mountedPaths, item.path);
    if (mounted) bad(`${mounted} is mounted`);
    const verified = new Set((facts.nested.get(item.path) ?? []).map((n) => n.path));
    for (const u of item.unlock ?? []) if (!verified.has(u.path)) bad(`${u.path} is made writable but is not a subvolume confirmed below it`);
    item.subvolumes.forEach((s, i) => {
      if (i === item.subvolumes.length - 1) {
        if (s.path !== item.path) bad('the item itself must be deleted last');
      } else if (!below(s.path, item.path) || !verified.has(s.path)) bad(`${s.path} is not a subvolume confirmed below it`);
    });
    // Each subvolume after every one inside it: each after those whose nearest listed ancestor it is (so, by induction,
    // after all below it).
    const above = nearestAncestors(item.subvolumes.map((s) => s.path));
    const early = new Set<number>();
    above.forEach((a, i) => a >= 0 && a < i && early.add(a));
    for (const a of [...early].sort((x, y) => x - y)) bad(`${item.subvolumes[a]!.path} comes before a subvolume inside it`);
  };

  /**
   * The state rollback's "nested move" rule: `from` and `to` lie at the same place inside a swapped subvolume and its
   * staging name (either way), `from` is a nested subvolume confirmed there (observed, or moved there by this plan)
   * and `to` is free (nothing there, or the stub a snapshot left was removed first). Undefined when the rename is no
   * such move; null when it is one and allowed; else what is wrong.
   */
  const nestedMove = (from: string, to: string): string | null | undefined => {
    for (const [sv, tmp] of scope.staging ?? []) {
      for (const [a, b] of [
        [sv, tmp],
        [tmp, sv],
      ] as const) {
        if (!below(from, a) || !below(to, b)) continue;
        const rel = from.slice(a.length + 1);
        if (to.slice(b.length + 1) !== rel) return `${from} → ${to} moves a nested subvolume to another place`;
        const confirmed = ((facts.nested.get(a) ?? []).some((n) => n.path === from) || movedIn.has(from)) && !movedAway.has(from);
        if (!confirmed) return `${from} is not a nested subvolume confirmed inside ${a}`;
        const source = snapshotOf.get(b);
        // In a new subvolume the place is what the snapshot's source holds there (it must have been observed).
        const place = source === undefined ? undefined : facts.kinds[`${source}/${rel}`];
        const taken = created.has(b) ? place === undefined || (place !== 'missing' && !stubsRemoved.has(to)) : exists(to) && !movedAway.has(to);
        if (taken) return `${to} is taken (a nested subvolume moves only to a free place)`;
        return null;
      }
    }
    return undefined;
  };

  for (const step of steps) {
    const bad = (text: string) => v.push({ step: step.n, text: `step ${step.n} ${step.action}: ${text}` });
    switch (step.action) {
      case 'ensure-dir':
        if (!scope.owned.includes(step.path)) bad(`${step.path} is not a directory this plan owns`);
        break;
      case 'delete':
        for (const item of step.items) checkItem(step, item);
        break;
      case 'snapshot':
      case 'create-subvolume': {
        const dest = step.dest;
        if (insideCreated(dest)) {
          if (!stubsRemoved.has(dest)) bad(`${dest} inside a new subvolume is made without removing its stub first`);
        } else if (scope.swapped.includes(dest)) {
          // Made straight in place of a swapped subvolume: only once that one has been renamed away (or is missing).
          if (!renamedAway.has(dest) && exists(dest)) bad(`${dest} is made while the ${dest} it replaces is still there`);
        } else if (!inOwned(dest)) bad(`${dest} is not directly inside ${scope.owned.join(' or ')}`);
        else if (exists(dest)) bad(`${dest} already exists`);
        if (step.action === 'snapshot' && step.source === dest) bad('source and destination are the same');
        if (step.action === 'snapshot') snapshotOf.set(dest, step.source);
        created.add(dest);
        break;
      }
      case 'remove-stub':
        if (!insideCreated(step.path)) bad(`${step.path} is not inside a subvolume this plan made`);
        stubsRemoved.add(step.path);
        break;
      case 'rename': {
        const nested = nestedMove(step.from, step.to);
        if (nested !== undefined) {
          if (nested !== null) bad(nested);
          movedAway.add(step.from);
          movedIn.add(step.to);
          break;
        }
        const away = scope.swapped.includes(step.from) && inOwned(step.to) && !exists(step.to) && !created.has(step.to);
        // A leftover temporary of an interrupted state rollback may take the place of its subvolume when that is gone.
        const made = created.has(step.from) || ((scope.staging ?? []).some(([sv, t]) => sv === step.to && t === step.from) && facts.records.has(step.from));
        const into = scope.swapped.includes(step.to) && made && (renamedAway.has(step.to) || !exists(step.to));
        if (!away && !into) bad(`${step.from} → ${step.to} is neither ${scope.swapped.join('/')} → a new name in ${scope.owned.join(' or ')} nor a subvolume this plan made → ${scope.swapped.join('/')}`);
        if (away) renamedAway.add(step.from);
        break;
      }
      case 'remove-file':
        if (!scope.files.includes(step.path) && !scope.files.some((f) => step.path === `${dirname(f)}/${basename(step.path)}` && isAtomicWriteTemporary(basename(step.path), basename(f)))) bad(`${step.path} is neither a file this plan owns nor the temporary of an interrupted write of one`);
        break;
      case 'write-file':
        if (!scope.files.includes(step.path)) bad(`${step.path} is not a file this plan owns`);
        break;
      case 'commit':
        break;
    }
  }
  return v;
}

/**
 * Checks the plan before its first change. Violations that concern one delete item drop that item (it is kept,
 * with the violation as the reason) so everything else still happens; any other violation refuses the whole
 * plan (InternalError: a bug, nothing was changed). Returns the steps to execute and the dropped items.
 */
export function checkPlan(steps: readonly Step[], scope: Scope, facts: CheckFacts): { steps: Step[]; dropped: { path: string; why: string }[] } {
  const violations = findViolations(steps, scope, facts);
  const fatal = violations.filter((x) => x.item === undefined);
  if (fatal.length) throw new InternalError(`refusing an unsafe plan (nothing was changed): ${fatal.map((x) => x.text).join('; ')}`);
  const dropped = new Map<string, string>();
  for (const x of violations) if (!dropped.has(x.item!)) dropped.set(x.item!, x.text);
  if (!dropped.size) return { steps: [...steps], dropped: [] };
  const kept = steps
    .map((s) => (s.action === 'delete' ? { ...s, items: s.items.filter((i) => !dropped.has(i.path)) } : s))
    .filter((s) => s.action !== 'delete' || s.items.length > 0);
  const renumbered = kept.map((s, i) => ({ ...s, n: i + 1 }));
  return { steps: renumbered, dropped: [...dropped].map(([path, why]) => ({ path, why })) };
}
