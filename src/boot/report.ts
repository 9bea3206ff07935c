// The JSON report of one boot run: what was archived, created from what, deleted and kept and why — built from
// what the executor actually did, never from what was planned (a failed run reports the steps as they went).
import type { StepStatus, Execution } from '../engine/execute.js';
import { formatNotice, stepDetail } from '../engine/plan.js';
import type { BootPlan, NestedRestore, TargetReport } from './plan.js';
import type { Space } from './observe.js';
import type { StateBootReport } from '../state/boot.js';
import { oneLine, showName } from '../cli/show-text.js';

export const DEFAULT_REPORT = '/run/pantheros-rollback/report.json';
/** 3 since the report carries `state` (the state rollback, issue 14); `status` reads 1, 2 and 3. */
export const REPORT_VERSION = 3;

export interface BootReport {
  /** 2 since the report lists nested subvolumes, space and blockers; 3 since it carries `state`. */
  version: 3;
  tool: string;
  runtime: string;
  startedAt: string;
  /** The clock the run decided with. */
  now: string;
  /** Milliseconds of rollback work, from argument parsing to the report. */
  durationMs: number;
  /** Milliseconds since the process started (includes the runtime's start-up). */
  processMs: number;
  /** Processes started (btrfs, mount). */
  spawns: number;
  result: 'ok' | 'fell-back' | 'kept' | 'dry-run' | 'failed' | 'refused';
  dryRun: boolean;
  /** True when it ran in the initrd (stage 1). */
  stage1: boolean;
  device: string | null;
  target: TargetReport | null;
  /** Set only when the root was really moved to the archive (or, in a dry run, would be). */
  archived: { name: string; path: string } | null;
  /** Set only when the new root is really in place (or, in a dry run, would be). */
  created: { path: string; from: string } | null;
  /** Nested subvolumes of the source brought back into the new root. */
  nested: NestedRestore[];
  /** Archives the filesystem shows gone after the delete (or, in a dry run, that would go). */
  deleted: { path: string; reason: string; subvolumes: string[] }[];
  /** Every archive that stays, with why (a failed delete says what failed). */
  kept: { name: string; reason: string }[];
  recovered: string[];
  warnings: string[];
  steps: { n: number; action: string; reason: string; status: StepStatus; detail: string }[];
  space: (Space & { minFreePercent: number }) | null;
  /** What stopped execution although a plan was made (the root is mounted: the running system). */
  blockers: string[];
  error: string | null;
  exitCode: number;
  /** The state rollback of this boot (src/state/boot.ts): what was rolled back, from which snapshot, where the old state was archived; null when nothing was asked or recovered. */
  state: StateBootReport | null;
}

export interface ReportInput {
  tool: string;
  runtime: string;
  startedAt: Date;
  now: Date;
  dryRun: boolean;
  stage1: boolean;
  device: string | null;
  plan: BootPlan | undefined;
  execution: Execution | undefined;
  result: BootReport['result'];
  warnings: string[];
  error: string | null;
  exitCode: number;
}

