// The state rollback in stage 1 (issue 14): run by the same `boot` run after the root's swap, before anything mounts
// the persistent subvolumes. Asked for by pantheros.rollback.state= on the kernel command line or by the one-shot
// request file; every boot also recovers what an interrupted state rollback left. Never throws: what happened goes
// into the boot report's `state`.
import { join } from 'node:path';
import type { Config } from '../config/load-config.js';
import { parseFailpoint, type DeleteClock, type Execution, type StepStatus } from '../engine/execute.js';
import { formatNotice, stepDetail } from '../engine/plan.js';
import { describeError, StepError } from '../errors.js';
import { isDirectoryKind, walkPath } from '../fs/entry-kind.js';
import type { Logger } from '../log/logger.js';
import { requestAtBoot } from './observe.js';
import type { StatePlan } from './plan.js';
import { readStateRequestFile } from './request.js';
import { executeStatePlan, makeStatePlan } from './run.js';

/** The `state` part of the boot report (report version 3). */
export interface StateBootReport {
  /** The request as given (null: none; the boot only recovered leftovers). */
  requested: string | null;
  origin: 'cmdline' | 'next-boot' | 'operator';
  /** ok: carried out (or nothing to do); refused: the request was refused (nothing rolled back); failed: a step failed (put back); dry-run. */
  result: 'ok' | 'refused' | 'failed' | 'dry-run';
  /** What was rolled back, from which snapshot, and where the state it had was archived (only what really happened). */
  rolledBack: { subvolume: string; from: string; archived: { name: string; path: string }; nested: string[] }[];
  refused: { spec: string; reason: string }[];
  /** Kernel command line items carried out at an earlier boot, not repeated. */
  already: { spec: string; subvolume: string; from: string }[];
  recovered: string[];
  deleted: string[];
  warnings: string[];
  steps: { n: number; action: string; reason: string; status: StepStatus; detail: string }[];
  durationMs: number;
  error: string | null;
}

/** The report of a state plan from what the executor did (statuses as they happened). */
export function stateReport(plan: StatePlan, execution: Execution | undefined, dryRun: boolean, result: StateBootReport['result'], error: string | null, durationMs: number): StateBootReport {
  const status = (n: number): StepStatus => (dryRun ? 'planned' : (execution?.status.get(n) ?? 'not-run'));
  const placed = (sv: string, tmp: string) => plan.steps.some((s) => s.action === 'rename' && s.from === tmp && s.to === sv && status(s.n) === (dryRun ? 'planned' : 'done'));
  return {
    requested: plan.requested,
    origin: plan.origin,
    result,
    rolledBack: result === 'failed' ? [] : plan.rollbacks.filter((r) => placed(r.subvolume, r.newState)).map((r) => ({ subvolume: r.subvolume, from: r.from, archived: r.archive, nested: r.nested })),
    refused: plan.refused,
    already: plan.already,
    recovered: plan.recovered,
    deleted: plan.deletions.filter((d) => dryRun || execution?.items.get(d.path)?.deleted).map((d) => d.path),
    warnings: [...plan.notices.filter((n) => n.severity !== 'info').map(formatNotice), ...(execution?.warnings ?? [])],
    steps: plan.steps.map((s) => ({ n: s.n, action: s.action, reason: s.reason, status: status(s.n), detail: stepDetail(s) })),
    durationMs,
    error,
  };
}

/**
 * Plans and (unless dryRun) carries out the state rollback of this boot at the top level mounted at `top`; null when
 * there is nothing to say (no request, nothing left by an interrupted run). PANTHEROS_STATE_FAILPOINT=after-step:N
 * kills the process after step N of the state plan (tests).
 */
export function stateAtBoot(top: string, config: Config, cmdline: string, options: { now: Date; dryRun: boolean; log: Logger; blockers: readonly string[]; clock?: DeleteClock }): StateBootReport | null {
  const started = performance.now();
  const ms = () => Math.round((performance.now() - started) * 100) / 100;
  const { oldState } = config.subvolumes;
  const file = isDirectoryKind(walkPath(top, oldState)) ? readStateRequestFile(join(top, oldState)) : null;
  const asked = requestAtBoot(cmdline, file);
  let plan: StatePlan;
  try {
    const made = makeStatePlan(top, config, { origin: asked.origin, raw: asked.raw, useMountinfo: false, now: options.now });
    made.observed.warnings.push(...asked.warnings);
    plan = made.plan;
    plan.notices.unshift(...asked.warnings.map((w) => ({ severity: 'warning' as const, subject: null, what: w, why: '', fix: 'nothing' })));
    if (!plan.steps.length && asked.raw === null && !asked.warnings.length) return null;
    for (const n of plan.notices) if (n.severity !== 'info') options.log.warn(`state: ${formatNotice(n)}`);
    // A dry run whose request is refused says so (what the boot would say), not "dry-run".
    if (options.dryRun) return stateReport(plan, undefined, true, plan.result === 'refused' ? 'refused' : 'dry-run', null, ms());
    const blockers = [...options.blockers, ...plan.blockers];
    if (blockers.length) {
      // Said in the journal too, not only in the report: the root's part of the boot may well be OK.
      options.log.warn(`state: the state rollback was not carried out: ${blockers.join('; ')}`);
      return stateReport(plan, undefined, false, 'refused', `not carried out: ${blockers.join('; ')}`, ms());
    }
    let execution: Execution | undefined;
    try {
      execution = executeStatePlan(plan, made.observed, top, options.log, parseFailpoint(process.env.PANTHEROS_STATE_FAILPOINT), options.clock);
    } catch (error) {
      if (error instanceof StepError) execution = error.execution as Execution;
      const why = `${describeError(error)}${error instanceof StepError ? `; ${error.state}` : ''}`;
      options.log.error(`state: the state rollback failed: ${why}`);
      return stateReport(plan, execution, false, 'failed', why, ms());
    }
    for (const r of plan.rollbacks) options.log.info(`state: rolled back ${r.subvolume} to ${r.from}; the state it had is archived as ${r.archive.path}`);
    return stateReport(plan, execution, false, plan.result, null, ms());
  } catch (error) {
    options.log.error(`state: the state rollback failed: ${describeError(error)}`);
    return {
      requested: asked.raw,
      origin: asked.origin,
      result: 'failed',
      rolledBack: [],
      refused: [],
      already: [],
      recovered: [],
      deleted: [],
      warnings: asked.warnings,
      steps: [],
      durationMs: ms(),
      error: describeError(error),
    };
  }
}
