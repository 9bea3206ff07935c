// The state rollback decision (issue 14): observed state + config + clock → plan. Pure: no disk, no clock. Read top to
// bottom: recover what an interrupted run left, resolve each requested subvolume and snapshot (refusing anything
// doubtful: all or nothing), then the swap of each — a writable snapshot of the snapshot under a temporary name in
// the subvolume's own archive directory, the nested subvolumes of the current one moved over unchanged, the current
// one archived, the new one renamed into place — and one commit.
import { mountedWithin } from '../fs/mountinfo.js';
import { nextArchiveName } from '../archive/naming.js';
import type { NestedSubvolume, SubvolumeRecord } from '../btrfs/inventory.js';
import type { Config } from '../config/load-config.js';
import { deleteItem, nearestAncestors, numberSteps, type DeleteItem, type Notice, type Step, type StepSpec } from '../engine/plan.js';
import { isDirectoryKind } from '../fs/entry-kind.js';
import { decideRetention, orderNewestFirst, type Verdict } from '../retention/age-out.js';
import type { ObservedState, ObservedSnapshot, ObservedSubvolume, RequestOrigin } from './observe.js';
import { resolveWho, subvolumeOfName } from './observe.js';
import { NEW_STATE_NAME, STATE_REQUEST_FILE, type StateSpec } from './request.js';

/** One subvolume rolled back. */
export interface StateRollback {
  subvolume: string;
  /** The snapshot the new subvolume is a writable snapshot of (relative to the top level). */
  from: string;
  /** Where the current subvolume goes. */
  archive: { name: string; path: string };
  /** The temporary name the new subvolume is made under. */
  newState: string;
  /** Nested subvolumes of the current subvolume moved into the new one, unchanged (paths relative to the subvolume). */
  nested: string[];
  /** Mount points where the subvolume (or something inside it) is mounted now. */
  mountedAt: string[];
  spec: string;
}

export interface StatePlan {
  kind: 'state';
  origin: RequestOrigin;
  /** The request as given; null when nothing was asked. */
  requested: string | null;
  /** `ok`: everything asked for is planned (or nothing was asked); `refused`: something asked for is refused, so nothing is rolled back. */
  result: 'ok' | 'refused';
  rollbacks: StateRollback[];
  refused: { spec: string; reason: string }[];
  /** Items of a kernel command line request already carried out at an earlier boot (not repeated). */
  already: { spec: string; subvolume: string; from: string }[];
  recovered: string[];
  steps: Step[];
  /** Every archive of every subvolume rolled back, with its verdict (newest first per subvolume). */
  verdicts: (Verdict & { dir: string })[];
  deletions: DeleteItem[];
  notices: Notice[];
  /** Facts that stop execution but not planning (a subvolume is mounted). */
  blockers: string[];
  /** The request file this plan removes (after the swaps, in the final commit), or null. */
  consumed: string | null;
  /** (swapped subvolume, its temporary name) pairs: the scope of the one check. */
  staging: [string, string][];
  /** Archive directories this plan owns. */
  dirs: string[];
}

export interface StatePlanRequest {
  now: Date;
}

type Note = (severity: Notice['severity'], subject: string | null, what: string, why?: string, fix?: string) => void;

const isInside = (p: string, dir: string) => p === dir || p.startsWith(`${dir}/`);

/**
 * The nested subvolumes directly inside `path` (not inside another nested one), shallowest first (the reverse of the
 * deepest-first order given). O(n log n) (nearestAncestors): comparing every pair took minutes for the tens of
 * thousands of subvolumes a local user can make in a persistent subvolume in seconds (review finding H2, 2026-12-02).
 */
export function directNested(path: string, nested: readonly NestedSubvolume[]): NestedSubvolume[] {
  const all = nested.filter((n) => n.path.startsWith(`${path}/`));
  const above = nearestAncestors(all.map((n) => n.path));
  return all.filter((_, i) => above[i] === -1).reverse();
}

/**
 * Uuids of every incarnation of a subvolume: its own, those of its archives, and, following parent uuids through the
 * snapshots, those of the subvolumes it was rolled back from (after one rollback the current subvolume is a snapshot
 * of a snapshot of the one before). A snapshot is "of" the subvolume when its parent uuid is one of these.
 */
