// The boot decision: observed state + config + clock → plan. Pure: no disk, no clock. Read top to bottom:
// preconditions, target, names, source, steps, retention.
import { mountedWithin } from '../fs/mountinfo.js';
import { nextArchiveName } from '../archive/naming.js';
import type { Config } from '../config/load-config.js';
import { InternalError, PreconditionError } from '../errors.js';
import { blockingComponent, isDirectoryKind } from '../fs/entry-kind.js';
import { deleteItem, isSetAsideName, numberSteps, type DeleteItem, type Notice, type Step, type StepSpec } from '../engine/plan.js';
import { decideRetention, orderNewestFirst, type ArchiveFact, type Verdict } from '../retention/age-out.js';
import { parseSnapshotName } from '../retention/snapshots.js';
import type { NestedSubvolume } from '../btrfs/inventory.js';
import { isAtomicWriteTemporary } from '../fs/atomic-write.js';
import { BOOT_FILES, isLeftoverName, NEW_ROOT_PREFIX, type Observed, type Space } from './observe.js';
import { NEXT_BOOT_FILE } from './request-file.js';
import { describeTarget, type Target } from './target.js';

export interface TargetReport {
  requested: string | null;
  origin: 'cmdline' | 'next-boot' | 'default';
  kind: Exclude<Target['kind'], 'refused'>;
  /** The subvolume the new root is a snapshot of (relative to the top level), or null for the blank. */
  source: string | null;
  refused: string | null;
}

/** A nested subvolume of the source brought back into the new root as a writable snapshot. */
export interface NestedRestore {
  /** Where it is in the new root, relative to the root (e.g. var/lib/docker). */
  path: string;
  /** The subvolume it is a snapshot of, relative to the top level. */
  from: string;
}

export interface BootPlan {
  kind: 'boot';
  result: 'ok' | 'fell-back' | 'kept';
  target: TargetReport;
  /** Where the current root goes, when there is one. */
  archive: { name: string; path: string } | null;
  created: { path: string; from: string } | null;
  /** The temporary name the new root is made under before it is renamed into place. */
  newRoot: string | null;
  nested: NestedRestore[];
  steps: Step[];
  /** Every archive with its verdict, newest first (the root archived this boot first). */
  verdicts: Verdict[];
  /** Archives to age out. */
  deletions: DeleteItem[];
  notices: Notice[];
  recovered: string[];
  /** Facts that stop execution but not planning (the root is mounted: this is the running system). */
  blockers: string[];
  /** Of the blockers, those a boot in stage 1 would stop at too (an immutable or read-only root…): every command says them. */
  refusals: string[];
  space: (Space & { minFreePercent: number }) | null;
}

export interface BootRequest {
  now: Date;
}

type Note = (severity: Notice['severity'], subject: string | null, what: string, why?: string, fix?: string) => void;

