// What the VM test needs before its first boot (tools, kernel, initrd) and the per-runtime
// bookkeeping of boots for the summary line.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requirePrerequisites, type Runtime } from '../helpers/prereq.js';
import { CACHE, fetchKernel, type Kernel } from './kernel.js';
import { buildInitrd, sharedLibraries, type Initrd } from './initrd.js';

const VM_TOOLS = [
  'qemu-system-x86_64', 'busybox', 'cpio', 'zstd', 'depmod', 'apt-get', 'apt-cache', 'dpkg-deb', 'ldd', 'mknod',
  'btrfs', 'mkfs.btrfs', 'mount', 'umount', 'truncate',
];
const VM_PACKAGES = 'apt-get install -y --no-install-recommends qemu-system-x86 busybox-static cpio zstd kmod btrfs-progs util-linux';

export interface BootRecord {
  label: string;
  /** Whether a disk was attached (the no-disk boot's duration is its bounded wait). */
  disk: boolean;
  /** The tool's own durationMs from its report; null when there was no report. */
  durationMs: number | null;
  /** The report's processMs: durationMs plus the runtime's start-up. */
  processMs: number | null;
  /** Wall time of the whole QEMU run (kernel, initrd, tool, checks, power-off). */
  wallMs: number;
}

export interface Rig {
  runtime: Runtime;
  kernel: Kernel;
  initrd: Initrd;
  prepareMs: number;
  boots: BootRecord[];
}

/** Fails with an install hint when a tool is missing; the initrd needs the static busybox. */
export function requireVmPrerequisites(): void {
  requirePrerequisites(VM_TOOLS, VM_PACKAGES);
  if (sharedLibraries('/bin/busybox').length > 0) throw new Error(`/bin/busybox is dynamically linked — run: ${VM_PACKAGES}`);
}

/** Kernel (downloaded once) and the initrd for this runtime with the current bundle and config. */
export function prepareRig(runtime: Runtime, config: object): Rig {
  const started = performance.now();
  requireVmPrerequisites();
  const kernel = fetchKernel();
  const initrd = buildInitrd(kernel, runtime, config);
  return { runtime, kernel, initrd, prepareMs: performance.now() - started, boots: [] };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (!s.length) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

/** The summary line of one runtime; also written to .cache/vm/summary-<runtime>.json. */
export function summarize(rig: Rig): string {
  const withDisk = rig.boots.filter((b) => b.disk && b.durationMs !== null);
  const durations = withDisk.map((b) => b.durationMs!);
  const processes = withDisk.map((b) => b.processMs).filter((p): p is number => p !== null);
  const walls = rig.boots.map((b) => b.wallMs / 1000);
  const noDisk = rig.boots.filter((b) => !b.disk && b.durationMs !== null).map((b) => `${(b.durationMs! / 1000).toFixed(1)} s`);
  const line =
    `vm summary ${rig.runtime.name}: ${rig.boots.length} boots, tool duration median ${median(durations).toFixed(0)} ms, ` +
    `max ${Math.max(...durations).toFixed(0)} ms over ${durations.length} boots with a disk ` +
    `(process incl. runtime start-up median ${median(processes).toFixed(0)} ms); ` +
    `boot wall median ${median(walls).toFixed(1)} s, max ${Math.max(...walls).toFixed(1)} s; ` +
    `no-disk boot gave up after ${noDisk.join(', ') || 'n/a'}; ` +
    `initrd ${mb(rig.initrd.bytes)} (zstd -19 base ${mb(rig.initrd.baseBytes)}); kernel ${rig.kernel.version}; ` +
    `prepare ${(rig.prepareMs / 1000).toFixed(1)} s${rig.initrd.cachedBase ? ' (cached base)' : ''}`;
  writeFileSync(join(CACHE, `summary-${rig.runtime.name}.json`), `${JSON.stringify({ line, boots: rig.boots, initrd: rig.initrd }, null, 2)}\n`);
  return line;
}
