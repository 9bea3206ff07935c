// The state rollback's promises at a power cut (issue 14 in the power-cut test of issue 13): a boot
// that carries out a state request (`state-rollback --next-boot`) for a persistent subvolume with nested
// subvolumes, after the root's swap. At every crash point and after the next boot:
// - the persistent subvolume is the old state (unchanged) or the new one (a writable snapshot of the
//   snapshot, with its content), never neither;
// - its nested subvolumes are never lost: the same subvolumes with the same content, at their place (or,
//   between the moves and the commit, inside the temporary new state);
// - the old state is archived exactly when it was replaced (one archive, the same subvolume, its own
//   content), never before and never twice;
// - a consumed request is never lost unless the rollback it asked for is on disk, and never survives it
//   (the next boot would roll back again and discard what was written since);
// - once the tool has exited 0, the swap is on disk.
import type { CrashFacts, Expectation, PointContext, SubvolumeFacts } from './crash-state.js';

export const OLD_STATE = '@btrfs_tmp/old_state';
export const STATE_REQUEST = `${OLD_STATE}/.pantheros-state-request`;
export const NEW_STATE_PREFIX = '.pantheros-new-state';

/** What the recorded boot's state rollback is asked to do. */
export interface StateExpectation {
  /** The persistent subvolume rolled back (relative to the top level). */
  subvolume: string;
  /** The snapshot its new state is made from. */
  snapshot: string;
  /** Where its replaced state is archived (`<oldState>/<encoded subvolume>`). */
  archiveDir: string;
}

const byPath = (f: CrashFacts, path: string) => f.subvolumes.find((s) => s.path === path);
const byId = (f: CrashFacts, id: number) => f.subvolumes.find((s) => s.id === id);
const childName = (dir: string, path: string) => (path.startsWith(`${dir}/`) && !path.slice(dir.length + 1).includes('/') ? path.slice(dir.length + 1) : null);

/** The pre-boot subvolumes nested in the state subvolume (at any depth). */
export function nestedOf(e: Expectation): SubvolumeFacts[] {
  const s = e.state!;
  return e.pre.subvolumes.filter((x) => x.path.startsWith(`${s.subvolume}/`));
}

/** Whether a pre-boot subvolume is the state subvolume or nested in it (checked here, not by checkPreserved). */
export function isStatePath(e: Expectation, path: string): boolean {
  const s = e.state;
  return s !== undefined && (path === s.subvolume || path.startsWith(`${s.subvolume}/`));
}

/** How the state subvolume stands: the old one, a new one, or missing. */
export function stateOf(e: Expectation, at: CrashFacts): 'old' | 'new' | 'missing' {
  const now = byPath(at, e.state!.subvolume);
  if (!now) return 'missing';
  return now.id === byPath(e.pre, e.state!.subvolume)!.id ? 'old' : 'new';
}