/** Plans one boot. Throws PreconditionError when the layout is one no step may touch. */
export function planBoot(observed: Observed, config: Config, request: BootRequest): BootPlan {
  const { root, blank, oldRoots } = config.subvolumes;
  const notices: Notice[] = [];
  const note: Note = (severity, subject, what, why = '', fix = 'nothing') => notices.push({ severity, subject, what, why, fix });
  const recovered: string[] = [];
  const refusals = stage1Refusals(observed, config);
  const blockers = preconditions(observed, config, refusals);
  for (const w of observed.cmdlineWarnings) note('warning', null, w, 'the boot reads only the keys it knows', 'fix the key on the kernel command line');
  for (const w of observed.chosen.warnings) note('warning', `${oldRoots}/${NEXT_BOOT_FILE}`, w, 'a request the boot cannot act on is dropped', 'pantheros-rollback next-boot TARGET to ask again');
  for (const n of observed.subvolumes?.notes ?? []) note('warning', null, n, 'every fact the boot acts on must come from the filesystem itself', 'look for subvolumes whose names hold newlines (btrfs subvolume list) and remove them');
  describeArchiveDirectory(observed, config, note);
  const defaultId = observed.subvolumes?.defaultId;
  if (defaultId !== undefined && observed.subvolumes?.records.get(root)?.id === defaultId) {
    note('error', root, `${root} is the default subvolume`, 'a mount without subvol= gets the root instead of the top level, and btrfs refuses to delete the default subvolume, so its archive could never age out', `make the top level the default again: btrfs subvolume set-default 5 <top>; mount the root with subvol=${root}`);
  }

  // Target.
  const { raw, origin } = observed.chosen;
  let target = observed.chosen.target;
  const report: TargetReport = { requested: raw, origin, kind: 'blank', source: null, refused: null };
  const refuse = (reason: string) => {
    report.refused = reason;
    note('warning', null, `pantheros.rollback=${JSON.stringify(raw)} (from ${origin}) refused: ${reason}; booting a fresh root from ${blank} instead`, 'a request that cannot be honoured safely falls back to the normal boot', 'see pantheros-rollback list for what exists');
    target = { kind: 'blank' };
  };
  if (target.kind === 'refused') refuse(target.reason);
  const rootKind = observed.kinds[root];
  if (target.kind === 'keep' && rootKind === 'missing') {
    note('warning', root, `pantheros.rollback=keep, but ${root} is missing (an earlier run was interrupted): making it from the previous root instead`);
    target = { kind: 'previous' };
  }
  const requestFile = observed.entries.find((e) => e.name === NEXT_BOOT_FILE && e.kind === 'file');
  const consume: StepSpec | null = requestFile
    ? { action: 'remove-file', path: `${oldRoots}/${NEXT_BOOT_FILE}`, reason: 'a next-boot request applies to one boot only: removed once the new root is in place, in the final commit, so a power cut before that commit leaves it (the next boot carries it out, from the same target) and a boot loop after it cannot repeat it' }
    : null;

  const facts = archiveFacts(observed, config);
  if (target.kind === 'keep') {
    report.kind = 'keep';
    return {
      kind: 'boot',
      result: 'kept',
      target: report,
      archive: null,
      created: null,
      newRoot: null,
      nested: [],
      steps: numberSteps(consume ? [consume, { action: 'commit', reason: 'make the removal of the request durable before the boot goes on' }] : []),
      verdicts: orderNewestFirst(facts).map((f) => ({ name: f.name, action: 'keep', reason: 'pantheros.rollback=keep: nothing changes this boot', ageDays: undefined, ageFrom: 'unknown' })),
      deletions: [],
      notices,
      recovered,
      blockers,
      refusals,
      space: observed.space && { ...observed.space, minFreePercent: config.oldRoots.minFreePercent },
    };
  }

  // Names: the archive for the current root, a free temporary name for the new one.
  const taken = new Set(observed.entries.map((e) => e.name));
  let newRootName = NEW_ROOT_PREFIX;
  for (let i = 1; taken.has(newRootName); i++) newRootName = `${NEW_ROOT_PREFIX}.${i}`;
  const newRoot = `${oldRoots}/${newRootName}`;
  const archiving = rootKind === 'subvolume';
  const archive = archiving ? { name: nextArchiveName(request.now, taken), path: '' } : null;
  if (archive) archive.path = `${oldRoots}/${archive.name}`;
  if (rootKind === 'missing') {
    recovered.push(`${root} was missing (an earlier run was interrupted after archiving it, or the layout is new): making a new one`);
    note('warning', root, `${root} was missing: making a new one`);
  }

  // Source of the new root.
  const source = resolveSource(target, observed, config, archive, refuse, note);
  report.kind = report.refused === null && source ? (target.kind as TargetReport['kind']) : 'blank';
  report.source = source ? source.shown : null;

  // Steps: clean up; age out (before the new root needs space); then the swap. Without nested subvolumes to bring
  // back, the old root is renamed away and the new root made in its place by one snapshot, whose transaction
  // commit carries the rename. With nested subvolumes, the new root is assembled under a temporary name first,
  // then swapped in by two renames. The request goes last, before the final commit: btrfs may commit a transaction
  // between any two steps (every 30 s, or when memory asks), so each prefix must be a state the next boot finishes
  // correctly; with the request still there until the new root is in place, a cut anywhere before leaves it, and
  // the next boot carries it out (a missing @root is made from the requested target, a made one made again).
  const specs: StepSpec[] = [];
  if (observed.kinds[oldRoots] === 'missing') specs.push({ action: 'ensure-dir', path: oldRoots, reason: `${oldRoots} does not exist yet` });
  const leftovers = leftoverItems(observed, config);
  if (leftovers.length) {
    specs.push({ action: 'delete', purpose: 'leftover', items: leftovers, reason: 'temporary subvolumes left by an interrupted run (a half-made new root) or a killed diff (a throwaway copy of a root) hold nothing else' });
    recovered.push(`removing temporary subvolume(s) ${leftovers.map((l) => l.path).join(', ')} left by an interrupted run`);
  }
  specs.push(...interruptedWrites(observed, config, recovered));
  const retention = ageOut(observed, config, request.now, facts, archive, source?.shown ?? null, note);
  if (retention.deletions.length) {
    specs.push({
      action: 'delete',
      purpose: 'age-out',
      items: retention.deletions,
      reason: `age out ${retention.deletions.length} archive(s) before the new root is made, so a full filesystem gets the space first; for at most ${config.oldRoots.ageOutSeconds} s this boot (oldRoots.ageOutSeconds), so that no number of subvolumes in them keeps the swap from happening: what is left goes at the next boot`,
      budgetSeconds: config.oldRoots.ageOutSeconds,
    });
  }
  // Assembled in a temporary new root when something below it changes: nested subvolumes come back, set-aside stubs go.
  const assemble = (source?.nested.length ?? 0) > 0 || (source?.setAside.length ?? 0) > 0;
  const dest = assemble ? newRoot : root;
  const archiveStep: StepSpec | null = archive ? { action: 'rename', from: root, to: archive.path, reason: `archive the root of the previous boot as ${archive.name}` } : null;
  if (!assemble && archiveStep) specs.push(archiveStep);
  let from: string;
  if (source) {
    from = source.shown;
    // The root of the previous boot is snapshotted where it is by then: in the archive.
    const path = !assemble && source.path === root && archive ? archive.path : source.path;
    specs.push({ action: 'snapshot', source: path, dest, readOnly: false, reason: `the new root is a writable snapshot of ${source.shown} (${describeTarget(target)}); the source stays intact` });
  } else if (observed.kinds[blank] === 'subvolume' && !observed.immutableSources.has(blank)) {
    from = blank;
    if (observed.blankReadOnly === false) note('error', blank, `${blank} is not read-only: anything written into it reappears in every new root`, 'the blank must stay empty for every new root to start clean', `btrfs property set -ts <top>/${blank} ro true`);
    if (observed.blankEntries > 0) note('warning', blank, `${blank} is not empty (${observed.blankEntries} entries): every new root starts with them`, 'fine if intended (a skeleton), surprising otherwise', `recreate it empty: btrfs subvolume delete <top>/${blank} && btrfs subvolume create <top>/${blank} && btrfs property set -ts <top>/${blank} ro true`);
    specs.push({ action: 'snapshot', source: blank, dest, readOnly: false, reason: `the new root is a writable snapshot of the blank ${blank}` });
  } else {
    const immutableBlank = observed.kinds[blank] === 'subvolume';
    const why = immutableBlank
      ? 'is immutable (chattr +i), and a snapshot of it would be an immutable root, where nothing can be made'
      : observed.kinds[blank] === 'missing'
        ? 'does not exist'
        : `is a ${observed.kinds[blank]}, not a subvolume`;
    from = 'an empty subvolume';
    const fix = immutableBlank
      ? `lift the flag: btrfs property set -ts <top>/${blank} ro false && chattr -i <top>/${blank} && btrfs property set -ts <top>/${blank} ro true`
      : `create a read-only blank: btrfs subvolume create <top>/${blank} && btrfs property set -ts <top>/${blank} ro true`;
    note('error', blank, `the blank ${blank} ${why}: the new root is an empty subvolume`, 'every boot falls back to an empty subvolume', fix);
    specs.push({ action: 'create-subvolume', dest, reason: `no usable blank (${blank} ${why}): the new root starts empty` });
  }
  const nested = assemble && source ? restoreNested(source, newRoot, specs) : [];
  if (assemble) {
    if (archiveStep) specs.push(archiveStep);
    specs.push({ action: 'rename', from: newRoot, to: root, reason: `put the new root, with its nested subvolumes, in place as ${root}` });
  }
  if (consume) specs.push(consume);
  // A snapshot that comes last already committed the swap: btrfs makes a snapshot in a transaction commit and the ioctl
  // returns once it is on disk, with every change before it (the rename) — a commit step after it would find nothing
  // to write (and under Node costs a `btrfs` process). Anything else last is followed by a commit.
  const last = specs.at(-1);
  if (last?.action === 'snapshot' && last.dest === root) last.reason += '; made in a transaction commit that carries the rename before it, so the swap is on disk when it returns';
  else specs.push({ action: 'commit', reason: 'commit the swap: when the boot goes on, the new root is on disk whatever happens next' });

  return {
    kind: 'boot',
    result: report.refused !== null ? 'fell-back' : 'ok',
    target: report,
    archive,
    created: { path: root, from },
    newRoot: assemble ? newRoot : null,
    nested,
    steps: numberSteps(specs),
    verdicts: retention.verdicts,
    deletions: retention.deletions,
    notices,
    recovered,
    blockers,
    refusals,
    space: observed.space && { ...observed.space, minFreePercent: config.oldRoots.minFreePercent },
  };
}

