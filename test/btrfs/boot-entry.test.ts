// Real btrfs: the initrd's boot-only bundle (dist/pantheros-rollback-boot.mjs) under Node and Bun,
// the same as CommonJS (dist/pantheros-rollback-boot.cjs, Node's), Bun's bytecode build of it, Bun's
// executable of it and Node's V8 start-up snapshot of its entry (dist/pantheros-rollback-boot-snapshot.cjs), each run from a read-only directory (as from an
// initrd's store), boot exactly as the full bundle does; any other command is refused. Each is
// launched as the NixOS module launches it (nix/bun-launch.json) and run as root from a directory a
// local user owns and filled with what Bun would load from there: bunfig.toml (its preload runs any
// module), .env files (the user's btrfs) and tsconfig.json/jsconfig.json (paths that take the
// script); none of it may take effect.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createImage, sh } from '../helpers/btrfs-image.js';
import { BUN, BUN_LAUNCH, NODE, REPO, requirePrerequisites } from '../helpers/prereq.js';

const BOOT_BUNDLE = join(REPO, 'dist/pantheros-rollback-boot.mjs');
const NODE_BOOT_BUNDLE = join(REPO, 'dist/pantheros-rollback-boot.cjs');
const FULL_BUNDLE = join(REPO, 'dist/pantheros-rollback.mjs');
const SNAPSHOT_ENTRY = join(REPO, 'dist/pantheros-rollback-boot-snapshot.cjs');
const ENTRY = join(REPO, 'initrd/pantheros-rollback-entry.sh');
let store = '';
let hostile = '';
let hostileAbove = '';
let marker = '';

/**
 * A directory owned by nobody (uid 65534) holding what Bun loads from its working directory by default: bunfig.toml
 * whose preload writes `marker`; .env, .env.local and .env.production that make the tool run the user's own `btrfs`
 * (PANTHEROS_BTRFS with the process path), which writes it too; tsconfig.json, and jsconfig.json in the directory
 * above, whose `paths` send every module Bun resolves, the script itself included, to a module writing it.
 */
function makeHostileDirectory(): { dir: string; marker: string; above: string } {
  const above = mkdtempSync(join(tmpdir(), 'pantheros-hostile-'));
  const dir = join(above, 'cwd');
  mkdirSync(dir);
  const mark = join(dir, 'ran');
  const writer = (what: string) => `require('node:fs').appendFileSync(${JSON.stringify(mark)}, '${what} ran as uid ' + process.getuid() + '\\n');\n`;
  writeFileSync(join(dir, 'evil.cjs'), writer('bunfig.toml preload'));
  writeFileSync(join(dir, 'bunfig.toml'), 'preload = ["./evil.cjs"]\n');
  writeFileSync(join(dir, 'btrfs'), `#!/bin/sh\necho ".env btrfs ran as uid $(id -u)" >> ${mark}\nexec btrfs "$@"\n`, { mode: 0o755 });
  const env = `PANTHEROS_BTRFS_BACKEND=process\nPANTHEROS_BTRFS=${join(dir, 'btrfs')}\n`;
  for (const f of ['.env', '.env.local', '.env.production']) writeFileSync(join(dir, f), env);
  writeFileSync(join(dir, 'paths.cjs'), writer('tsconfig.json paths'));
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { paths: { '*': ['./paths.cjs'] } } }));
  writeFileSync(join(above, 'paths.cjs'), writer('jsconfig.json paths (directory above)'));
  writeFileSync(join(above, 'jsconfig.json'), JSON.stringify({ compilerOptions: { paths: { '*': ['./paths.cjs'] } } }));
  for (const f of ['', 'paths.cjs', 'jsconfig.json']) chownSync(join(above, f), 65534, 65534);
  for (const f of ['', 'evil.cjs', 'bunfig.toml', 'btrfs', '.env', '.env.local', '.env.production', 'paths.cjs', 'tsconfig.json']) chownSync(join(dir, f), 65534, 65534);
  chmodSync(above, 0o755);
  chmodSync(dir, 0o755);
  return { dir, marker: mark, above };
}

