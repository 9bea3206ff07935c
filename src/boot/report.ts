// The JSON report of one boot run: what was archived, created from what, deleted and kept, and why.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Plan, TargetReport } from './plan.js';
import type { StepStatus } from './execute.js';

export const DEFAULT_REPORT = '/run/pantheros-rollback/report.json';

export interface BootReport {
  version: 1;
  tool: string;
  runtime: string;
  startedAt: string;
  now: string;
  /** Milliseconds of rollback work, from argument parsing to the report. */
  durationMs: number;
  /** Milliseconds since the process started (includes the runtime's start-up). */
  processMs: number;
  /** Processes started (btrfs, mount). */
  spawns: number;
  result: 'ok' | 'fell-back' | 'kept' | 'dry-run' | 'failed' | 'refused';
  dryRun: boolean;
  device: string | null;
  target: TargetReport | null;
  archived: { name: string; path: string } | null;
  created: { path: string; from: string } | null;
  deleted: { path: string; reason: string; subvolumes: string[] }[];
  kept: { name: string; reason: string }[];
  recovered: string[];
  warnings: string[];
  steps: { n: number; action: string; reason: string; status: StepStatus; detail: string }[];
  error: string | null;
  exitCode: number;
}

/** A one-line description of a step's operands, for the report and --dry-run. */
export function stepDetail(step: Plan['steps'][number]): string {
  switch (step.action) {
    case 'consume-request':
    case 'ensure-dir':
      return step.path;
    case 'delete':
    case 'delete-leftover':
      return step.paths.join(', ');
    case 'snapshot':
      return `${step.source} → ${step.dest}`;
    case 'create-subvolume':
      return step.dest;
    case 'rename':
      return `${step.from} → ${step.to}`;
  }
}

/** Writes JSON atomically (temporary file, then rename), creating the directory. */
export function writeJsonAtomic(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(tmp, path);
}

/** The plan as readable text: each step with its reason, then the retention verdicts. */
export function formatPlan(report: BootReport): string {
  const lines: string[] = [];
  lines.push(`target: ${report.target ? `${report.target.kind}${report.target.source ? ` (${report.target.source})` : ''}${report.target.refused ? ` — requested "${report.target.requested}" refused: ${report.target.refused}` : ''}` : '-'}`);
  for (const s of report.steps) lines.push(`  ${s.n}. ${s.action} ${s.detail} [${s.status}]\n       because ${s.reason}`);
  if (!report.steps.length) lines.push('  (no steps)');
  if (report.kept.length || report.deleted.length) lines.push('archives:');
  for (const d of report.deleted) lines.push(`  delete ${d.path}: ${d.reason}${d.subvolumes.length > 1 ? ` (${d.subvolumes.length} subvolumes)` : ''}`);
  for (const k of report.kept) lines.push(`  keep   ${k.name}: ${k.reason}`);
  for (const w of report.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n');
}