/**
 * What makes the rename of the root fail (EPERM, EROFS) after nothing changed, boot after boot: before 2026-12-02 the
 * dry run said fine. Said on the running system too, where it is what the next boot stops at.
 */
function stage1Refusals(observed: Observed, config: Config): string[] {
  const { root, oldRoots } = config.subvolumes;
  const found: string[] = [];
  if (observed.immutable.length) {
    const shown = observed.immutable.map((p) => (p === '' ? 'the top level' : p));
    found.push(`${shown.join(', ')} ${shown.length > 1 ? 'are' : 'is'} immutable (chattr +i): ${root} cannot be moved to ${oldRoots}, so nothing can be archived or made; lift it with chattr -i ${observed.immutable.map((p) => (p === '' ? '<top>' : `<top>/${p}`)).join(' ')}`);
  }
  if (observed.rootReadOnly) found.push(`${root} is read-only (btrfs property ro): it cannot be moved to ${oldRoots} (EROFS), so nothing can be archived or made; make it writable: btrfs property set -ts <top>/${root} ro false`);
  return found;
}

/** Refuses a layout no step may touch (throws); returns what only stops execution, `refusals` last. */
function preconditions(observed: Observed, config: Config, refusals: string[]): string[] {
  const { root, oldRoots } = config.subvolumes;
  const k = observed.kinds;
  // A missing root is made again and a missing archive directory is created; a missing directory above the root is not
  // (no step makes it: every boot would fail), nor is anything else in the way.
  const rootBlock = blockingComponent(k, root);
  if (rootBlock && rootBlock.kind !== 'missing') throw new PreconditionError(`${rootBlock.path} is a ${rootBlock.kind}, not a directory, so ${root} cannot be reached safely; fix the layout by hand`);
  if (rootBlock) throw new PreconditionError(`${rootBlock.path}, the directory ${root} goes in, does not exist: no root can be made there; check subvolumes.root in the config, or create the directory (mkdir <top>/${rootBlock.path})`);
  if (k[root] !== 'subvolume' && k[root] !== 'missing') throw new PreconditionError(`${root} is a ${k[root]}, not a subvolume; fix the layout by hand`);
  const oldBlock = blockingComponent(k, oldRoots) ?? (k[oldRoots] !== 'missing' && !isDirectoryKind(k[oldRoots]) ? { path: oldRoots, kind: k[oldRoots]! } : undefined);
  if (oldBlock && oldBlock.kind !== 'missing') throw new PreconditionError(`${oldBlock.path} is a ${oldBlock.kind}, not a directory; archives cannot be kept safely there`);
  const found: string[] = [];
  if (observed.rootMountedAt.length) found.push(`${root} is mounted at ${observed.rootMountedAt.join(', ')}: this is the running system; the rollback runs in the initrd before sysroot.mount (this plan is what the next boot will do)`);
  // Every step would fail with EROFS (the first, after nothing changed; the root stays): refused before, exit 3. In stage
  // 1 the top level is mounted read-write by boot --device itself. (Operator commands mount it read-only themselves.)
  else if (!observed.topWritable) return [`the top level ${observed.top} is mounted read-only: nothing can be archived or made there; remount it read-write (mount -o remount,rw ${observed.top}) or let boot mount it (--device)`];
  return [...found, ...refusals];
}