beforeAll(() => {
  requirePrerequisites();
  if (!existsSync(BOOT_BUNDLE)) throw new Error(`${BOOT_BUNDLE} is missing — run: npm run build`);
  ({ dir: hostile, marker, above: hostileAbove } = makeHostileDirectory());
  // Bun's bytecode of the boot bundle, in a directory then made read-only with a bind mount.
  store = mkdtempSync(join(tmpdir(), 'pantheros-store-'));
  execFileSync(BUN, ['build', BOOT_BUNDLE, '--target=bun', '--format=cjs', '--bytecode', '--outdir', store], { stdio: 'pipe' });
  expect(existsSync(join(store, 'pantheros-rollback-boot.js.jsc'))).toBe(true);
  execFileSync(BUN, ['build', BOOT_BUNDLE, '--compile', '--bytecode', ...BUN_LAUNCH.compile, '--outfile', join(store, 'pantheros-rollback-boot')], { stdio: 'pipe' });
  // What nix/boot-executable.nix builds for the running system's command under Bun.
  execFileSync(BUN, ['build', FULL_BUNDLE, '--compile', '--bytecode', ...BUN_LAUNCH.compile, '--outfile', join(store, 'pantheros-rollback')], { stdio: 'pipe' });
  // Node's boot-only bundle as the package installs it (what stage 1 runs under Node without the snapshot).
  execFileSync('cp', [NODE_BOOT_BUNDLE, join(store, 'pantheros-rollback-boot.cjs')]);
  // What nix/boot-snapshot.nix builds: this Node's start-up snapshot of the entry (a blob loads only into the Node that wrote it).
  const built = spawnSync(NODE, ['--snapshot-blob', join(store, 'pantheros-rollback-boot.blob'), '--build-snapshot', SNAPSHOT_ENTRY], { encoding: 'utf8' });
  expect(built.status, built.stderr).toBe(0);
  // Modules are evaluated when the snapshot is built; nothing may warn that a built-in is unfit for it.
  expect(built.stderr).toBe('');
  sh('mount', ['--bind', store, store]);
  sh('mount', ['-o', 'remount,bind,ro', store]);
});

afterAll(() => {
  if (hostileAbove) rmSync(hostileAbove, { recursive: true, force: true });
  if (!store) return;
  spawnSync('umount', [store]);
  rmSync(store, { recursive: true, force: true });
});

const WAYS = [
  { name: 'boot bundle under node', cmd: () => [NODE, BOOT_BUNDLE], runtime: 'node' },
  { name: 'node boot-only CommonJS bundle from a read-only store (stage 1 under Node, initrd.startupSnapshot = false)', cmd: () => [NODE, join(store, 'pantheros-rollback-boot.cjs')], runtime: 'node' },
  { name: 'boot bundle under bun', cmd: () => [BUN, ...BUN_LAUNCH.run, BOOT_BUNDLE], runtime: 'bun' },
  // The NixOS module's two stage-1 forms under Bun, with the environment it gives them (nix/bun-launch.json env).
  { name: 'bun bytecode build from a read-only store', cmd: () => [BUN, ...BUN_LAUNCH.run, join(store, 'pantheros-rollback-boot.js')], runtime: 'bun', env: BUN_LAUNCH.env },
  { name: 'bun executable from a read-only store', cmd: () => [join(store, 'pantheros-rollback-boot')], runtime: 'bun', env: BUN_LAUNCH.env },
  { name: 'node start-up snapshot from a read-only store', cmd: () => [NODE, '--snapshot-blob', join(store, 'pantheros-rollback-boot.blob')], runtime: 'node' },
  { name: 'the snapshot entry run as a plain script under node', cmd: () => [NODE, SNAPSHOT_ENTRY], runtime: 'node' },
  { name: 'full bundle under bun (reference)', cmd: () => [BUN, ...BUN_LAUNCH.run, FULL_BUNDLE], runtime: 'bun' },
  { name: 'full bundle as a Bun executable (the operator command of the NixOS module under Bun)', cmd: () => [join(store, 'pantheros-rollback')], runtime: 'bun' },
  // Other initrds: initrd/pantheros-rollback-entry.sh picks the runtime and launches it the same way.
  { name: 'the initrd entry script with bun', cmd: () => ['sh', ENTRY], runtime: 'bun', env: { PANTHEROS_ROLLBACK_RUNTIME: BUN, PANTHEROS_ROLLBACK_BUNDLE: BOOT_BUNDLE } },
  { name: 'the initrd entry script with node', cmd: () => ['sh', ENTRY], runtime: 'node', env: { PANTHEROS_ROLLBACK_RUNTIME: NODE, PANTHEROS_ROLLBACK_BUNDLE: NODE_BOOT_BUNDLE } },
] as { name: string; cmd: () => string[]; runtime: string; env?: Record<string, string> }[];

