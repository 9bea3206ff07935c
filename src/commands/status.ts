// `status`: what the last boot's rollback did, from /run (this boot) or the copy kept next to the archives.
import { NotRegularFileError, readRegularFile } from '../fs/read-regular.js';
import { join } from 'node:path';
import type { Command } from '../cli/command.js';
import { parseFlags, stringFlag } from '../cli/args.js';
import { output, withTopLevel } from '../cli/context.js';
import { loadConfig } from '../config/load-config.js';
import { EXIT, PreconditionError, UsageError } from '../errors.js';
import { LAST_REPORT_FILE } from '../boot/observe.js';
import { DEFAULT_REPORT, formatStatePart, type BootReport } from '../boot/report.js';
import { formatUtc } from '../list/format.js';
import { oneLine } from '../cli/show-text.js';

const USAGE = `Usage: pantheros-rollback status [--report FILE] [--device DEV | --top-level DIR] [--config FILE] [--json]

Shows what the last boot's rollback did: the result (said plainly when it failed, was refused or
fell back to a fresh root), the target and where it came from, what was archived, what the new root
was made from, which archives were deleted and kept and why, warnings, and how long it took.

The report is read from ${DEFAULT_REPORT} (written by the initrd; /run survives the switch
to the real root, and is empty after a reboot that did not run the rollback), else from the copy the
boot keeps at <top level>/<oldRoots>/${LAST_REPORT_FILE} (every boot that executed its plan keeps one,
a failed one too; the top level is mounted read-only and privately just to read it).

  --report FILE     read this report instead
  --device DEV      the btrfs device, for the kept copy (default: "device" in the config)
  --top-level DIR   an already-mounted top level, for the kept copy
  --config FILE     JSON config (default /etc/pantheros/rollback.json)
  --json            print {version, source, headline, report} as JSON

Exit: 0 the last boot succeeded (ok, kept, fell back to a fresh root, or a dry run),
      1 the last boot's rollback failed or was refused, 2 usage, 3 no report found.`;

/** The first line: the result, plainly. */
export function headline(r: BootReport): string {
  const s = r.state;
  const why = s ? (s.error ?? (s.refused.map((x) => `${x.spec}: ${x.reason}`).join('; ') || '?')) : '';
  const state = s && (s.result === 'refused' || s.result === 'failed') ? `; state rollback ${s.result.toUpperCase()}: ${why}` : '';
  return `${rootHeadline(r)}${state}`;
}

/** The headline's part about the root. */
function rootHeadline(r: BootReport): string {
  const t = r.target;
  const from = r.created?.from ?? '-';
  switch (r.result) {
    case 'ok':
      return `Last boot: OK — new root from ${from}${r.archived ? `; previous root archived as ${r.archived.name}` : ''}`;
    case 'fell-back':
      return `Last boot: FELL BACK — pantheros.rollback=${JSON.stringify(t?.requested ?? '')} (from ${t?.origin ?? '?'}) refused: ${t?.refused ?? '?'}; booted a new root from ${from} instead`;
    case 'kept':
      return 'Last boot: KEPT — pantheros.rollback=keep: the root was left as it was (nothing archived or deleted)';
    case 'dry-run':
      return 'Last run: DRY RUN — nothing was changed';
    case 'refused':
      return `Last boot: REFUSED — the rollback did not run: ${r.error ?? '?'}`;
    case 'failed':
      return `Last boot: FAILED — ${r.error ?? '?'}`;
  }
}

