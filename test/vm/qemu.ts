// Boots the test kernel and initrd under QEMU (software emulation: nested KVM hangs here) and
// parses what test/vm/init.sh printed between ==vmtest:…== markers on the serial console.
import { spawnSync } from 'node:child_process';
import type { BootReport } from '../../src/boot/report.js';
import type { Kernel } from './kernel.js';

/** The engine's report, as /init printed it from /run/pantheros-rollback/report.json. */
export type VmReport = BootReport;

export interface BootOptions {
  kernel: Kernel;
  initrd: string;
  /** Raw disk image attached as /dev/vda; none = the disk never appears. */
  disk?: string;
  /** Extra kernel parameters, e.g. pantheros.rollback=previous. */
  cmdline?: string[];
  /** Number written into the new @root by /init (vmtest_boot=N). */
  bootNumber?: number;
  /** QEMU -rtc base=…: the clock the VM starts with (e.g. 2026-03-15T00:00:00); host UTC by default. */
  rtcBase?: string;
  /** version: /init only runs `pantheros-rollback --version` (vmtest_mode=version). */
  mode?: 'version';
  timeoutMs?: number;
}

export interface BootOutcome {
  serial: string;
  wallMs: number;
  /** /init reached its end (==vmtest:done==) and QEMU exited by itself. */
  completed: boolean;
  exitCode: number | null;
  report: VmReport | null;
  reportText: string | null;
  stdout: string;
  stderr: string;
  kmsg: string[];
  mountinfo: string;
  /** ok: @root mounted and a file was written; read-only; unmountable; null if /init never got there. */
  root: string | null;
  rootListing: string;
  /** The command /init ran (the unit's ExecStart pointed at /dev/vda). */
  command: string | null;
  /** Output of `pantheros-rollback --version` (vmtest_mode=version). */
  version: string | null;
  /** The VM's clock (UTC) before the tool ran. */
  date: string;
  /** Seconds since kernel start at each stage, from /proc/uptime. */
  uptime: { init?: number; modules?: number; toolStart?: number; toolEnd?: number };
}

function section(serial: string, name: string): string | null {
  const m = new RegExp(`==vmtest:${name}:begin==\\r?\\n([\\s\\S]*?)==vmtest:${name}:end==`).exec(serial);
  return m ? m[1]!.replace(/\r/g, '') : null;
}

function marker(serial: string, name: string): string | null {
  return new RegExp(`==vmtest:${name}:([^=\\r\\n]*)==`).exec(serial)?.[1] ?? null;
}

/** Parses the serial log of one boot. */
export function parseSerial(serial: string, wallMs: number, exited: boolean): BootOutcome {
  const reportText = section(serial, 'report');
  let report: VmReport | null = null;
  if (reportText !== null) {
    try {
      report = JSON.parse(reportText) as VmReport;
    } catch {
      report = null; // reportText keeps what was printed; tests say so
    }
  }
  const exit = marker(serial, 'exit');
  const uptime = (n: string) => {
    const v = marker(serial, n);
    return v === null ? undefined : Number(v);
  };
  return {
    serial,
    wallMs,
    completed: exited && serial.includes('==vmtest:done=='),
    exitCode: exit === null ? null : Number(exit),
    report,
    reportText,
    stdout: section(serial, 'stdout') ?? '',
    stderr: section(serial, 'stderr') ?? '',
    kmsg: (section(serial, 'kmsg') ?? '').split('\n').filter(Boolean),
    mountinfo: section(serial, 'mountinfo') ?? '',
    root: marker(serial, 'root'),
    rootListing: section(serial, 'root-listing') ?? '',
    version: section(serial, 'version'),
    command: section(serial, 'command')?.trim() ?? null,
    date: (section(serial, 'date') ?? '').trim(),
    uptime: { init: uptime('init'), modules: uptime('modules'), toolStart: uptime('tool-start'), toolEnd: uptime('tool-end') },
  };
}

/** The last lines of a serial log, for failure messages. */
export function serialTail(serial: string, lines = 60): string {
  return serial.replace(/\r/g, '').split('\n').slice(-lines).join('\n');
}

export function qemuArgs(options: BootOptions): string[] {
  const append = ['console=ttyS0', 'panic=-1', 'quiet', `vmtest_boot=${options.bootNumber ?? 0}`, ...(options.cmdline ?? [])];
  if (options.mode) append.push(`vmtest_mode=${options.mode}`);
  const args = [
    '-accel', 'tcg', '-cpu', 'max', '-smp', '1', '-m', '1024',
    // No default devices (no NIC option ROM to load), serial console on stdout, no monitor.
    '-nodefaults', '-display', 'none', '-serial', 'stdio', '-monitor', 'none', '-no-reboot',
    '-kernel', options.kernel.vmlinuz, '-initrd', options.initrd, '-append', append.join(' '),
  ];
  if (options.disk) args.push('-drive', `file=${options.disk},format=raw,if=virtio`);
  if (options.rtcBase) args.push('-rtc', `base=${options.rtcBase}`);
  return args;
}

/** Boots once and waits for the VM to power off; kills QEMU after timeoutMs. */
export function bootVm(options: BootOptions): BootOutcome {
  const started = performance.now();
  const r = spawnSync('qemu-system-x86_64', qemuArgs(options), {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: options.timeoutMs ?? 180_000,
    killSignal: 'SIGKILL',
    maxBuffer: 64 * 1024 * 1024,
  });
  const wallMs = performance.now() - started;
  const serial = `${r.stdout ?? ''}${r.stderr ? `\n[qemu stderr]\n${r.stderr}` : ''}${r.error ? `\n[${r.error.message}]` : ''}`;
  return parseSerial(serial, wallMs, r.status === 0);
}
