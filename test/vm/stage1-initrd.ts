// Builds the systemd stage-1 initrd of the VM test: a base made by Debian's dracut (systemd 252,
// udev, btrfs-progs, the runtime; cached by its inputs) plus a small uncompressed cpio with the
// shipped unit verbatim, its entry script, the bundle, the config and the test's own units.
// dracut is never installed: test/vm/stage1/build-initrd.sh runs it in a throw-away overlay of /
// inside `unshare -m` (../shared/notes/real-boot.md).
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BOOT_BUNDLE, NODE_BOOT_BUNDLE, REPO, type Runtime } from '../helpers/prereq.js';
import { hashOf, install, packCpio, removeStale } from './initrd.js';
import { CACHE, type Kernel } from './kernel.js';

const STAGE1 = join(REPO, 'test/vm/stage1');
const UNIT = join(REPO, 'initrd/pantheros-rollback.service');
const ENTRY = join(REPO, 'initrd/pantheros-rollback-entry.sh');
/** Kernel drivers for a virtio disk with btrfs; the dracut modules of a plain systemd stage 1 (no dracut shell hooks). */
const DRIVERS = 'virtio_pci virtio_blk btrfs';
const DRACUT_MODULES = 'systemd systemd-initrd btrfs base pantheros-vmtest';
/** Packages unpacked for dracut; udev must be the installed systemd's own version. */
const DRACUT_PACKAGES = ['dracut-core', 'udev', 'kpartx'];
/** Host packages dracut copies binaries from: their versions are part of the cache key. */
const HOST_PACKAGES = ['systemd', 'btrfs-progs', 'util-linux', 'mount', 'kmod', 'bash', 'libc6'];

export interface Stage1Variant {
  /** The JSON config installed as /etc/pantheros/rollback.json (the unit's default --config). */
  config: object;
  /**
   * How the unit is enabled: `wants` = the shipped [Install] WantedBy=initrd.target; `requires` =
   * the module's `initrd.failBootOnError` (`requiredBy = [ "initrd.target" ]`, a link in initrd.target.requires/).
   */
  enable: 'wants' | 'requires';
  /**
   * More units for this variant (the state rollback test's mount of @persistent in stage 1): every file under
   * `dir` goes to /etc/systemd/system at the same relative path (drop-in directories included), and each
   * `[unit, target, kind]` of `enable` is linked into `<target>.<kind>/`.
   */
  extraUnits?: { dir: string; enable: [unit: string, target: string, kind: 'wants' | 'requires'][] };
}

export interface Stage1Initrd {
  runtime: string;
  path: string;
  /** The dracut-built part alone (a zstd cpio): the systemd, udev, btrfs-progs and runtime a stage-2 root can reuse. */
  basePath: string;
  /** Size of the dracut-built part (zstd -15, dracut's default level). */
  baseBytes: number;
  bytes: number;
  cachedBase: boolean;
  /** Seconds the dracut build took; 0 when cached. */
  buildSeconds: number;
}

function run(cmd: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  return execFileSync(cmd, args, { ...options, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
}

function installedVersion(pkg: string): string {
  try {
    return run('dpkg-query', ['-W', '-f=${Version}', pkg]).trim();
  } catch {
    return 'not-installed';
  }
}

/** dracut-core, udev (= the installed systemd's version) and kpartx as .deb files, downloaded once with apt-get download. */
export function fetchDracutPackages(): string {
  const systemd = installedVersion('systemd');
  if (systemd === 'not-installed') throw new Error('the stage-1 VM test copies systemd from this machine — run: apt-get install systemd');
  const dir = join(CACHE, 'dracut-debs', systemd.replace(/[^A-Za-z0-9.+~-]/g, '_'));
  const have = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.deb')) : [];
  if (DRACUT_PACKAGES.every((p) => have.some((f) => f.startsWith(`${p}_`)))) return dir;
  mkdirSync(CACHE, { recursive: true });
  const scratch = mkdtempSync(join(CACHE, 'dracut-download-'));
  try {
    const specs = DRACUT_PACKAGES.map((p) => (p === 'udev' ? `udev=${systemd}` : p));
    const download = () => spawnSync('apt-get', ['download', '-q', '-o', 'APT::Sandbox::User=root', ...specs], { cwd: scratch, encoding: 'utf8' });
    let r = download();
    if (r.status !== 0) {
      // A fresh machine whose apt lists were never fetched (or were cleaned, as in container images).
      spawnSync('apt-get', ['update', '-qq'], { stdio: 'ignore' });
      r = download();
    }
    if (r.status !== 0) {
      throw new Error(`apt-get download ${specs.join(' ')} failed (udev must match the installed systemd ${systemd}; run apt-get update first):\n${r.stderr}`);
    }
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(dir, '..'), { recursive: true });
    renameSync(scratch, dir);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return dir;
}

/** The dracut-built part for one runtime: systemd, udev, btrfs-progs, the runtime; rebuilt only when an input changes. */
function buildBase(kernel: Kernel, runtime: Runtime): { path: string; cached: boolean; seconds: number } {
  const debs = fetchDracutPackages();
  const moduleDir = join(STAGE1, 'dracut');
  const script = join(STAGE1, 'build-initrd.sh');
  const key = hashOf(
    ...readdirSync(debs).sort(), kernel.deb, kernel.version, DRIVERS, DRACUT_MODULES,
    readFileSync(script), ...readdirSync(moduleDir).sort().map((f) => readFileSync(join(moduleDir, f))),
    hashOf(readFileSync(runtime.bin)), ...HOST_PACKAGES.map((p) => `${p}=${installedVersion(p)}`),
  );
  const path = join(CACHE, `stage1-base-${runtime.name}-${key}.img`);
  if (existsSync(path)) return { path, cached: true, seconds: 0 };

  mkdirSync(CACHE, { recursive: true });
  const scratch = mkdtempSync(join(CACHE, 'dracut-root-'));
  const tmp = `${path}.${process.pid}.tmp`;
  const started = performance.now();
  try {
    const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'bash', script], {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
      env: {
        ...process.env,
        VMTEST_SCRATCH: scratch, VMTEST_DEBS: debs, VMTEST_KERNEL_DEB: kernel.deb, VMTEST_KVER: kernel.version,
        VMTEST_MODULE: moduleDir, VMTEST_RUNTIME: runtime.bin, VMTEST_RUNTIME_NAME: runtime.name, VMTEST_OUT: tmp,
        VMTEST_DRIVERS: DRIVERS, VMTEST_DRACUT_MODULES: DRACUT_MODULES,
      },
    });
    if (r.status !== 0 || !existsSync(tmp)) {
      throw new Error(`dracut build of the ${runtime.name} stage-1 initrd failed (exit ${r.status}):\n${`${r.stdout}\n${r.stderr}`.split('\n').slice(-40).join('\n')}`);
    }
    renameSync(tmp, path);
  } finally {
    rmSync(tmp, { force: true });
    rmSync(scratch, { recursive: true, force: true });
  }
  removeStale(`stage1-base-${runtime.name}-`, path);
  return { path, cached: false, seconds: (performance.now() - started) / 1000 };
}

