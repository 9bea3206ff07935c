// `snapshot` as a plan: one read-only snapshot per subvolume into <snapshots>/<class>/, named <subvolume>.<time>. Pure.
import type { Config, SnapshotClass } from '../config/load-config.js';
import type { CheckFacts, Scope } from '../engine/check.js';
import { numberSteps, type Step, type StepSpec } from '../engine/plan.js';
import { PreconditionError } from '../errors.js';
import { blockingComponent, isDirectoryKind } from '../fs/entry-kind.js';
import { snapshotName } from '../retention/snapshots.js';
import type { ObservedSnapshots } from './observe.js';

export interface SnapshotPlan {
  kind: 'snapshot';
  class: SnapshotClass;
  created: { subvolume: string; name: string; path: string }[];
  steps: Step[];
}

/**
 * Plans one snapshot of each subvolume in `cls`, at `now`. Throws PreconditionError (nothing changes) when a
 * subvolume is missing or not a subvolume, or the snapshots directory or the class directory is not a real directory.
 */
export function planSnapshot(observed: ObservedSnapshots, config: Config, cls: SnapshotClass, subvolumes: readonly string[], now: Date): SnapshotPlan {
  const { snapshots } = config.subvolumes;
  const k = observed.kinds;
  for (const s of subvolumes) {
    const block = blockingComponent(k, s);
    if (block) throw new PreconditionError(`cannot snapshot ${s}: ${block.path} is a ${block.kind}, not a directory`);
    if (k[s] !== 'subvolume') throw new PreconditionError(`cannot snapshot ${s}: ${k[s] === 'missing' ? 'no such subvolume' : `it is a ${k[s]}, not a subvolume`}`);
    if (!observed.records.has(s)) throw new PreconditionError(`cannot snapshot ${s}: not confirmed as a subvolume by the subvolume listing`);
  }
  const base = k[snapshots];
  const baseBlock = blockingComponent(k, snapshots);
  if (baseBlock || !isDirectoryKind(base)) {
    throw new PreconditionError(`the snapshots location ${snapshots} is ${base === 'missing' ? 'missing' : `a ${baseBlock?.kind ?? base}`}; create it with: btrfs subvolume create <top>/${snapshots}`);
  }
  const dir = `${snapshots}/${cls}`;
  const classDir = observed.classes.find((c) => c.name === cls);
  if (classDir && !isDirectoryKind(classDir.kind)) throw new PreconditionError(`${dir} is a ${classDir.kind}, not a directory`);
  const specs: StepSpec[] = [];
  if (!classDir) specs.push({ action: 'ensure-dir', path: dir, reason: `the class directory ${dir} does not exist yet` });
  const taken = new Set(classDir?.entries.map((e) => e.name) ?? []);
  const created: SnapshotPlan['created'] = [];
  for (const s of subvolumes) {
    const name = snapshotName(s, now, taken);
    taken.add(name);
    specs.push({ action: 'snapshot', source: s, dest: `${dir}/${name}`, readOnly: true, reason: `${cls} snapshot of ${s} at ${now.toISOString()}` });
    created.push({ subvolume: s, name, path: `${dir}/${name}` });
  }
  return { kind: 'snapshot', class: cls, created, steps: numberSteps(specs) };
}

/** A snapshot run owns its class directory only. */
export function snapshotScope(config: Config, cls: SnapshotClass): Scope {
  return { owned: [`${config.subvolumes.snapshots}/${cls}`], swapped: [], files: [] };
}

/** The facts the one check judges a snapshot plan with (it deletes nothing, so nothing is protected). */
export function snapshotCheckFacts(observed: ObservedSnapshots, config: Config): CheckFacts {
  return {
    kinds: observed.kinds,
    present: new Map(observed.classes.map((c) => [`${config.subvolumes.snapshots}/${c.name}`, new Set(c.entries.map((e) => e.name))])),
    records: observed.records,
    nested: observed.nested,
    protected: new Map(),
    defaultId: observed.defaultId,
    mountedPaths: observed.mountedPaths,
  };
}
