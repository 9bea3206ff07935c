// One boot run: observe → plan → check → execute → report. Wires the pure planner to the one mutator.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/load-config.js';
import { describeError, exitCodeFor, PreconditionError, StepError } from '../errors.js';
import { acquireTopLevel, releaseTopLevel, type TopLevel } from '../btrfs/top-level.js';
import { spawnCounter } from '../btrfs/run.js';
import { rollbackParameter } from '../cmdline/parse-cmdline.js';
import type { Logger } from '../log/logger.js';
import { checkPlan } from './check-plan.js';
import { executePlan, type Execution } from './execute.js';
import { LAST_REPORT_FILE, observeFilesystem, observePath, type Observed } from './observe.js';
import { planBoot, type Plan } from './plan.js';
import { stepDetail, writeJsonAtomic, type BootReport } from './report.js';
import { parseTarget } from './target.js';

export const TOOL = 'pantheros-rollback 0.1.0';

export interface BootOptions {
  config: Config;
  device: string | undefined;
  topLevel: string | undefined;
  cmdlineFile: string;
  now: Date;
  reportFile: string | undefined;
  dryRun: boolean;
  failpoint: number | undefined;
  log: Logger;
}

function runtimeName(): string {
  const bun = (process.versions as Record<string, string | undefined>).bun;
  return bun ? `bun ${bun}` : `node ${process.versions.node}`;
}

function readCmdline(file: string, warnings: string[]): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    warnings.push(`cannot read the kernel command line from ${file} (${describeError(error)}): treating it as empty`);
    return '';
  }
}

/** Observes, re-observing with the full listing and the target's snapshot path when the planner needs them. */
function observeAndPlan(top: string, config: Config, cmdline: string, now: Date): { observed: Observed; plan: Plan } {
  const snapshotPaths: string[] = [];
  const param = rollbackParameter(cmdline);
  const fromCmdline = param ? parseTarget(param.value) : undefined;
  if (fromCmdline?.kind === 'snapshot') snapshotPaths.push(fromCmdline.path);
  let observed = observeFilesystem(top, config, { snapshotPaths });
  if (!param && observed.nextBoot && 'target' in observed.nextBoot) {
    const t = parseTarget(observed.nextBoot.target);
    if (t.kind === 'snapshot') observePath(top, `${config.subvolumes.snapshots}/${t.path}`, observed.kinds);
  }
  let plan = planBoot(observed, config, { cmdline, now });
  if (plan.needsListing) {
    const full = observeFilesystem(top, config, { listing: true });
    observed = { ...observed, listing: full.listing, readOnlyPaths: full.readOnlyPaths };
    plan = planBoot(observed, config, { cmdline, now });
  }
  return { observed, plan };
}

/** Runs one boot and returns its report; never throws (errors become the report's error and exit code). */
export async function runBoot(options: BootOptions): Promise<BootReport> {
  const started = performance.now();
  const startedAt = new Date();
  const { config, log } = options;
  const { root, oldRoots } = config.subvolumes;
  const warnings: string[] = [];
  let plan: Plan | undefined;
  let execution: Execution | undefined;
  let top: TopLevel | undefined;
  let error: unknown;
  const cmdline = readCmdline(options.cmdlineFile, warnings);

  try {
    top = await acquireTopLevel({ device: options.device, topLevel: options.topLevel, timeoutSeconds: config.deviceTimeoutSeconds });
    const planned = observeAndPlan(top.path, config, cmdline, options.now);
    plan = planned.plan;
    checkPlan(plan, planned.observed, config);
    for (const w of plan.warnings) log.warn(w);
    if (!options.dryRun) execution = executePlan(plan, top.path, root, oldRoots, log, options.failpoint);
  } catch (e) {
    error = e;
  }

  const exitCode = error === undefined ? 0 : exitCodeFor(error);
  const statusOf = (n: number) => (options.dryRun ? 'planned' : (execution?.status.get(n) ?? 'not-run'));
  let result: BootReport['result'];
  if (error instanceof PreconditionError) result = 'refused';
  else if (error !== undefined) result = 'failed';
  else if (options.dryRun) result = 'dry-run';
  else result = plan!.result;
  const executed = error === undefined && !options.dryRun;
  const report: BootReport = {
    version: 1,
    tool: TOOL,
    runtime: runtimeName(),
    startedAt: startedAt.toISOString(),
    now: options.now.toISOString(),
    durationMs: 0,
    processMs: 0,
    spawns: 0,
    result,
    dryRun: options.dryRun,
    device: top?.mountedDevice ?? options.device ?? null,
    target: plan?.target ?? null,
    archived: plan?.archive && (executed || options.dryRun) ? plan.archive : null,
    created: plan?.created && (executed || options.dryRun) ? plan.created : null,
    deleted: executed || options.dryRun ? (plan?.deletions ?? []) : [],
    kept: (plan?.verdicts ?? []).filter((v) => v.action === 'keep').map((v) => ({ name: v.name, reason: v.reason })),
    recovered: plan?.recovered ?? [],
    warnings: [...warnings, ...(plan?.warnings ?? []), ...(execution?.warnings ?? [])],
    steps: (plan?.steps ?? []).map((s) => ({ n: s.n, action: s.action, reason: s.reason, status: statusOf(s.n), detail: stepDetail(s) })),
    error: error === undefined ? null : describeError(error),
    exitCode,
  };
  if (error instanceof StepError) report.warnings.push(`after the failure: ${error.state}`);
  const deleteStep = plan?.steps.find((s) => s.action === 'delete');
  if (deleteStep && execution?.status.get(deleteStep.n) === 'failed') report.deleted = [];
  const stamp = () => {
    report.durationMs = Math.round((performance.now() - started) * 100) / 100;
    report.processMs = Math.round(process.uptime() * 100_000) / 100;
    report.spawns = spawnCounter.count;
  };

  if (top) {
    // Keep a copy for `status` after the next switch-root, failures included — but never write
    // through a symlink or into something that is not a real directory.
    const oldKind = options.dryRun ? 'missing' : observePath(top.path, oldRoots, {});
    if (oldKind === 'directory' || oldKind === 'subvolume') {
      stamp();
      try {
        writeJsonAtomic(join(top.path, oldRoots, LAST_REPORT_FILE), report);
      } catch (e) {
        report.warnings.push(`could not keep a copy of this report in ${oldRoots}: ${describeError(e)}`);
      }
    }
    const unmountProblem = releaseTopLevel(top);
    if (unmountProblem) report.warnings.push(unmountProblem);
  }
  stamp();
  if (options.reportFile) {
    try {
      writeJsonAtomic(options.reportFile, report);
    } catch (e) {
      log.warn(`could not write the report to ${options.reportFile}: ${describeError(e)}`);
    }
  }
  return report;
}
