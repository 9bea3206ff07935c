// Real btrfs, traced with strace: what the trivial boot (one root to archive, nothing to delete) asks of the disk,
// under Node and Bun. Its durability is the snapshot's own commit (made last, it carries the rename before it) and one
// fsync: the data of the report copy kept beside the archives, before its rename (so a power cut never leaves it
// empty: issue 13); the directory's fsync after the rename, a second btrfs log-tree write on every boot (issue 15), is
// not made — the rename reaches the disk with the next commit. The report in the given --report file (/run in stage 1)
// keeps both fsyncs. A count of calls, not a time: it cannot flake with load.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createImage, sh } from '../helpers/btrfs-image.js';
import { BOOT_BUNDLE, requirePrerequisites, RUNTIMES } from '../helpers/prereq.js';
import { bundleEnv } from '../helpers/run-bundle.js';

beforeAll(() => requirePrerequisites(['btrfs', 'mkfs.btrfs', 'losetup', 'mount', 'umount', 'strace'], 'apt-get install -y btrfs-progs util-linux strace'));

interface Traced {
  /** Every fsync/fdatasync/syncfs line, with the path strace -y gives for its descriptor. */
  syncs: string[];
  /** The btrfs ioctls made on a real descriptor (the ffi probe on fd -1 is left out). */
  ioctls: string[];
}

