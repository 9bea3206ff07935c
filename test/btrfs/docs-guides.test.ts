// The README's adoption and migration guides, run literally: every ```sh adopt-test / ```sh migrate-test block is
// extracted and run with bash (set -eu) on a throwaway image laid out as that kind of server, with $DEV, $MNT and
// $CONFIG set and `pantheros-rollback` on PATH as the bundled file under Node or Bun. Between the blocks marked
// `after-boot` and the others comes the boot the initrd unit would run; the migrated server then boots 40 days
// later, when the impermanence snippet's archives age out (their age counts from no earlier than their btrfs
// creation time, which is now, so the test moves the clock with boot's --now instead of forging names). The
// `after-boot` blocks run in a private mount namespace with an empty /run/pantheros-rollback, so `status` cannot
// read another run's report there and reads the copy the boot kept on the top level (through --device).
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createImage, listSubvolumes, sh, type Image } from '../helpers/btrfs-image.js';
import { BUNDLE, REPO, RUNTIMES, requirePrerequisites, type Runtime } from '../helpers/prereq.js';
import { runBundle } from '../helpers/run-bundle.js';

interface Block {
  guide: string;
  afterBoot: boolean;
  text: string;
}

/** The README's code blocks whose info string is `sh <guide>-test [after-boot]`, in order. */
function guideBlocks(readme: string, guide: string): Block[] {
  const blocks: Block[] = [];
  for (const m of readme.matchAll(/^```sh ([\w-]+)-test( after-boot)?\n([\s\S]*?)^```$/gm)) {
    if (m[1] === guide) blocks.push({ guide, afterBoot: m[2] !== undefined, text: m[3]! });
  }
  return blocks;
}

const README = readFileSync(join(REPO, 'README.md'), 'utf8');
const DAY = 86_400_000;

let image: Image | undefined;
let mnt = '';
let failed = true;

beforeAll(() => requirePrerequisites(['btrfs', 'mkfs.btrfs', 'losetup', 'mount', 'umount', 'unshare'], 'apt-get install -y btrfs-progs util-linux'));

afterEach(() => {
  if (!image) return;
  if (failed) process.stderr.write(`guide mount point ${mnt}\n`);
  else spawnSync('umount', ['-R', mnt]);
  image.destroy(failed);
  image = undefined;
});

interface Server {
  image: Image;
  env: Record<string, string>;
  cmdline: string;
}

/** An image laid out by `build` (top level mounted), then unmounted: the guide mounts it itself at $MNT. */
function server(runtime: Runtime, build: (top: string) => void): Server {
  image = createImage({ layout: false });
  failed = true;
  build(image.top);
  image.unmount();
  mnt = join(image.dir, 'mnt');
  const bin = join(image.dir, 'bin');
  mkdirSync(bin);
  // As the NixOS wrapper launches it (Bun with nix/bun-launch.json's flags).
  writeFileSync(join(bin, 'pantheros-rollback'), `#!/bin/sh\nexec ${[runtime.bin, ...runtime.flags, BUNDLE].map((a) => `'${a}'`).join(' ')} "$@"\n`);
  chmodSync(join(bin, 'pantheros-rollback'), 0o755);
  const cmdline = join(image.dir, 'cmdline');
  writeFileSync(cmdline, 'quiet\n');
  const env = { DEV: image.loop, MNT: mnt, CONFIG: join(image.dir, 'preview.json'), PATH: `${bin}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}` };
  return { image, env, cmdline };
}

/**
 * Runs blocks literally with bash -eu; fails the test with the output when a command fails. With emptyRun, in a
 * private mount namespace whose /run/pantheros-rollback is an empty tmpfs (mounts made there end with it).
 */
function runBlocks(blocks: Block[], env: Record<string, string>, options: { emptyRun?: boolean } = {}): string {
  const script = `set -eu\n${blocks.map((b) => b.text).join('\n')}`;
  const argv = options.emptyRun
    ? ['unshare', '--mount', '--propagation', 'private', 'bash', '-c', `mount -t tmpfs tmpfs /run/pantheros-rollback && exec bash -c "$1"`, 'bash', script]
    : ['bash', '-c', script];
  if (options.emptyRun) mkdirSync('/run/pantheros-rollback', { recursive: true });
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 300_000 });
  const out = `${r.stdout}${r.stderr}`;
  if (r.status !== 0) throw new Error(`the guide's commands failed (exit ${r.status}):\n${out}`);
  return out;
}