/** Links unit into <target>.<kind>/, as `systemctl enable` does for WantedBy=/RequiredBy=. */
function enable(stage: string, unit: string, target: string, kind: 'wants' | 'requires'): void {
  const dir = join(stage, 'etc/systemd/system', `${target}.${kind}`);
  mkdirSync(dir, { recursive: true });
  symlinkSync(`../${unit}`, join(dir, unit));
}

/** The per-variant part: the shipped unit verbatim, its entry script, the bundle, the config and the test's units. */
function buildOverlay(variant: Stage1Variant): Buffer {
  const stage = mkdtempSync(join(CACHE, 'stage1-overlay-'));
  const out = `${stage}.cpio`;
  try {
    const units = join(stage, 'etc/systemd/system');
    install(stage, UNIT, '/etc/systemd/system/pantheros-rollback.service', 0o644);
    enable(stage, 'pantheros-rollback.service', 'initrd.target', variant.enable);
    install(stage, ENTRY, '/usr/bin/pantheros-rollback');
    install(stage, BOOT_BUNDLE, '/usr/lib/pantheros-rollback/pantheros-rollback-boot.mjs', 0o644);
    // The entry script gives Node the CommonJS form.
    install(stage, NODE_BOOT_BUNDLE, '/usr/lib/pantheros-rollback/pantheros-rollback-boot.cjs', 0o644);
    mkdirSync(join(stage, 'etc/pantheros'), { recursive: true });
    writeFileSync(join(stage, 'etc/pantheros/rollback.json'), `${JSON.stringify(variant.config, null, 2)}\n`);
    install(stage, join(STAGE1, 'vmtest-stage1.sh'), '/usr/bin/vmtest-stage1');
    for (const f of readdirSync(join(STAGE1, 'units'))) install(stage, join(STAGE1, 'units', f), join('etc/systemd/system', f), 0o644);
    enable(stage, 'sysroot-nix.mount', 'initrd-fs.target', 'requires');
    enable(stage, 'vmtest-evidence.service', 'initrd.target', 'wants');
    enable(stage, 'vmtest-late-device.service', 'initrd.target', 'wants');
    enable(stage, 'vmtest-emergency.service', 'emergency.target', 'wants');
    if (variant.extraUnits) {
      cpSync(variant.extraUnits.dir, units, { recursive: true });
      for (const [unit, target, kind] of variant.extraUnits.enable) enable(stage, unit, target, kind);
    }
    if (!existsSync(join(units, 'pantheros-rollback.service'))) throw new Error('overlay without the unit');
    packCpio(stage, out);
    return readFileSync(out);
  } finally {
    rmSync(stage, { recursive: true, force: true });
    rmSync(out, { force: true });
  }
}

/** Returns the stage-1 initrd for this runtime and variant, building only what changed. */
export function buildStage1Initrd(kernel: Kernel, runtime: Runtime, variant: Stage1Variant): Stage1Initrd {
  const base = buildBase(kernel, runtime);
  const overlay = buildOverlay(variant);
  const prefix = `stage1-${runtime.name}-`;
  const path = join(CACHE, `${prefix}${hashOf(base.path, overlay)}.img`);
  if (!existsSync(path)) {
    // The small uncompressed cpio first, dracut's zstd one after (the kernel unpacks both into one rootfs).
    writeFileSync(`${path}.${process.pid}.tmp`, Buffer.concat([overlay, readFileSync(base.path)]));
    renameSync(`${path}.${process.pid}.tmp`, path);
    removeStale(prefix, path);
  }
  return {
    runtime: runtime.name, path, basePath: base.path, baseBytes: statSync(base.path).size, bytes: statSync(path).size, cachedBase: base.cached, buildSeconds: base.seconds,
  };
}
