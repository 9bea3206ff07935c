// Builds the VM test initramfs from the host's Debian packages: a cached, zstd-compressed base
// (busybox, btrfs-progs, the runtime and their libraries, kernel modules) plus a small uncompressed
// overlay (/init, the unit and its entry script, the bundle, the config), concatenated the way early-microcode
// initrds are. Both are cached under .cache/vm keyed by a hash of their inputs.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync,
  statSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { BOOT_BUNDLE, NODE_BOOT_BUNDLE, REPO, type Runtime } from '../helpers/prereq.js';
import { CACHE, type Kernel } from './kernel.js';

const BUSYBOX = '/bin/busybox';
const ZSTD_LEVEL = '-19';
const INIT = join(REPO, 'test/vm/init.sh');
const ENTRY = join(REPO, 'initrd/pantheros-rollback-entry.sh');
const UNIT = join(REPO, 'initrd/pantheros-rollback.service');

export interface Initrd {
  runtime: string;
  path: string;
  /** Size of the compressed base part (runtime, tools, modules). */
  baseBytes: number;
  /** Size of the whole file handed to qemu -initrd. */
  bytes: number;
  /** Whether the base part came from the cache. */
  cachedBase: boolean;
}

export function hashOf(...parts: (string | Buffer)[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex').slice(0, 16);
}

/** Absolute paths of the shared libraries (and loader) a dynamic binary needs; [] for a static one. */
export function sharedLibraries(binary: string): string[] {
  let out: string;
  try {
    out = execFileSync('ldd', [binary], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch {
    return []; // "not a dynamic executable"
  }
  return [...out.matchAll(/(\/\S+) \(0x/g)].map((m) => m[1]!);
}

export function which(tool: string): string {
  return execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim();
}

export function install(stage: string, source: string, target: string, mode = 0o755): void {
  const to = join(stage, target);
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(source, to);
  chmodSync(to, mode);
}

/** Writes a newc cpio of every entry under stage (sorted, owned by root) to out. */
export function packCpio(stage: string, out: string): void {
  execFileSync('sh', ['-c', `find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet > "${out}"`], { cwd: stage });
}

/**
 * Removes older builds of the same kind (prefix, then only a hash and an extension: `initrd-node-` does
 * not match `initrd-node-powercut-…`); spares recent ones, which a concurrent test run may be booting.
 */
export function removeStale(prefix: string, keep: string, dir = CACHE): void {
  for (const f of readdirSync(dir)) {
    const path = join(dir, f);
    const isSameKind = f.startsWith(prefix) && /^[0-9a-f]{16}\./.test(f.slice(prefix.length));
    if (isSameKind && path !== keep && Date.now() - statSync(path).mtimeMs > 3_600_000) rmSync(path, { force: true });
  }
}

/** The runtime, tools and modules: large and slow to compress, so cached by everything that goes in. */
function buildBase(kernel: Kernel, runtime: Runtime): { path: string; cached: boolean } {
  const runtimeTarget = `/usr/bin/${runtime.name}`;
  const btrfs = which('btrfs');
  const binaries: [string, string][] = [[BUSYBOX, '/bin/busybox'], [btrfs, '/bin/btrfs'], [runtime.bin, runtimeTarget]];
  const key = hashOf(
    // The code that lays the base out (not the whole file: overlay changes must not recompress it).
    buildBase.toString(), install.toString(), packCpio.toString(), kernel.version, kernel.modules.join(','), ZSTD_LEVEL,
    ...binaries.map(([from, to]) => `${to}:${hashOf(readFileSync(from))}`),
  );
  const path = join(CACHE, `base-${runtime.name}-${key}.cpio.zst`);
  if (existsSync(path)) return { path, cached: true };

  mkdirSync(CACHE, { recursive: true });
  const stage = mkdtempSync(join(CACHE, 'stage-'));
  try {
    for (const d of ['proc', 'sys', 'dev', 'run', 'tmp', 'sysroot', 'etc', 'usr/bin', 'sbin']) mkdirSync(join(stage, d), { recursive: true });
    execFileSync('mknod', ['-m', '600', join(stage, 'dev/console'), 'c', '5', '1']);
    for (const [from, to] of binaries) {
      install(stage, from, to);
      for (const lib of sharedLibraries(from)) if (!existsSync(join(stage, lib))) install(stage, lib, lib);
    }
    const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a && a !== 'busybox');
    for (const applet of applets) symlinkSync('busybox', join(stage, 'bin', applet));
    const moduleDir = join('lib/modules', kernel.version);
    for (const m of kernel.modules) install(stage, join(kernel.root, moduleDir, m), join(moduleDir, m), 0o644);
    for (const f of ['modules.dep', 'modules.order', 'modules.builtin']) {
      if (existsSync(join(kernel.root, moduleDir, f))) install(stage, join(kernel.root, moduleDir, f), join(moduleDir, f), 0o644);
    }
    writeFileSync(join(stage, 'etc/vmtest-modules'), `${kernel.modules.join('\n')}\n`);
    // Its presence is how the tool (like systemd) knows it runs in an initrd: it then logs to /dev/kmsg.
    writeFileSync(join(stage, 'etc/initrd-release'), 'NAME="pantheros-rollback VM test initrd"\nID=initrd\nVERSION_ID=1\n');
    const cpio = join(stage, '..', `${key}.cpio`);
    packCpio(stage, cpio);
    execFileSync('zstd', ['-q', '-f', '-T0', ZSTD_LEVEL, '--rm', cpio, '-o', `${path}.${process.pid}.tmp`]);
    renameSync(`${path}.${process.pid}.tmp`, path);
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
  removeStale(`base-${runtime.name}-`, path);
  return { path, cached: false };
}

/** What another test puts into the same initrd (the power-cut test: its own /init, dmsetup, the dm modules). */
export interface InitrdExtras {
  /** Names the build in the cache (initrd-<runtime>-<name>-…). */
  name: string;
  /** Installed as /init instead of test/vm/init.sh. */
  init: string;
  /** Host binaries installed at the same path, with the libraries ldd names. */
  binaries: string[];
  /** Kernel module paths relative to lib/modules/<version>, listed in load order in /etc/vmtest-extra-modules. */
  modules: string[];
}

/** The small per-build part: /init, the unit and its entry script, the bundle and the config (and the extras). */
function buildOverlay(kernel: Kernel, config: object, extras: InitrdExtras | undefined): Buffer {
  const stage = mkdtempSync(join(CACHE, 'overlay-'));
  const out = `${stage}.cpio`;
  try {
    install(stage, extras?.init ?? INIT, '/init');
    for (const binary of extras?.binaries ?? []) {
      install(stage, binary, binary);
      for (const lib of sharedLibraries(binary)) if (!existsSync(join(stage, lib))) install(stage, lib, lib);
    }
    const moduleDir = join('lib/modules', kernel.version);
    for (const m of extras?.modules ?? []) install(stage, join(kernel.root, moduleDir, m), join(moduleDir, m), 0o644);
    mkdirSync(join(stage, 'etc'), { recursive: true });
    if (extras) writeFileSync(join(stage, 'etc/vmtest-extra-modules'), `${extras.modules.join('\n')}\n`);
    install(stage, ENTRY, '/usr/bin/pantheros-rollback');
    install(stage, UNIT, '/etc/systemd/system/pantheros-rollback.service', 0o644);
    install(stage, BOOT_BUNDLE, '/usr/lib/pantheros-rollback/pantheros-rollback-boot.mjs', 0o644);
    // The entry script gives Node the CommonJS form.
    install(stage, NODE_BOOT_BUNDLE, '/usr/lib/pantheros-rollback/pantheros-rollback-boot.cjs', 0o644);
    mkdirSync(join(stage, 'etc/pantheros'), { recursive: true });
    writeFileSync(join(stage, 'etc/pantheros/rollback.json'), `${JSON.stringify(config, null, 2)}\n`);
    packCpio(stage, out);
    return readFileSync(out);
  } finally {
    rmSync(stage, { recursive: true, force: true });
    rmSync(out, { force: true });
  }
}

/** Returns the initrd for this runtime, bundle and config, building only what changed. */
export function buildInitrd(kernel: Kernel, runtime: Runtime, config: object, extras?: InitrdExtras): Initrd {
  const base = buildBase(kernel, runtime);
  const overlay = buildOverlay(kernel, config, extras);
  const kind = extras ? `${runtime.name}-${extras.name}` : runtime.name;
  const path = join(CACHE, `initrd-${kind}-${hashOf(base.path, overlay)}.img`);
  if (!existsSync(path)) {
    // Uncompressed cpio first, compressed one after: the layout the kernel documents for early microcode.
    writeFileSync(`${path}.${process.pid}.tmp`, Buffer.concat([overlay, readFileSync(base.path)]));
    renameSync(`${path}.${process.pid}.tmp`, path);
    removeStale(`initrd-${kind}-`, path);
  }
  return { runtime: runtime.name, path, baseBytes: statSync(base.path).size, bytes: statSync(path).size, cachedBase: base.cached };
}
