// `boot`: the initrd's rollback (archive @root, make a new one), also runnable by hand with --dry-run.
import type { Command } from '../cli/command.js';
import { parseFlags, stringFlag } from '../cli/args.js';
import { loadConfig } from '../config/load-config.js';
import { UsageError } from '../errors.js';
import { createLogger } from '../log/logger.js';
import { parseFailpoint } from '../boot/execute.js';
import { runBoot } from '../boot/run-boot.js';
import { DEFAULT_REPORT, formatPlan } from '../boot/report.js';
import { writeOut } from '../cli/io.js';

const USAGE = `Usage: pantheros-rollback boot [--device DEV | --top-level DIR] [--config FILE] [--cmdline FILE]
                               [--now ISO-8601] [--report FILE] [--dry-run] [--json]

Archives the current root subvolume under the archive directory and makes a fresh root from the
read-only blank (or from the target named by pantheros.rollback= on the kernel command line, or by
a next-boot request), then ages out old archives. Runs in the initrd before sysroot.mount.

  --device DEV      mount the btrfs top level (subvolid=5) of DEV privately, waiting up to
                    deviceTimeoutSeconds (config, default 30) for it to appear; unmounted at the end
  --top-level DIR   use an already-mounted top level instead
  --config FILE     JSON config (default /etc/pantheros/rollback.json; missing means defaults)
  --cmdline FILE    kernel command line to read (default /proc/cmdline)
  --now ISO-8601    the clock to use (default: the system clock)
  --report FILE     where to write the JSON report (default ${DEFAULT_REPORT})
  --dry-run         print the plan with a reason for every step; change nothing
  --json            print the JSON report on stdout

Kernel command line: pantheros.rollback=<target> (or rd.pantheros.rollback=; the last one wins)
  blank (default)            a fresh root from the blank
  keep | 0 | no | off | false  change nothing this boot
  previous                   a writable copy of the root of the previous boot
  <archive name>             a writable copy of that archive, e.g. 20261126T063251Z
  <class>/<name>             a writable copy of a snapshot under the snapshots directory
Anything else is refused with a warning, and the normal boot happens.

Exit: 0 a bootable root is in place (also when a target was refused and it fell back),
      1 a step failed (the report says what is in place now; the next run recovers),
      2 usage, 3 a precondition failed (nothing was changed), 4 internal error.`;

export const bootCommand: Command = {
  name: 'boot',
  usage: USAGE,
  async run(argv) {
    const args = parseFlags(argv, { string: ['cmdline', 'now', 'report'], boolean: ['dry-run'] }, 'boot');
    if (args._.length) throw new UsageError(`boot: unexpected argument ${String(args._[0])}`);
    const config = loadConfig(stringFlag(args, 'config'));
    const nowText = stringFlag(args, 'now');
    const now = nowText === undefined ? new Date() : new Date(nowText);
    if (Number.isNaN(now.getTime()) || (nowText !== undefined && !/^\d{4}-\d{2}-\d{2}T/.test(nowText))) {
      throw new UsageError(`boot: --now must be an ISO-8601 time such as 2026-11-26T06:00:00Z, not ${JSON.stringify(nowText)}`);
    }
    const json = args.json === true;
    const dryRun = args['dry-run'] === true;
    const log = createLogger();
    const report = await runBoot({
      config,
      device: stringFlag(args, 'device') ?? (stringFlag(args, 'top-level') ? undefined : config.device),
      topLevel: stringFlag(args, 'top-level'),
      cmdlineFile: stringFlag(args, 'cmdline') ?? '/proc/cmdline',
      now,
      reportFile: stringFlag(args, 'report') ?? (dryRun ? undefined : DEFAULT_REPORT),
      dryRun,
      failpoint: parseFailpoint(process.env.PANTHEROS_FAILPOINT),
      log,
    });
    const summary =
      report.error !== null
        ? `${report.result}: ${report.error}`
        : report.result === 'kept'
          ? 'kept: the root is unchanged this boot'
          : `${report.result}: archived ${report.archived?.name ?? '(nothing)'}; new root from ${report.created?.from ?? '-'}; deleted ${report.deleted.length} archive(s); ${report.durationMs} ms`;
    if (report.error !== null) log.error(summary);
    else log.info(summary);
    log.close();
    if (json) writeOut(`${JSON.stringify(report, null, 2)}\n`);
    else if (dryRun) writeOut(`dry run — nothing is changed\n${formatPlan(report)}\n`);
    return report.exitCode;
  },
};
