// `metrics`: Prometheus text for node exporter's textfile collector (run by a timer), written atomically.
import { NotRegularFileError, readRegularFile } from '../fs/read-regular.js';
import { dirname, join, resolve } from 'node:path';
import type { Command } from '../cli/command.js';
import { parseFlags, stringFlag } from '../cli/args.js';
import { output, withTopLevel } from '../cli/context.js';
import { UsageError } from '../errors.js';
import { writeFileAtomic } from '../fs/atomic-write.js';
import { ensureRunDir, RUN_LAYOUT } from '../fs/run-dir.js';
import { assertSafePath, btrfsProgram } from '../btrfs/commands.js';
import { takeInventory } from '../btrfs/inventory.js';
import { listDirectory, measureSpace } from '../boot/observe.js';
import { observeSnapshots } from '../snapshots/observe.js';
import { realSnapshots } from '../snapshots/plan-prune.js';
import { SNAPSHOT_CLASSES } from '../config/load-config.js';
import { runCommand } from '../btrfs/run.js';
import { LAST_REPORT_FILE } from '../boot/observe.js';
import { DEFAULT_REPORT } from '../boot/report.js';
import { buildMetrics, type LastBoot } from '../metrics/collect.js';
import { formatExposition } from '../metrics/exposition.js';
import { parseDeviceStats, parseFilesystemUsage } from '../metrics/parse-btrfs.js';
import { writeOut, writeErr } from '../cli/io.js';
import { countArchivedStates, stateOfReport } from '../state/list.js';

const USAGE = `Usage: pantheros-rollback metrics [--output FILE] [--report FILE]
                                  [--device DEV | --top-level DIR] [--config FILE] [--json]

Prints metrics in the Prometheus text format, for node exporter's textfile collector
(e.g. --output /var/lib/prometheus-node-exporter/textfile/pantheros.prom). All names start with
pantheros_: archives, snapshots per class and subvolume, age of the newest snapshot, the last boot's
rollback result (a gauge labelled result=ok|fell-back|kept|dry-run|failed|refused), duration and exit
code, filesystem size/used/free/unallocated bytes (btrfs filesystem usage -b) and the device error
counters (btrfs device stats), one series per device and counter.

  --output FILE    write the Prometheus text to FILE (mode 0644) instead of stdout, atomically: a hidden
                   temporary file created exclusively (O_EXCL|O_NOFOLLOW) in FILE's directory, which is
                   reached without following any symlink, fsync'ed, renamed over FILE; the directory
                   fsync'ed. A symlink at FILE is replaced, never followed (one into /proc or to a
                   directory, device, FIFO or socket, and a device, FIFO or socket itself, is refused). ${RUN_LAYOUT.metrics.path}
                   is created (0755) if it is FILE's directory
  --report FILE    the last boot's report (default ${DEFAULT_REPORT}, else the persistent copy
                   <archive dir>/${LAST_REPORT_FILE})
  --device DEV     mount the btrfs top level of DEV privately (read-only) for this run
  --top-level DIR  use an already-mounted top level (subvolid=5)
  --config FILE    JSON config (default /etc/pantheros/rollback.json)
  --json           print the metrics as JSON ({version, metrics:[{name, help, type, samples}]}) instead of the
                   text (with --output: print {output, metrics} after writing the text)

Exit: 0 ok, 2 usage, 3 precondition failed (e.g. the output directory does not exist, or a component of
its path is a symlink), 77 not run as root.`;

/** Writes the exposition text: the shared atomic writer; the default directory under /run gets its fixed modes first. */
function writeMetricsFile(path: string, text: string): void {
  if (dirname(resolve(path)) === RUN_LAYOUT.metrics.path) ensureRunDir('metrics');
  writeFileAtomic(path, text, { mode: 0o644 });
}

