// Parses what the stage-1 VM test's guest wrote to /dev/ttyS1: systemd's evidence recorded in the
// initrd (test/vm/stage1/vmtest-stage1.sh) and what stage 2 saw after switch-root (stage2-init.sh).
import type { BootReport } from '../../src/boot/report.js';
import { marker, section } from './qemu.js';
import type { QemuResult } from './qemu.js';

/** `systemctl show -p …` of several units: properties by unit Id. */
export type UnitProperties = Map<string, Record<string, string>>;

export interface JournalLine {
  /** Seconds since boot (journalctl -o short-monotonic). */
  t: number;
  /** The syslog identifier (kernel, systemd, pantheros-rollback, …). */
  ident: string;
  message: string;
}

export interface Stage1Outcome extends QemuResult {
  /** Stage 2 ran after switch-root: its PID (1 when it is init) and uptime; null if it never ran. */
  stage2: { pid: number; uptime: number } | null;
  /** Uptime when vmtest-emergency.service recorded the emergency state; null if emergency.target was never reached. */
  emergency: number | null;
  /** ==vmtest:done== was printed and QEMU exited by itself. */
  completed: boolean;
  report: BootReport | null;
  reportText: string | null;
  units: UnitProperties;
  /** `systemctl list-dependencies --after --plain sysroot.mount`, one unit per entry (trimmed). */
  afterSysroot: string[];
  journal: JournalLine[];
  /** The journal entries with SYSLOG_IDENTIFIER=pantheros-rollback (selected by field in the guest). */
  toolJournal: JournalLine[];
  mountinfo: string;
  /** ok: stage 2 wrote to / (the new root is writable); read-only otherwise; null if stage 2 never got there. */
  rootWrite: string | null;
  /** `ls -a /` in stage 2. */
  rootListing: string[];
}

/** Parses `systemctl show` output of several units (blocks separated by blank lines) into properties by Id. */
export function parseUnitProperties(text: string): UnitProperties {
  const units: UnitProperties = new Map();
  for (const block of text.split(/\n\s*\n/)) {
    const props: Record<string, string> = {};
    for (const line of block.split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) props[line.slice(0, eq)] = line.slice(eq + 1);
    }
    if (props.Id) units.set(props.Id, props);
  }
  return units;
}

/** Parses `journalctl -o short-monotonic` lines: `[   12.345678] host ident[pid]: message`. */
export function parseJournal(text: string): JournalLine[] {
  const lines: JournalLine[] = [];
  for (const line of text.split('\n')) {
    const m = /^\[\s*(\d+\.\d+)\] \S+ ([^:[\s]+)(?:\[\d+\])?: (.*)$/.exec(line);
    if (m) lines.push({ t: Number(m[1]), ident: m[2]!, message: m[3]! });
  }
  return lines;
}

/** Reads one stage-1 boot's ttyS1 output. */
export function parseStage1(result: QemuResult): Stage1Outcome {
  const out = result.ttyS1;
  const reportText = section(out, 'report');
  let report: BootReport | null = null;
  try {
    report = reportText === null ? null : (JSON.parse(reportText) as BootReport);
  } catch {
    report = null; // reportText keeps what was printed
  }
  const stage2 = /==vmtest:stage2:(\d+):([\d.]+)==/.exec(out);
  const emergency = marker(out, 'emergency');
  return {
    ...result,
    stage2: stage2 ? { pid: Number(stage2[1]), uptime: Number(stage2[2]) } : null,
    emergency: emergency === null ? null : Number(emergency),
    completed: result.exited && out.includes('==vmtest:done=='),
    report,
    reportText,
    units: parseUnitProperties(section(out, 'show') ?? ''),
    afterSysroot: (section(out, 'after-sysroot') ?? '').split('\n').map((l) => l.trim()).filter(Boolean),
    journal: parseJournal(section(out, 'journal') ?? ''),
    toolJournal: parseJournal(section(out, 'journal-tool') ?? ''),
    mountinfo: section(out, 'mountinfo') ?? '',
    rootWrite: marker(out, 'root'),
    rootListing: (section(out, 'root-listing') ?? '').split('\n').filter((l) => l && l !== '.' && l !== '..'),
  };
}

/** Microseconds of a `…TimestampMonotonic` property as seconds; NaN when absent. */
export function monotonic(units: UnitProperties, unit: string, property: string): number {
  const v = units.get(unit)?.[property];
  return v === undefined ? NaN : Number(v) / 1e6;
}
