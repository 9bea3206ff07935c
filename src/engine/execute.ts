// The only code that changes the filesystem: applies a checked plan step by step. A failed delete is a warning
// (the item stays and is tried again next time); any other failed step stops the plan, and the plan's recovery
// puts things back before the error goes up.
import { chmodSync, closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, renameSync, rmdirSync, unlinkSync, mkdirSync } from 'node:fs';
import { fdChild, fdPath, inParent, lstatBelow, O_PATH, openDirectoryBelow, othersMayChange, renameBelow } from '../fs/open-dir.js';
import { join } from 'node:path';
import { btrfsError, type DeleteOutcome } from '../btrfs/native-common.js';
import { isSafePath } from '../btrfs/native-process.js';
import { createSubvolume, deleteSubvolumeIn, deleteSubvolumes, setWritable, snapshotSubvolume, syncFilesystem } from '../btrfs/native.js';
import { describeError, StepError } from '../errors.js';
import { joinerBelow, kindOf, SUBVOLUME_ROOT_INO } from '../fs/entry-kind.js';
import { writeFileAtomic } from '../fs/atomic-write.js';
import type { Logger } from '../log/logger.js';
import { SET_ASIDE_PREFIX, type DeleteItem, type Step } from './plan.js';

export type StepStatus = 'done' | 'failed' | 'not-run' | 'planned';

export interface ItemOutcome {
  path: string;
  deleted: boolean;
  /** Why it is still there. */
  error: string | null;
}

export interface Execution {
  status: Map<number, StepStatus>;
  /** One outcome per delete item, by item path: the filesystem says whether it is gone. */
  items: Map<string, ItemOutcome>;
  warnings: string[];
}

export interface ExecuteOptions {
  /** Absolute mount point of the top level; step paths are relative to it. */
  top: string;
  log: Logger;
  /** PANTHEROS_FAILPOINT=after-step:N: tests kill the process after step N (a crash at that point). */
  failpoint?: number | undefined;
  /** Puts things back after a failed step that is not a delete; returns how the system looks now. */
  recover?: (execution: Execution, failed: Step) => string;
  /**
   * Called once when a step fails with ENOSPC: returns true when it freed space (e.g. waited for the subvolumes
   * this run deleted to be cleaned up), and the step is tried once more.
   */
  onNoSpace?: (execution: Execution, failed: Step) => boolean;
  /**
   * The time this run's budgeted steps share with each other and with the caller (see DeleteClock): a step with
   * `budgetSeconds` gets at most what is left of it, and its time counts against it. Without it, each step has its own.
   */
  clock?: DeleteClock | undefined;
}

/**
 * One run's time for deleting (seconds, measured with performance.now(), a monotonic clock). A boot's age-out of
 * archived roots, the room it makes on a full filesystem, its wait for btrfs's cleaner and the state rollback's
 * age-out all count against one `oldRoots.ageOutSeconds`, so the stage-1 unit's TimeoutStartSec (deviceTimeoutSeconds
 * + ageOutSeconds + 210 s) holds however many subvolumes a user left and whatever a full filesystem needs.
 */
export class DeleteClock {
  /** Milliseconds used so far. */
  usedMs = 0;
  /** `limitSeconds`: more than 0 (the config's ageOutSeconds). */
  constructor(readonly limitSeconds: number) {}
  /** Seconds left, never below 0. */
  leftSeconds(): number {
    return Math.max(0, this.limitSeconds - this.usedMs / 1000);
  }
  /** Runs `work` and counts its time as used (also when it throws); returns what it returns. */
  time<T>(work: () => T): T {
    const start = performance.now();
    try {
      return work();
    } finally {
      this.usedMs += performance.now() - start;
    }
  }
}

/** Seconds as a report shows them: at most three decimals. */
export function formatSeconds(seconds: number): string {
  return String(Math.round(seconds * 1000) / 1000);
}

/** Parses PANTHEROS_FAILPOINT=after-step:N. */
export function parseFailpoint(value: string | undefined): number | undefined {
  const m = value ? /^after-step:(\d+)$/.exec(value) : null;
  return m ? Number(m[1]) : undefined;
}

/** Inode number of the empty directory a snapshot leaves where a nested subvolume was (BTRFS_EMPTY_SUBVOL_DIR_OBJECTID). */
const EMPTY_SUBVOLUME_STUB_INO = 2;