function describeArchiveDirectory(observed: Observed, config: Config, note: Note): void {
  const { oldRoots } = config.subvolumes;
  for (const e of observed.entries) {
    const path = `${oldRoots}/${e.name}`;
    if (!e.validName) note('warning', path, `an entry whose name is not valid UTF-8 (${JSON.stringify(e.name)}): left alone`, 'only names this tool can read back exactly are acted on', 'rename or remove it by hand');
    else if (isLeftoverName(e.name) && e.kind !== 'subvolume') note('warning', path, `a ${e.kind} with the name of a temporary subvolume of this tool: left alone`, '', 'move it away');
    else if (e.name.startsWith('.')) continue;
    else if (e.kind === 'directory') note('warning', path, 'a plain directory, not a subvolume: left alone, never aged out', 'it is not an archived root', 'move it elsewhere');
    else if (e.kind === 'symlink') note('warning', path, 'a symlink: left alone, never followed', 'it is not an archived root', 'remove it');
    else if (e.kind !== 'subvolume') note('warning', path, `a ${e.kind} in the archive directory: left alone`, 'it is not an archived root', 'move it elsewhere');
  }
}

interface ArchiveFactWithPath {
  name: string;
  path: string;
  cgen: number | undefined;
  createdAt: Date | null;
}