/** The report of one run, from the plan and what the executor did (statuses as they happened). */
export function buildBootReport(input: ReportInput): BootReport {
  const { plan, execution, dryRun } = input;
  const status = (n: number): StepStatus => (dryRun ? 'planned' : (execution?.status.get(n) ?? 'not-run'));
  const done = (pred: (s: BootPlan['steps'][number]) => boolean) => plan?.steps.some((s) => pred(s) && (dryRun || execution?.status.get(s.n) === 'done')) ?? false;
  const root = plan?.created?.path;
  const archived = plan?.archive && done((s) => s.action === 'rename' && s.to === plan.archive!.path) ? plan.archive : null;
  const created = plan?.created && done((s) => (s.action === 'rename' && s.to === root) || ((s.action === 'snapshot' || s.action === 'create-subvolume') && s.dest === root)) ? plan.created : null;
  const nested = created ? (plan?.nested ?? []) : [];
  const gone = (path: string) => dryRun || execution?.items.get(path)?.deleted === true;
  const deletions = plan?.deletions ?? [];
  const deleted = deletions.filter((d) => gone(d.path)).map((d) => ({ path: d.path, reason: d.reason, subvolumes: d.subvolumes.map((s) => s.path) }));
  const kept = (plan?.verdicts ?? [])
    .map((v) => {
      const item = deletions.find((d) => d.path.endsWith(`/${v.name}`));
      if (v.action === 'keep') return { name: v.name, reason: v.reason };
      if (item && !gone(item.path)) {
        const outcome = execution?.items.get(item.path);
        return { name: v.name, reason: `to be aged out (${v.reason}) but ${outcome?.error ? `the delete failed: ${outcome.error}` : 'the delete did not run'}; tried again next boot` };
      }
      return undefined;
    })
    .filter((k): k is { name: string; reason: string } => k !== undefined)
    // The root "archived this boot" is listed only when it was.
    .filter((k) => archived !== null || k.name !== plan?.archive?.name);
  return {
    version: REPORT_VERSION,
    tool: input.tool,
    runtime: input.runtime,
    startedAt: input.startedAt.toISOString(),
    now: input.now.toISOString(),
    durationMs: 0,
    processMs: 0,
    spawns: 0,
    result: input.result,
    dryRun,
    stage1: input.stage1,
    device: input.device,
    target: plan?.target ?? null,
    archived,
    created,
    nested,
    deleted,
    kept,
    recovered: plan?.recovered ?? [],
    warnings: [...input.warnings, ...(plan?.notices ?? []).filter((n) => n.severity !== 'info').map(formatNotice), ...(execution?.warnings ?? [])],
    steps: (plan?.steps ?? []).map((s) => ({ n: s.n, action: s.action, reason: s.reason, status: status(s.n), detail: stepDetail(s) })),
    space: plan?.space ?? null,
    blockers: plan?.blockers ?? [],
    error: input.error,
    exitCode: input.exitCode,
    state: null,
  };
}

/** The plan as readable text: each step with its reason, then the archive verdicts, then warnings. */
export function formatPlan(report: BootReport): string {
  const lines: string[] = [];
  const t = report.target;
  lines.push(`target: ${t ? `${t.kind}${t.source ? ` (${t.source})` : ''}${t.refused ? ` — requested "${t.requested}" refused: ${t.refused}` : ''}` : '-'}`);
  for (const b of report.blockers) lines.push(`note: ${oneLine(b)}`);
  for (const s of report.steps) lines.push(`  ${s.n}. ${s.action} ${oneLine(s.detail)} [${s.status}]\n       because ${oneLine(s.reason)}`);
  if (!report.steps.length) lines.push('  (no steps)');
  if (report.kept.length || report.deleted.length) lines.push('archives:');
  for (const d of report.deleted) lines.push(`  delete ${d.path}: ${d.reason}${d.subvolumes.length > 1 ? ` (${d.subvolumes.length} subvolumes)` : ''}`);
  for (const k of report.kept) lines.push(`  keep   ${k.name}: ${oneLine(k.reason)}`);
  if (report.space) lines.push(`space: ${report.space.freePercent.toFixed(1)} % free (floor oldRoots.minFreePercent ${report.space.minFreePercent} %)`);
  for (const w of report.warnings) lines.push(`warning: ${oneLine(w)}`);
  if (report.state) lines.push(...formatStatePart(report.state));
  return lines.join('\n');
}

/** The state rollback part of a boot report as text (boot --dry-run, status). */
export function formatStatePart(s: StateBootReport, steps = true): string[] {
  const lines = [`state rollback: ${s.result}${s.requested !== null ? ` — requested ${JSON.stringify(s.requested)} (from ${s.origin})` : ''}`];
  for (const r of s.rolledBack) lines.push(`  ${s.result === 'dry-run' ? 'would roll back' : 'rolled back'} ${r.subvolume} to ${r.from}; the state it had is archived as ${r.archived.path}${r.nested.length ? `; nested moved over: ${r.nested.map(showName).join(', ')}` : ''}`);
  for (const r of s.refused) lines.push(`  refused ${JSON.stringify(r.spec)}: ${oneLine(r.reason)}`);
  for (const r of s.recovered) lines.push(`  recovered: ${oneLine(r)}`);
  if (steps) for (const x of s.steps) lines.push(`  ${x.n}. ${x.action} ${oneLine(x.detail)} [${x.status}]\n       because ${oneLine(x.reason)}`);
  for (const w of s.warnings) lines.push(`  warning: ${oneLine(w)}`);
  if (s.error) lines.push(`  error: ${oneLine(s.error)}`);
  return lines;
}
