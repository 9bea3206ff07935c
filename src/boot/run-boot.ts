// One boot run: observe → plan → check → execute → report. Wires the pure planner to the one executor.
import { mkdirSync, renameSync } from 'node:fs';
import { readRegularFile } from '../fs/read-regular.js';
import { dirname, join } from 'node:path';
import type { Config } from '../config/load-config.js';
import { describeError, exitCodeFor, PreconditionError, StepError, UsageError } from '../errors.js';
import { acquireTopLevel, releaseTopLevel, type TopLevel } from '../btrfs/top-level.js';
import { syncFilesystem, waitForCleaner } from '../btrfs/native.js';
import { spawnCounter } from '../btrfs/run.js';
import { checkPlan } from '../engine/check.js';
import { DeleteClock, deleteNow, executePlan, formatSeconds, type Execution } from '../engine/execute.js';
import type { Step } from '../engine/plan.js';
import { kindOf, walkPath, isDirectoryKind } from '../fs/entry-kind.js';
import { writeFileAtomic } from '../fs/atomic-write.js';
import { ensureRunDir, RUN_DIR } from '../fs/run-dir.js';
import type { Logger } from '../log/logger.js';
import { TOOL } from '../version.js';
import { bootCheckFacts, bootScope, checkBootShape } from './check-facts.js';
import { LAST_REPORT_FILE, observeBoot, type ObserveOptions, type Observed } from './observe.js';
import { planBoot, type BootPlan } from './plan.js';
import { buildBootReport, type BootReport } from './report.js';
import { requestFileContent } from './request-file.js';
import { stateAtBoot, type StateBootReport } from '../state/boot.js';

export { TOOL } from '../version.js';

export interface BootOptions {
  config: Config;
  device: string | undefined;
  topLevel: string | undefined;
  cmdlineFile: string;
  now: Date;
  reportFile: string | undefined;
  dryRun: boolean;
  /** Running in the initrd (stage 1). */
  stage1: boolean;
  failpoint: number | undefined;
  log: Logger;
}

export function runtimeName(): string {
  const bun = (process.versions as Record<string, string | undefined>).bun;
  return bun ? `bun ${bun}` : `node ${process.versions.node}`;
}

function readCmdline(file: string, warnings: string[]): string {
  try {
    // A regular file only (/proc/cmdline is one): a FIFO given as --cmdline would hang the boot.
    return readRegularFile(file).toString('utf8');
  } catch (error) {
    warnings.push(`cannot read the kernel command line from ${file} (${describeError(error)}): treating it as empty`);
    return '';
  }
}

/** Drops the delete items the check refused from the plan (they stay, with the check's words as the reason). */
function withChecked(plan: BootPlan, steps: Step[], dropped: { path: string; why: string }[]): BootPlan {
  if (!dropped.length) return plan;
  const why = new Map(dropped.map((d) => [d.path, d.why]));
  return {
    ...plan,
    steps,
    deletions: plan.deletions.filter((d) => !why.has(d.path)),
    verdicts: plan.verdicts.map((v) => {
      const w = [...why].find(([p]) => p.endsWith(`/${v.name}`))?.[1];
      return w ? { ...v, action: 'keep', reason: `kept: the safety check refused it (${w})` } : v;
    }),
    notices: [...plan.notices, ...dropped.map((d) => ({ severity: 'warning' as const, subject: d.path, what: `not deleted: ${d.why}`, why: 'the safety check keeps anything it cannot confirm', fix: 'see the warning' }))],
  };
}

/**
 * What puts a root back after a failed step: the root never moved → the unfinished new root goes; the root moved
 * but the new one is not in place → the old one comes back. A consumed next-boot request comes back unless the
 * swap it asked for happened. Returns how the system looks now.
 */
