// `prune`: deletes timed snapshots beyond the newest N of each class (per subvolume), with a reason for every verdict.
import { join } from 'node:path';
import type { Command } from '../cli/command.js';
import { parseFlags, stringFlag } from '../cli/args.js';
import { output, withTopLevel } from '../cli/context.js';
import { InternalError, PreconditionError, StepError, UsageError } from '../errors.js';
import { SNAPSHOT_CLASSES } from '../config/load-config.js';
import { deleteArgv } from '../btrfs/commands.js';
import { listSubvolumes } from '../btrfs/list.js';
import { CommandError, runChecked } from '../btrfs/run.js';
import { isReadOnly, kindOf, observePath, type EntryKind } from '../boot/observe.js';
import { collectSnapshotFacts } from '../retention/snapshot-facts.js';
import { decideSnapshotRetention, type SnapshotVerdict } from '../retention/snapshots.js';
import { parseClassFlag } from './snapshot.js';

const USAGE = `Usage: pantheros-rollback prune [--dry-run] [--class hourly|daily|weekly|monthly]
                                [--device DEV | --top-level DIR] [--config FILE] [--json]

Deletes timed snapshots (made by "pantheros-rollback snapshot") beyond the newest N of each class,
per snapshotted subvolume; N comes from the config key
  "snapshotRetention": {"hourly": 24, "daily": 7, "weekly": 4, "monthly": 6}
These are counts, not wall-clock windows: a machine that was off keeps its history. The newest
snapshot of a class is never deleted, even when N is 0. Order: btrfs creation generation, then name.
Prints a reason for every snapshot kept and deleted.

Only read-only subvolumes directly inside <snapshots>/<class>/ whose names parse as
<subvolume>.<YYYYMMDDTHHMMSSZ>[_NN] are considered; anything else there is left alone (and listed).
One "btrfs subvolume list" decides, one "btrfs subvolume delete --commit-after" deletes.

  --dry-run        print the verdicts, delete nothing
  --class C        only this class
  --device DEV     mount the btrfs top level of DEV privately for this run
  --top-level DIR  use an already-mounted top level (subvolid=5)
  --config FILE    JSON config (default /etc/pantheros/rollback.json)
  --json           print {dryRun, verdicts:[{path, name, class, subvolume, action, reason}], ignored, deleted}

Exit: 0 ok, 1 the delete failed (run prune again), 2 usage (e.g. unknown class), 3 precondition failed.`;

function formatPrune(verdicts: SnapshotVerdict[], ignored: { path: string; reason: string }[], dryRun: boolean): string {
  const lines: string[] = [];
  if (dryRun) lines.push('dry run — nothing is deleted');
  for (const v of verdicts) lines.push(`${v.action === 'keep' ? 'keep  ' : dryRun ? 'would delete' : 'delete'} ${v.class}/${v.name}: ${v.reason}`);
  for (const i of ignored) lines.push(`ignore ${i.path}: ${i.reason}`);
  const del = verdicts.filter((v) => v.action === 'delete').length;
  lines.push(`${verdicts.length - del} kept, ${del} ${dryRun ? 'would be deleted' : 'deleted'}${ignored.length ? `, ${ignored.length} ignored` : ''}`);
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
    return withTopLevel(args, {}, (ctx) => {
      const top = ctx.top.path;
      const snapshots = ctx.config.subvolumes.snapshots;
      const base = kindOf(join(top, snapshots));
      if (base !== 'subvolume' && base !== 'directory') throw new PreconditionError(`the snapshots location ${snapshots} is ${base === 'missing' ? 'missing' : `a ${base}`}`);
      const listing = listSubvolumes(top);
      const { facts, ignored } = collectSnapshotFacts(listing, snapshots, only ? [only] : SNAPSHOT_CLASSES, (p) => isReadOnly(join(top, p)));
      const verdicts = decideSnapshotRetention(facts, ctx.config.snapshotRetention);
      const doomed = verdicts.filter((v) => v.action === 'delete');
      // Invariants, checked on the final list: strictly inside a class directory, a real subvolume, never the newest of its group.
      for (const v of doomed) {
        if (!v.path.startsWith(`${snapshots}/${v.class}/`) || v.path.split('/').length !== snapshots.split('/').length + 2) throw new InternalError(`refusing to delete ${v.path}: not directly inside ${snapshots}/${v.class}/`);
        const kinds: Record<string, EntryKind> = {};
        observePath(top, v.path, kinds);
        const notDir = Object.entries(kinds).find(([p, k]) => p !== v.path && k !== 'directory' && k !== 'subvolume');
        if (notDir) throw new InternalError(`refusing to delete ${v.path}: ${notDir[0]} is a ${notDir[1]}, not a directory`);
        if (kinds[v.path] !== 'subvolume') throw new InternalError(`refusing to delete ${v.path}: it is a ${kinds[v.path]}, not a subvolume`);
        if (!verdicts.some((k) => k.action === 'keep' && k.class === v.class && k.subvolume === v.subvolume)) throw new InternalError(`refusing to delete every ${v.class} snapshot of ${v.subvolume}`);
      }
      let deleted: string[] = [];
      if (!dryRun && doomed.length) {
        try {
          runChecked(deleteArgv(doomed.map((v) => join(top, v.path))));
        } catch (error) {
          const detail = error instanceof CommandError ? error.result.stderr.trim() : String(error);
          throw new StepError(`deleting ${doomed.length} snapshot(s) failed: ${detail}`, [], 'some of them may be deleted; run prune again (it decides from what is left)', { cause: error });
        }
        deleted = doomed.map((v) => v.path);
      }
      output(ctx.json, { dryRun, retention: ctx.config.snapshotRetention, verdicts, ignored, deleted }, () => formatPrune(verdicts, ignored, dryRun));
      return 0;
    });
  },
};