/** The archives (subvolumes with readable, non-hidden names in the archive directory) with their generations. */
function archiveFacts(observed: Observed, config: Config): ArchiveFactWithPath[] {
  const { oldRoots } = config.subvolumes;
  return observed.entries
    .filter((e) => e.kind === 'subvolume' && e.validName && !e.name.startsWith('.'))
    .map((e) => {
      const r = observed.subvolumes?.records.get(`${oldRoots}/${e.name}`);
      return { name: e.name, path: `${oldRoots}/${e.name}`, cgen: r?.cgen, createdAt: r?.otime ?? null };
    });
}

interface Source {
  /** The subvolume snapshotted, relative to the top level (the root itself for `previous`). */
  path: string;
  /** What the report calls it (for `previous`: the archive the root becomes). */
  shown: string;
  nested: NestedSubvolume[];
  /** Relative paths of the subvolumes an age-out cut short had set aside at its top (not brought back; their stubs go). */
  setAside: string[];
}

/** The subvolume the new root is a snapshot of, or null for the blank; refuses (falls back) what cannot be used. */
function resolveSource(target: Target, observed: Observed, config: Config, archive: BootPlan['archive'], refuse: (reason: string) => void, note: Note): Source | null {
  const { root, oldRoots, snapshots } = config.subvolumes;
  const sv = observed.subvolumes;
  const withFacts = (path: string, shown: string): Source | null => {
    if (!sv) throw new InternalError(`the subvolume facts were not read, but ${path} is the source of the new root`);
    if (!sv.records.has(path)) {
      refuse(`${path} is not confirmed as a subvolume by the filesystem and the subvolume listing`);
      return null;
    }
    // A snapshot copies the immutable flag: the new root (or a directory in it) would take nothing new, and every boot
    // after would refuse to move it (before 2026-12-02 such a root booted, and the system could not write to /).
    const fixed = observed.immutableSources.has(path) ? path : (sv.nested.get(path) ?? []).find((n) => observed.immutableSources.has(n.path))?.path;
    if (fixed) {
      refuse(`${fixed}${fixed === path ? '' : ` (in ${shown})`} is immutable (chattr +i), and a snapshot of it would be too, so nothing could be made in it; to boot it: chattr -i <top>/${fixed}`);
      return null;
    }
    // What an age-out cut short by its time had set aside at the top of an expired archive to delete (only root can
    // make entries there): not part of the root it was, so not brought back; it goes when that archive ages out.
    const all = sv.nested.get(path) ?? [];
    const setAside = all.filter((n) => isSetAsideName(n.path.slice(path.length + 1).split('/')[0]!));
    const nested = setAside.length ? all.filter((n) => !setAside.includes(n)) : all;
    if (setAside.length) note('warning', shown, `${setAside.length} nested subvolume(s) an age-out cut short had set aside at the top of ${shown} to delete (${setAside.slice(0, 3).map((n) => n.path.slice(path.length + 1)).join(', ')}${setAside.length > 3 ? ', …' : ''}) are not brought back`, 'they were a local user\'s subvolumes, moved there just before they were to be deleted', 'nothing: they go when the archive ages out');
    // Each nested subvolume comes back with its own snapshot, a transaction commit each: anyone may create subvolumes
    // in a root's /tmp by the tens of thousands, enough to keep the swap from happening before systemd stops the unit.
    if (nested.length > config.targetMaxNested) {
      // Named as it is after this boot (the root of the previous boot is archived by it), with the target that boots it then.
      const again = shown.startsWith(`${oldRoots}/`) ? shown.slice(oldRoots.length + 1) : shown.startsWith(`${snapshots}/`) ? shown.slice(snapshots.length + 1) : shown;
      refuse(`${shown}${shown !== path ? ` (${path} of the previous boot, archived by this boot)` : ''} holds ${nested.length} nested subvolumes, more than targetMaxNested (${config.targetMaxNested}) a boot brings back (one snapshot and one commit each); it stays whole. To boot it: raise targetMaxNested, or delete from it the nested subvolumes it does not need (btrfs subvolume list <top> lists them at every depth), then ask for pantheros.rollback=${again}`);
      return null;
    }
    return { path, shown, nested, setAside: setAside.map((n) => n.path.slice(path.length + 1)).filter((rel) => !rel.includes('/')) };
  };
  switch (target.kind) {
    case 'previous': {
      if (archive) return withFacts(root, archive.path);
      const facts = archiveFacts(observed, config);
      if (!facts.length) {
        refuse('there is no previous root: no archive exists');
        return null;
      }
      const newest = orderNewestFirst(facts)[0]!;
      return withFacts(newest.path, newest.path);
    }
    case 'archive': {
      const e = observed.entries.find((x) => x.name === target.name);
      if (!e) refuse(`no archive named "${target.name}" in ${oldRoots}`);
      else if (e.kind !== 'subvolume') refuse(`${oldRoots}/${target.name} is a ${e.kind}, not a subvolume`);
      else return withFacts(`${oldRoots}/${target.name}`, `${oldRoots}/${target.name}`);
      return null;
    }
    case 'snapshot': {
      const path = `${snapshots}/${target.path}`;
      const k = observed.kinds;
      const block = blockingComponent(k, path);
      const parsed = parseSnapshotName(target.path.split('/').at(-1)!);
      if (block) refuse(block.kind === 'symlink' ? `${block.path} is a symlink` : `${block.path} ${block.kind === 'missing' ? 'does not exist' : `is a ${block.kind}, not a directory`}`);
      else if (k[path] !== 'subvolume') refuse(k[path] === 'missing' || k[path] === undefined ? `${path} does not exist` : `${path} is a ${k[path]}, not a subvolume`);
      // State rollback (src/state): the refusal names the key and the command that do roll this snapshot back.
      else if (parsed && parsed.subvolume !== root) refuse(`${path} is a snapshot of ${parsed.subvolume}, not of the root ${root}: that is service state, rolled back with a state rollback (pantheros.rollback.state=${target.path} at boot, or pantheros-rollback state-rollback ${target.path} online), never made into a root`);
      else return withFacts(path, path);
      return null;
    }
    default:
      return null;
  }
}