/** Violations of the promises that hold at every point and after every recovery. */
function checkStateInvariants(e: Expectation, at: CrashFacts, where: 'point' | 'recovered'): string[] {
  const s = e.state!;
  const v: string[] = [];
  const pre = byPath(e.pre, s.subvolume)!;
  const snap = byPath(e.pre, s.snapshot)!;
  const now = byPath(at, s.subvolume);
  const state = stateOf(e, at);
  if (!now) v.push(`${s.subvolume} is missing: neither the old nor the new state`);
  else if (state === 'old') {
    if (now.own !== pre.own) v.push(`the old ${s.subvolume} changed while in place`);
  } else {
    if (now.readOnly) v.push(`the new ${s.subvolume} is read-only`);
    if (now.parentUuid !== snap.uuid) v.push(`the new ${s.subvolume} is a snapshot of ${now.parentUuid ?? 'nothing'}, not of ${s.snapshot}`);
    if (now.own !== snap.own) v.push(`the new ${s.subvolume} does not hold what ${s.snapshot} holds`);
  }
  // Nested subvolumes: the same subvolumes, unchanged, at their place — or, before the commit, in the temporary.
  for (const n of nestedOf(e)) {
    const there = byId(at, n.id);
    const rel = n.path.slice(s.subvolume.length);
    const inTemporary = (p: string) => p.startsWith(`${s.archiveDir}/${NEW_STATE_PREFIX}`) && p.endsWith(rel) && childName(s.archiveDir, p.slice(0, -rel.length)) !== null;
    if (!there) v.push(`nested subvolume ${n.path} (id ${n.id}) lost`);
    else if (there.fingerprint !== n.fingerprint) v.push(`nested subvolume ${n.path} changed (now at ${there.path})`);
    else if (there.path !== n.path && (where === 'recovered' || !inTemporary(there.path))) v.push(`nested subvolume ${n.path} is at ${there.path}`);
  }
  // The archive: exactly one, the old state itself with its own content, exactly when it was replaced.
  const archives = at.subvolumes.filter((x) => {
    const name = childName(s.archiveDir, x.path);
    return name !== null && !name.startsWith('.');
  });
  const oldArchived = archives.filter((x) => x.id === pre.id);
  const byteIdentical = oldArchived.every((x) => x.own === pre.own);
  if (state === 'new' && oldArchived.length !== 1) v.push(`${s.subvolume} was replaced but its old state is ${oldArchived.length ? 'archived twice' : 'not archived'}`);
  if (state !== 'new' && oldArchived.length) v.push(`${s.subvolume} is still in place but archived as ${oldArchived.map((x) => x.path).join(', ')}`);
  if (!byteIdentical) v.push(`the archived ${s.subvolume} does not hold what it held`);
  const strays = archives.filter((x) => x.id !== pre.id && !e.pre.subvolumes.some((p) => p.id === x.id));
  if (strays.length) v.push(`unexpected subvolume(s) in ${s.archiveDir}: ${strays.map((x) => x.path).join(', ')}`);
  // The snapshot is never touched.
  const snapNow = byId(at, snap.id);
  if (!snapNow || snapNow.path !== snap.path || !snapNow.readOnly || snapNow.own !== snap.own) v.push(`the snapshot ${s.snapshot} changed`);
  return v;
}

/** The state rollback's promises at one crash point of the recorded boot. */
export function checkStateCrashPoint(e: Expectation, at: CrashFacts, ctx: PointContext): string[] {
  const v = checkStateInvariants(e, at, 'point');
  const state = stateOf(e, at);
  if (e.pre.stateRequest !== null) {
    if (at.stateRequest === null && state !== 'new') v.push(`the state request "${e.pre.stateRequest.trim()}" is gone, but the rollback it asked for is not on disk`);
    if (at.stateRequest !== null && state === 'new') v.push('the state request is still there although the rollback it asked for is on disk (the next boot would roll back again)');
    if (at.stateRequest !== null && at.stateRequest !== e.pre.stateRequest) v.push(`the state request changed to ${JSON.stringify(at.stateRequest)}`);
  }
  if (ctx.afterExit0 && state !== 'new') v.push(`the tool had exited 0, but the state swap is not on disk (${e.state!.subvolume} is ${state})`);
  return v;
}

/** After the next boot (run on a crash point): the rollback asked for is done, once, and nothing is left over. */
export function checkStateRecovered(e: Expectation, after: CrashFacts): string[] {
  const s = e.state!;
  const v = checkStateInvariants(e, after, 'recovered');
  if (stateOf(e, after) !== 'new') v.push(`after the recovery boot ${s.subvolume} is ${stateOf(e, after)}, not rolled back`);
  const leftovers = after.subvolumes.filter((x) => (childName(s.archiveDir, x.path) ?? '').startsWith(NEW_STATE_PREFIX));
  if (leftovers.length) v.push(`leftovers after the recovery boot: ${leftovers.map((x) => x.path).join(', ')}`);
  if (after.stateRequest !== null) v.push(`the state request is still there after the recovery boot: ${after.stateRequest.trim()}`);
  return v;
}
