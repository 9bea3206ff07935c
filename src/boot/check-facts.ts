// What the one invariant check (src/engine/check.ts) needs to judge a boot plan, taken from the observation alone.
import type { Config } from '../config/load-config.js';
import type { CheckFacts, Scope } from '../engine/check.js';
import { InternalError } from '../errors.js';
import { orderNewestFirst } from '../retention/age-out.js';
import type { Observed } from './observe.js';
import type { BootPlan } from './plan.js';
import { BOOT_FILES } from './observe.js';

/**
 * A boot owns the archive directory, may swap the root, and owns the next-boot request and the copy of its report
 * (removing the request; the report copy is written after the plan, and temporaries of either's interrupted write go).
 */
export function bootScope(config: Config): Scope {
  const { root, oldRoots } = config.subvolumes;
  return { owned: [oldRoots], swapped: [root], files: BOOT_FILES.map((f) => `${oldRoots}/${f}`) };
}

/**
 * The facts the check decides on: what exists, the confirmed subvolumes, and what must never go — the newest
 * archive by creation generation and every subvolume the plan snapshots from.
 */
export function bootCheckFacts(observed: Observed, plan: BootPlan, config: Config): CheckFacts {
  const { oldRoots } = config.subvolumes;
  const sv = observed.subvolumes;
  const archives = observed.entries
    .filter((e) => e.kind === 'subvolume' && e.validName && !e.name.startsWith('.'))
    .map((e) => ({ name: e.name, cgen: sv?.records.get(`${oldRoots}/${e.name}`)?.cgen }));
  const protectedPaths = new Map<string, string>();
  const newest = orderNewestFirst(archives)[0];
  if (newest) protectedPaths.set(`${oldRoots}/${newest.name}`, 'the newest archive by creation generation');
  for (const s of plan.steps) if (s.action === 'snapshot') protectedPaths.set(s.source, 'a source of this plan');
  // btrfs refuses to delete the default subvolume: nothing that holds it may be planned to go.
  if (sv?.defaultNestedPath) protectedPaths.set(sv.defaultNestedPath, 'the default subvolume (btrfs subvolume set-default)');
  // Nor an immutable archive (chattr +i): btrfs refuses to delete it.
  for (const path of sv?.immutable ?? []) protectedPaths.set(path, 'immutable (chattr +i)');
  return {
    kinds: observed.kinds,
    present: new Map([[oldRoots, new Set(observed.entries.map((e) => e.name))]]),
    records: sv?.records ?? new Map(),
    nested: sv?.nested ?? new Map(),
    protected: protectedPaths,
    defaultId: sv?.defaultId,
    // On the running system (the root mounted) the plan is only printed, never run (a blocker says why): it is what
    // the next boot does in stage 1, where nothing of this system is mounted.
    mountedPaths: observed.rootMountedAt.length ? [] : observed.mountedPaths,
  };
}

/**
 * Boot-only invariants on top of the shared check: a boot that changes the root ends with a root in place, and ends
 * committed — with a commit step, or with the snapshot that made the root (a btrfs snapshot is made in a transaction
 * commit, and BTRFS_IOC_SNAP_CREATE_V2 returns once that commit is on disk: fs/btrfs/ioctl.c create_snapshot).
 * Throws InternalError otherwise.
 */
export function checkBootShape(plan: BootPlan, config: Config): void {
  const { root } = config.subvolumes;
  const placesRoot = plan.steps.some((s) => (s.action === 'rename' && s.to === root) || ((s.action === 'snapshot' || s.action === 'create-subvolume') && s.dest === root));
  if (plan.result !== 'kept' && !placesRoot) {
    throw new InternalError(`refusing an unsafe plan (nothing was changed): it ends without a ${root}`);
  }
  const last = plan.steps.at(-1);
  const committed = last?.action === 'commit' || (last?.action === 'snapshot' && last.dest === root);
  if (placesRoot && !committed) {
    throw new InternalError('refusing an unsafe plan (nothing was changed): the swap is not followed by a commit');
  }
}
