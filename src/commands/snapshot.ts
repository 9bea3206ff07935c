// `snapshot`: read-only timed snapshots of persistent subvolumes under <snapshots>/<class>/ (run by a timer).
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from '../cli/command.js';
import { parseFlags, stringFlag, type ParsedArgs } from '../cli/args.js';
import { output, withTopLevel } from '../cli/context.js';
import { PreconditionError, StepError, UsageError } from '../errors.js';
import { SNAPSHOT_CLASSES, type SnapshotClass } from '../config/load-config.js';
import { snapshotArgv } from '../btrfs/commands.js';
import { CommandError, runChecked } from '../btrfs/run.js';
import { kindOf } from '../boot/observe.js';
import { snapshotName } from '../retention/snapshots.js';

const USAGE = `Usage: pantheros-rollback snapshot --class hourly|daily|weekly|monthly [SUBVOLUME ...]
                                   [--now ISO-8601] [--device DEV | --top-level DIR] [--config FILE] [--json]

Takes a read-only snapshot (btrfs subvolume snapshot -r) of each SUBVOLUME (default: the config's
snapshotSubvolumes, ["@persistent"]) as <snapshots>/<class>/<name>, creating the class directory if
needed. Names are <subvolume>.<YYYYMMDDTHHMMSSZ>[_NN] in UTC: they sort by time, and a second snapshot
in the same second (or with the clock set back) gets _01, _02 … so names never collide. In the
subvolume part every character outside A-Z a-z 0-9 _ @ : + - . (and a leading .) is written as ~ and
two hex digits of its UTF-8 bytes: @home/alice → @home~2falice.20261126T063251Z. Such a name is also a
valid boot target: pantheros.rollback=<class>/<name>.

  --class C        hourly, daily, weekly or monthly (required); prune keeps the newest N of each
  SUBVOLUME        path relative to the top level, e.g. @persistent or @home/alice
  --now ISO-8601   the time to name the snapshot by (default: the system clock)
  --device DEV     mount the btrfs top level of DEV privately for this run
  --top-level DIR  use an already-mounted top level (subvolid=5)
  --config FILE    JSON config (default /etc/pantheros/rollback.json)
  --json           print {class, now, created:[{subvolume, name, path}]}

Exit: 0 all taken, 1 some taken and then one failed, 2 usage (e.g. unknown class),
      3 precondition failed (e.g. a subvolume does not exist; nothing was taken).`;

/** --now as a Date; the system clock when absent. */
export function parseNowFlag(args: ParsedArgs, command: string): Date {
  const text = stringFlag(args, 'now');
  if (text === undefined) return new Date();
  const now = new Date(text);
  if (Number.isNaN(now.getTime()) || !/^\d{4}-\d{2}-\d{2}T/.test(text)) {
    throw new UsageError(`${command}: --now must be an ISO-8601 time such as 2026-11-26T06:00:00Z, not ${JSON.stringify(text)}`);
  }
  return now;
}

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
    const args = parseFlags(argv, { string: ['class', 'now'] }, 'snapshot');
    const cls = parseClassFlag(stringFlag(args, 'class'), 'snapshot', true)!;
    const now = parseNowFlag(args, 'snapshot');
    const requested = args._.map((a) => checkSubvolumeArg(String(a)));
    return withTopLevel(args, {}, (ctx) => {
      const top = ctx.top.path;
      const subvolumes = [...new Set(requested.length ? requested : ctx.config.snapshotSubvolumes)];
      if (!subvolumes.length) throw new UsageError('snapshot: no subvolumes given and the config\'s snapshotSubvolumes is empty');
      // Check everything before the first change, so a mistake changes nothing.
      for (const s of subvolumes) {
        const kind = kindOf(join(top, s));
        if (kind !== 'subvolume') throw new PreconditionError(`cannot snapshot ${s}: ${kind === 'missing' ? 'no such subvolume' : `it is a ${kind}, not a subvolume`}`);
      }
      const snapshots = ctx.config.subvolumes.snapshots;
      const base = kindOf(join(top, snapshots));
      if (base !== 'subvolume' && base !== 'directory') {
        throw new PreconditionError(`the snapshots location ${snapshots} is ${base === 'missing' ? 'missing' : `a ${base}`}; create it with: btrfs subvolume create ${join(top, snapshots)}`);
      }
      const classDir = join(top, snapshots, cls);
      const classKind = kindOf(classDir);
      if (classKind === 'missing') mkdirSync(classDir);
      else if (classKind !== 'directory' && classKind !== 'subvolume') throw new PreconditionError(`${snapshots}/${cls} is a ${classKind}, not a directory`);
      const existing = new Set(readdirSync(classDir));
      const created: { subvolume: string; name: string; path: string }[] = [];
      for (const s of subvolumes) {
        const name = snapshotName(s, now, existing);
        existing.add(name);
        try {
          runChecked(snapshotArgv(join(top, s), join(classDir, name), true));
        } catch (error) {
          const detail = error instanceof CommandError ? error.result.stderr.trim() : String(error);
          if (!created.length) throw new PreconditionError(`cannot snapshot ${s}: ${detail}`, { cause: error });
          throw new StepError(`cannot snapshot ${s}: ${detail}`, created.map((c) => `snapshot ${c.path}`), `the snapshots listed as completed exist; nothing else was changed`, { cause: error });
        }
        created.push({ subvolume: s, name, path: `${snapshots}/${cls}/${name}` });
      }
      output(ctx.json, { class: cls, now: now.toISOString(), created }, () => created.map((c) => `created ${c.path} (read-only snapshot of ${c.subvolume})`).join('\n'));
      return 0;
    });
  },
};
