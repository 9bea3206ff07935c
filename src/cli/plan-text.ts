// Plans as operator-readable text: each step with its reason and status (boot --dry-run, prune, snapshot, next-boot).
import type { StepStatus } from '../engine/execute.js';
import { stepDetail, type Step } from '../engine/plan.js';
import { oneLine } from './show-text.js';

/** One entry per step: number, action, operands, status, and the reason on the next line. */
export function formatSteps(steps: readonly Step[], status: (n: number) => StepStatus): string[] {
  if (!steps.length) return ['  (no steps)'];
  // Detail and reason carry names (a user's nested subvolume may be named with a newline): one line each, escaped.
  return steps.map((s) => `  ${s.n}. ${s.action} ${oneLine(stepDetail(s))} [${status(s.n)}]\n       because ${oneLine(s.reason)}`);
}

/** Steps as they go into JSON output. */
export function stepsJson(steps: readonly Step[], status: (n: number) => StepStatus): { n: number; action: string; detail: string; reason: string; status: StepStatus }[] {
  return steps.map((s) => ({ n: s.n, action: s.action, detail: stepDetail(s), reason: s.reason, status: status(s.n) }));
}
