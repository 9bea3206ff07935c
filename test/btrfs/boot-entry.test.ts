// Real btrfs: the initrd's boot-only bundle (dist/pantheros-rollback-boot.mjs) under Node and Bun,
// Bun's bytecode build of it, Bun's executable of it and Node's V8 start-up snapshot of its entry
// (dist/pantheros-rollback-boot-snapshot.cjs), each run from a read-only directory (as from an
// initrd's store), boot exactly as the full bundle does; any other command is refused.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createImage, sh } from '../helpers/btrfs-image.js';
import { BUN, NODE, REPO, requirePrerequisites } from '../helpers/prereq.js';

const BOOT_BUNDLE = join(REPO, 'dist/pantheros-rollback-boot.mjs');
const FULL_BUNDLE = join(REPO, 'dist/pantheros-rollback.mjs');
const SNAPSHOT_ENTRY = join(REPO, 'dist/pantheros-rollback-boot-snapshot.cjs');
let store = '';

beforeAll(() => {
  requirePrerequisites();
  if (!existsSync(BOOT_BUNDLE)) throw new Error(`${BOOT_BUNDLE} is missing — run: npm run build`);
  // Bun's bytecode of the boot bundle, in a directory then made read-only with a bind mount.
  store = mkdtempSync(join(tmpdir(), 'pantheros-store-'));
  execFileSync(BUN, ['build', BOOT_BUNDLE, '--target=bun', '--format=cjs', '--bytecode', '--outdir', store], { stdio: 'pipe' });
  expect(existsSync(join(store, 'pantheros-rollback-boot.js.jsc'))).toBe(true);
  execFileSync(BUN, ['build', BOOT_BUNDLE, '--compile', '--bytecode', '--outfile', join(store, 'pantheros-rollback-boot')], { stdio: 'pipe' });
  // What nix/boot-snapshot.nix builds: this Node's start-up snapshot of the entry (a blob loads only into the Node that wrote it).
  const built = spawnSync(NODE, ['--snapshot-blob', join(store, 'pantheros-rollback-boot.blob'), '--build-snapshot', SNAPSHOT_ENTRY], { encoding: 'utf8' });
  expect(built.status, built.stderr).toBe(0);
  // Modules are evaluated when the snapshot is built; nothing may warn that a built-in is unfit for it.
  expect(built.stderr).toBe('');
  sh('mount', ['--bind', store, store]);
  sh('mount', ['-o', 'remount,bind,ro', store]);
});

afterAll(() => {
  if (!store) return;
  spawnSync('umount', [store]);
  rmSync(store, { recursive: true, force: true });
});

const WAYS = [
  { name: 'boot bundle under node', cmd: () => [NODE, BOOT_BUNDLE], runtime: 'node' },
  { name: 'boot bundle under bun', cmd: () => [BUN, BOOT_BUNDLE], runtime: 'bun' },
  { name: 'bun bytecode build from a read-only store', cmd: () => [BUN, join(store, 'pantheros-rollback-boot.js')], runtime: 'bun' },
  { name: 'bun executable from a read-only store', cmd: () => [join(store, 'pantheros-rollback-boot')], runtime: 'bun' },
  { name: 'node start-up snapshot from a read-only store', cmd: () => [NODE, '--snapshot-blob', join(store, 'pantheros-rollback-boot.blob')], runtime: 'node' },
  { name: 'the snapshot entry run as a plain script under node', cmd: () => [NODE, SNAPSHOT_ENTRY], runtime: 'node' },
  { name: 'full bundle under bun (reference)', cmd: () => [BUN, FULL_BUNDLE], runtime: 'bun' },
];

describe.each(WAYS)('$name', (way) => {
  it('boots twice: archives the root, makes a new one from the blank, writes its report; refuses other commands', () => {
    const image = createImage();
    try {
      const t = image.top;
      writeFileSync(join(image.dir, 'config.json'), JSON.stringify({ oldRoots: { keepDays: 30, keepAtLeast: 5 } }));
      writeFileSync(join(image.dir, 'cmdline'), 'quiet\n');
      const [bin, ...pre] = way.cmd();
      const names: string[] = [];
      for (const now of ['2026-11-25T06:00:00Z', '2026-11-26T06:00:00Z']) {
        const report = join(image.dir, `report-${now}.json`);
        const r = spawnSync(bin!, [...pre, 'boot', '--top-level', t, '--now', now, '--config', join(image.dir, 'config.json'), '--cmdline', join(image.dir, 'cmdline'), '--report', report], {
          encoding: 'utf8',
          env: { ...process.env, BUN_RUNTIME_TRANSPILER_CACHE_PATH: '0' },
        });
        expect(r.status, r.stderr).toBe(0);
        const rep = JSON.parse(readFileSync(report, 'utf8')) as { result: string; runtime: string; archived: { name: string }; created: { path: string; from: string } };
        expect(rep.result).toBe('ok');
        expect(rep.runtime).toMatch(new RegExp(`^${way.runtime} `));
        expect(rep.created).toEqual({ path: '@root', from: '@root-blank' });
        names.push(rep.archived.name);
      }
      expect(names).toEqual(['20261125T060000Z', '20261126T060000Z']);
      expect(image.paths().filter((p) => p.startsWith('@btrfs_tmp/'))).toEqual(names.map((n) => `@btrfs_tmp/old_roots/${n}`));
      expect(readFileSync(join(t, '@btrfs_tmp/old_roots/20261125T060000Z/marker'), 'utf8')).toBe('root-before-boot\n');
      const other = spawnSync(bin!, [...pre, 'status', '--top-level', t], { encoding: 'utf8' });
      if (way.name.startsWith('full')) expect(other.status).toBe(0);
      else {
        expect(other.status).toBe(2);
        expect(other.stderr).toContain('unknown command "status"');
      }
    } finally {
      image.destroy();
    }
  });
});

describe('node start-up snapshot', () => {
  it('reads the environment when the boot runs, not when the snapshot was built: PANTHEROS_BTRFS names the btrfs it runs', () => {
    const image = createImage();
    try {
      const log = join(image.dir, 'btrfs-calls');
      const wrapper = join(image.dir, 'btrfs-wrapper');
      writeFileSync(wrapper, `#!/bin/sh\necho "$*" >> ${log}\nexec btrfs "$@"\n`, { mode: 0o755 });
      writeFileSync(join(image.dir, 'config.json'), JSON.stringify({ oldRoots: { keepDays: 30, keepAtLeast: 5 } }));
      writeFileSync(join(image.dir, 'cmdline'), 'quiet\n');
      const report = join(image.dir, 'report.json');
      const r = spawnSync(NODE, ['--snapshot-blob', join(store, 'pantheros-rollback-boot.blob'), 'boot', '--top-level', image.top, '--now', '2026-11-26T06:00:00Z', '--config', join(image.dir, 'config.json'), '--cmdline', join(image.dir, 'cmdline'), '--report', report], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH, PANTHEROS_BTRFS: wrapper },
      });
      expect(r.status, r.stderr).toBe(0);
      expect((JSON.parse(readFileSync(report, 'utf8')) as { result: string }).result).toBe('ok');
      expect(readFileSync(log, 'utf8')).toMatch(/^subvolume snapshot /m);
    } finally {
      image.destroy();
    }
  });
});