/** Steps that bring every nested subvolume of the source into the new root (shallowest first), as writable snapshots. */
function restoreNested(source: Source, newRoot: string, specs: StepSpec[]): NestedRestore[] {
  const out: NestedRestore[] = [];
  const rel = (n: NestedSubvolume) => n.path.slice(source.path.length + 1);
  for (const path of source.setAside) {
    specs.push({ action: 'remove-stub', path: `${newRoot}/${path}`, reason: `${path} was set aside in ${source.shown} by an age-out cut short, to be deleted: not brought back, so its empty directory in the new root goes` });
  }
  for (const n of [...source.nested].reverse()) {
    const path = rel(n);
    const dest = `${newRoot}/${path}`;
    // A name that is not valid UTF-8 travels as its exact bytes.
    const exact = n.bytes.equals(Buffer.from(n.path)) ? {} : { bytes: Buffer.concat([Buffer.from(`${newRoot}/`), n.bytes.subarray(source.path.length + 1)]) };
    specs.push({ action: 'remove-stub', path: dest, reason: `a snapshot does not take nested subvolumes along: ${path} is an empty directory in the new root`, ...exact });
    specs.push({
      action: 'snapshot',
      source: n.path,
      dest,
      readOnly: false,
      reason: `bring the nested subvolume ${path} of ${source.shown} back as a writable snapshot (the source stays intact)`,
      ...(exact.bytes ? { sourceBytes: n.bytes, destBytes: exact.bytes } : {}),
    });
    out.push({ path, from: n.path });
  }
  return out;
}