function assertAbsentBelow(top: string, rel: Buffer): void {
  try {
    lstatBelow(top, rel);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  throw btrfsError('EEXIST', 'snapshot', Buffer.concat([Buffer.from(`${top}/`), rel]));
}

function assertAbsent(abs: string): void {
  const kind = kindOf(abs);
  if (kind !== 'missing') throw btrfsError('EEXIST', 'snapshot', abs);
}

/**
 * Re-checks just before deleting: every component below `top` a real directory (no symlink), the last a subvolume.
 * `passable` holds the components this batch of checks has already found to be directories or subvolumes (one
 * batch lasts from the first check to the delete, so a component looked at once stands for all the paths below it).
 * Throws Error naming the component that is not what it must be.
 */
function assertSubvolume(below: (rel: string) => string, rel: string, passable: Set<string>): void {
  const parts = rel.split('/');
  let prefix = '';
  for (let i = 1; i <= parts.length; i++) {
    prefix = i === 1 ? parts[0]! : `${prefix}/${parts[i - 1]}`;
    const last = i === parts.length;
    if (!last && passable.has(prefix)) continue;
    const kind = kindOf(below(prefix));
    if (kind === 'symlink') throw new Error(`${prefix} is a symlink: refusing to go through it`);
    if (last ? kind !== 'subvolume' : kind !== 'directory' && kind !== 'subvolume') throw new Error(`${prefix} is a ${kind}, not a ${last ? 'subvolume' : 'directory'}`);
    if (!last) passable.add(prefix);
  }
}

let moved = 0;

/** Owned by root and writable by no group or other (fstat of a held directory): only root adds, renames or replaces its entries. */
function onlyRootChanges(dirFd: number): boolean {
  return !othersMayChange(fstatSync(dirFd));
}

/** lstat of `path` (reached through a held directory): throws unless it is a subvolume (a directory with inode 256). */
function assertSubvolumeAt(path: Buffer | string, shown: string): void {
  const st = lstatSync(path);
  if (!st.isDirectory() || st.ino !== SUBVOLUME_ROOT_INO) throw new Error(`${shown} is not a subvolume: refusing to move it`);
}

/**
 * Throws, before anything of the item is touched, when the kernel would refuse to unlink the item from its directory
 * at the end: the item or that directory is immutable or append-only (chattr +i / +a, which only root sets, e.g. to
 * keep an archive). btrfs refuses that delete (EPERM) only after the nested subvolumes, which go first, are gone, so
 * without this an archive an operator protected lost everything nested in it and stayed. Asked of the kernel by a
 * change that changes nothing: each is given its own mode, through a descriptor of the directory reached one component
 * at a time (no symlink followed); notify_change refuses any mode change of an immutable or append-only inode with
 * EPERM, under either runtime. EROFS (a read-only snapshot, which may still be deleted) passes.
 */
function assertUnlinkable(top: string, item: DeleteItem): void {
  inParent(top, Buffer.from(item.path), (parentFd, name) => {
    const itemFd = openSync(fdChild(parentFd, name), O_PATH | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    try {
      const cut = item.path.lastIndexOf('/');
      for (const [fd, what] of [[parentFd, cut < 0 ? 'the top level' : `its directory ${item.path.slice(0, cut)}`], [itemFd, 'it']] as const) {
        try {
          chmodSync(fdPath(fd), fstatSync(fd).mode & 0o7777);
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code === 'EROFS') continue;
          if (code === 'EPERM') throw new Error(`${item.path}: ${what} is immutable or append-only (chattr +i or +a; lsattr -d shows it), so the kernel refuses its delete; nothing in it was deleted — chattr -i / -a to let it go`);
          throw error;
        }
      }
    } finally {
      closeSync(itemFd);
    }
  });
}

/** What the delete of one item did before it failed: nested subvolumes deleted, and moved within the item (paths relative to the top level). */
interface ItemProgress {
  deleted: string[];
  moved: { from: string; to: string }[];
  /** The step's time ran out before every subvolume of the item was taken. */
  cut?: boolean;
}

/** The words for an item that stays after `progress` (empty when nothing of it was deleted or moved). */
function describeProgress(progress: ItemProgress): string {
  const list = (paths: string[]) => `${paths.slice(0, 5).join(', ')}${paths.length > 5 ? ` and ${paths.length - 5} more` : ''}`;
  const parts: string[] = [];
  const n = (k: number) => `${k} nested subvolume${k > 1 ? 's' : ''} in it ${k > 1 ? 'were' : 'was'}`;
  if (progress.deleted.length) parts.push(`before that, ${n(progress.deleted.length)} deleted: ${list(progress.deleted)}`);
  if (progress.moved.length) parts.push(`${n(progress.moved.length)} moved within it, to go with it: ${list(progress.moved.map((m) => `${m.from} → ${m.to}`))}`);
  return parts.map((p) => `; ${p}`).join('');
}

/**
 * The argument paths of one item's subvolumes, deepest first, each naming what was checked until it is deleted. A
 * nested subvolume that a user could reach — a directory on its way (its parent included) that someone other than
 * root may change, as /tmp of an archived root — is first moved up into the item itself under a plain temporary name
 * (rename(2) moves a subvolume between parents; the item is going anyway), through its parent directory held open and
 * reached one component at a time without following a symlink. Otherwise the user could swap a symlink in between
 * the check and the delete and point the delete at another subvolume of that name: `btrfs subvolume delete` resolves
 * its argument with realpath(3) and opens the result by name again, and the ioctl path opens the parent by path.
 * Once moved, the path runs only through directories no one but root can change. When the rename is refused for
 * room (ENOSPC, EDQUOT), the subvolume is deleted at once through its held parent (deleteSubvolumeIn: no path a
 * symlink could turn, under either backend) and not returned. A path a process argument would
 * carry badly (a newline, bytes that are not UTF-8, a very long path) is moved the same way. When others may change
 * the item's own directory (an archived state subvolume a service owns), nothing inside it stays put, and plain
 * paths are deleted where they are, as before.
 */
function argumentPaths(top: string, below: (rel: string) => string, item: DeleteItem, passable: Set<string>, progress: ItemProgress, budget?: Budget): { path: string; subvolume: string }[] {
  const out: { path: string; subvolume: string }[] = [];
  const itemRel = Buffer.from(item.path);
  const itemFd = openDirectoryBelow(top, itemRel);
  try {
    const itemStable = onlyRootChanges(itemFd);
    /** Per directory below the item (path bytes as latin1): whether it and every directory above it up to the item only root can change. */
    const rootOnly = new Map<string, boolean>();
    const onlyRootOnTheWay = (parent: Buffer): boolean => {
      const key = parent.toString('latin1');
      let known = rootOnly.get(key);
      if (known === undefined) {
        const cut = parent.lastIndexOf(0x2f);
        known = cut < itemRel.length ? itemStable : onlyRootOnTheWay(parent.subarray(0, cut));
        if (known) {
          try {
            const fd = openDirectoryBelow(top, parent);
            try {
              known = onlyRootChanges(fd);
            } finally {
              closeSync(fd);
            }
          } catch {
            known = false; // not a real directory (a symlink on the way): the move below refuses it
          }
        }
        rootOnly.set(key, known);
      }
      return known;
    };
    for (const s of item.subvolumes) {
      // Deepest first: the subvolumes taken so far never include one that holds another not taken.
      if (budget?.gatherSpent()) {
        progress.cut = true;
        break;
      }
      const rel = s.bytes ?? Buffer.from(s.path);
      const abs = s.bytes ? Buffer.concat([Buffer.from(`${top}/`), s.bytes]) : below(s.path);
      // The same on both paths of src/btrfs/native.ts: a path a process argument would carry badly is moved first.
      const plain = typeof abs === 'string' && isSafePath(Buffer.from(abs));
      const parent = rel.subarray(0, rel.lastIndexOf(0x2f));
      if (plain && (s.path === item.path || !itemStable || onlyRootOnTheWay(parent))) {
        assertSubvolume(below, s.path, passable);
        out.push({ path: abs, subvolume: s.path });
        continue;
      }
      // Its parent directory, reached one component at a time (no symlink followed), held while it is moved.
      const parentFd = openDirectoryBelow(top, parent);
      const name = rel.subarray(parent.length + 1);
      const there = fdChild(parentFd, name);
      let to: string;
      try {
        assertSubvolumeAt(there, s.path);
        to = freeName(itemFd);
        try {
          moveSubvolume(there, fdPath(itemFd, to));
        } catch (error) {
          // A full filesystem (or quota): a rename needs room a delete does not. It is deleted right here, through the
          // held directory (the ioctl on it; under btrfs-progs by the id of what is opened there, since progs resolves
          // any path again) — it is deeper than every subvolume that holds it, which come later. Any other refusal
          // (one its owner keeps making read-only, a name moved away) refuses the item this time.
          const code = (error as NodeJS.ErrnoException).code;
          if (code !== 'ENOSPC' && code !== 'EDQUOT') throw error;
          deleteSubvolumeIn(parentFd, name, top, s.path);
          progress.deleted.push(s.path);
          continue;
        }
      } finally {
        closeSync(parentFd);
      }
      // What arrived is a subvolume, or the item is refused: the rename moved whatever the held directory had under
      // that name by then, and only root can change the item's directory.
      progress.moved.push({ from: s.path, to: `${item.path}/${to}` });
      assertSubvolumeAt(fdPath(itemFd, to), s.path);
      out.push({ path: join(top, item.path, to), subvolume: s.path });
    }
  } finally {
    closeSync(itemFd);
  }
  return out;
}

/** A temporary name no entry of the directory held by itemFd has (a run cut short may have left one of this pid). */
function freeName(itemFd: number): string {
  for (;;) {
    const name = `${SET_ASIDE_PREFIX}${process.pid}-${moved++}`;
    try {
      lstatSync(fdPath(itemFd, name));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return name;
      throw error;
    }
  }
}

/**
 * Renames the subvolume at `from` to `to` (both reached through held directories); a read-only one (its owner may make
 * it so; rename needs it writable, EROFS) is made writable and renamed once more. Throws what rename throws.
 */
function moveSubvolume(from: Buffer, to: string): void {
  try {
    renameSync(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EROFS') throw error;
    setWritable(from);
    renameSync(from, to);
  }
}

/**
 * Deletes items outside a plan's steps — for a recovery putting things back after a failed step — the way the
 * executor deletes (odd names moved to plain ones first); returns one outcome per item.
 */
export function deleteNow(top: string, items: readonly DeleteItem[]): Map<string, ItemOutcome> {
  const execution: Execution = { status: new Map(), items: new Map(), warnings: [] };
  deleteItems(top, items, execution);
  return execution.items;
}

/** The time a step may take (performance.now(), a monotonic clock: a wall clock set wrong neither ends nor stretches it). */
interface Budget {
  seconds: number;
  /** Why a subvolume it did not reach stays. */
  outOfTime: string;
  /** The first half, for reaching the subvolumes (checks, and moves of those a user could reach): the rest is for deleting them. */
  gatherSpent(): boolean;
  spent(): boolean;
}

function budgetOf(stepSeconds: number | undefined, clock: DeleteClock | undefined): Budget | undefined {
  if (stepSeconds === undefined) return undefined;
  const seconds = clock ? Math.min(stepSeconds, clock.leftSeconds()) : stepSeconds;
  const outOfTime =
    seconds < stepSeconds
      ? `the time given to this step (${formatSeconds(seconds)} s: what was left of the ${formatSeconds(clock!.limitSeconds)} s this run's deletes share) ran out first`
      : `the time given to this step (${formatSeconds(seconds)} s) ran out first`;
  const start = performance.now();
  const end = start + seconds * 1000;
  const half = start + seconds * 500;
  return { seconds, outOfTime, gatherSpent: () => performance.now() >= half, spent: () => performance.now() >= end };
}

/**
 * Subvolumes given to one deleteSubvolumes call when a budget is looked at between calls: one btrfs process each on the
 * process path (where a boot's age-out was one before), and at the 2 000 to 4 000 deletes a second measured here
 * (2026-12-02, both paths) a budget is overrun by well under a second.
 */
const DELETE_CHUNK = 1000;

function deleteItems(top: string, items: readonly DeleteItem[], execution: Execution, budget?: Budget): boolean {
  const batches: { item: DeleteItem; paths: { path: string; subvolume: string }[]; progress: ItemProgress }[] = [];
  const passable = new Set<string>();
  const below = joinerBelow(top);
  let all = true;
  const outOfTime = budget?.outOfTime ?? '';
  for (const item of items) {
    const progress: ItemProgress = { deleted: [], moved: [] };
    if (budget?.gatherSpent()) {
      execution.items.set(item.path, { path: item.path, deleted: false, error: outOfTime });
      all = false;
      continue;
    }
    try {
      assertUnlinkable(top, item);
      // A subvolume that holds others is made writable first (anyone may make their own subvolume read-only). Reached
      // from its parent directory (one component at a time, no symlink on the way), so a user's subvolume deeper than
      // PATH_MAX is unlocked too; by its full path setWritable refused it with ENAMETOOLONG before argumentPaths could
      // move anything, and the archive stayed boot after boot.
      // The holder is reached through its parent directory held open, so a symlink swapped in meanwhile cannot make
      // another subvolume writable (setWritable opens what it is given in this process).
      // Within the step's time: a holder made writable stays so, and the next run has fewer to unlock (each a commit).
      for (const u of item.unlock ?? []) {
        if (budget?.gatherSpent()) {
          throw new Error(`${outOfTime}, while holders in it were made writable (each a commit of its own) before anything of it was deleted`);
        }
        inParent(top, u.bytes ?? Buffer.from(u.path), (parentFd, name) => setWritable(fdChild(parentFd, name)));
      }
      batches.push({ item, paths: argumentPaths(top, below, item, passable, progress, budget), progress });
    } catch (error) {
      execution.items.set(item.path, { path: item.path, deleted: false, error: `${describeError(error)}${describeProgress(progress)}` });
      all = false;
    }
  }
  const argumentList = batches.flatMap((b) => b.paths.map((p) => p.path));
  let results: DeleteOutcome['results'];
  if (!budget) results = deleteSubvolumes(argumentList, { commit: true }).results;
  else {
    // In chunks, the budget looked at between them; one commit at the end for what went (as --commit-after).
    results = [];
    for (let i = 0; i < argumentList.length && !budget.spent(); i += DELETE_CHUNK) results.push(...deleteSubvolumes(argumentList.slice(i, i + DELETE_CHUNK), { commit: false }).results);
    if (results.some((r) => r.deleted)) {
      try {
        syncFilesystem(top);
      } catch (error) {
        execution.warnings.push(`the deletes were not committed (${describeError(error)}); the next commit carries them`);
      }
    }
  }
  const tried = new Set(results.map((r) => String(r.path)));
  const errors = new Map(results.flatMap((r) => (r.deleted ? [] : [[String(r.path), r.error.message] as const])));
  const deletedPaths = new Set(results.flatMap((r) => (r.deleted ? [String(r.path)] : [])));
  for (const { item, paths, progress } of batches) {
    const gone = kindOf(below(item.path)) === 'missing';
    const cut = progress.cut === true || paths.some((p) => !tried.has(p.path));
    const why = paths.map((p) => errors.get(p.path)).find((e) => e !== undefined) ?? (cut ? outOfTime : undefined);
    if (!gone) {
      // What of it went although it stays: the report says so, not only that it was kept.
      const went = new Set(paths.filter((p) => deletedPaths.has(p.path)).map((p) => p.subvolume));
      progress.deleted.push(...[...went].filter((p) => p !== item.path));
      progress.moved = progress.moved.filter((m) => !went.has(m.from));
    }
    execution.items.set(item.path, { path: item.path, deleted: gone, error: gone ? null : `${why ?? 'still there after the delete'}${describeProgress(progress)}` });
    if (!gone) all = false;
  }
  return all;
}

function apply(step: Step, top: string, execution: Execution, clock: DeleteClock | undefined): boolean {
  const abs = (p: string) => join(top, p);
  switch (step.action) {
    case 'ensure-dir':
      mkdirSync(abs(step.path), { recursive: true, mode: 0o700 });
      return true;
    case 'delete': {
      const run = () => deleteItems(top, step.items, execution, budgetOf(step.budgetSeconds, clock));
      // A step with a time of its own counts against the run's clock; one without (a leftover, a prune) does not.
      return step.budgetSeconds !== undefined && clock ? clock.time(run) : run();
    }
    case 'snapshot': {
      const dest = step.destBytes ?? Buffer.from(step.dest);
      assertAbsentBelow(top, dest);
      // Source and destination reached from their parent directories held open (inParent: one component at a time,
      // no symlink on the way, whatever the length). By path, a user who owns a directory on the way and swapped it
      // for a symlink after the plan had root snapshot another subvolume (a secret of root's) under their
      // subvolume's name; and a nested subvolume deeper than PATH_MAX could not be reached at all.
      const source = step.sourceBytes ?? Buffer.from(step.source);
      const topSlash = Buffer.from(top.endsWith('/') ? top : `${top}/`);
      inParent(top, source, (sourceParent, sourceName) =>
        inParent(top, dest, (destParent, destName) =>
          snapshotSubvolume(fdChild(sourceParent, sourceName), fdChild(destParent, destName), {
            readOnly: step.readOnly,
            shown: { source: Buffer.concat([topSlash, source]), dest: Buffer.concat([topSlash, dest]) },
          }),
        ),
      );
      return true;
    }
    case 'create-subvolume':
      assertAbsent(abs(step.dest));
      createSubvolume(abs(step.dest));
      return true;
    case 'remove-stub':
      // In its directory held open, as the snapshot and the rename: no symlink a user swapped in on the way is followed.
      inParent(top, step.bytes ?? Buffer.from(step.path), (parent, name) => {
        const stub = fdChild(parent, name);
        const st = lstatSync(stub);
        if (!st.isDirectory() || st.ino !== EMPTY_SUBVOLUME_STUB_INO || readdirSync(stub).length) {
          throw new Error(`${step.path} is not the empty stub of a nested subvolume: refusing to remove it`);
        }
        rmdirSync(stub);
      });
      return true;
    case 'rename':
      // Both ends named in their directories held open (no symlink followed on the way): a state rollback moves nested
      // subvolumes through directories their users own.
      renameBelow(top, step.from, step.to, { noReplace: true });
      return true;
    case 'remove-file':
      if (kindOf(abs(step.path)) !== 'file') throw new Error(`${step.path} is not a regular file: refusing to remove it`);
      unlinkSync(abs(step.path));
      return true;
    case 'write-file':
      writeFileAtomic(abs(step.path), step.content, { mode: 0o600 });
      return true;
    case 'commit':
      syncFilesystem(top);
      return true;
  }
}

/**
 * Applies the steps in order. A delete step's failures become warnings (per item, from what the filesystem shows
 * afterwards); any other failure runs `recover` and throws StepError carrying the execution (statuses as they
 * happened), so the report tells the truth.
 */
export function executePlan(steps: readonly Step[], options: ExecuteOptions): Execution {
  const execution: Execution = { status: new Map(steps.map((s) => [s.n, 'not-run'])), items: new Map(), warnings: [] };
  const completed: string[] = [];
  let retried = false;
  const noSpace = (error: unknown) => (error as { code?: string }).code === 'ENOSPC';
  for (const step of steps) {
    try {
      let complete: boolean;
      try {
        complete = apply(step, options.top, execution, options.clock);
      } catch (error) {
        if (step.action === 'delete' || retried || !noSpace(error) || !options.onNoSpace?.(execution, step)) throw error;
        retried = true;
        // In the report too (its warnings), not only in the journal.
        execution.warnings.push(`step ${step.n} ${step.action}: no space left; trying once more after freeing space`);
        options.log.warn(execution.warnings.at(-1)!);
        complete = apply(step, options.top, execution, options.clock);
      }
      execution.status.set(step.n, complete ? 'done' : 'failed');
      if (complete) {
        completed.push(`${step.n} ${step.action}`);
        options.log.info(`step ${step.n} ${step.action}: done (${step.reason})`);
      } else {
        for (const item of step.action === 'delete' ? step.items : []) {
          const o = execution.items.get(item.path)!;
          if (o.deleted) continue;
          const text = `step ${step.n} ${step.action}: ${o.path} stays (${o.error}); tried again next time`;
          execution.warnings.push(text);
          options.log.warn(text);
        }
      }
    } catch (error) {
      execution.status.set(step.n, 'failed');
      const message = `step ${step.n} ${step.action} failed: ${describeError(error)}`;
      if (step.action === 'delete') {
        execution.warnings.push(`${message}; tried again next time`);
        options.log.warn(execution.warnings.at(-1)!);
        continue;
      }
      const state = options.recover ? options.recover(execution, step) : 'nothing was put back';
      options.log.error(`${message}; ${state}`);
      throw new StepError(message, completed, state, { cause: error, execution });
    }
    if (options.failpoint === step.n) {
      options.log.warn(`failpoint after-step:${step.n}: killing myself with SIGKILL`);
      process.kill(process.pid, 'SIGKILL');
    }
  }
  return execution;
}
