// `snapshot`: read-only timed snapshots of persistent subvolumes under <snapshots>/<class>/ (run by a timer).
import type { Command } from '../cli/command.js';
import { parseFlags, stringFlag } from '../cli/args.js';
import { output, withTopLevel } from '../cli/context.js';
import { PreconditionError, StepError, UsageError } from '../errors.js';
import { SNAPSHOT_CLASSES, type SnapshotClass } from '../config/load-config.js';
import { checkPlan } from '../engine/check.js';
import { executePlan, type Execution, type StepStatus } from '../engine/execute.js';
import { createLogger } from '../log/logger.js';
import { parseNow } from '../list/clock.js';
import { observeSnapshots } from '../snapshots/observe.js';
import { planSnapshot, snapshotCheckFacts, snapshotScope } from '../snapshots/plan-snapshot.js';
import { formatSteps, stepsJson } from '../cli/plan-text.js';

const USAGE = `Usage: pantheros-rollback snapshot --class hourly|daily|weekly|monthly|activation [SUBVOLUME ...]
                                   [--dry-run] [--now ISO-8601] [--device DEV | --top-level DIR] [--config FILE] [--json]

Takes a read-only snapshot (btrfs subvolume snapshot -r) of each SUBVOLUME (default: the config's
snapshotSubvolumes, ["@persistent"]) as <snapshots>/<class>/<name>, creating the class directory if
needed. Names are <subvolume>.<YYYYMMDDTHHMMSSZ>[_NN] in UTC, the time of the clock; a second snapshot
in the same second gets _01, _02 … so names never collide (order comes from the creation generation). In the
subvolume part every character outside A-Z a-z 0-9 _ @ : + - . (and a leading .) is written as ~ and
two hex digits of its UTF-8 bytes: @home/alice → @home~2falice.20261126T063251Z. Such a name is also a
valid boot target: pantheros.rollback=<class>/<name>.

  --class C        hourly, daily, weekly, monthly or activation (required; the NixOS module takes an
                   activation snapshot before each activation); prune keeps the newest N of each
  SUBVOLUME        path relative to the top level, e.g. @persistent or @home/alice
  --now ISO-8601   the time to name the snapshot by (default: the system clock)
  --device DEV     mount the btrfs top level of DEV privately for this run
  --top-level DIR  use an already-mounted top level (subvolid=5)
  --config FILE    JSON config (default /etc/pantheros/rollback.json)
  --dry-run        print the plan (one step per snapshot, with its reason); change nothing
  --json           print {version, dryRun, class, now, created:[{subvolume, name, path}], steps}

Exit: 0 all taken, 1 some taken and then one failed, 2 usage (e.g. unknown class),
      3 precondition failed (e.g. a subvolume does not exist; nothing was taken), 77 not run as root.`;

/** --class as a snapshot class; a usage error names the valid ones. */
export function parseClassFlag(value: string | undefined, command: string, required: boolean): SnapshotClass | undefined {
  if (value === undefined) {
    if (required) throw new UsageError(`${command}: --class is required (one of ${SNAPSHOT_CLASSES.join(', ')})`);
    return undefined;
  }
  if (!(SNAPSHOT_CLASSES as readonly string[]).includes(value)) {
    throw new UsageError(`${command}: unknown snapshot class "${value}"; use one of ${SNAPSHOT_CLASSES.join(', ')}`);
  }
  return value as SnapshotClass;
}

// Same rules as the config's subvolume names: relative, no empty/./.. components, no leading -.
function checkSubvolumeArg(s: string): string {
  const ok = s !== '' && !s.startsWith('/') && !s.endsWith('/') && !s.startsWith('-') && !/[\0\n]/.test(s) && s.split('/').every((c) => c !== '' && c !== '.' && c !== '..');
  if (!ok) throw new UsageError(`snapshot: "${s}" is not a subvolume path relative to the top level (e.g. @persistent)`);
  return s;
}

export const snapshotCommand: Command = {
  name: 'snapshot',
  usage: USAGE,
  async run(argv) {
    const args = parseFlags(argv, { string: ['class', 'now'], boolean: ['dry-run'] }, 'snapshot');
    const cls = parseClassFlag(stringFlag(args, 'class'), 'snapshot', true)!;
    const now = parseNow(stringFlag(args, 'now'), 'snapshot');
    const dryRun = args['dry-run'] === true;
    const requested = args._.map((a) => checkSubvolumeArg(String(a)));
    return withTopLevel(args, { readOnly: dryRun }, (ctx) => {
      const { config } = ctx;
      const subvolumes = [...new Set(requested.length ? requested : config.snapshotSubvolumes)];
      if (!subvolumes.length) throw new UsageError("snapshot: no subvolumes given and the config's snapshotSubvolumes is empty");
      // Everything is checked before the first change, so a mistake changes nothing.
      const observed = observeSnapshots(ctx.top.path, config, subvolumes);
      const plan = planSnapshot(observed, config, cls, subvolumes, now);
      checkPlan(plan.steps, snapshotScope(config, cls), snapshotCheckFacts(observed, config));
      let execution: Execution | undefined;
      let failure: StepError | undefined;
      if (!dryRun) {
        try {
          execution = executePlan(plan.steps, { top: ctx.top.path, log: createLogger({ quiet: true }) });
        } catch (error) {
          if (!(error instanceof StepError)) throw error;
          failure = error;
          execution = error.execution as Execution;
        }
      }
      const status = (n: number): StepStatus => (dryRun ? 'planned' : (execution?.status.get(n) ?? 'not-run'));
      const made = plan.created.filter((c) => dryRun || plan.steps.some((s) => s.action === 'snapshot' && s.dest === c.path && status(s.n) === 'done'));
      if (failure && !made.length) throw new PreconditionError(failure.message.replace(/^step \d+ \S+ failed: /, ''), { cause: failure });
      output(ctx.json, { dryRun, class: cls, now: now.toISOString(), created: made, steps: stepsJson(plan.steps, status) }, () =>
        [
          ...(dryRun ? ['dry run — nothing is changed', ...formatSteps(plan.steps, status)] : made.map((c) => `created ${c.path} (read-only snapshot of ${c.subvolume})`)),
        ].join('\n'),
      );
      if (failure) throw failure;
      return 0;
    });
  },
};