/** The boot the initrd unit runs (the bundle, `boot`), on the top level the guide mounted. */
function boot(runtime: Runtime, s: Server, extra: string[] = []) {
  const report = join(s.image.dir, `report-${Math.random().toString(36).slice(2)}.json`);
  const r = runBundle(runtime, ['boot', '--top-level', mnt, '--config', s.env.CONFIG!, '--cmdline', s.cmdline, '--report', report, ...extra]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(readFileSync(report, 'utf8')) as {
    result: string;
    archived: { name: string } | null;
    created: { path: string; from: string } | null;
    deleted: { path: string; reason: string; subvolumes: string[] }[];
  };
}

const readOnly = (path: string) => sh('btrfs', ['property', 'get', '-ts', path, 'ro']).trim() === 'ro=true';
const paths = () => listSubvolumes(mnt).map((s) => s.path);
const write = (file: string, text: string) => {
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, text);
};

describe('the guides are in marked blocks', () => {
  it('the README has adopt-test and migrate-test blocks, each with commands run after the first boot', () => {
    for (const guide of ['adopt', 'migrate']) {
      const blocks = guideBlocks(README, guide);
      expect(blocks.filter((b) => !b.afterBoot).length).toBeGreaterThan(0);
      expect(blocks.filter((b) => b.afterBoot).length).toBeGreaterThan(0);
    }
  });
});

/** The files of a NixOS server whose / is the btrfs top level (relative path → content). */
const EXISTING_SERVER: Record<string, string> = {
  'etc/nixos/configuration.nix': '{ ... }: { }\n',
  'etc/machine-id': '0123456789abcdef0123456789abcdef\n',
  'etc/ssh/ssh_host_ed25519_key': 'key\n',
  'etc/hosts': '127.0.0.1 localhost\n',
  'nix/store/abc-hello/bin/hello': '#!/bin/sh\n',
  'var/lib/nixos/uid-map': '{}\n',
  'var/lib/systemd/random-seed': 'seed\n',
  'var/log/messages': 'old log\n',
  'var/lib/postgresql/15/PG_VERSION': '15\n',
  'home/alice/notes.txt': 'alice\n',
  'root/.bash_history': 'ls\n',
  'etc/forgotten.conf': 'not persisted\n',
};

describe.each(RUNTIMES)('adopt on an existing server, $name', (runtime) => {
  it('a btrfs root at the top level with NixOS directories and no blank: the guide lays it out, the first boot archives the old system and starts on a fresh root with the persisted state', () => {
    const s = server(runtime, (top) => {
      for (const [path, text] of Object.entries(EXISTING_SERVER)) write(join(top, path), text);
    });
    const blocks = guideBlocks(README, 'adopt');
    const before = runBlocks(blocks.filter((b) => !b.afterBoot), s.env);
    expect(before).toMatch(/0 errors/);
    expect(before).toMatch(/dry run — nothing is changed/);
    for (const p of ['@root', '@root-blank', '@nix', '@persistent', '@persistent/var/log', '@persistent/home', '@persistent/var/lib/postgresql', '@snapshots']) {
      expect(paths()).toContain(p);
    }
    expect(readOnly(join(mnt, '@root-blank'))).toBe(true);

    const report = boot(runtime, s);
    expect(report.result).toBe('ok');
    expect(report.created).toMatchObject({ path: '@root', from: '@root-blank' });
    const archive = join(mnt, '@btrfs_tmp/old_roots', report.archived!.name);
    // The old system is the first archive (a forgotten file is there); the new root is empty; the state is persisted.
    expect(readFileSync(join(archive, 'etc/forgotten.conf'), 'utf8')).toBe('not persisted\n');
    expect(existsSync(join(mnt, '@root/etc'))).toBe(false);
    expect(readFileSync(join(mnt, '@persistent/var/lib/postgresql/15/PG_VERSION'), 'utf8')).toBe('15\n');
    expect(readFileSync(join(mnt, '@persistent/var/log/messages'), 'utf8')).toBe('old log\n');
    expect(readFileSync(join(mnt, '@persistent/etc/machine-id'), 'utf8')).toMatch(/^0123/);
    expect(readFileSync(join(mnt, '@persistent/etc/ssh/ssh_host_ed25519_key'), 'utf8')).toBe('key\n');
    expect(readFileSync(join(mnt, '@persistent/var/lib/nixos/uid-map'), 'utf8')).toBe('{}\n');
    expect(readFileSync(join(mnt, '@nix/store/abc-hello/bin/hello'), 'utf8')).toBe('#!/bin/sh\n');
    // The way back: the old system at the top level is untouched.
    expect(readFileSync(join(mnt, 'etc/nixos/configuration.nix'), 'utf8')).toBe('{ ... }: { }\n');
    expect(readFileSync(join(mnt, 'nix/store/abc-hello/bin/hello'), 'utf8')).toBe('#!/bin/sh\n');

    const after = runBlocks(blocks.filter((b) => b.afterBoot), s.env, { emptyRun: true });
    // status, from the report the boot kept on the top level; then list, with that archive in it.
    expect(after).toContain(`Last boot: OK — new root from @root-blank; previous root archived as ${report.archived!.name}`);
    expect(after).toContain('report: <top level>/@btrfs_tmp/old_roots/.pantheros-last-report.json');
    expect(after).toMatch(new RegExp(`^${report.archived!.name} .*keep`, 'm'));
    // A second boot works on the adopted layout too.
    expect(boot(runtime, s).result).toBe('ok');
    failed = false;
  });
});