// The last boot's report: the one in /run (this boot), else the persistent copy the engine keeps next to the archives.
function readLastBoot(candidates: string[], warn: (m: string) => void): LastBoot | undefined {
  for (const file of candidates) {
    let text: string;
    try {
      // A regular file only (a FIFO would hang this timer's unit); the kept copy is never read through a symlink.
      text = readRegularFile(file, { noFollow: file !== DEFAULT_REPORT }).toString('utf8');
    } catch (error) {
      if (error instanceof NotRegularFileError) warn(`${error.message}: not read`);
      continue;
    }
    try {
      const r = JSON.parse(text) as { result?: unknown; durationMs?: unknown; now?: unknown; exitCode?: unknown; warnings?: unknown };
      if (typeof r.result !== 'string' || typeof r.durationMs !== 'number') throw new Error('no "result" or "durationMs"');
      return {
        source: file,
        result: r.result,
        durationMs: r.durationMs,
        now: typeof r.now === 'string' ? r.now : new Date(0).toISOString(),
        exitCode: typeof r.exitCode === 'number' ? r.exitCode : -1,
        warnings: Array.isArray(r.warnings) ? r.warnings.length : 0,
        state: stateOfReport((r as { state?: unknown }).state),
      };
    } catch (error) {
      warn(`ignoring the report ${file}: ${(error as Error).message}`);
    }
  }
  return undefined;
}

export const metricsCommand: Command = {
  name: 'metrics',
  usage: USAGE,
  async run(argv) {
    const args = parseFlags(argv, { string: ['output', 'report'] }, 'metrics');
    if (args._.length) throw new UsageError(`metrics: unexpected argument ${String(args._[0])}`);
    const outFile = stringFlag(args, 'output');
    const reportFile = stringFlag(args, 'report');
    return withTopLevel(args, { readOnly: true }, (ctx) => {
      const top = ctx.top.path;
      const { oldRoots, snapshots } = ctx.config.subvolumes;
      const warn = (m: string) => writeErr(`pantheros-rollback: warning: ${m}\n`);
      // Counted from the filesystem (names in the archive and class directories, facts verified), as list and prune count.
      const inventory = takeInventory(top, { writableMount: false });
      const archives = listDirectory(join(top, oldRoots)).filter((e) => e.kind === 'subvolume' && e.validName && !e.name.startsWith('.') && inventory.record(`${oldRoots}/${e.name}`)).length;
      const usage = runCommand([btrfsProgram(), 'filesystem', 'usage', '-b', assertSafePath(top)]);
      if (usage.code !== 0) warn(`btrfs filesystem usage failed: ${usage.stderr.trim()}`);
      const stats = runCommand([btrfsProgram(), 'device', 'stats', assertSafePath(top)]);
      if (stats.code !== 0 && !stats.stdout) warn(`btrfs device stats failed: ${stats.stderr.trim()}`);
      const metrics = buildMetrics({
        now: new Date(),
        archives,
        snapshots: realSnapshots(observeSnapshots(top, ctx.config, [], { inventory }), ctx.config, SNAPSHOT_CLASSES).facts,
        lastBoot: readLastBoot(reportFile ? [reportFile] : [DEFAULT_REPORT, join(top, oldRoots, LAST_REPORT_FILE)], warn),
        usage: usage.code === 0 ? parseFilesystemUsage(usage.stdout) : undefined,
        deviceStats: parseDeviceStats(stats.stdout),
        freePercent: measureSpace(top)?.freePercent,
        minFreePercent: ctx.config.oldRoots.minFreePercent,
        archivedStates: countArchivedStates(top, ctx.config),
      });
      const text = formatExposition(metrics);
      if (outFile) {
        writeMetricsFile(outFile, text);
        output(ctx.json, { output: outFile, metrics: metrics.length }, () => `wrote ${metrics.length} metrics to ${outFile}`);
      } else if (ctx.json) output(true, { metrics }, () => '');
      else writeOut(text);
      return 0;
    });
  },
};
