// `boot`: the initrd's rollback (archive @root, make a new one); on a running system `--dry-run` shows what the
// next boot will do.
import type { Command } from '../cli/command.js';
import { parseFlags, stringFlag } from '../cli/args.js';
import { loadConfig, type Config } from '../config/load-config.js';
import { describeError, exitCodeFor, UsageError } from '../errors.js';
import { createLogger, inInitrd } from '../log/logger.js';
import { parseFailpoint } from '../engine/execute.js';
import { runBoot, runtimeName, writeReportFile } from '../boot/run-boot.js';
import { buildBootReport, DEFAULT_REPORT, formatPlan } from '../boot/report.js';
import { parseNow } from '../list/clock.js';
import { writeOut } from '../cli/io.js';
import { TOOL } from '../version.js';

const USAGE = `Usage: pantheros-rollback boot [--device DEV | --top-level DIR] [--config FILE] [--cmdline FILE]
                               [--now ISO-8601] [--report FILE] [--dry-run] [--json]

Archives the current root subvolume under the archive directory and makes a fresh root from the
read-only blank (or from the target named by pantheros.rollback= on the kernel command line, or by
a next-boot request), ages out old archives, and commits. Runs in the initrd before sysroot.mount.
On a running system --dry-run prints what the next boot will do (the root is mounted, so a real
run is refused there).

  --device DEV      mount the btrfs top level (subvolid=5) of DEV privately, waiting up to
                    deviceTimeoutSeconds (config, default 30) for it to appear; unmounted at the end
  --top-level DIR   use an already-mounted top level instead
  --config FILE     JSON config (default /etc/pantheros/rollback.json; missing means defaults)
  --cmdline FILE    kernel command line to read (default /proc/cmdline)
  --now ISO-8601    the clock to use (default: the system clock)
  --report FILE     where to write the JSON report (default in the initrd: ${DEFAULT_REPORT};
                    elsewhere none, so a run by hand never replaces the boot's report)
  --dry-run         print the plan with a reason for every step; change nothing
  --json            print the JSON report on stdout

Kernel command line: pantheros.rollback=<target> (or rd.pantheros.rollback=; the last one wins)
  blank (default; also a bare pantheros.rollback, 1, yes, on, true)  a fresh root from the blank
  keep | 0 | no | off | false  change nothing this boot
  previous                   a writable copy of the root of the previous boot
  <archive name>             a writable copy of that archive, e.g. 20261126T063251Z
  <class>/<name>             a writable copy of a snapshot of the root under the snapshots directory
Anything else is refused with a warning, and the normal boot happens.

pantheros.rollback.state=SPEC[,SPEC…] (or rd.pantheros.rollback.state=) rolls persistent subvolumes
back to snapshots in the same run, after the root's swap (see: pantheros-rollback state-rollback --help);
so does a request left by state-rollback --next-boot. Every run also finishes or undoes a state
rollback that was interrupted.

Exit: 0 a bootable root is in place and committed (also when a target was refused and it fell back),
      1 a step failed (the report says what is in place now; the next run recovers),
      2 usage or config error, 3 a precondition failed (nothing was changed), 4 internal error,
      77 not run as root.`;

/** boot's own flags (besides the common ones of src/cli/args.ts). */
export const BOOT_FLAGS = { string: ['cmdline', 'now', 'report'], boolean: ['dry-run'] };

/** In stage 1 a bad command line or config still leaves a report (result failed), so status and metrics show the boot did not roll back. */
function reportStage1Failure(error: unknown, args: { json: boolean; report: string | undefined }): number {
  const exitCode = exitCodeFor(error);
  const now = new Date();
  const report = buildBootReport({ tool: TOOL, runtime: runtimeName(), startedAt: now, now, dryRun: false, stage1: true, device: null, plan: undefined, execution: undefined, result: 'failed', warnings: [], error: describeError(error), exitCode });
  report.processMs = Math.round(process.uptime() * 100_000) / 100;
  const log = createLogger();
  log.error(`failed: ${describeError(error)}; the root was not rolled back this boot`);
  writeReportFile(args.report ?? DEFAULT_REPORT, report, log);
  log.close();
  if (args.json) writeOut(`${JSON.stringify(report, null, 2)}\n`);
  return exitCode;
}

export const bootCommand: Command = {
  name: 'boot',
  usage: USAGE,
  async run(argv) {
    const stage1 = inInitrd();
    // In stage 1 every run leaves a report, also one the command line or the config makes fail before it starts
    // (status and the metrics must not go on showing the previous boot as fine).
    let args: ReturnType<typeof parseFlags>;
    let config: Config;
    let now: Date;
    try {
      args = parseFlags(argv, BOOT_FLAGS, 'boot');
      if (args._.length) throw new UsageError(`boot: unexpected argument ${String(args._[0])}`);
      config = loadConfig(stringFlag(args, 'config'));
      now = parseNow(stringFlag(args, 'now'), 'boot');
    } catch (error) {
      const dry = argv.includes('--dry-run');
      if (stage1 && !dry && error instanceof UsageError) {
        const at = argv.indexOf('--report');
        const given = at >= 0 ? argv[at + 1] : argv.find((a) => a.startsWith('--report='))?.slice('--report='.length);
        return reportStage1Failure(error, { json: argv.includes('--json'), report: given?.startsWith('/') ? given : undefined });
      }
      throw error;
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
      reportFile: stringFlag(args, 'report') ?? (stage1 && !dryRun ? DEFAULT_REPORT : undefined),
      dryRun,
      stage1,
      failpoint: parseFailpoint(process.env.PANTHEROS_FAILPOINT),
      log,
    });
    const summary =
      report.error !== null
        ? `${report.result}: ${report.error}`
        : report.result === 'kept'
          ? 'kept: the root is unchanged this boot'
          : report.result === 'dry-run'
            ? `dry-run: would archive ${report.archived?.name ?? '(nothing)'}; new root from ${report.created?.from ?? '-'}; would delete ${report.deleted.length} archive(s); ${report.durationMs} ms`
            : `${report.result}: archived ${report.archived?.name ?? '(nothing)'}; new root from ${report.created?.from ?? '-'}; deleted ${report.deleted.length} archive(s); ${report.durationMs} ms`;
    if (report.error !== null) log.error(summary);
    else log.info(summary);
    log.close();
    if (json) writeOut(`${JSON.stringify(report, null, 2)}\n`);
    else if (dryRun) writeOut(`dry run — nothing is changed\n${formatPlan(report)}\n`);
    return report.exitCode;
  },
};
