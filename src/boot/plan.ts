// The boot decision: observed state + config + command line + clock → plan. Pure: no disk, no clock.
import { nextArchiveName } from '../archive/naming.js';
import type { Config } from '../config/load-config.js';
import { PreconditionError } from '../errors.js';
import { cgenByPath } from '../btrfs/list.js';
import { rollbackParameter } from '../cmdline/parse-cmdline.js';
import { decideRetention, orderNewestFirst, type Verdict } from '../retention/age-out.js';
import { isLeftoverName, NEW_ROOT_PREFIX, NEXT_BOOT_FILE, type EntryKind, type Observed } from './observe.js';
import { describeTarget, parseTarget, type Target } from './target.js';

export type Step =
  | { n: number; action: 'consume-request'; path: string; reason: string }
  | { n: number; action: 'delete-leftover'; paths: string[]; reason: string }
  | { n: number; action: 'ensure-dir'; path: string; reason: string }
  | { n: number; action: 'snapshot'; source: string; dest: string; reason: string }
  | { n: number; action: 'create-subvolume'; dest: string; reason: string }
  | { n: number; action: 'rename'; from: string; to: string; reason: string }
  | { n: number; action: 'delete'; paths: string[]; archives: string[]; reason: string };

type StepSpec = Step extends infer S ? (S extends Step ? Omit<S, 'n'> : never) : never;

export interface TargetReport {
  requested: string | null;
  origin: 'cmdline' | 'next-boot' | 'default';
  kind: Target['kind'];
  /** The subvolume the new root is a snapshot of (relative to the top level), or null. */
  source: string | null;
  refused: string | null;
}

export interface Deletion {
  /** The archive, relative to the top level. */
  path: string;
  reason: string;
  /** Every subvolume deleted for it, deepest first (the archive itself last). */
  subvolumes: string[];
}

export interface Plan {
  /** True when the plan needs the full subvolume listing that `observed` lacks: observe again with it and re-plan. */
  needsListing: boolean;
  result: 'ok' | 'fell-back' | 'kept';
  target: TargetReport;
  archive: { name: string; path: string } | null;
  created: { path: string; from: string } | null;
  /** The temporary name the new root is made under before it is renamed into place. */
  newRoot: string | null;
  steps: Step[];
  verdicts: Verdict[];
  deletions: Deletion[];
  warnings: string[];
  recovered: string[];
}

export interface BootRequest {
  /** Text of /proc/cmdline. */
  cmdline: string;
  now: Date;
}

const isSub = (k: EntryKind | undefined) => k === 'subvolume';
const isDir = (k: EntryKind | undefined) => k === 'directory' || k === 'subvolume';

function chooseRequest(cmdline: string, observed: Observed, warnings: string[]): { raw: string | null; origin: TargetReport['origin'] } {
  const param = rollbackParameter(cmdline);
  if (observed.nextBoot && 'problem' in observed.nextBoot) warnings.push(`next-boot request ${observed.nextBoot.problem}`);
  const request = observed.nextBoot && 'target' in observed.nextBoot ? observed.nextBoot.target : undefined;
  if (param) {
    if (request !== undefined) warnings.push(`next-boot request "${request}" ignored: ${param.key}= on the kernel command line wins`);
    return { raw: param.value, origin: 'cmdline' };
  }
  if (request !== undefined) return { raw: request, origin: 'next-boot' };
  return { raw: null, origin: 'default' };
}

/** Subvolumes at or below `path` from the listing, deepest first. */
function subvolumesUnder(observed: Observed, path: string): string[] {
  return (observed.listing ?? [])
    .map((s) => s.path)
    .filter((p) => p === path || p.startsWith(`${path}/`))
    .sort((a, b) => b.split('/').length - a.split('/').length || (a < b ? 1 : a > b ? -1 : 0));
}