function bootRecovery(plan: BootPlan, observed: Observed, top: string, config: Config) {
  const { root, oldRoots } = config.subvolumes;
  const abs = (p: string) => join(top, p);
  return (execution: Execution): string => {
    const said: string[] = [];
    try {
      putBack(execution, said);
    } catch (error) {
      said.push(`putting things back failed (${describeError(error)}); the next boot recovers`);
    }
    return said.join('; ');
  };
  function putBack(execution: Execution, said: string[]): void {
    const done = (s: Step) => execution.status.get(s.n) === 'done';
    const placed = plan.steps.some((s) => done(s) && ((s.action === 'rename' && s.to === root) || ((s.action === 'snapshot' || s.action === 'create-subvolume') && s.dest === root)));
    if (placed) said.push(`the new ${root} is in place`);
    else if (kindOf(abs(root)) === 'subvolume') {
      said.push(`${root} was never moved and boots`);
      if (plan.newRoot && kindOf(abs(plan.newRoot)) === 'subvolume') {
        // The nested subvolumes snapshotted into it so far (exact bytes for odd names), deepest first, then it.
        const made = plan.steps.flatMap((s) => (s.action === 'snapshot' && s.dest.startsWith(`${plan.newRoot}/`) && done(s) ? [s.destBytes ? { path: s.dest, bytes: s.destBytes } : { path: s.dest }] : []));
        const outcome = deleteNow(top, [{ path: plan.newRoot, reason: 'the unfinished new root of this run', subvolumes: [...made.reverse(), { path: plan.newRoot }] }]);
        const o = outcome.get(plan.newRoot);
        said.push(o?.deleted ? `removed the unfinished ${plan.newRoot}` : `the unfinished ${plan.newRoot} could not be removed (${o?.error ?? 'unknown'}; the next boot removes it)`);
      }
    } else {
      const back = plan.archive && kindOf(abs(plan.archive.path)) === 'subvolume' ? plan.archive.path : null;
      try {
        if (!back) throw new Error('no archived root to move back');
        renameSync(abs(back), abs(root));
        said.push(`moved ${back} back to ${root}; it boots`);
      } catch (error) {
        said.push(`${root} is missing and could not be put back (${describeError(error)}); the next boot makes a new one`);
      }
    }
    const consumed = plan.steps.find((s) => s.action === 'remove-file' && done(s));
    if (consumed && !placed && observed.request && 'target' in observed.request) {
      try {
        writeFileAtomic(abs((consumed as { path: string }).path), requestFileContent(observed.request.target), { mode: 0o600 });
        said.push(`the next-boot request "${observed.request.target}" was put back`);
      } catch (error) {
        said.push(`the next-boot request "${observed.request.target}" could not be put back (${describeError(error)})`);
      }
    }
    try {
      syncFilesystem(top);
    } catch {
      // the next transaction commit carries it
    }
  }
}

/**
 * The least time the wait for btrfs's cleaner gets after a full filesystem made this boot delete, even when the deletes
 * used up ageOutSeconds (seconds): without it the step that found no space was tried again at once, before any of the
 * freed space was back. Within the 210 s the stage-1 unit's TimeoutStartSec keeps beyond ageOutSeconds.
 */
const MIN_CLEANER_WAIT_SECONDS = 10;

/** Archives deleted to make room when the filesystem was full, planned and checked as the floor would have them. */
interface MadeRoom {
  step: Step;
  deletions: BootPlan['deletions'];
  verdicts: BootPlan['verdicts'];
  execution: Execution;
}

/**
 * The filesystem is full although nothing was due to go: plan again as if free space were below the floor (archives
 * beyond keepAtLeast, oldest first), check, and delete them. Undefined when nothing may go.
 */
function makeRoom(top: string, config: Config, o: { cmdline: string; now: Date; log: Logger; n: number; failed: Step; clock: DeleteClock }): MadeRoom | undefined {
  const observed = observeBoot(top, config, { cmdline: o.cmdline, now: o.now, facts: 'full', spacePressure: true });
  const planned = planBoot(observed, config, { now: o.now });
  const ageOut = planned.steps.find((s) => s.action === 'delete' && s.purpose === 'age-out');
  if (!ageOut || ageOut.action !== 'delete') return undefined;
  const step: Step = { ...ageOut, n: o.n, reason: `the filesystem is full: make room by ageing out ${ageOut.items.length} archive(s) beyond keepAtLeast, oldest first (run when step ${o.failed.n} ${o.failed.action} found no space, before it was tried again; also with minFreePercent 0)` };
  const checked = checkPlan([step], bootScope(config), bootCheckFacts(observed, planned, config));
  if (!checked.steps.length) return undefined;
  const warning = `no space left and nothing was due to go: ${step.reason}`;
  o.log.warn(warning);
  const execution = executePlan(checked.steps, { top, log: o.log, clock: o.clock });
  execution.warnings.unshift(warning);
  const done = checked.steps[0]!;
  return { step: done, deletions: planned.deletions.filter((d) => done.action === 'delete' && done.items.some((i) => i.path === d.path)), verdicts: planned.verdicts, execution };
}

