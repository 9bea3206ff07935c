// One state plan: observe → plan → check (what --dry-run, list and next-boot print), and its execution by the one
// executor with a recovery that puts every swapped subvolume back when a step fails.
import { join } from 'node:path';
import type { Config } from '../config/load-config.js';
import { deleteSubvolumes, syncFilesystem } from '../btrfs/native.js';
import { checkPlan } from '../engine/check.js';
import { executePlan, type DeleteClock, type Execution } from '../engine/execute.js';
import type { Step } from '../engine/plan.js';
import { describeError } from '../errors.js';
import { kindOf } from '../fs/entry-kind.js';
import { writeFileAtomic } from '../fs/atomic-write.js';
import { renameBelow } from '../fs/open-dir.js';
import type { Logger } from '../log/logger.js';
import { checkStateShape, stateCheckFacts, stateScope } from './check-facts.js';
import { observeState, type ObservedState, type StateObserveOptions } from './observe.js';
import { planState, type StatePlan } from './plan.js';

/**
 * Observes, plans and checks a state rollback at the top level mounted at `top`. Throws PreconditionError when `top`
 * is not the btrfs top level and InternalError for a plan the check refuses (nothing was changed). Archives the check
 * will not delete stay, with its words as the reason.
 */
export function makeStatePlan(top: string, config: Config, options: StateObserveOptions & { now: Date }): { observed: ObservedState; plan: StatePlan } {
  const observed = observeState(top, config, options);
  const planned = planState(observed, config, { now: options.now });
  checkStateShape(planned);
  const checked = checkPlan(planned.steps, stateScope(planned, config), stateCheckFacts(observed, planned));
  if (!checked.dropped.length) return { observed, plan: planned };
  const why = new Map(checked.dropped.map((d) => [d.path, d.why]));
  return {
    observed,
    plan: {
      ...planned,
      steps: checked.steps,
      deletions: planned.deletions.filter((d) => !why.has(d.path)),
      verdicts: planned.verdicts.map((v) => (why.has(`${v.dir}/${v.name}`) ? { ...v, action: 'keep', reason: `kept: the safety check refused it (${why.get(`${v.dir}/${v.name}`)})` } : v)),
    },
  };
}

/**
 * What puts things back after a failed step, subvolume by subvolume, last first: a new subvolume already in place
 * goes back to its temporary name, the archived one comes back under its name, the nested subvolumes moved over go
 * back into it, the unfinished temporary goes; a consumed request file comes back. Never throws; returns how the
 * system looks now (for the report).
 */
export function stateRecovery(plan: StatePlan, observed: ObservedState, top: string) {
  const abs = (p: string) => join(top, p);
  return (execution: Execution): string => {
    const done = (s: Step | undefined) => s !== undefined && execution.status.get(s.n) === 'done';
    const said: string[] = [];
    const attempt = (what: string, fn: () => void): boolean => {
      try {
        fn();
        return true;
      } catch (error) {
        said.push(`could not ${what} (${describeError(error)})`);
        return false;
      }
    };
    for (const r of [...plan.rollbacks].reverse()) {
      const find = (pred: (s: Step) => boolean) => plan.steps.find(pred);
      const into = find((s) => s.action === 'rename' && s.from === r.newState && s.to === r.subvolume);
      const away = find((s) => s.action === 'rename' && s.from === r.subvolume && s.to === r.archive.path);
      const made = find((s) => s.action === 'snapshot' && s.dest === r.newState);
      if (!done(made)) continue;
      let ok = true;
      if (done(into)) ok = attempt(`move the new ${r.subvolume} back to ${r.newState}`, () => renameBelow(top, r.subvolume, r.newState));
      if (ok && done(away)) ok = attempt(`move ${r.archive.path} back to ${r.subvolume}`, () => renameBelow(top, r.archive.path, r.subvolume));
      if (!ok) {
        said.push(`${r.subvolume}: left as it is now; the next run finishes or undoes it`);
        continue;
      }
      const moves = plan.steps.filter((s): s is Extract<Step, { action: 'rename' }> => s.action === 'rename' && s.from.startsWith(`${r.subvolume}/`) && s.to.startsWith(`${r.newState}/`) && done(s));
      for (const m of moves.reverse()) ok = attempt(`move the nested subvolume ${m.to} back to ${m.from}`, () => renameBelow(top, m.to, m.from)) && ok;
      if (!ok) {
        said.push(`${r.subvolume} is back; ${r.newState} is kept (it holds a nested subvolume that could not be moved back; the next run moves it)`);
        continue;
      }
      const results = kindOf(abs(r.newState)) === 'subvolume' ? deleteSubvolumes([abs(r.newState)], { commit: true }).results : [];
      said.push(`${r.subvolume} is back as it was${results.some((x) => !x.deleted) ? `; the unfinished ${r.newState} could not be removed (the next run removes it)` : ''}`);
    }
    const consumed = plan.consumed ? plan.steps.find((s) => s.action === 'remove-file' && s.path === plan.consumed) : undefined;
    if (done(consumed) && observed.requestFile && 'text' in observed.requestFile) {
      const text = observed.requestFile.text;
      if (attempt(`put the state request "${text}" back`, () => writeFileAtomic(abs(plan.consumed!), `${text}\n`, { mode: 0o600 }))) said.push(`the state request "${text}" was put back`);
    }
    try {
      syncFilesystem(top);
    } catch {
      // the next transaction commit carries it
    }
    return said.join('; ') || 'nothing had changed';
  };
}

/**
 * Executes a checked state plan with its recovery; throws StepError (after recovery) when a step fails. `clock`: the
 * boot's DeleteClock, which its age-out shares with the root's (none for an operator's run: the step's own time).
 */
export function executeStatePlan(plan: StatePlan, observed: ObservedState, top: string, log: Logger, failpoint?: number, clock?: DeleteClock): Execution {
  return executePlan(plan.steps, { top, log, failpoint, recover: stateRecovery(plan, observed, top), clock });
}