/** The impermanence snippet's archive name for a time: date "+%Y-%m-%-d_%H:%M:%S" (day not zero-padded). */
function snippetName(t: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${t.getUTCFullYear()}-${p(t.getUTCMonth() + 1)}-${t.getUTCDate()}_${p(t.getUTCHours())}:${p(t.getUTCMinutes())}:${p(t.getUTCSeconds())}`;
}

describe.each(RUNTIMES)('migrate from the impermanence snippet, $name', (runtime) => {
  it.each([
    ['without a blank (the snippet creates an empty root)', false],
    ['with a writable blank root-blank', true],
  ])('%s: the guide takes the snippet names, the first boot archives root, and the snippet archives age out', (_label, withBlank) => {
    const names = [80, 60, 45, 20, 9, 2].map((d) => snippetName(new Date(Date.now() - d * DAY)));
    const s = server(runtime, (top) => {
      const sv = (p: string) => sh('btrfs', ['-q', 'subvolume', 'create', join(top, p)]);
      sv('root');
      write(join(top, 'root/etc/old-root-file'), 'from the last snippet boot\n');
      sv('nix');
      sv('persistent');
      write(join(top, 'persistent/etc/machine-id'), 'id\n');
      if (withBlank) sv('root-blank');
      mkdirSync(join(top, 'old_roots'));
      for (const n of names) sv(`old_roots/${n}`);
      sv(`old_roots/${names[0]}/srv`); // a nested subvolume in the oldest archive
    });
    const blocks = guideBlocks(README, 'migrate');
    const before = runBlocks(blocks.filter((b) => !b.afterBoot), s.env);
    expect(before).toMatch(/0 errors/);
    expect(readOnly(join(mnt, 'root-blank'))).toBe(true);

    const first = boot(runtime, s);
    expect(first.result).toBe('ok');
    expect(first.created).toMatchObject({ path: 'root', from: 'root-blank' });
    expect(first.archived!.name).toMatch(/^\d{8}T\d{6}Z$/);
    expect(readFileSync(join(mnt, 'old_roots', first.archived!.name, 'etc/old-root-file'), 'utf8')).toBe('from the last snippet boot\n');
    expect(first.deleted).toEqual([]); // made just now: not old, whatever their names say

    const listed = runBlocks(blocks.filter((b) => b.afterBoot), s.env, { emptyRun: true });
    expect(listed).toContain(`Last boot: OK — new root from root-blank; previous root archived as ${first.archived!.name}`);
    expect(listed).toContain('report: <top level>/old_roots/.pantheros-last-report.json');
    for (const n of names.slice(0, 3)) expect(listed).toMatch(new RegExp(`${n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} .*WOULD DELETE: older than 30 d`));

    // Forty days on: everything beyond the newest 5 is older than keepDays.
    const later = boot(runtime, s, ['--now', new Date(Date.now() + 40 * DAY).toISOString()]);
    expect(later.result).toBe('ok');
    expect(later.deleted.map((d) => d.path).sort()).toEqual(names.slice(0, 3).map((n) => `old_roots/${n}`).sort());
    expect(later.deleted.flatMap((d) => d.subvolumes)).toContain(`old_roots/${names[0]}/srv`);
    for (const d of later.deleted) expect(d.reason).toMatch(/older than 30 d/);
    const left = paths().filter((p) => p.startsWith('old_roots/'));
    expect(left.sort()).toEqual([...names.slice(3).map((n) => `old_roots/${n}`), `old_roots/${first.archived!.name}`, `old_roots/${later.archived!.name}`].sort());
    expect(paths()).toEqual(expect.arrayContaining(['root', 'root-blank', 'nix', 'persistent', 'snapshots']));
    expect(readFileSync(join(mnt, 'persistent/etc/machine-id'), 'utf8')).toBe('id\n');
    failed = false;
  });
});
