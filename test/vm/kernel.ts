// Fetches Debian's current kernel once (apt-get download, never installed) and keeps the image, the
// modules the busybox VM test loads, the device-mapper modules of the power-cut test and the package
// itself (dracut needs its whole module tree) in .cache/vm/kernel/<version>.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { REPO } from '../helpers/prereq.js';

export const CACHE = join(REPO, '.cache/vm');

/** Modules in load order (verified: virtio needs virtio_ring first, btrfs needs the crc32c and raid helpers). */
export const MODULES = [
  'crc32c_generic', 'crc32c-intel', 'xor', 'raid6_pq', 'zstd_compress', 'libcrc32c', 'btrfs',
  'virtio_ring', 'virtio', 'virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_pci', 'virtio_blk',
];

/** Loaded by the power-cut test's /init after MODULES (dm-log-writes needs dm-mod; verified with modinfo). */
export const DM_MODULES = ['dm-mod', 'dm-log-writes'];

export interface Kernel {
  version: string;
  /** The downloaded linux-image package, for builds that need every module (dracut). */
  deb: string;
  /** The directory that holds lib/modules/<version> (a depmod base). */
  root: string;
  vmlinuz: string;
  /** Module paths relative to lib/modules/<version>, in load order. */
  modules: string[];
  /** DM_MODULES' paths relative to lib/modules/<version>, in load order. */
  dmModules: string[];
}

function run(cmd: string, args: string[], cwd?: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The package linux-image-amd64 depends on now, e.g. linux-image-6.1.0-56-amd64; null when apt does not know it. */
function currentKernelPackage(): string | null {
  try {
    return /Depends: (linux-image-\S+)/.exec(run('apt-cache', ['depends', 'linux-image-amd64']))?.[1] ?? null;
  } catch {
    return null;
  }
}

function findModule(dir: string, name: string): string | null {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      const found = findModule(path, name);
      if (found) return found;
    } else if (entry.name === `${name}.ko`) {
      return path;
    }
  }
  return null;
}

function cachedKernel(root: string, version: string): Kernel | null {
  const vmlinuz = join(root, `boot/vmlinuz-${version}`);
  const moduleDir = join(root, 'lib/modules', version);
  const deb = existsSync(root) ? readdirSync(root).find((f) => f.endsWith('.deb')) : undefined;
  if (!deb || !existsSync(vmlinuz) || !existsSync(join(moduleDir, 'modules.dep'))) return null;
  const found = (names: string[]) => names.map((m) => findModule(moduleDir, m));
  const modules = found(MODULES);
  const dmModules = found(DM_MODULES);
  if ([...modules, ...dmModules].some((m) => m === null)) return null;
  const rel = (paths: (string | null)[]) => paths.map((m) => relative(moduleDir, m!));
  return { version, deb: join(root, deb), root, vmlinuz, modules: rel(modules), dmModules: rel(dmModules) };
}

/** Returns the cached kernel for Debian's current linux-image-amd64, downloading it on first use. */
export function fetchKernel(): Kernel {
  let pkg = currentKernelPackage();
  if (!pkg && !existsSync(join(CACHE, 'kernel'))) {
    // A fresh machine whose apt lists were never fetched (or were cleaned, as in container images).
    run('apt-get', ['update', '-qq']);
    pkg = currentKernelPackage();
  }
  if (!pkg) {
    // No apt lists (offline machine): use what an earlier run cached, if anything.
    const base = join(CACHE, 'kernel');
    const versions = existsSync(base) ? readdirSync(base).sort() : [];
    const cached = versions.length ? cachedKernel(join(base, versions.at(-1)!), versions.at(-1)!) : null;
    if (cached) return cached;
    throw new Error('apt-cache does not know linux-image-amd64 — run: apt-get update (the VM test downloads the kernel with apt-get download)');
  }
  const version = pkg.replace(/^linux-image-/, '');
  const root = join(CACHE, 'kernel', version);
  const cached = cachedKernel(root, version);
  if (cached) return cached;

  mkdirSync(CACHE, { recursive: true });
  const scratch = mkdtempSync(join(CACHE, 'kernel-download-'));
  try {
    run('apt-get', ['download', '-q', '-o', 'APT::Sandbox::User=root', pkg], scratch);
    const deb = readdirSync(scratch).find((f) => f.endsWith('.deb'));
    if (!deb) throw new Error(`apt-get download ${pkg} produced no .deb in ${scratch}`);
    const tree = join(scratch, 'tree');
    run('dpkg-deb', ['-x', join(scratch, deb), tree]);
    rmSync(root, { recursive: true, force: true });
    const from = join(tree, 'lib/modules', version);
    const to = join(root, 'lib/modules', version);
    mkdirSync(join(root, 'boot'), { recursive: true });
    copyFileSync(join(tree, `boot/vmlinuz-${version}`), join(root, `boot/vmlinuz-${version}`));
    for (const name of [...MODULES, ...DM_MODULES]) {
      const path = findModule(from, name);
      if (!path) throw new Error(`${pkg} has no module ${name}`);
      mkdirSync(dirname(join(to, relative(from, path))), { recursive: true });
      copyFileSync(path, join(to, relative(from, path)));
    }
    for (const f of ['modules.order', 'modules.builtin', 'modules.builtin.modinfo']) {
      if (existsSync(join(from, f))) copyFileSync(join(from, f), join(to, f));
    }
    run('depmod', ['-b', root, version]);
    renameSync(join(scratch, deb), join(root, deb));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const kernel = cachedKernel(root, version);
  if (!kernel) throw new Error(`kernel cache ${root} is incomplete after download`);
  return kernel;
}