export function lineageOf(sv: ObservedSubvolume, current: SubvolumeRecord | undefined, snapshots: Iterable<ObservedSnapshot>): Set<string> {
  const byUuid = new Map<string, SubvolumeRecord>();
  for (const s of snapshots) if (s.record?.uuid) byUuid.set(s.record.uuid, s.record);
  const incarnations = [current, ...sv.archives.values()].filter((r): r is SubvolumeRecord => r !== undefined);
  const uuids = new Set(incarnations.map((r) => r.uuid).filter((u): u is string => u !== null));
  const queue = [...incarnations];
  while (queue.length) {
    const r = queue.shift()!;
    const from = r.parentUuid ? byUuid.get(r.parentUuid) : undefined;
    if (from?.parentUuid && !uuids.has(from.parentUuid)) {
      uuids.add(from.parentUuid);
      const earlier = byUuid.get(from.parentUuid);
      if (earlier) queue.push(earlier);
    }
  }
  return uuids;
}

/** Plans the state rollback asked for in `observed` (and the recovery of anything an interrupted run left). */
export function planState(observed: ObservedState, config: Config, request: StatePlanRequest): StatePlan {
  const { root, blank, oldRoots, snapshots, oldState } = config.subvolumes;
  const notices: Notice[] = [];
  const note: Note = (severity, subject, what, why = '', fix = 'nothing') => notices.push({ severity, subject, what, why, fix });
  for (const w of observed.warnings) note('warning', `${oldState}/${STATE_REQUEST_FILE}`, w, 'a state request the boot cannot act on is dropped', 'pantheros-rollback state-rollback --next-boot … to ask again');
  for (const n of observed.notes) note('warning', null, n, 'every fact the state rollback acts on must come from the filesystem itself', 'look for subvolumes whose names hold newlines (btrfs subvolume list) and remove them');
  const recovered: string[] = [];
  const refused: StatePlan['refused'] = [];
  const already: StatePlan['already'] = [];
  const blockers: string[] = [];
  const staging: [string, string][] = [];
  const dirs = new Set<string>();
  const recoverySpecs: StepSpec[] = [];
  const leftoverItems: DeleteItem[] = [];
  /** The record of each subvolume as it will be once the recovery steps ran (a rolled-forward temporary). */
  const current = new Map<string, SubvolumeRecord | undefined>();
  const unrecoverable = new Map<string, string>();

  // 1. What interrupted runs left: nested subvolumes go back, the temporary goes — or, when the subvolume itself
  //    is gone (the run got past archiving it), the temporary takes its place: that rollback was asked for.
  for (const sv of observed.subvolumes.values()) {
    current.set(sv.path, sv.record);
    if (!sv.leftovers.length) continue;
    dirs.add(sv.archiveDir);
    for (const t of sv.leftovers) staging.push([sv.path, t.path]);
    if (sv.kind === 'missing') {
      if (sv.leftovers.length > 1) {
        unrecoverable.set(sv.path, `${sv.path} is missing and interrupted runs left ${sv.leftovers.map((t) => t.path).join(', ')}: which one to put in place cannot be told; rename one to ${sv.path} by hand`);
        continue;
      }
      const t = sv.leftovers[0]!;
      recoverySpecs.push({ action: 'rename', from: t.path, to: sv.path, reason: `an interrupted state rollback archived ${sv.path} and left its new state complete in ${t.path}: put it in place (the rollback that was asked for)` });
      recovered.push(`finishing an interrupted state rollback of ${sv.path}: ${t.path} → ${sv.path}`);
      current.set(sv.path, t.record);
      continue;
    }
    if (sv.kind !== 'subvolume' || !sv.record) {
      unrecoverable.set(sv.path, `${sv.path} is a ${sv.kind}, not a subvolume, and interrupted runs left ${sv.leftovers.map((t) => t.path).join(', ')}: fix it by hand`);
      continue;
    }
    const moves: StepSpec[] = [];
    const items: DeleteItem[] = [];
    const places = new Set<string>();
    let blocked: string | undefined;
    for (const t of sv.leftovers) {
      for (const n of directNested(t.path, t.nested)) {
        const rel = n.path.slice(t.path.length + 1);
        if (!n.bytes.equals(Buffer.from(n.path)) || (observed.kinds[`${sv.path}/${rel}`] ?? 'missing') !== 'missing' || places.has(rel)) {
          blocked = `${t.path} (left by an interrupted run) holds the nested subvolume ${n.path}, whose place in ${sv.path} is taken or whose name is not valid UTF-8: left alone, move it back by hand`;
          break;
        }
        places.add(rel);
        moves.push({ action: 'rename', from: n.path, to: `${sv.path}/${rel}`, reason: `an interrupted state rollback had moved the nested subvolume ${rel} into ${t.path}: move it back, unchanged` });
      }
      items.push({ path: t.path, reason: 'temporary new state of an interrupted state rollback', subvolumes: [{ path: t.path }] });
    }
    if (blocked) {
      unrecoverable.set(sv.path, blocked);
      continue;
    }
    recoverySpecs.push(...moves);
    leftoverItems.push(...items);
    recovered.push(`removing ${items.map((i) => i.path).join(', ')} left by an interrupted state rollback${moves.length ? ` (after moving ${moves.length} nested subvolume(s) back into ${sv.path})` : ''}`);
  }
  for (const [path, why] of unrecoverable) note('error', path, why, 'a nested subvolume is live state and is never deleted', 'move the nested subvolume back by hand, then remove the temporary subvolume');

  // 2. The request: every item resolved and judged; one refusal refuses all (a database and its data go together).
  const chosen: { spec: StateSpec; sv: ObservedSubvolume; snap: ObservedSnapshot }[] = [];
  for (const parsed of observed.specs) {
    if (!('ok' in parsed)) {
      refused.push({ spec: parsed.raw, reason: parsed.refused });
      continue;
    }
    const spec = parsed.ok;
    const refuse = (reason: string) => refused.push({ spec: spec.raw, reason });
    const decoded = spec.name ? subvolumeOfName(spec.name) : undefined;
    if (spec.name && decoded === undefined) {
      refuse(`"${spec.name}" is not a snapshot name (<encoded subvolume>.<YYYYMMDDTHHMMSSZ>, as pantheros-rollback snapshot names them)`);
      continue;
    }
    const who = spec.who ?? { kind: 'subvolume' as const, path: decoded! };
    const resolved = resolveWho(who, config, observed.mountedSubvolumes);
    if ('refused' in resolved) {
      refuse(resolved.refused);
      continue;
    }
    const path = resolved.subvolume;
    const clash = [root, blank, oldRoots, snapshots, oldState].find((x) => isInside(path, x) || isInside(x, path));
    if (clash !== undefined) {
      refuse(clash === root && path === root ? `${path} is the root subvolume: roll it back with pantheros.rollback=<target> (the root's own rollback)` : `${path} overlaps ${clash}, which this tool manages itself: never rolled back as state`);
      continue;
    }
    if (chosen.some((c) => c.sv.path === path)) {
      refuse(`${path} is named twice in one request`);
      continue;
    }
    const sv = observed.subvolumes.get(path);
    if (!sv) {
      refuse(`${path} cannot be looked at (not a subvolume path)`);
      continue;
    }
    if (unrecoverable.has(path)) {
      refuse(unrecoverable.get(path)!);
      continue;
    }
    const now = current.get(path);
    if (!now) {
      refuse(sv.kind === 'missing' ? `${path} does not exist${sv.archives.size ? ` (its archives are in ${sv.archiveDir})` : ''}` : `${path} is ${sv.kind === 'subvolume' ? 'not confirmed as a subvolume by the filesystem and the subvolume listing' : `a ${sv.kind}, not a subvolume`}`);
      continue;
    }
    if (sv.archiveDirKind !== 'missing' && !isDirectoryKind(sv.archiveDirKind)) {
      refuse(`its archive directory ${sv.archiveDir} is a ${sv.archiveDirKind}, not a directory`);
      continue;
    }
    if (sv.kind === 'subvolume' && observed.defaultId !== undefined && now.id === observed.defaultId) {
      refuse(`${path} is the default subvolume (btrfs subvolume set-default): a mount without subvol= gets it`);
      continue;
    }
    const lineage = lineageOf(sv, now, observed.snapshots.values());
    const ofThis = (s: ObservedSnapshot): string | undefined => {
      if (s.subvolume !== path) return `its name says it is a snapshot of ${s.subvolume ?? '(no subvolume: not a name snapshot writes)'}, not of ${path}`;
      if (!s.record) return 'it is not confirmed as a subvolume by the filesystem and the subvolume listing';
      if (!s.record.readOnly) return 'it is writable, so not a snapshot as snapshot takes them (read-only): its content may have changed';
      if (s.record.parentUuid !== null && lineage.size && !lineage.has(s.record.parentUuid)) {
        return `btrfs says it is a snapshot of another subvolume (parent uuid ${s.record.parentUuid}; ${path} and its archives are ${[...lineage].join(', ')})`;
      }
      return undefined;
    };
    let snap: ObservedSnapshot | undefined;
    const classDir = `${snapshots}/${spec.class}`;
    if (observed.kinds[classDir] === undefined || !isDirectoryKind(observed.kinds[classDir])) {
      refuse(`there is no snapshot class directory ${classDir}${observed.kinds[classDir] && observed.kinds[classDir] !== 'missing' ? ` (it is a ${observed.kinds[classDir]})` : ''}`);
      continue;
    }
    if (spec.name) {
      const p = `${classDir}/${spec.name}`;
      const k = observed.kinds[p];
      snap = observed.snapshots.get(p);
      if (!snap) {
        refuse(k === undefined || k === 'missing' ? `${p} does not exist` : `${p} is a ${k}, not a subvolume`);
        continue;
      }
      const bad = ofThis(snap);
      if (bad) {
        refuse(`${p}: ${bad}`);
        continue;
      }
    } else {
      const candidates = [...observed.snapshots.values()].filter((s) => s.class === spec.class && ofThis(s) === undefined);
      snap = orderNewestFirst(candidates.map((s) => ({ ...s, cgen: s.record!.cgen }))).at(0);
      if (!snap) {
        refuse(`there is no ${spec.class} snapshot of ${path} (read-only, confirmed, made from it) in ${classDir}`);
        continue;
      }
    }
    if (snap.record!.parentUuid === null || lineage.size === 0) note('warning', snap.path, `btrfs gives no parent uuid for ${snap.path} or ${path}: only its name says it is a snapshot of ${path}`, 'a snapshot received with btrfs receive has no parent uuid', 'nothing');
    if (observed.origin === 'cmdline' && now.parentUuid !== null && now.parentUuid === snap.record!.uuid) {
      already.push({ spec: spec.raw, subvolume: path, from: snap.path });
      continue;
    }
    chosen.push({ spec, sv, snap });
  }
  for (const a of already) {
    note('warning', a.subvolume, `${a.subvolume} was already made from ${a.from} at an earlier boot: not rolled back again`, 'a state rollback on the kernel command line would otherwise discard everything written since at every boot', 'remove pantheros.rollback.state= from the kernel command line');
  }

  // 3. The swaps: innermost subvolume first (a nested one is swapped in place, then moved over with its parent).
  const rollbacks: StateRollback[] = [];
  const swapSpecs: StepSpec[] = [];
  const ensure: StepSpec[] = [];
  const deletions: DeleteItem[] = [];
  const verdicts: StatePlan['verdicts'] = [];
  if (!refused.length) {
    chosen.sort((a, b) => b.sv.path.split('/').length - a.sv.path.split('/').length || (a.sv.path < b.sv.path ? -1 : 1));
    for (const { spec, sv, snap } of chosen) {
      const problem = planSwap(sv, snap, observed, config, request.now, { swapSpecs, ensure, deletions, verdicts, rollbacks, note }, spec.raw);
      if (problem) refused.push({ spec: spec.raw, reason: problem });
      else {
        staging.push([sv.path, rollbacks.at(-1)!.newState]);
        dirs.add(sv.archiveDir);
      }
    }
  }
  for (const r of refused) note('warning', null, `state rollback ${JSON.stringify(r.spec)} (from ${observed.origin}) refused: ${r.reason}`, 'a request is carried out whole or not at all', 'see pantheros-rollback list for the snapshots of each persistent subvolume');
  const result: StatePlan['result'] = refused.length ? 'refused' : 'ok';
  const planned = result === 'ok' ? rollbacks : [];
  for (const r of planned) if (r.mountedAt.length) blockers.push(`${r.subvolume} is mounted at ${r.mountedAt.join(', ')}: it can be swapped only while nothing mounts it (at boot before it is mounted, or online with state-rollback, which unmounts it)`);

  // 4. The steps: directories, recovery, age-out, the request consumed, the swaps, one commit.
  const specs: StepSpec[] = [...(result === 'ok' ? ensure : [])];
  specs.push(...recoverySpecs);
  if (leftoverItems.length) specs.push({ action: 'delete', purpose: 'leftover', items: leftoverItems, reason: 'temporary new states left by an interrupted state rollback hold nothing else (their nested subvolumes went back first)' });
  // With the boot's bound on time (oldRoots.ageOutSeconds): a state a user filled with subvolumes cannot hold the swaps up.
  if (result === 'ok' && deletions.length) specs.push({ action: 'delete', purpose: 'age-out', items: deletions, reason: `age out ${deletions.length} archived state(s) beyond the retention (oldRoots.keepDays / keepAtLeast), for at most ${config.oldRoots.ageOutSeconds} s (oldRoots.ageOutSeconds): what is left goes next time`, budgetSeconds: config.oldRoots.ageOutSeconds });
  const requestPath = `${oldState}/${STATE_REQUEST_FILE}`;
  const consumed = observed.origin !== 'operator' && observed.kinds[requestPath] === 'file' ? requestPath : null;
  // Making a snapshot commits the transaction, so every snapshot comes first: what follows (the stubs, every rename
  // of every swap) is written by the commit at the end — or, when btrfs commits on its own between two steps (every
  // 30 s, or when memory asks), partly earlier. So the request goes last: a cut before the final commit leaves it,
  // and the next boot carries it out again (a swap that got through is done once more from the same snapshot, the
  // state it made, never used, archived: test/btrfs/state-failpoints.test.ts).
  const swap = result === 'ok' ? swapSpecs : [];
  specs.push(...swap.filter((s) => s.action === 'snapshot'));
  specs.push(...swap.filter((s) => s.action !== 'snapshot'));
  if (consumed) specs.push({ action: 'remove-file', path: consumed, reason: 'the state request applies to one boot only: removed once every swap is done, in the final commit, so a power cut cannot lose it before the rollback it asks for' });
  if (specs.length) specs.push({ action: 'commit', reason: 'commit the state rollback: the swapped subvolumes are on disk before anything mounts them' });
  return {
    kind: 'state',
    origin: observed.origin,
    requested: observed.raw,
    result,
    rollbacks: planned,
    refused,
    already,
    recovered,
    steps: numberSteps(specs),
    verdicts: result === 'ok' ? verdicts : [],
    deletions: result === 'ok' ? deletions : [],
    notices,
    blockers,
    consumed,
    staging,
    dirs: [...dirs],
  };
}