/** The plan as it ran: with the room-making step and its deletions and verdicts. */
function withRoom(plan: BootPlan, room: MadeRoom): BootPlan {
  const gone = new Set(room.deletions.map((d) => d.path.split('/').at(-1)));
  return {
    ...plan,
    steps: [...plan.steps, room.step],
    deletions: [...plan.deletions, ...room.deletions],
    verdicts: plan.verdicts.map((v) => (gone.has(v.name) ? room.verdicts.find((r) => r.name === v.name) ?? v : v)),
  };
}

function mergeExecution(into: Execution, from: Execution): void {
  for (const [n, st] of from.status) into.status.set(n, st);
  for (const [p, o] of from.items) into.items.set(p, o);
  into.warnings.push(...from.warnings);
}

/**
 * Observes, plans and checks one boot at the top level mounted at `top`: what `boot` executes, and what `boot
 * --dry-run`, `list`, `next-boot` and `check` print. Throws PreconditionError for a layout no step may touch and
 * InternalError for a plan the check refuses.
 */
export function makeBootPlan(top: string, config: Config, options: ObserveOptions): { observed: Observed; plan: BootPlan } {
  const observed = observeBoot(top, config, options);
  return { observed, plan: planAndCheckBoot(observed, config, options.now) };
}

/**
 * The pure half of makeBootPlan: plans the boot of `observed` at `now` and passes the plan through the one check (the
 * items it refuses stay, with its words as the reason). Reads nothing. Throws PreconditionError for a layout no step may
 * touch and InternalError for a plan the check refuses.
 */
export function planAndCheckBoot(observed: Observed, config: Config, now: Date): BootPlan {
  const planned = planBoot(observed, config, { now });
  checkBootShape(planned, config);
  const checked = checkPlan(planned.steps, bootScope(config), bootCheckFacts(observed, planned, config));
  return withChecked(planned, checked.steps, checked.dropped);
}