/** The whole report as text, headline first. */
export function formatStatus(r: BootReport, source: string): string {
  const lines = [headline(r)];
  lines.push(`  when: ${formatUtc(new Date(r.startedAt))} UTC (clock ${r.now}), ${r.runtime}; rollback took ${r.durationMs} ms (${r.spawns} process${r.spawns === 1 ? '' : 'es'}, ${r.processMs} ms with start-up)`);
  if (r.target) lines.push(`  target: ${r.target.kind}${r.target.source ? ` (${r.target.source})` : ''}, requested ${r.target.requested === null ? '(nothing)' : JSON.stringify(r.target.requested)} by ${r.target.origin}`);
  lines.push(`  archived: ${r.archived ? `${r.archived.name} (${r.archived.path})` : 'nothing'}`);
  lines.push(`  created: ${r.created ? `${r.created.path} from ${r.created.from}` : 'nothing'}`);
  lines.push(`  deleted: ${r.deleted.length ? '' : 'nothing'}`.trimEnd());
  for (const d of r.deleted) lines.push(`    ${d.path}: ${d.reason}${d.subvolumes.length > 1 ? ` (${d.subvolumes.length} subvolumes)` : ''}`);
  lines.push(`  kept: ${r.kept.length ? '' : 'nothing'}`.trimEnd());
  for (const k of r.kept) lines.push(`    ${k.name}: ${oneLine(k.reason)}`);
  for (const x of r.recovered) lines.push(`  recovered: ${oneLine(x)}`);
  lines.push(`  warnings: ${r.warnings.length ? '' : 'none'}`.trimEnd());
  for (const w of r.warnings) lines.push(`    ${oneLine(w)}`);
  if (r.result === 'failed' || r.result === 'refused') {
    lines.push(`  steps: ${r.steps.length ? '' : 'none (nothing was run)'}`.trimEnd());
    for (const s of r.steps) lines.push(`    ${s.n}. ${s.action} ${oneLine(s.detail)} [${s.status}]`);
  }
  // State rollback (issue 14): what was rolled back, from which snapshot, where the old state was archived.
  if (r.state) lines.push(...formatStatePart(r.state, r.state.result === 'failed').map((l) => `  ${l}`));
  lines.push(`  report: ${source}`);
  return lines.join('\n');
}

type Read = { report: BootReport } | { missing: true } | { problem: string };

/** Reads a report (a regular file only: a FIFO put there would hang the read; noFollow for the kept copy). */
function readReport(path: string, options: { noFollow?: boolean } = {}): Read {
  let text: string;
  try {
    text = readRegularFile(path, options).toString('utf8');
  } catch (error) {
    if (error instanceof NotRegularFileError) return { problem: `cannot read ${path}: ${error.message}` };
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? { missing: true } : { problem: `cannot read ${path}: ${code ?? String(error)}` };
  }
  try {
    const report = JSON.parse(text) as BootReport;
    const lists = ['deleted', 'kept', 'recovered', 'warnings', 'steps'] as const;
    if (![1, 2, 3].includes(report?.version as number)) return { problem: `${path} is not a pantheros-rollback report (version 1, 2 or 3)` };
    if (typeof report.result !== 'string' || lists.some((k) => !Array.isArray(report[k]))) {
      return { problem: `${path} is not a pantheros-rollback report (version 1)` };
    }
    return { report };
  } catch (error) {
    return { problem: `${path} is not valid JSON: ${(error as Error).message}` };
  }
}

function show(json: boolean, report: BootReport, source: string): number {
  output(json, { source, headline: headline(report), report }, () => formatStatus(report, source));
  return report.result === 'failed' || report.result === 'refused' ? EXIT.step : EXIT.ok;
}

/** No report to show: a precondition failure (exit 3), printed as text, or as a JSON error with --json. */
function fail(message: string): never {
  throw new PreconditionError(`status: ${message}`);
}

export const statusCommand: Command = {
  name: 'status',
  usage: USAGE,
  async run(argv) {
    const args = parseFlags(argv, { string: ['report'] }, 'status');
    if (args._.length) throw new UsageError(`status: unexpected argument ${String(args._[0])}`);
    const json = args.json === true;
    // Validate the config even when /run answers, so a broken config is noticed (exit 2, naming the key).
    const config = loadConfig(stringFlag(args, 'config'));
    const explicit = stringFlag(args, 'report');
    const first = explicit ?? DEFAULT_REPORT;
    const read = readReport(first);
    if ('report' in read) return show(json, read.report, first);
    if ('problem' in read || explicit) return fail('problem' in read ? read.problem : `${explicit} does not exist`);
    if (!stringFlag(args, 'device') && !stringFlag(args, 'top-level') && !config.device) {
      return fail(`no report at ${DEFAULT_REPORT} (did the rollback run this boot?), and no device to read the kept copy from: give --device DEV or set "device" in the config`);
    }
    return withTopLevel(args, { readOnly: true }, ({ config: c, top }) => {
      const kept = join(top.path, c.subvolumes.oldRoots, LAST_REPORT_FILE);
      const r = readReport(kept, { noFollow: true });
      const shown = `<top level>/${c.subvolumes.oldRoots}/${LAST_REPORT_FILE}`;
      if ('report' in r) return show(json, r.report, shown);
      return fail('problem' in r ? r.problem : `no report at ${DEFAULT_REPORT} nor ${shown}: the rollback has not run on this filesystem yet`);
    });
  },
};
