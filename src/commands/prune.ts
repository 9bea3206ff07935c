// `prune`: deletes timed snapshots beyond the newest N of each class (per subvolume), with a reason for every verdict.
import { oneLine, showName } from '../cli/show-text.js';
import type { Command } from '../cli/command.js';
import { parseFlags, stringFlag } from '../cli/args.js';
import { output, withTopLevel } from '../cli/context.js';
import { EXIT, PreconditionError, UsageError } from '../errors.js';
import { SNAPSHOT_CLASSES } from '../config/load-config.js';
import { checkPlan } from '../engine/check.js';
import { executePlan, type Execution, type StepStatus } from '../engine/execute.js';
import { formatNotice } from '../engine/plan.js';
import { isDirectoryKind } from '../fs/entry-kind.js';
import { createLogger } from '../log/logger.js';
import { observeSnapshots } from '../snapshots/observe.js';
import { planPrune, pruneCheckFacts, pruneScope, type PrunePlan } from '../snapshots/plan-prune.js';
import { formatSteps, stepsJson } from '../cli/plan-text.js';
import { parseClassFlag } from './snapshot.js';

const USAGE = `Usage: pantheros-rollback prune [--dry-run] [--class hourly|daily|weekly|monthly|activation]
                                [--device DEV | --top-level DIR] [--config FILE] [--json]

Deletes timed snapshots (made by "pantheros-rollback snapshot") beyond the newest N of each class,
per snapshotted subvolume; N comes from the config key
  "snapshotRetention": {"hourly": 24, "daily": 7, "weekly": 4, "monthly": 6, "activation": 10}
These are counts, not wall-clock windows: a machine that was off keeps its history. The newest
snapshot of a class is never deleted, even when N is 0. Order: btrfs creation generation, then name.
Prints a reason for every snapshot kept and deleted.

Only read-only subvolumes directly inside <snapshots>/<class>/ whose names parse as
<subvolume>.<YYYYMMDDTHHMMSSZ>[_NN] and that hold no nested subvolume are counted; anything else there
is left alone (and listed). Facts come from the filesystem (src/btrfs/inventory.ts), each snapshot to
delete is confirmed read-only with btrfs subvolume show, the plan passes the safety check (never the
newest snapshot of a group, never the snapshot the running root was made from, never a mounted one),
and one "btrfs subvolume delete --commit-after" deletes.

  --dry-run        print the verdicts, delete nothing
  --class C        only this class
  --device DEV     mount the btrfs top level of DEV privately for this run
  --top-level DIR  use an already-mounted top level (subvolid=5)
  --config FILE    JSON config (default /etc/pantheros/rollback.json)
  --json           print {version, dryRun, retention, verdicts:[{path, name, class, subvolume, action, reason}],
                   ignored, deleted, failed, dropped, steps, warnings}

Exit: 0 ok, 1 a delete failed (the snapshot stays; run prune again), 2 usage (e.g. unknown class),
      3 precondition failed, 77 not run as root.`;

function formatPrune(plan: PrunePlan, dropped: { path: string; why: string }[], dryRun: boolean, deleted: Set<string>, status: (n: number) => StepStatus): string {
  const lines: string[] = [];
  if (dryRun) lines.push('dry run — nothing is deleted');
  for (const v of plan.verdicts) {
    const gone = v.action === 'delete' && (dryRun || deleted.has(v.path));
    // Reasons name paths (a mount point inside a snapshot, a name a user chose): each line stays one line.
    lines.push(`${v.action === 'keep' ? 'keep  ' : dryRun ? 'would delete' : gone ? 'delete' : 'FAILED to delete'} ${showName(`${v.class}/${v.name}`)}: ${oneLine(v.reason)}`);
  }
  for (const d of dropped) lines.push(`keep   ${showName(d.path)}: the safety check refused to delete it (${oneLine(d.why)})`);
  for (const i of plan.ignored) lines.push(`ignore ${showName(i.path)}: ${oneLine(i.reason)}`);
  for (const n of plan.notices) lines.push(`${n.severity}: ${oneLine(formatNotice(n))}`);
  if (plan.steps.length) lines.push('steps:', ...formatSteps(plan.steps, status));
  const del = plan.verdicts.filter((v) => v.action === 'delete').length;
  lines.push(`${plan.verdicts.length - del} kept, ${dryRun ? del : deleted.size} ${dryRun ? 'would be deleted' : 'deleted'}${plan.ignored.length ? `, ${plan.ignored.length} ignored` : ''}`);
  return lines.join('\n');
}

export const pruneCommand: Command = {
  name: 'prune',
  usage: USAGE,
  async run(argv) {
    const args = parseFlags(argv, { string: ['class'], boolean: ['dry-run'] }, 'prune');
    if (args._.length) throw new UsageError(`prune: unexpected argument ${String(args._[0])}`);
    const only = parseClassFlag(stringFlag(args, 'class'), 'prune', false);
    const dryRun = args['dry-run'] === true;
    return withTopLevel(args, { readOnly: dryRun }, (ctx) => {
      const { config } = ctx;
      const observed = observeSnapshots(ctx.top.path, config);
      if (!isDirectoryKind(observed.kinds[config.subvolumes.snapshots])) {
        throw new PreconditionError(`the snapshots location ${config.subvolumes.snapshots} is ${observed.kinds[config.subvolumes.snapshots] === 'missing' ? 'missing' : `a ${observed.kinds[config.subvolumes.snapshots]}`}`);
      }
      let plan = planPrune(observed, config, only ? [only] : SNAPSHOT_CLASSES);
      // Each snapshot to delete is confirmed read-only on its own (btrfs subvolume show), not from a listing line.
      const confirmed = new Map(plan.deletions.flatMap((d) => {
        const r = observed.confirm(d.path);
        return r ? [[d.path, r] as const] : [];
      }));
      const checked = checkPlan(plan.steps, pruneScope(config), pruneCheckFacts(observed, config, confirmed));
      if (checked.dropped.length) {
        const dropped = new Set(checked.dropped.map((d) => d.path));
        plan = { ...plan, steps: checked.steps, deletions: plan.deletions.filter((d) => !dropped.has(d.path)), verdicts: plan.verdicts.map((v) => (dropped.has(v.path) ? { ...v, action: 'keep', reason: `kept: the safety check refused it (${checked.dropped.find((d) => d.path === v.path)!.why})` } : v)) };
      }
      let execution: Execution | undefined;
      if (!dryRun) execution = executePlan(plan.steps, { top: ctx.top.path, log: createLogger({ quiet: true }) });
      const deleted = new Set([...(execution?.items.values() ?? [])].filter((o) => o.deleted).map((o) => o.path));
      const status = (n: number): StepStatus => (dryRun ? 'planned' : (execution?.status.get(n) ?? 'not-run'));
      const failed = plan.deletions.filter((d) => !dryRun && !deleted.has(d.path));
      output(
        ctx.json,
        {
          dryRun,
          retention: config.snapshotRetention,
          verdicts: plan.verdicts,
          ignored: plan.ignored,
          deleted: [...deleted],
          failed: failed.map((d) => ({ path: d.path, error: execution?.items.get(d.path)?.error ?? null })),
          dropped: checked.dropped,
          steps: stepsJson(plan.steps, status),
          warnings: plan.notices.map(formatNotice),
        },
        () => formatPrune(plan, checked.dropped, dryRun, deleted, status),
      );
      return failed.length ? EXIT.step : EXIT.ok;
    });
  },
};
