// Footprint: bundle bytes (plain and minified) and the compressed initrd growth per runtime
// (zstd -19 of a newc cpio holding the runtime binary, its ldd libraries and the bundle).
import { copyFileSync, cpSync, existsSync, mkdirSync, realpathSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { BOOT_BUNDLE, BOOT_BYTECODE, BOOT_EXE, BUN, BUNDLE, NODE, REPO } from './rollback.mjs';
import { scratchDir } from './image.mjs';
import { sh } from './sh.mjs';

/** glibc pieces a NixOS systemd initrd already carries (systemd links them), so they add nothing. */
const IN_SYSTEMD_INITRD = /^(libc|libm|libdl|libpthread|librt|ld-linux-x86-64)\.so/;

const size = (p) => statSync(p).size;

/** Builds the minified bundle (MINIFY=1 scripts/build.mjs) in a private copy of the sources (dist/ is shared); returns its path. */
export function buildMinifiedBundle() {
  const dir = join(scratchDir(), 'minify');
  const out = join(dir, 'dist/pantheros-rollback.mjs');
  if (existsSync(out)) return out;
  mkdirSync(dir);
  // scripts/build.mjs reads package.json and nix/bun-launch.json from its working directory.
  for (const p of ['src', 'scripts', 'package.json', 'nix/bun-launch.json']) cpSync(join(REPO, p), join(dir, p), { recursive: true });
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
  mkdirSync(join(dir, 'dist'));
  sh(NODE, ['scripts/build.mjs'], { cwd: dir, env: { ...process.env, MINIFY: '1' } });
  return out;
}

function lddLibraries(binary) {
  return sh('ldd', [binary])
    .split('\n')
    .map((l) => /=>\s+(\/\S+)|^\s*(\/\S+)/.exec(l))
    .filter(Boolean)
    .map((m) => realpathSync(m[1] ?? m[2]));
}

/** zstd -19 size of a cpio (newc) archive of `files` (what the initrd gains). */
function compressedCpio(files, name) {
  const dir = join(scratchDir(), `cpio-${name}`);
  mkdirSync(dir);
  const list = files.map((f, i) => {
    const target = `${i}-${basename(f.path)}`;
    copyFileSync(f.path, join(dir, target));
    if (f.strip) sh('strip', ['--strip-unneeded', join(dir, target)]);
    return target;
  });
  writeFileSync(join(dir, '.list'), `${list.join('\n')}\n`);
  const out = join(scratchDir(), `${name}.cpio.zst`);
  sh('bash', ['-c', 'cpio --quiet -o -H newc < .list | zstd -19 -T0 -q -o "$1"', 'cpio', out], { cwd: dir });
  const raw = list.reduce((n, f) => n + size(join(dir, f)), 0);
  sh('rm', ['-rf', dir]);
  return { rawBytes: raw, zstd19Bytes: size(out) };
}

/** Everything the footprint table needs; slow (zstd -19 over ~200 MB), so only in full runs. */
export function measureFootprint({ log }) {
  const bundleBytes = size(BUNDLE);
  const minified = size(buildMinifiedBundle());
  const bundleZstd = compressedCpio([{ path: BUNDLE }], 'bundle');
  log(`  bundle ${bundleBytes} B, minified ${minified} B, bundle alone zstd -19 ${bundleZstd.zstd19Bytes} B`);
  const runtimes = {};
  for (const [name, bin] of [['node', realpathSync(NODE)], ['bun', realpathSync(BUN)]]) {
    const libs = lddLibraries(bin);
    const extraLibs = libs.filter((l) => !IN_SYSTEMD_INITRD.test(basename(l)));
    const entry = { binary: bin, binaryBytes: size(bin), libs: libs.map((l) => ({ path: l, bytes: size(l) })), extraLibs };
    entry.all = compressedCpio([{ path: bin }, ...libs.map((p) => ({ path: p })), { path: BUNDLE }], `${name}-all`);
    entry.growth = compressedCpio([{ path: bin }, ...extraLibs.map((p) => ({ path: p })), { path: BUNDLE }], `${name}-growth`);
    entry.growthStripped = compressedCpio([{ path: bin, strip: true }, ...extraLibs.map((p) => ({ path: p, strip: true })), { path: BUNDLE }], `${name}-stripped`);
    log(`  ${name}: all ${entry.all.zstd19Bytes} B, growth ${entry.growth.zstd19Bytes} B, stripped ${entry.growthStripped.zstd19Bytes} B (zstd -19)`);
    runtimes[name] = entry;
  }
  // What the initrd would carry instead: the boot-only bundle, or (Bun) its bytecode build (.js + .jsc), or
  // (Bun) one executable holding the runtime and the code, in place of the bun binary and a bundle.
  const boot = BOOT_BUNDLE
    ? {
        bootBundleBytes: size(BOOT_BUNDLE),
        bootBundleZstd19Bytes: compressedCpio([{ path: BOOT_BUNDLE }], 'boot').zstd19Bytes,
        bootBytecodeBytes: size(BOOT_BYTECODE) + size(`${BOOT_BYTECODE}.jsc`),
        bootBytecodeZstd19Bytes: compressedCpio([{ path: BOOT_BYTECODE }, { path: `${BOOT_BYTECODE}.jsc` }], 'bytecode').zstd19Bytes,
        bootExeBytes: size(BOOT_EXE),
        bootExeZstd19Bytes: compressedCpio([{ path: BOOT_EXE }], 'exe').zstd19Bytes,
      }
    : {};
  return { bundleBytes, minifiedBundleBytes: minified, bundleZstd19Bytes: bundleZstd.zstd19Bytes, ...boot, runtimes };
}
