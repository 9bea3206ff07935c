// The guest side of the power-cut test: the initrd (the VM test's busybox base plus dmsetup, the dm
// modules and test/powercut/init.sh) and one QEMU boot that records a boot's writes with
// dm-log-writes, or boots a replayed disk as the next boot after a power cut.
import { join } from 'node:path';
import type { BootReport } from '../../src/boot/report.js';
import { REPO, type Runtime } from '../helpers/prereq.js';
import { buildInitrd, type Initrd } from '../vm/initrd.js';
import type { Kernel } from '../vm/kernel.js';
import { marker, runQemu, section, type QemuResult } from '../vm/qemu.js';

const INIT = join(REPO, 'test/powercut/init.sh');
const DMSETUP = '/sbin/dmsetup';

/** The power-cut initrd for this runtime and config (cheap: an uncompressed overlay on the cached VM test base). */
export function buildPowercutInitrd(kernel: Kernel, runtime: Runtime, config: object): Initrd {
  return buildInitrd(kernel, runtime, config, { name: 'powercut', init: INIT, binaries: [DMSETUP], modules: kernel.dmModules });
}

export type GuestMode = 'record-device' | 'record-top-level' | 'plain';

export interface GuestBoot extends QemuResult {
  completed: boolean;
  exitCode: number | null;
  report: BootReport | null;
  stderr: string;
  /** ok: the new @root mounted and a file in it was written and fsynced. */
  root: string | null;
  /** `dmsetup status lw`: "0 <size> log-writes <entries> <next sector>" (and logging_disabled if the log ran out). */
  logStatus: string;
}

/**
 * The guest's clock runs this far ahead of the host's. The scenarios seed archives on the host (btrfs records the
 * host's time as their creation time) named days before the guest's present: so every archive was made before the
 * time in its name, as on a real machine (a name earlier than the creation time means a clock that was behind, and
 * the engine then ages the archive from its creation time).
 */
export const GUEST_CLOCK_AHEAD_MS = 200 * 86_400_000;

/** Now, as the guest's clock will say it. */
export const guestNow = () => Date.now() + GUEST_CLOCK_AHEAD_MS;

/** Boots disk (and, when recording, log as /dev/vdb) once; cmdline holds the pantheros.rollback= words. */
export function bootGuest(kernel: Kernel, initrd: Initrd, mode: GuestMode, disk: string, log: string | null, cmdline: string[], ttyS1: string): GuestBoot {
  const r = runQemu({
    vmlinuz: kernel.vmlinuz, initrd: initrd.path, append: ['console=ttyS0', 'panic=-1', 'quiet', `pc_mode=${mode}`, ...cmdline],
    drives: log ? [disk, log] : [disk], ttyS1, timeoutMs: 300_000,
    rtcBase: new Date(guestNow()).toISOString().replace(/\.\d{3}Z$/, ''),
  });
  const out = r.ttyS1;
  const exit = marker(out, 'exit');
  let report: BootReport | null = null;
  try {
    report = JSON.parse(section(out, 'report') ?? 'null') as BootReport | null;
  } catch {
    report = null;
  }
  return {
    ...r,
    completed: r.exited && out.includes('==vmtest:done=='),
    exitCode: exit === null ? null : Number(exit),
    report,
    stderr: section(out, 'stderr') ?? '',
    root: marker(out, 'root'),
    logStatus: (section(out, 'log-status') ?? '').trim(),
  };
}
