// Boots the test kernel and initrd under QEMU (software emulation: nested KVM hangs here) and
// parses what test/vm/init.sh printed between ==vmtest:…== markers on the serial console.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
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

/** The text between ==vmtest:NAME:begin== and ==vmtest:NAME:end==, or null. */
export function section(serial: string, name: string): string | null {
  const m = new RegExp(`==vmtest:${name}:begin==\\r?\\n([\\s\\S]*?)==vmtest:${name}:end==`).exec(serial);
  return m ? m[1]!.replace(/\r/g, '') : null;
}

/** The value of a ==vmtest:NAME:VALUE== marker, or null. */
export function marker(serial: string, name: string): string | null {
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

/** One QEMU run: a kernel, an initrd, raw virtio disks (vda, vdb, … in order) and where the second serial port goes. */
export interface QemuRun {
  vmlinuz: string;
  initrd: string;
  append: string[];
  /** Raw images attached as virtio disks, in order (/dev/vda, /dev/vdb, …). */
  drives?: string[];
  /** A file that receives what the guest writes to /dev/ttyS1 (evidence, away from the console's kernel messages). */
  ttyS1?: string;
  /** QEMU -rtc base=…; host UTC by default. */
  rtcBase?: string;
  timeoutMs: number;
}

export interface QemuResult {
  /** The console (ttyS0) and QEMU's own messages. */
  serial: string;
  /** What the guest wrote to /dev/ttyS1 ('' without ttyS1). */
  ttyS1: string;
  wallMs: number;
  /** QEMU exited by itself with status 0 (the guest powered off). */
  exited: boolean;
}

/** The qemu-system-x86_64 arguments of one run: software emulation (nested KVM hangs here), no default devices. */
export function qemuCommand(run: QemuRun): string[] {
  const args = [
    '-accel', 'tcg', '-cpu', 'max', '-smp', '1', '-m', '1024',
    // No default devices (no NIC option ROM to load), serial console on stdout, no monitor.
    '-nodefaults', '-display', 'none', '-serial', 'stdio', '-monitor', 'none', '-no-reboot',
    '-kernel', run.vmlinuz, '-initrd', run.initrd, '-append', run.append.join(' '),
  ];
  if (run.ttyS1) args.push('-serial', `file:${run.ttyS1}`);
  for (const d of run.drives ?? []) args.push('-drive', `file=${d},format=raw,if=virtio`);
  if (run.rtcBase) args.push('-rtc', `base=${run.rtcBase}`);
  return args;
}

/** Runs QEMU once and waits for the guest to power off; kills QEMU after timeoutMs. */
export function runQemu(run: QemuRun): QemuResult {
  const started = performance.now();
  if (run.ttyS1) writeFileSync(run.ttyS1, '');
  const r = spawnSync('qemu-system-x86_64', qemuCommand(run), {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: run.timeoutMs,
    killSignal: 'SIGKILL',
    maxBuffer: 64 * 1024 * 1024,
  });
  const wallMs = performance.now() - started;
  const serial = `${r.stdout ?? ''}${r.stderr ? `\n[qemu stderr]\n${r.stderr}` : ''}${r.error ? `\n[${r.error.message}]` : ''}`;
  const ttyS1 = run.ttyS1 && existsSync(run.ttyS1) ? readFileSync(run.ttyS1, 'utf8').replace(/\r/g, '') : '';
  return { serial, ttyS1, wallMs, exited: r.status === 0 };
}

function busyboxRun(options: BootOptions): QemuRun {
  const append = ['console=ttyS0', 'panic=-1', 'quiet', `vmtest_boot=${options.bootNumber ?? 0}`, ...(options.cmdline ?? [])];
  if (options.mode) append.push(`vmtest_mode=${options.mode}`);
  return {
    vmlinuz: options.kernel.vmlinuz, initrd: options.initrd, append, drives: options.disk ? [options.disk] : [],
    rtcBase: options.rtcBase, timeoutMs: options.timeoutMs ?? 180_000,
  };
}

/** Boots once and waits for the VM to power off; kills QEMU after timeoutMs. */
export function bootVm(options: BootOptions): BootOutcome {
  const r = runQemu(busyboxRun(options));
  return parseSerial(r.serial, r.wallMs, r.exited);
}
