// Loop-mounted btrfs images for the benchmark: created under one mktemp -d dir, always cleaned up.
import { mkdirSync, mkdtempSync, rmSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { sh } from './sh.mjs';

const attached = new Set();
let workDir = null;

/** The benchmark's private scratch dir (one per run of bench/run.mjs); removed by cleanUp(). */
export function scratchDir() {
  if (!workDir) workDir = mkdtempSync(join(tmpdir(), 'pantheros-bench-'));
  return workDir;
}

let runDirMounted = null;

/**
 * A tmpfs in the scratch dir for the tool's report: in stage 1 the report goes to /run, a tmpfs (an fsync there costs
 * nothing), so the bench does not charge the tool for fsyncs on the host's disk that a boot never makes.
 */
export function tmpfsRunDir() {
  if (!runDirMounted) {
    const dir = join(scratchDir(), 'run');
    mkdirSync(dir, { recursive: true });
    sh('mount', ['-t', 'tmpfs', '-o', 'size=16m,mode=0755', 'tmpfs', dir]);
    runDirMounted = dir;
  }
  return runDirMounted;
}

/** Makes an empty sparse btrfs image file. */
export function makeImage(file, size = '2G') {
  sh('truncate', ['-s', size, file]);
  sh('mkfs.btrfs', ['-q', '-f', file]);
  return file;
}

/** Attaches an image to a fresh loop device and mounts its top level (subvolid=5) with extra options. */
export function mountImage(file, { options = [], directIo = false, at } = {}) {
  const top = at ?? `${file}.mnt`;
  mkdirSync(top, { recursive: true });
  const loop = sh('losetup', ['--find', '--show', ...(directIo ? ['--direct-io=on'] : []), file]).trim();
  const mounted = { file, top, loop, options };
  attached.add(mounted);
  try {
    sh('mount', ['-o', ['subvolid=5', ...options].join(','), loop, top]);
  } catch (error) {
    detachImage(mounted);
    throw error;
  }
  return mounted;
}

/** Unmounts and detaches what mountImage attached (only that loop device). */
export function detachImage(mounted) {
  spawnSync('umount', [mounted.top], { stdio: 'ignore' });
  spawnSync('losetup', ['-d', mounted.loop], { stdio: 'ignore' });
  attached.delete(mounted);
  try {
    rmdirSync(mounted.top); // only if empty: never recurse into a mount that failed to unmount
  } catch {
    // left for the operator; cleanUp() reports nothing more
  }
}

/** Copies an unmounted golden image (sparse) so every measured run starts from identical state. */
export function copyImage(golden, file) {
  sh('cp', ['--sparse=always', golden, file]);
  return file;
}

/** Undoes everything this process attached and removes the scratch dir; safe to call twice. */
export function cleanUp() {
  for (const m of [...attached]) detachImage(m);
  if (runDirMounted) spawnSync('umount', [runDirMounted], { stdio: 'ignore' });
  runDirMounted = null;
  const stillMounted = workDir && sh('findmnt', ['-rn', '-o', 'TARGET']).split('\n').some((t) => t.startsWith(workDir));
  if (stillMounted) process.stderr.write(`bench: ${workDir} still has mounts; not removing it\n`);
  else if (workDir) rmSync(workDir, { recursive: true, force: true });
  workDir = null;
}

/** Lets the event loop run so a Ctrl-C/SIGTERM handler can clean up; call between measured runs. */
export function breathe() {
  return new Promise((resolve) => setImmediate(resolve));
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    cleanUp();
    process.exit(130);
  });
}
process.on('exit', cleanUp);