describe.each(WAYS)('$name', (way) => {
  it('boots twice: archives the root, makes a new one from the blank, writes its report; refuses other commands', () => {
    rmSync(marker, { force: true });
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
          env: { ...process.env, BUN_RUNTIME_TRANSPILER_CACHE_PATH: '0', ...way.env },
          cwd: hostile,
        });
        expect(r.status, r.stderr).toBe(0);
        expect(existsSync(marker) ? readFileSync(marker, 'utf8') : '', 'a module from the working directory ran').toBe('');
        const rep = JSON.parse(readFileSync(report, 'utf8')) as { result: string; runtime: string; archived: { name: string }; created: { path: string; from: string } };
        expect(rep.result).toBe('ok');
        expect(rep.runtime).toMatch(new RegExp(`^${way.runtime} `));
        expect(rep.created).toEqual({ path: '@root', from: '@root-blank' });
        names.push(rep.archived.name);
      }
      expect(names).toEqual(['20261125T060000Z', '20261126T060000Z']);
      expect(image.paths().filter((p) => p.startsWith('@btrfs_tmp/'))).toEqual(names.map((n) => `@btrfs_tmp/old_roots/${n}`));
      expect(readFileSync(join(t, '@btrfs_tmp/old_roots/20261125T060000Z/marker'), 'utf8')).toBe('root-before-boot\n');
      const other = spawnSync(bin!, [...pre, 'status', '--top-level', t], { encoding: 'utf8', cwd: hostile, env: { ...process.env, ...way.env } });
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

describe('the initrd entry script', () => {
  it.each([
    ['bun', '/usr/lib/pantheros-rollback/pantheros-rollback-boot.mjs'],
    ['node', '/usr/lib/pantheros-rollback/pantheros-rollback-boot.cjs'],
  ])('gives %s its own form of the boot-only bundle unless PANTHEROS_ROLLBACK_BUNDLE names one', (name, bundle) => {
    // A stand-in runtime of that name that prints what it was started with.
    const dir = mkdtempSync(join(tmpdir(), 'pantheros-entry-'));
    try {
      const fake = join(dir, name);
      writeFileSync(fake, '#!/bin/sh\nprintf "%s\\n" "$@"\n', { mode: 0o755 });
      const run = (env: Record<string, string>) => spawnSync('/bin/sh', [ENTRY, 'boot', '--dry-run'], { encoding: 'utf8', env: { PATH: dir, ...env } });
      const found = run({});
      expect(found.status, found.stderr).toBe(0);
      expect(found.stdout.trim().split('\n').slice(-3)).toEqual([bundle, 'boot', '--dry-run']);
      const named = run({ PANTHEROS_ROLLBACK_RUNTIME: fake, PANTHEROS_ROLLBACK_BUNDLE: '/elsewhere/boot.js' });
      expect(named.stdout.trim().split('\n').slice(-3)).toEqual(['/elsewhere/boot.js', 'boot', '--dry-run']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the directory a local user owns', () => {
  it('the initrd entry script launches bun with the flags of nix/bun-launch.json', () => {
    const line = readFileSync(ENTRY, 'utf8').split('\n').find((l) => l.includes('bun) exec'))!;
    expect(line.trim()).toBe(`bun) exec "$runtime" ${BUN_LAUNCH.run.join(' ')} "$bundle" "$@" ;;`);
  });

  it('is a real attack: Bun launched without each flag of nix/bun-launch.json runs the user\'s code as root from there', () => {
    const bare = mkdtempSync(join(tmpdir(), 'pantheros-bare-exe-'));
    try {
      execFileSync(BUN, ['build', BOOT_BUNDLE, '--compile', '--bytecode', '--outfile', join(bare, 'exe')], { stdio: 'pipe' });
      const cases: [string[], RegExp[]][] = [
        // tsconfig.json's paths take the script itself: the tool never runs, the user's module does.
        [[BUN, BOOT_BUNDLE], [/^tsconfig\.json paths ran as uid 0$/m]],
        [[BUN, '--config=/dev/null', '--no-env-file', BOOT_BUNDLE], [/^tsconfig\.json paths ran as uid 0$/m]],
        [[BUN, '--tsconfig-override=/dev/null', BOOT_BUNDLE], [/^bunfig\.toml preload ran as uid 0$/m, /^\.env btrfs ran as uid 0$/m]],
        // An executable reads no tsconfig.json, but bunfig.toml and .env unless built with the compile flags.
        [[join(bare, 'exe')], [/^bunfig\.toml preload ran as uid 0$/m, /^\.env btrfs ran as uid 0$/m]],
      ];
      for (const [cmd, expected] of cases) {
        const image = createImage();
        try {
          rmSync(marker, { force: true });
          writeFileSync(join(image.dir, 'cmdline'), 'quiet\n');
          const r = spawnSync(cmd[0]!, [...cmd.slice(1), 'boot', '--top-level', image.top, '--now', '2026-11-26T06:00:00Z', '--cmdline', join(image.dir, 'cmdline'), '--report', join(image.dir, 'report.json')], { encoding: 'utf8', cwd: hostile });
          expect(r.status, r.stderr).toBe(0);
          const ran = existsSync(marker) ? readFileSync(marker, 'utf8') : '';
          for (const line of expected) expect(ran, cmd.join(' ')).toMatch(line);
        } finally {
          image.destroy();
        }
      }
      // Without tsconfig.json in the directory itself, the jsconfig.json of the directory above is taken.
      const below = join(hostileAbove, 'plain');
      mkdirSync(below);
      rmSync(marker, { force: true });
      const r = spawnSync(BUN, ['--config=/dev/null', '--no-env-file', BOOT_BUNDLE, '--version'], { encoding: 'utf8', cwd: below });
      expect(r.status, r.stderr).toBe(0);
      expect(readFileSync(marker, 'utf8')).toMatch(/^jsconfig\.json paths \(directory above\) ran as uid 0$/m);
      const guarded = spawnSync(BUN, [...BUN_LAUNCH.run, BOOT_BUNDLE, '--version'], { encoding: 'utf8', cwd: below });
      expect(guarded.stdout).toMatch(/^\d+\.\d+\.\d+/);
    } finally {
      rmSync(marker, { force: true });
      rmSync(bare, { recursive: true, force: true });
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