/** Runs one boot of the boot bundle under strace -f (children too: btrfs-progs under Node). */
function tracedBoot(bin: string, top: string, dir: string): Traced {
  const log = join(dir, 'strace.log');
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ oldRoots: { keepDays: 30, keepAtLeast: 5 } }));
  writeFileSync(join(dir, 'cmdline'), 'quiet\n');
  const r = spawnSync(
    'strace',
    ['-f', '-y', '-qq', '-e', 'trace=fsync,fdatasync,syncfs,sync,ioctl', '-o', log, bin, BOOT_BUNDLE, 'boot', '--top-level', top, '--now', '2026-11-26T06:00:00Z', '--config', join(dir, 'config.json'), '--cmdline', join(dir, 'cmdline'), '--report', join(dir, 'report.json')],
    { encoding: 'utf8', env: { ...bundleEnv({}), BUN_RUNTIME_TRANSPILER_CACHE_PATH: '0' } },
  );
  expect(r.status, r.stderr).toBe(0);
  const lines = readFileSync(log, 'utf8').split('\n').map((l) => l.replace(/^\d+ +/, ''));
  return {
    syncs: lines.filter((l) => /^(fsync|fdatasync|syncfs|sync)\(/.test(l)),
    ioctls: lines.filter((l) => /^ioctl\(\d+</.test(l) && /BTRFS_IOC_/.test(l)).map((l) => /BTRFS_IOC_[A-Z0-9_]+/.exec(l)![0]),
  };
}

describe.each(RUNTIMES)('trivial boot under $name', (runtime) => {
  it('makes the swap durable with the snapshot\'s own commit, and fsyncs on btrfs only the report copy\'s data', () => {
    const image = createImage();
    try {
      const traced = tracedBoot(runtime.bin, image.top, image.dir);
      const report = JSON.parse(readFileSync(join(image.dir, 'report.json'), 'utf8')) as { result: string; steps: { action: string }[] };
      expect(report.result).toBe('ok');
      // The kept copy is there, whole, for `status`.
      const kept = JSON.parse(readFileSync(join(image.top, '@btrfs_tmp/old_roots/.pantheros-last-report.json'), 'utf8')) as { result: string; archived: { name: string } };
      expect(kept).toMatchObject({ result: 'ok', archived: { name: '20261126T060000Z' } });
      // On the btrfs filesystem one fsync, of the copy's temporary file; none of a directory (strace -y names the path).
      const onBtrfs = traced.syncs.filter((l) => l.includes(image.top));
      expect(onBtrfs, onBtrfs.join('\n')).toHaveLength(1);
      expect(onBtrfs[0]).toMatch(/^fsync\(\d+<[^>]*\/old_roots\/\.\.pantheros-last-report\.json\.pantheros-tmp-\d+-[0-9a-z]+>\)/);
      // The report file outside keeps its fsyncs (file and directory): it is written durably.
      expect(traced.syncs.some((l) => l.includes('report.json'))).toBe(true);
      // The swap's commit: the snapshot's, and no sync of the filesystem after it (nothing would be left to write;
      // under Node it was a `btrfs filesystem sync` process).
      expect(traced.ioctls.filter((i) => i.startsWith('BTRFS_IOC_SNAP_CREATE'))).toHaveLength(1);
      expect(traced.ioctls.filter((i) => i === 'BTRFS_IOC_SYNC')).toEqual([]);
      expect(report.steps.map((s) => s.action)).toEqual(['rename', 'snapshot']);
    } finally {
      image.destroy();
    }
  });
});

describe.each(RUNTIMES)('a root whose name is not printable ASCII, on the btrfs process path, under $name', (runtime) => {
  it('is snapshotted under a temporary name, renamed into place and committed before the boot exits (its plan has no commit step after the snapshot)', () => {
    const image = createImage();
    try {
      const root = '@röot';
      sh('btrfs', ['subvolume', 'create', join(image.top, root)]);
      writeFileSync(join(image.top, root, 'marker'), 'root-before-boot\n');
      writeFileSync(join(image.dir, 'config.json'), JSON.stringify({ subvolumes: { root }, oldRoots: { keepDays: 30, keepAtLeast: 5 } }));
      writeFileSync(join(image.dir, 'cmdline'), 'quiet\n');
      const log = join(image.dir, 'strace.log');
      const r = spawnSync(
        'strace',
        ['-f', '-qq', '-e', 'trace=rename,renameat,renameat2,ioctl', '-o', log, runtime.bin, BOOT_BUNDLE, 'boot', '--top-level', image.top, '--now', '2026-11-26T06:00:00Z', '--config', join(image.dir, 'config.json'), '--cmdline', join(image.dir, 'cmdline'), '--report', join(image.dir, 'report.json')],
        { encoding: 'utf8', env: { ...bundleEnv({ PANTHEROS_BTRFS_BACKEND: 'process' }), BUN_RUNTIME_TRANSPILER_CACHE_PATH: '0' } },
      );
      expect(r.status, r.stderr).toBe(0);
      const report = JSON.parse(readFileSync(join(image.dir, 'report.json'), 'utf8')) as { result: string; steps: { action: string }[] };
      expect(report).toMatchObject({ result: 'ok' });
      expect(report.steps.map((s) => s.action)).toEqual(['rename', 'snapshot']);
      const calls = readFileSync(log, 'utf8').split('\n').map((l) => l.replace(/^\d+ +/, ''));
      const intoPlace = calls.findIndex((l) => /^rename(at2?)?\(.*\.pantheros-tmp\.\d+\.\d+"/.test(l));
      expect(intoPlace, calls.join('\n')).toBeGreaterThan(-1);
      expect(calls.slice(intoPlace + 1).some((l) => /^ioctl\(\d+, BTRFS_IOC_SYNC/.test(l)), calls.slice(intoPlace).join('\n')).toBe(true);
      expect(image.paths()).toContain(root);
      expect(image.paths().some((p) => p.includes('.pantheros-tmp.'))).toBe(false);
    } finally {
      image.destroy();
    }
  });
});

describe.each(RUNTIMES)('a boot with many archives, none expired, under $name', (runtime) => {
  it('reads the archive directory without looking up each archive under Bun (getdents64 and one root-tree search), and with an lstat of each under Node', () => {
    const image = createImage();
    try {
      const archives = Array.from({ length: 30 }, (_, i) => `20261101T00${String(i).padStart(2, '0')}00Z`);
      for (const name of archives) sh('btrfs', ['subvolume', 'create', join(image.top, '@btrfs_tmp/old_roots', name)]);
      writeFileSync(join(image.dir, 'config.json'), JSON.stringify({ oldRoots: { keepDays: 30, keepAtLeast: 5 } }));
      writeFileSync(join(image.dir, 'cmdline'), 'quiet\n');
      const log = join(image.dir, 'strace.log');
      const r = spawnSync(
        'strace',
        ['-f', '-qq', '-e', 'trace=stat,lstat,newfstatat,statx', '-o', log, runtime.bin, BOOT_BUNDLE, 'boot', '--top-level', image.top, '--now', '2026-11-26T06:00:00Z', '--config', join(image.dir, 'config.json'), '--cmdline', join(image.dir, 'cmdline'), '--report', join(image.dir, 'report.json')],
        { encoding: 'utf8', env: { ...bundleEnv({}), BUN_RUNTIME_TRANSPILER_CACHE_PATH: '0' } },
      );
      expect(r.status, r.stderr).toBe(0);
      const report = JSON.parse(readFileSync(join(image.dir, 'report.json'), 'utf8')) as { result: string; steps: { action: string }[] };
      expect(report.result).toBe('ok');
      expect(report.steps.map((s) => s.action)).toEqual(['rename', 'snapshot']);
      const calls = readFileSync(log, 'utf8').split('\n');
      const looked = archives.filter((name) => calls.some((l) => l.includes(`/old_roots/${name}"`)));
      expect(looked).toEqual(runtime.name === 'bun' ? [] : archives);
      for (const name of archives) expect(image.paths()).toContain(`@btrfs_tmp/old_roots/${name}`);
    } finally {
      image.destroy();
    }
  });
});
