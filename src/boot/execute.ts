// The only code that changes the filesystem at boot: applies a checked plan step by step.
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { runChecked, runCommand } from '../btrfs/run.js';
import { createArgv, deleteArgv, snapshotArgv } from '../btrfs/commands.js';
import { describeError, StepError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { kindOf } from './observe.js';
import type { Plan, Step } from './plan.js';

export type StepStatus = 'done' | 'failed' | 'not-run' | 'planned';

export interface Execution {
  status: Map<number, StepStatus>;
  warnings: string[];
}

/** Parses PANTHEROS_FAILPOINT=after-step:N; tests use it to simulate power loss after step N. */
export function parseFailpoint(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const m = /^after-step:(\d+)$/.exec(value);
  return m ? Number(m[1]) : undefined;
}

function fsyncDir(abs: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(abs, 'r');
    fsyncSync(fd);
  } catch {
    // best effort: btrfs commits within its commit interval anyway, and every committed state is recoverable
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Re-checks just before deleting: a real subvolume, reached without a symlink, strictly below the archive directory. */
function assertDeletable(top: string, rel: string, oldRoots: string): void {
  const below = rel.slice(oldRoots.length + 1).split('/');
  for (let i = 1; i <= below.length; i++) {
    const p = `${oldRoots}/${below.slice(0, i).join('/')}`;
    const kind = kindOf(join(top, p));
    if (kind === 'symlink') throw new Error(`${p} is a symlink: refusing to delete through it`);
    if (i === below.length && kind !== 'subvolume') throw new Error(`${p} is a ${kind}, not a subvolume: refusing to delete it`);
  }
}

function assertAbsent(top: string, rel: string): void {
  const kind = kindOf(join(top, rel));
  if (kind !== 'missing') throw new Error(`${rel} already exists (${kind}): refusing to overwrite it`);
}

function apply(step: Step, top: string, oldRoots: string): void {
  const abs = (p: string) => join(top, p);
  switch (step.action) {
    case 'consume-request':
      unlinkSync(abs(step.path));
      fsyncDir(dirname(abs(step.path)));
      return;
    case 'delete-leftover':
    case 'delete':
      for (const p of step.paths) assertDeletable(top, p, oldRoots);
      runChecked(deleteArgv(step.paths.map(abs)));
      return;
    case 'ensure-dir':
      mkdirSync(abs(step.path), { recursive: true, mode: 0o700 });
      return;
    case 'snapshot':
      assertAbsent(top, step.dest);
      runChecked(snapshotArgv(abs(step.source), abs(step.dest)));
      return;
    case 'create-subvolume':
      assertAbsent(top, step.dest);
      runChecked(createArgv(abs(step.dest)));
      return;
    case 'rename':
      assertAbsent(top, step.to);
      renameSync(abs(step.from), abs(step.to));
      return;
  }
}

/** Puts some root back in place after a failed step, preferring the new one; returns what the system looks like now. */
function restoreRoot(plan: Plan, top: string, root: string): string {
  if (kindOf(join(top, root)) === 'subvolume') {
    // The root never moved: remove the unfinished new root too, so the filesystem is as it was found.
    if (!plan.newRoot || kindOf(join(top, plan.newRoot)) !== 'subvolume') return `${root} exists and boots`;
    const r = runCommand(deleteArgv([join(top, plan.newRoot)]));
    return r.code === 0
      ? `${root} exists and boots; removed the unfinished ${plan.newRoot}`
      : `${root} exists and boots; the unfinished ${plan.newRoot} could not be removed (${r.stderr.trim()}), the next run removes it`;
  }
  const candidates = [plan.newRoot, plan.archive?.path].filter((p): p is string => p !== null && p !== undefined);
  for (const c of candidates) {
    if (kindOf(join(top, c)) !== 'subvolume') continue;
    try {
      renameSync(join(top, c), join(top, root));
      return `moved ${c} back to ${root}; it boots`;
    } catch (error) {
      return `${root} is missing and moving ${c} back failed (${describeError(error)}); the next run puts a root in place`;
    }
  }
  return `${root} is missing; the next run makes a new one`;
}

/** Applies the plan. Age-out failures become warnings (the new root is already in place); any other failure throws StepError. */
export function executePlan(plan: Plan, top: string, root: string, oldRoots: string, log: Logger, failpoint?: number): Execution {
  const status = new Map<number, StepStatus>(plan.steps.map((s) => [s.n, 'not-run']));
  const warnings: string[] = [];
  const completed: string[] = [];
  for (const step of plan.steps) {
    try {
      apply(step, top, oldRoots);
      status.set(step.n, 'done');
      completed.push(`${step.n} ${step.action}`);
      log.info(`step ${step.n} ${step.action}: done (${step.reason})`);
    } catch (error) {
      status.set(step.n, 'failed');
      const message = `step ${step.n} ${step.action} failed: ${describeError(error)}`;
      if (step.action === 'delete') {
        warnings.push(`${message}; the archives stay and are tried again next boot`);
        log.warn(warnings.at(-1)!);
        continue;
      }
      const state = restoreRoot(plan, top, root);
      log.error(`${message}; ${state}`);
      throw new StepError(message, completed, state, { cause: error });
    }
    if (failpoint === step.n) {
      log.warn(`failpoint after-step:${step.n}: killing myself with SIGKILL`);
      process.kill(process.pid, 'SIGKILL');
    }
  }
  return { status, warnings };
}