/** Runs one boot and returns its report; never throws (errors become the report's error and exit code). */
export async function runBoot(options: BootOptions): Promise<BootReport> {
  const started = performance.now();
  const startedAt = new Date();
  const { config, log } = options;
  const { oldRoots } = config.subvolumes;
  const warnings: string[] = [];
  let plan: BootPlan | undefined;
  let execution: Execution | undefined;
  let top: TopLevel | undefined;
  let error: unknown;
  let state: StateBootReport | null = null;
  let room: MadeRoom | undefined;
  /** The wait for btrfs's cleaner ended before it had freed the space (its time ran out). */
  let cleanerCut = false;
  const cmdline = readCmdline(options.cmdlineFile, warnings);
  // Every delete of this boot and its wait for btrfs's cleaner, root and state together, within one ageOutSeconds.
  const clock = new DeleteClock(config.oldRoots.ageOutSeconds);

  try {
    top = await acquireTopLevel({ device: options.device, topLevel: options.topLevel, timeoutSeconds: config.deviceTimeoutSeconds });
    const made = makeBootPlan(top.path, config, { cmdline, now: options.now, facts: options.dryRun ? 'full' : 'auto' });
    plan = made.plan;
    const observed = made.observed;
    for (const n of plan.notices) if (n.severity !== 'info') log.warn(`${n.subject ? `${n.subject}: ` : ''}${n.what}`);
    if (!options.dryRun) {
      if (plan.blockers.length) throw new PreconditionError(plan.blockers.join('; '));
      const topPath = top.path;
      const base = plan;
      execution = executePlan(plan.steps, {
        top: topPath,
        log,
        failpoint: options.failpoint,
        recover: bootRecovery(plan, observed, topPath, config),
        clock,
        // A full filesystem: the space of what was deleted is free only once btrfs has cleaned it up; when nothing
        // was (the metadata filled up while statfs still shows free space), room is made as below the floor.
        // Both within what is left of ageOutSeconds: a full filesystem cannot hold the boot past the unit's time either.
        onNoSpace: (ran, failed) => {
          if (![...ran.items.values()].some((o) => o.deleted)) {
            room = makeRoom(topPath, config, { cmdline, now: options.now, log, n: base.steps.length + 1, failed, clock });
            if (!room || ![...room.execution.items.values()].some((o) => o.deleted)) return false;
          }
          const wait = Math.max(clock.leftSeconds(), MIN_CLEANER_WAIT_SECONDS);
          if (!clock.time(() => waitForCleaner(topPath, wait))) {
            cleanerCut = true;
            ran.warnings.push(`btrfs's cleaner had not freed the space of the deleted subvolumes within ${formatSeconds(wait)} s (the longer of what was left of oldRoots.ageOutSeconds, ${formatSeconds(config.oldRoots.ageOutSeconds)} s for all of this boot's deletes, and ${MIN_CLEANER_WAIT_SECONDS} s): trying once more anyway`);
            log.warn(ran.warnings.at(-1)!);
          }
          return true;
        },
      });
    }
    // State rollback (issue 14, src/state): after the root is in place, before anything mounts the persistent subvolumes.
    state = stateAtBoot(top.path, config, cmdline, { now: options.now, dryRun: options.dryRun, log, blockers: plan.blockers, clock });
  } catch (e) {
    error = e;
    if (e instanceof StepError) execution = e.execution as Execution | undefined;
  }
  if (room && plan) {
    plan = withRoom(plan, room);
    if (execution) mergeExecution(execution, room.execution);
  }

  // A failed state rollback (put back by its recovery) fails the run, whatever the root's result.
  const exitCode = error === undefined ? (state?.result === 'failed' ? 1 : 0) : exitCodeFor(error);
  let result: BootReport['result'];
  if (error instanceof PreconditionError || error instanceof UsageError) result = 'refused';
  else if (error !== undefined) result = 'failed';
  else if (options.dryRun) result = 'dry-run';
  else result = plan!.result;
  const report = buildBootReport({
    tool: TOOL,
    runtime: runtimeName(),
    startedAt,
    now: options.now,
    dryRun: options.dryRun,
    stage1: options.stage1,
    device: top?.mountedDevice ?? options.device ?? null,
    plan,
    execution,
    result,
    warnings,
    error: error === undefined ? null : describeError(error),
    exitCode,
  });
  if (error instanceof StepError) {
    report.warnings.push(`after the failure: ${error.state}`);
    if ((error.cause as { code?: string } | undefined)?.code === 'ENOSPC' && cleanerCut) {
      // The space is coming back, not missing: telling the operator to delete more would be wrong.
      report.warnings.push(`the filesystem is still full, probably because btrfs's cleaner was still freeing the space of the subvolumes this boot deleted when its time ran out (space they shared with other subvolumes does not come back): the root stays as it was; a later boot should find that space once the cleaner is done (btrfs subvolume sync <top> waits for it); if one fails the same way, free space by hand (btrfs subvolume delete <top>/${oldRoots}/<an archive you do not need>)`);
    } else if ((error.cause as { code?: string } | undefined)?.code === 'ENOSPC') {
      report.warnings.push(`the filesystem is full and retention allows nothing more to go this boot: the root stays as it was; free space by hand (btrfs subvolume delete <top>/${oldRoots}/<an archive you do not need>, or lower oldRoots.keepAtLeast / raise oldRoots.minFreePercent), then reboot`);
    }
  }
  report.state = state;
  const stamp = () => {
    report.durationMs = Math.round((performance.now() - started) * 100) / 100;
    report.processMs = Math.round(process.uptime() * 100_000) / 100;
    report.spawns = spawnCounter.count;
  };

  if (top) {
    // A copy for `status` after the next switch-root, from every run that executed (failures included) — never from
    // a dry run or a refused run, never through a symlink or into something that is not a real directory. Its data is
    // fsync'ed before the rename (whole after a power cut, never empty), the directory is not (a second log-tree write
    // on every boot): the report in /run is the one this boot's system reads, and the rename reaches the disk with the
    // next commit — in stage 1 the unmount of the top level just below.
    if (execution !== undefined && isDirectoryKind(walkPath(top.path, oldRoots))) {
      stamp();
      try {
        writeFileAtomic(join(top.path, oldRoots, LAST_REPORT_FILE), `${JSON.stringify(report, null, 2)}\n`, { syncDirectory: false });
      } catch (e) {
        report.warnings.push(`could not keep a copy of this report in ${oldRoots}: ${describeError(e)}`);
      }
    }
    const unmountProblem = releaseTopLevel(top);
    if (unmountProblem) report.warnings.push(unmountProblem);
  }
  stamp();
  if (options.reportFile) writeReportFile(options.reportFile, report, log);
  return report;
}

/** Writes the report to `file` atomically (the default one in /run/pantheros-rollback, made with its fixed modes); a failure is only a log line. */
export function writeReportFile(file: string, report: unknown, log: Logger): void {
  try {
    if (dirname(file) === RUN_DIR) ensureRunDir('base');
    else mkdirSync(dirname(file), { recursive: true, mode: 0o755 });
    writeFileAtomic(file, `${JSON.stringify(report, null, 2)}\n`);
  } catch (e) {
    log.warn(`could not write the report to ${file}: ${describeError(e)}`);
  }
}
