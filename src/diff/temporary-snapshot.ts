// `diff --method send` compares a read-only snapshot of the root: taking it, and removing it (and those of killed
// runs), are plans like every other change — checked by the one check, applied by the one executor.
import type { Config } from '../config/load-config.js';
import { takeInventory } from '../btrfs/inventory.js';
import { checkPlan, type CheckFacts, type Scope } from '../engine/check.js';
import { executePlan } from '../engine/execute.js';
import { numberSteps, type DeleteItem, type StepSpec } from '../engine/plan.js';
import type { Logger } from '../log/logger.js';
import { DIFF_SNAPSHOT_PREFIX, listDirectory } from '../boot/observe.js';

/** Temporary snapshots left by a diff that was killed: named after a process that no longer exists (the boot removes them too). */
export function staleDiffSnapshots(names: readonly string[], alive: (pid: number) => boolean, self = process.pid): string[] {
  return names.filter((n) => {
    const m = /^\.pantheros-diff-(\d+)$/.exec(n);
    return m !== null && Number(m[1]) !== self && !alive(Number(m[1]));
  });
}

const scope = (config: Config): Scope => ({ owned: [config.subvolumes.oldRoots], swapped: [], files: [] });

/** Checks and applies steps in the archive directory, with facts read from the filesystem now. */
function apply(top: string, config: Config, specs: StepSpec[], log: Logger): void {
  const { oldRoots } = config.subvolumes;
  const entries = listDirectory(`${top}/${oldRoots}`);
  const inventory = takeInventory(top);
  const items = specs.flatMap((s) => (s.action === 'delete' ? s.items.map((i) => i.path) : []));
  const records = new Map(items.flatMap((p) => {
    const r = inventory.record(p);
    return r ? [[p, r] as const] : [];
  }));
  const facts: CheckFacts = {
    kinds: { [oldRoots]: entries.length || records.size ? 'directory' : 'missing' },
    present: new Map([[oldRoots, new Set(entries.map((e) => e.name))]]),
    records,
    nested: new Map(items.map((p) => [p, inventory.below(p)])),
    protected: new Map(),
    defaultId: undefined,
    mountedPaths: [],
  };
  const { steps } = checkPlan(numberSteps(specs), scope(config), facts);
  executePlan(steps, { top, log });
}

/**
 * Takes the read-only snapshot of `source` (relative to the top level) that a send diff compares, as
 * `<oldRoots>/.pantheros-diff-<pid>`, first removing the ones killed runs left. Returns its path. Throws what the
 * executor throws (StepError) or the check (InternalError).
 */
export function takeTemporarySnapshot(top: string, config: Config, source: string, log: Logger, alive: (pid: number) => boolean): string {
  const { oldRoots } = config.subvolumes;
  const temp = `${oldRoots}/${DIFF_SNAPSHOT_PREFIX}${process.pid}`;
  const entries = listDirectory(`${top}/${oldRoots}`);
  const specs: StepSpec[] = [];
  const stale = staleDiffSnapshots(entries.filter((e) => e.kind === 'subvolume').map((e) => e.name), alive);
  if (stale.length) {
    const items: DeleteItem[] = stale.map((n) => ({ path: `${oldRoots}/${n}`, reason: 'a temporary snapshot left by a killed diff', subvolumes: [{ path: `${oldRoots}/${n}` }] }));
    specs.push({ action: 'delete', purpose: 'temporary', items, reason: 'temporary snapshots of diffs that were killed hold nothing else' });
  }
  specs.push({ action: 'snapshot', source, dest: temp, readOnly: true, reason: `btrfs send compares a read-only snapshot of ${source}` });
  apply(top, config, specs, log);
  return temp;
}

/** Removes the temporary snapshot taken by takeTemporarySnapshot. */
export function removeTemporarySnapshot(top: string, config: Config, temp: string, log: Logger): void {
  apply(top, config, [{ action: 'delete', purpose: 'temporary', items: [{ path: temp, reason: 'the diff is done', subvolumes: [{ path: temp }] }], reason: 'the diff is done with its temporary snapshot' }], log);
}