/** Plans one boot. Throws PreconditionError when nothing may be changed. */
export function planBoot(observed: Observed, config: Config, request: BootRequest): Plan {
  const { root, blank, oldRoots, snapshots } = config.subvolumes;
  const k = observed.kinds;
  const warnings: string[] = [];
  const recovered: string[] = [];
  const specs: StepSpec[] = [];

  // Preconditions: refuse to touch a layout we do not understand.
  const rootKind = k[root];
  if (rootKind !== 'subvolume' && rootKind !== 'missing') {
    throw new PreconditionError(`${root} is a ${rootKind}, not a subvolume; fix the layout by hand`);
  }
  if (observed.rootMountedAt.length > 0) {
    throw new PreconditionError(`${root} is mounted at ${observed.rootMountedAt.join(', ')}; the rollback must run before it is mounted (in the initrd, before sysroot.mount)`);
  }
  const oldKind = k[oldRoots];
  if (oldKind !== 'missing' && !isDir(oldKind)) {
    throw new PreconditionError(`${oldRoots} (or a directory above it) is a ${oldKind}, not a directory; archives cannot be kept safely there`);
  }
  const parentKinds = oldRoots.split('/').slice(0, -1).map((_, i, a) => k[a.slice(0, i + 1).join('/')]);
  if (parentKinds.some((pk) => pk !== undefined && pk !== 'missing' && !isDir(pk))) {
    throw new PreconditionError(`a directory above ${oldRoots} is not a directory; archives cannot be kept safely there`);
  }

  // What was asked for.
  const { raw, origin } = chooseRequest(request.cmdline, observed, warnings);
  let target = parseTarget(raw);
  const targetReport: TargetReport = { requested: raw, origin, kind: target.kind, source: null, refused: null };
  const refuse = (reason: string) => {
    targetReport.refused = reason;
    warnings.push(`pantheros.rollback=${JSON.stringify(raw)} (from ${origin}) refused: ${reason}; booting a fresh root from ${blank} instead`);
    target = { kind: 'blank' };
  };

  const requestEntry = observed.entries.find((e) => e.name === NEXT_BOOT_FILE);
  if (requestEntry?.kind === 'file') {
    specs.push({ action: 'consume-request', path: `${oldRoots}/${NEXT_BOOT_FILE}`, reason: 'a next-boot request applies to one boot only: remove it before acting on it, so a boot loop cannot repeat it' });
  }

  const archives = observed.entries.filter((e) => e.kind === 'subvolume' && !e.name.startsWith('.'));
  for (const e of observed.entries) {
    if (e.name.startsWith('.')) continue;
    if (e.kind === 'directory') warnings.push(`${oldRoots}/${e.name} is a plain directory, not a subvolume: left alone`);
    else if (e.kind === 'symlink') warnings.push(`${oldRoots}/${e.name} is a symlink: left alone, never followed`);
  }
  const cgens = cgenByPath(observed.listing);
  const cgenOf = (path: string) => cgens.get(path);
  const facts = archives.map((a) => ({ name: a.name, cgen: cgenOf(`${oldRoots}/${a.name}`) }));
  let needsListing = false;

  if (target.kind === 'keep' && rootKind === 'missing') {
    warnings.push(`pantheros.rollback=keep, but ${root} is missing (an earlier run was interrupted): making it from the previous root instead`);
    target = { kind: 'previous' };
  }

  if (target.kind === 'keep') {
    targetReport.kind = 'keep';
    const steps = specs.map((s, i) => ({ ...s, n: i + 1 }) as Step);
    return {
      needsListing: false,
      result: 'kept',
      target: targetReport,
      archive: null,
      created: null,
      newRoot: null,
      steps,
      verdicts: orderNewestFirst(facts).map((f) => ({ name: f.name, action: 'keep', reason: 'pantheros.rollback=keep: nothing changes this boot', ageDays: undefined })),
      deletions: [],
      warnings,
      recovered,
    };
  }

  // Leftovers of an interrupted run (a half-made new root) or of a killed `diff` (its temporary snapshot).
  const leftovers = observed.entries.filter((e) => isLeftoverName(e.name));
  const leftoverSubs = leftovers.filter((e) => e.kind === 'subvolume').map((e) => `${oldRoots}/${e.name}`);
  for (const e of leftovers) if (e.kind !== 'subvolume') warnings.push(`${oldRoots}/${e.name} is a ${e.kind}, not a subvolume: left alone`);
  if (leftoverSubs.length) {
    if (!observed.listing) needsListing = true;
    const paths = leftoverSubs.flatMap((p) => subvolumesUnder(observed, p));
    specs.push({
      action: 'delete-leftover',
      paths: paths.length ? paths : leftoverSubs,
      reason: `temporary subvolumes left by an interrupted run (a half-made new root, made again now) or by a killed diff (a throwaway copy of a root) hold nothing else`,
    });
    recovered.push(`removed temporary subvolume(s) ${leftoverSubs.join(', ')} left by an interrupted run`);
  }
  if (rootKind === 'missing') {
    recovered.push(`${root} was missing (an earlier run was interrupted after archiving it, or the layout is new): making a new one`);
    warnings.push(`${root} was missing: making a new one`);
  }

  // Names.
  const taken = new Set(observed.entries.map((e) => e.name));
  const occupiedNewRoot = new Set(leftovers.filter((e) => e.kind !== 'subvolume' && e.name.startsWith(NEW_ROOT_PREFIX)).map((e) => e.name));
  let newRootName = NEW_ROOT_PREFIX;
  for (let i = 1; occupiedNewRoot.has(newRootName); i++) newRootName = `${NEW_ROOT_PREFIX}.${i}`;
  const newRoot = `${oldRoots}/${newRootName}`;
  const archiving = rootKind === 'subvolume';
  let archive: Plan['archive'] = null;
  if (archiving) {
    const { name, clockBehind } = nextArchiveName(request.now, [...taken].filter((n) => !n.startsWith('.')));
    if (clockBehind) warnings.push(`the clock (${request.now.toISOString()}) is earlier than the newest archive: named the new archive ${name} so names keep their order; nothing is deleted by age this boot`);
    archive = { name, path: `${oldRoots}/${name}` };
  }

  // Resolve the source of the new root.
  let source: string | null = null;
  let from: string;
  if (target.kind === 'previous') {
    if (archiving) {
      source = root;
      from = archive!.path;
    } else if (facts.length === 0) {
      refuse('there is no previous root: no archive exists');
    } else {
      if (!observed.listing && facts.length > 1) needsListing = true;
      const newest = orderNewestFirst(facts)[0]!;
      source = `${oldRoots}/${newest.name}`;
      from = source;
    }
  } else if (target.kind === 'archive') {
    const name = target.name;
    const e = observed.entries.find((x) => x.name === name);
    if (!e) refuse(`no archive named "${name}" in ${oldRoots}`);
    else if (e.kind !== 'subvolume') refuse(`${oldRoots}/${name} is a ${e.kind}, not a subvolume`);
    else if (observed.listing && !cgens.has(`${oldRoots}/${name}`)) refuse(`${oldRoots}/${name} is not in the subvolume listing`);
    else source = from = `${oldRoots}/${name}`;
  } else if (target.kind === 'snapshot') {
    const path = `${snapshots}/${target.path}`;
    const parts = path.split('/');
    const bad = parts.map((_, i) => parts.slice(0, i + 1).join('/')).find((p, i, all) => (i < all.length - 1 ? !isDir(k[p]) : !isSub(k[p])));
    if (bad !== undefined) refuse(k[bad] === 'symlink' ? `${bad} is a symlink` : k[bad] === 'missing' || k[bad] === undefined ? `${bad} does not exist` : `${bad} is a ${k[bad]}, not a ${bad === path ? 'subvolume' : 'directory'}`);
    else source = from = path;
  } else if (target.kind === 'refused') {
    refuse(target.reason);
  }
  targetReport.kind = target.kind === 'refused' ? 'blank' : target.kind;
  if (target.kind === 'blank') {
    source = null;
    from = blank;
  }
  targetReport.source = source === root ? archive!.path : source;

  // Steps: new root under a temporary name, old root away, new root into place, then age out.
  // No sync step: btrfs commits a transaction as a whole, so a crash before the next commit finds
  // the state before the renames (a leftover new root, which the next run removes) or after both;
  // every write to the new root commits the renames with it.
  if (oldKind === 'missing') specs.push({ action: 'ensure-dir', path: oldRoots, reason: `${oldRoots} does not exist yet` });
  if (source !== null) {
    specs.push({ action: 'snapshot', source, dest: newRoot, reason: `the new root is a writable snapshot of ${targetReport.source} (${describeTarget(target)}); the source stays intact` });
  } else if (isSub(k[blank])) {
    if (!observed.blankReadOnly) warnings.push(`${blank} is not read-only: anything written into it reappears in every new root (make it read-only: btrfs property set -ts <top>/${blank} ro true)`);
    if (observed.blankEntries > 0) warnings.push(`${blank} is not empty (${observed.blankEntries} entries): every new root starts with them`);
    specs.push({ action: 'snapshot', source: blank, dest: newRoot, reason: `the new root is a writable snapshot of the blank ${blank}` });
  } else {
    const why = k[blank] === 'missing' ? 'does not exist' : `is a ${k[blank]}, not a subvolume`;
    warnings.push(`blank ${blank} ${why}: the new root is an empty subvolume (create a read-only blank: btrfs subvolume create <top>/${blank} && btrfs property set -ts <top>/${blank} ro true)`);
    from = 'an empty subvolume';
    specs.push({ action: 'create-subvolume', dest: newRoot, reason: `no usable blank (${blank} ${why}): the new root starts empty` });
  }
  if (archive) specs.push({ action: 'rename', from: root, to: archive.path, reason: `archive the root of the previous boot as ${archive.name}` });
  specs.push({ action: 'rename', from: newRoot, to: root, reason: `put the new root in place as ${root}` });

  // Age out.
  const protect = new Map<string, string>();
  const allFacts = [...facts];
  if (archive) {
    // The root archived this boot is the newest archive whatever generations hand-placed subvolumes carry.
    allFacts.push({ name: archive.name, cgen: Number.MAX_SAFE_INTEGER });
    protect.set(archive.name, 'archived this boot');
  }
  if (targetReport.source?.startsWith(`${oldRoots}/`)) {
    const srcName = targetReport.source.slice(oldRoots.length + 1);
    protect.set(srcName, protect.has(srcName) ? `${protect.get(srcName)}; source of this boot's root` : "source of this boot's root");
  }
  // The newest archive before this boot stays too (with keepAtLeast 1 it would otherwise go the boot after a long power-off).
  const newestBefore = orderNewestFirst(facts)[0];
  if (newestBefore && !protect.has(newestBefore.name)) protect.set(newestBefore.name, 'newest archive before this boot');
  const readOnly = new Set(observed.readOnlyPaths ?? []);
  const deletions: Deletion[] = [];
  const verdicts = decideRetention(allFacts, config.oldRoots, request.now, protect).map((v): Verdict => {
    if (v.action !== 'delete') return v;
    if (!observed.listing) {
      needsListing = true;
      return v;
    }
    const path = `${oldRoots}/${v.name}`;
    const subvolumes = subvolumesUnder(observed, path);
    const keep = (reason: string): Verdict => ({ ...v, action: 'keep', reason });
    if (!subvolumes.includes(path)) return keep('not in the subvolume listing: left alone');
    if (readOnly.has(path)) return keep(`read-only, so protected (to let it age out: btrfs property set -ts <top>/${path} ro false)`);
    // btrfs cannot unlink a nested subvolume from a read-only parent: such an archive would be left half-deleted.
    const blocked = subvolumes.find((s) => readOnly.has(s) && subvolumes.some((t) => t.startsWith(`${s}/`)));
    if (blocked) return keep(`holds subvolumes inside the read-only ${blocked}, which btrfs cannot delete: kept whole`);
    deletions.push({ path, reason: v.reason, subvolumes });
    return v;
  });
  if (deletions.length) {
    specs.push({
      action: 'delete',
      paths: deletions.flatMap((d) => d.subvolumes),
      archives: deletions.map((d) => d.path),
      reason: `age out ${deletions.length} archive(s): ${deletions.map((d) => `${d.path.slice(oldRoots.length + 1)} (${d.reason})`).join('; ')}`,
    });
  }

  return {
    needsListing,
    result: targetReport.refused !== null ? 'fell-back' : 'ok',
    target: targetReport,
    archive,
    created: { path: root, from: from! },
    newRoot,
    steps: specs.map((s, i) => ({ ...s, n: i + 1 }) as Step),
    verdicts,
    deletions,
    warnings,
    recovered,
  };
}