/**
 * A remove-file step for every temporary file an interrupted atomic write of a boot file left in the archive directory
 * (a power cut between its create and its rename); the file itself is intact, so the temporary holds nothing needed.
 * Records each in `recovered`.
 */
function interruptedWrites(observed: Observed, config: Config, recovered: string[]): StepSpec[] {
  const { oldRoots } = config.subvolumes;
  return observed.entries.flatMap((e): StepSpec[] => {
    const of = e.kind === 'file' ? BOOT_FILES.find((f) => isAtomicWriteTemporary(e.name, f)) : undefined;
    if (of === undefined) return [];
    const path = `${oldRoots}/${e.name}`;
    recovered.push(`removing ${path}, left by an interrupted write of ${of}`);
    return [{ action: 'remove-file', path, reason: `the temporary file of an interrupted write of ${of}: ${of} itself is whole (the write is atomic), so it holds nothing needed` }];
  });
}

/** Every leftover temporary subvolume of this tool in the archive directory, with what lies below it. */
function leftoverItems(observed: Observed, config: Config): DeleteItem[] {
  const { oldRoots } = config.subvolumes;
  const sv = observed.subvolumes;
  return observed.entries
    .filter((e) => e.kind === 'subvolume' && isLeftoverName(e.name))
    .flatMap((e) => {
      const path = `${oldRoots}/${e.name}`;
      if (!sv) throw new InternalError(`the subvolume facts were not read, but ${path} is to be removed`);
      if (!sv.records.has(path)) return [];
      const nested = sv.nested.get(path) ?? [];
      return [deleteItem(path, 'temporary subvolume of an interrupted run', nested)];
    });
}