interface Out {
  swapSpecs: StepSpec[];
  ensure: StepSpec[];
  deletions: DeleteItem[];
  verdicts: StatePlan['verdicts'];
  rollbacks: StateRollback[];
  note: Note;
}

/** Adds the steps that swap one subvolume; returns why it cannot be done, or undefined. */
function planSwap(sv: ObservedSubvolume, snap: ObservedSnapshot, observed: ObservedState, config: Config, now: Date, out: Out, spec: string): string | undefined {
  // A free temporary name (a leftover of the same name is removed earlier in the plan, but names stay distinct).
  const taken = new Set(sv.entries.map((e) => e.name));
  let tmpName = NEW_STATE_NAME;
  for (let i = 1; taken.has(tmpName); i++) tmpName = `${NEW_STATE_NAME}.${i}`;
  const tmp = `${sv.archiveDir}/${tmpName}`;
  const steps: StepSpec[] = [];
  const moved: string[] = [];
  // The current subvolume's nested subvolumes (after a roll-forward the temporary's were observed as its own).
  // The current subvolume's nested subvolumes once the recovery ran: its own, and those moved back (or, after a
  // roll-forward, the temporary's).
  const translated = sv.leftovers.flatMap((t) => t.nested.map((n) => ({ ...n, path: `${sv.path}${n.path.slice(t.path.length)}`, bytes: Buffer.concat([Buffer.from(sv.path), n.bytes.subarray(Buffer.byteLength(t.path))]) })));
  const nestedNow = [...(sv.kind === 'missing' ? [] : sv.nested), ...translated];
  steps.push({ action: 'snapshot', source: snap.path, dest: tmp, readOnly: false, reason: `the new ${sv.path} is a writable snapshot of ${snap.path}; the snapshot stays intact` });
  for (const n of directNested(sv.path, nestedNow)) {
    const rel = n.path.slice(sv.path.length + 1);
    if (!n.bytes.equals(Buffer.from(n.path))) return `${sv.path} holds a nested subvolume whose name is not valid UTF-8 (${JSON.stringify(n.path)}): it could not be moved over; rename it first`;
    const place = observed.places.get(`${snap.path}/${rel}`);
    const parent = rel.split('/').slice(0, -1).join('/');
    const parentPlace = parent ? observed.places.get(`${snap.path}/${parent}`) : 'directory';
    if (place === 'stub') {
      steps.push({ action: 'remove-stub', path: `${tmp}/${rel}`, reason: `a snapshot does not take nested subvolumes along: ${rel} is an empty directory in the new ${sv.path}` });
    } else if (place !== 'missing' || !(parentPlace === 'directory' || parentPlace === 'subvolume' || parentPlace === 'stub')) {
      return `the nested subvolume ${rel} of ${sv.path} cannot be moved over: ${place === 'missing' ? `its parent directory ${parent} is not in ${snap.path}` : `${snap.path} holds a ${place ?? 'something unknown'} at its place`}; move it out of ${sv.path} first, or roll back from another snapshot`;
    }
    steps.push({ action: 'rename', from: n.path, to: `${tmp}/${rel}`, reason: `move the nested subvolume ${rel} of ${sv.path} over into the new one, unchanged (not rolled back with it)` });
    moved.push(rel);
  }
  if (sv.immutable.has(snap.path)) return `${snap.path} is immutable (chattr +i), and a snapshot of it would be too, so nothing could be written to the new ${sv.path}; lift it: btrfs property set -ts <top>/${snap.path} ro false && chattr -i <top>/${snap.path} && btrfs property set -ts <top>/${snap.path} ro true`;
  // An immutable one (chattr +i) cannot be renamed, nor anything moved into or out of an immutable directory (EPERM).
  const fixed = [sv.path, sv.path.includes('/') ? sv.path.slice(0, sv.path.lastIndexOf('/')) : '', sv.archiveDir].filter((p) => sv.immutable.has(p));
  if (fixed.length) return `${fixed.map((p) => (p === '' ? 'the top level' : p)).join(', ')} ${fixed.length > 1 ? 'are' : 'is'} immutable (chattr +i), so ${sv.path} cannot be swapped; lift it with chattr -i ${fixed.map((p) => (p === '' ? '<top>' : `<top>/${p}`)).join(' ')}`;
  const name = nextArchiveName(now, taken);
  const archive = { name, path: `${sv.archiveDir}/${name}` };
  steps.push({ action: 'rename', from: sv.path, to: archive.path, reason: `archive the current ${sv.path} as ${name} (kept, with the root archives' retention)` });
  steps.push({ action: 'rename', from: tmp, to: sv.path, reason: `put the new state in place as ${sv.path}` });
  if (sv.archiveDirKind === 'missing') out.ensure.push({ action: 'ensure-dir', path: sv.archiveDir, reason: `${sv.archiveDir} (where archived states of ${sv.path} go) does not exist yet` });
  out.swapSpecs.push(...steps);
  out.rollbacks.push({ subvolume: sv.path, from: snap.path, archive, newState: tmp, nested: moved, mountedAt: sv.mounts.map((m) => m.mountPoint), spec });

  // Retention of this subvolume's archives (the same rules as archived roots, without the free-space floor: archived
  // state is data, never deleted for space).
  const facts = [...sv.archives.values()].map((r) => ({ name: r.path.slice(sv.archiveDir.length + 1), cgen: r.cgen, record: r }));
  const protect = new Map<string, string>([[name, 'archived by this state rollback']]);
  const newest = orderNewestFirst(facts)[0];
  if (newest) protect.set(newest.name, 'newest archived state before this rollback');
  const retention = decideRetention({
    archives: [...facts, { name, cgen: Number.MAX_SAFE_INTEGER }],
    policy: { keepDays: config.oldRoots.keepDays, keepAtLeast: config.oldRoots.keepAtLeast, minFreePercent: 0 },
    now,
    protect,
  });
  const final: Verdict[] = [];
  for (const v of retention.verdicts) {
    const path = `${sv.archiveDir}/${v.name}`;
    const record = sv.archives.get(path);
    let verdict: Verdict = v;
    if (v.action === 'delete') {
      const nested = sv.archiveNested.get(path) ?? [];
      const keep = (reason: string): Verdict => ({ ...v, action: 'keep', reason });
      if (!record) verdict = keep('not confirmed as a subvolume: left alone');
      else if (record.readOnly) verdict = keep(`read-only, so protected (to let it age out: btrfs property set -ts <top>/${path} ro false)`);
      else if (sv.immutable.has(path)) verdict = keep(`immutable (chattr +i), so protected: btrfs refuses to delete it (to let it age out: chattr -i <top>/${path})`);
      else {
        const mounted = mountedWithin(observed.mountedPaths, path);
        if (mounted) verdict = keep(`mounted (${mounted}): left alone while it is in use`);
        else out.deletions.push(deleteItem(path, v.reason, nested));
      }
    }
    final.push(verdict);
    out.verdicts.push({ ...verdict, dir: sv.archiveDir });
  }
  // Counted over what really goes (one kept above for a fact of its own is not one that goes).
  for (const w of retention.warningsFor(final)) out.note('warning', sv.archiveDir, w);
  return undefined;
}