/** Retention with the facts only the filesystem gives: candidates by age and count, then what must stay whatever. */
function ageOut(
  observed: Observed,
  config: Config,
  now: Date,
  facts: ArchiveFactWithPath[],
  archive: BootPlan['archive'],
  source: string | null,
  note: Note,
): { verdicts: Verdict[]; deletions: DeleteItem[] } {
  const { oldRoots } = config.subvolumes;
  const protect = new Map<string, string>();
  const all: ArchiveFact[] = facts.map((f) => ({ name: f.name, cgen: f.cgen, createdAt: f.createdAt }));
  if (archive) {
    all.push({ name: archive.name, cgen: Number.MAX_SAFE_INTEGER });
    protect.set(archive.name, 'archived this boot');
  }
  if (source?.startsWith(`${oldRoots}/`)) {
    const name = source.slice(oldRoots.length + 1);
    protect.set(name, protect.has(name) ? `${protect.get(name)}; source of this boot's root` : "source of this boot's root");
  }
  // The newest archive before this boot stays too (with keepAtLeast 1 it would otherwise go the boot after a long power-off).
  const newestBefore = orderNewestFirst(facts)[0];
  if (newestBefore && !protect.has(newestBefore.name)) protect.set(newestBefore.name, 'newest archive before this boot');
  const result = decideRetention({ archives: all, policy: config.oldRoots, now, protect, freePercent: observed.space?.freePercent, full: observed.spacePressure });

  const sv = observed.subvolumes;
  const deletions: DeleteItem[] = [];
  // Notes of the verdicts below, said after the retention's own warnings (which count what really goes).
  const later: Parameters<Note>[] = [];
  const noteLater: Note = (...args) => later.push(args);
  const verdicts = result.verdicts.map((v): Verdict => {
    if (v.action !== 'delete') return v;
    if (!sv) throw new InternalError(`the subvolume facts were not read, but ${v.name} is to be aged out`);
    const path = `${oldRoots}/${v.name}`;
    const keep = (reason: string): Verdict => ({ ...v, action: 'keep', reason });
    const record = sv.records.get(path);
    if (!record) return keep('not confirmed as a subvolume by the filesystem and the subvolume listing: left alone');
    if (record.readOnly && record.receivedUuid) return keep(`received with btrfs receive and read-only, so protected; btrfs refuses to make a received subvolume writable: if it should go, delete it by hand (btrfs subvolume delete <top>/${path})`);
    if (record.readOnly) return keep(`read-only, so protected (to let it age out: btrfs property set -ts <top>/${path} ro false)`);
    if (sv.immutable.has(path)) return keep(`immutable (chattr +i), so protected: btrfs refuses to delete it (to let it age out: chattr -i <top>/${path})`);
    if (sv.defaultId === record.id) {
      noteLater('error', path, `${path} is the default subvolume: btrfs refuses to delete it, so it never ages out`, 'a mount without subvol= gets it', 'btrfs subvolume set-default 5 <top> (and mount the root with subvol=)');
      return keep('the default subvolume (btrfs subvolume set-default): btrfs refuses to delete it');
    }
    if (sv.defaultNestedPath?.startsWith(`${path}/`)) {
      noteLater('error', path, `${sv.defaultNestedPath} inside ${path} is the default subvolume: btrfs refuses to delete it, so ${path} never ages out`, 'a mount without subvol= gets it', 'btrfs subvolume set-default 5 <top> (and mount the root with subvol=)');
      return keep(`holds the default subvolume ${sv.defaultNestedPath.slice(path.length + 1)} (btrfs subvolume set-default): btrfs refuses to delete it`);
    }
    const mounted = mountedWithin(observed.mountedPaths, path);
    if (mounted && !observed.rootMountedAt.length) return keep(`mounted (${mounted}): left alone while it is in use`);
    // On the running system (the root mounted) this plan is what the next boot does, in stage 1, where nothing of
    // this system is mounted: the archive goes then. Said, so an operator browsing it is not told it stays.
    if (mounted) noteLater('warning', path, `mounted now (${mounted}), but the next boot, where nothing is mounted, deletes it: ${v.reason}`, 'a mount on the running system does not reach stage 1', `copy out what you need before rebooting (or keep it: btrfs property set -ts <top>/${path} ro true)`);
    // Nested subvolumes that hold others are made writable first (the delete item's unlock list).
    deletions.push(deleteItem(path, v.reason, sv.nested.get(path) ?? []));
    return v;
  });
  // Counted over what really goes: an archive kept above (read-only, immutable, the default subvolume, mounted) is not one that goes.
  for (const w of result.warningsFor(verdicts)) note('warning', oldRoots, w);
  for (const args of later) note(...args);
  return { verdicts, deletions };
}
