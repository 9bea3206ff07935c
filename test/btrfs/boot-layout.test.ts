// Real btrfs, bundled file, Node and Bun: layouts the tool must refuse (exit 3, nothing changed), a full
// filesystem, and `--device` (the tool mounts the top level itself, privately, and unmounts it).
import { mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { sh } from '../helpers/btrfs-image.js';
import { BASE_CONFIG, CMDLINE_BASE, commit, describeRun, fullState, LAST_REPORT, OLD_ROOTS, seedArchives, useBootCase, type BootCase } from '../helpers/boot-case.js';
import { BUNDLE, requirePrerequisites, RUNTIMES } from '../helpers/prereq.js';

beforeAll(() => requirePrerequisites(['btrfs', 'mkfs.btrfs', 'losetup', 'mount', 'umount', 'dd', 'chattr', 'lsattr']));

const NOW = '2026-11-26T06:00:00Z';
const ls = (c: BootCase, rel: string) => readdirSync(c.abs(rel)).sort();

/** Mount points of a block device in this mount namespace. */
function mountsOf(device: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[f.indexOf('-') + 2] === device)
    .map((f) => f[4]!);
}

/** Path and id of every subvolume (generations aside): what "the listing did not change" means. */
function listing(c: BootCase): string[] {
  commit(c);
  return c.image.subvolumes().map((s) => `${s.path} id=${s.id}`);
}

/** Writes until ENOSPC: one big file (data), then long symlinks (metadata: a 4000-byte target is stored inline). */
function fill(c: BootCase): { data: number; links: number } {
  try {
    sh('dd', ['if=/dev/zero', `of=${c.abs('@root/big')}`, 'bs=1M', 'status=none']);
  } catch {
    // dd stops with ENOSPC: that is the point
  }
  mkdirSync(c.abs('@persistent/meta'));
  const target = 'x'.repeat(4000);
  let links = 0;
  for (;;) {
    try {
      symlinkSync(target, c.abs(`@persistent/meta/l${links}`));
      links += 1;
    } catch (error) {
      expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
      break;
    }
  }
  commit(c);
  return { data: Number(sh('stat', ['-c', '%s', c.abs('@root/big')]).trim()), links };
}

function writeConfig(c: BootCase, config: unknown): string {
  const file = join(c.image.dir, 'late-config.json');
  writeFileSync(file, JSON.stringify(config));
  return file;
}

function writeCmdline(c: BootCase): string {
  const file = join(c.image.dir, 'late-cmdline');
  writeFileSync(file, `${CMDLINE_BASE}\n`);
  return file;
}

/** Starts the bundle without waiting (runBundle blocks), for a device that appears while it waits. */
function spawnBoot(c: BootCase, args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(c.runtime.bin, [BUNDLE, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describe.each(RUNTIMES)('boot layout, full filesystem and --device under $name', (runtime) => {
  interface Broken {
    what: string;
    setup: (c: BootCase) => (() => void) | void;
    message: RegExp;
  }
  const broken: Broken[] = [
    {
      what: '@root is a plain directory',
      setup: (c) => {
        sh('btrfs', ['subvolume', 'delete', c.abs('@root')]);
        mkdirSync(c.abs('@root'));
        writeFileSync(c.abs('@root/marker'), 'plain directory root\n');
      },
      message: /@root is a directory, not a subvolume/,
    },
    {
      what: '@btrfs_tmp/old_roots is a file',
      setup: (c) => {
        rmdirSync(c.abs(OLD_ROOTS));
        writeFileSync(c.abs(OLD_ROOTS), 'not a directory\n');
      },
      message: /old_roots.*is a file, not a directory/,
    },
    {
      what: '@btrfs_tmp is a file',
      setup: (c) => {
        rmSync(c.abs('@btrfs_tmp'), { recursive: true });
        writeFileSync(c.abs('@btrfs_tmp'), 'not a directory\n');
      },
      message: /@btrfs_tmp.*not a directory/,
    },
    {
      what: '@root is mounted somewhere',
      setup: (c) => {
        const at = join(c.image.dir, 'root-mounted');
        mkdirSync(at);
        sh('mount', ['-o', 'subvol=@root', c.image.loop, at]);
        return () => sh('umount', [at]);
      },
      message: /@root is mounted at .*root-mounted/,
    },
    {
      // A review (2026-12-02): boot --dry-run said fine, the boot then failed at its first step with EROFS (exit 1).
      what: 'the top level is mounted read-only',
      setup: (c) => {
        sh('mount', ['-o', 'remount,ro', c.top]);
        return () => sh('mount', ['-o', 'remount,rw', c.top]);
      },
      message: /the top level .* is mounted read-only: .*mount -o remount,rw/,
    },
    // Immutable (chattr +i, which only root can set): the rename of the root fails with EPERM. Before 2026-12-02 the
    // dry run said fine and every boot failed at step 1 (exit 1).
    ...[
      ['the archive directory', OLD_ROOTS, /@btrfs_tmp\/old_roots is immutable \(chattr \+i\): @root cannot be moved .*chattr -i <top>\/@btrfs_tmp\/old_roots/],
      ['@root', '@root', /@root is immutable \(chattr \+i\)/],
      ['the top level', '', /the top level is immutable \(chattr \+i\).*chattr -i <top> \(nothing was changed\)/],
    ].map(([where, rel, message]) => ({
      what: `${where} is immutable`,
      setup: (c: BootCase) => {
        const path = rel === '' ? c.top : c.abs(rel as string);
        sh('chattr', ['+i', path]);
        return () => sh('chattr', ['-i', path]);
      },
      message: message as RegExp,
    })),
    {
      what: '@root is read-only (btrfs property ro)',
      setup: (c: BootCase) => {
        sh('btrfs', ['property', 'set', '-ts', c.abs('@root'), 'ro', 'true']);
        return () => sh('btrfs', ['property', 'set', '-ts', c.abs('@root'), 'ro', 'false']);
      },
      message: /@root is read-only \(btrfs property ro\): it cannot be moved to @btrfs_tmp\/old_roots \(EROFS\)/,
    },
  ];

  it.each(broken)('a broken layout ($what) → exit 3, a clear message, nothing changed', ({ setup, message }) => {
    const c = useBootCase(runtime);
    const undo = setup(c);
    try {
      const before = fullState(c);
      const top = ls(c, '');
      const r = c.boot(NOW);
      expect(r.code, describeRun(r)).toBe(3);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toMatch(/nothing was changed/);
      expect(r.report?.result).toBe('refused');
      expect(r.report?.exitCode).toBe(3);
      expect(r.report?.error).toMatch(message);
      expect(fullState(c)).toEqual(before);
      expect(ls(c, '')).toEqual(top);
      // The on-disk report copy (for `status` after the reboot) is the only thing a refused run may write.
      if (c.kind(LAST_REPORT) !== 'missing') expect(JSON.parse(c.read(LAST_REPORT))).toMatchObject({ result: 'refused', exitCode: 3 });
      expect(c.read('@persistent/marker')).toBe('persistent\n');
      if (c.kind('@root/marker') !== 'missing') expect(c.read('@root/marker')).toMatch(/root/);
    } finally {
      undo?.();
    }
  });

  it('an immutable blank (chattr +i, set before it was made read-only) or target: the new root is never immutable (a snapshot copies the flag; before, the root booted immutable and every later boot refused to move it)', () => {
    const c = useBootCase(runtime);
    seedArchives(c, ['20261120T000000Z', '20261121T000000Z']);
    const blank = c.abs('@root-blank');
    sh('btrfs', ['property', 'set', '-ts', blank, 'ro', 'false']);
    sh('chattr', ['+i', blank]);
    sh('btrfs', ['property', 'set', '-ts', blank, 'ro', 'true']);
    const archive = c.abs(`${OLD_ROOTS}/20261121T000000Z`);
    sh('chattr', ['+i', archive]);
    const immutable = (rel: string) => /^\S*i\S* /.test(sh('lsattr', ['-d', c.abs(rel)]));
    try {
      const r = c.boot(NOW);
      expect(r.code, describeRun(r)).toBe(0);
      expect(r.report?.created?.from).toBe('an empty subvolume');
      expect(r.stderr).toMatch(/the blank @root-blank is immutable \(chattr \+i\)/);
      expect(immutable('@root')).toBe(false);
      writeFileSync(c.abs('@root/writable'), 'yes\n');
      // The immutable archive as the target: refused, a fresh (empty) root instead, the archive as it was.
      const t = c.boot('2026-11-27T06:00:00Z', { cmdline: 'pantheros.rollback=20261121T000000Z' });
      expect(t.code, describeRun(t)).toBe(0);
      expect(t.report?.result).toBe('fell-back');
      expect(t.report?.target?.refused).toMatch(/20261121T000000Z is immutable \(chattr \+i\), and a snapshot of it would be too/);
      expect(immutable('@root')).toBe(false);
      expect(immutable(`${OLD_ROOTS}/20261121T000000Z`)).toBe(true);
    } finally {
      sh('chattr', ['-i', archive]);
      sh('btrfs', ['property', 'set', '-ts', blank, 'ro', 'false']);
      sh('chattr', ['-i', blank]);
    }
  });

  it('an expired archive made immutable (chattr +i) is kept, said so by the dry run and the boot alike, and the others age out; no warning of a delete that failed (before: shown as going, then every boot warned it stayed with EPERM)', () => {
    const c = useBootCase(runtime);
    seedArchives(c, ['20250101T000000Z', '20250102T000000Z', '20261120T000000Z', '20261121T000000Z', '20261122T000000Z', '20261123T000000Z', '20261124T000000Z']);
    const held = c.abs(`${OLD_ROOTS}/20250101T000000Z`);
    sh('chattr', ['+i', held]);
    try {
      const why = /immutable \(chattr \+i\), so protected: btrfs refuses to delete it \(to let it age out: chattr -i <top>\/@btrfs_tmp\/old_roots\/20250101T000000Z\)/;
      const dry = c.boot(NOW, { dryRun: true, json: true });
      expect(dry.code, describeRun(dry)).toBe(0);
      const verdict = (v: { name: string }) => v.name === '20250101T000000Z';
      expect(dry.json?.kept.find(verdict)).toMatchObject({ reason: expect.stringMatching(why) });
      const r = c.boot(NOW);
      expect(r.code, describeRun(r)).toBe(0);
      expect(r.report?.result).toBe('ok');
      expect(r.report?.deleted.map((d) => d.path)).toEqual([`${OLD_ROOTS}/20250102T000000Z`]);
      expect(r.report?.kept.find(verdict)).toMatchObject({ reason: expect.stringMatching(why) });
      expect(r.report?.warnings.join('\n')).not.toMatch(/20250101T000000Z stays/);
      expect(c.archives()).toContain('20250101T000000Z');
    } finally {
      sh('chattr', ['-i', held]);
    }
  });

  it('a full filesystem (data and metadata): either a usable new root and exit 0, or non-zero with nothing changed; after freeing space the next boot succeeds', () => {
    const c = useBootCase(runtime, { size: '256M' });
    seedArchives(c, ['20261120T000000Z'], 'root-before-boot\n');
    const filled = fill(c);
    expect(filled.data).toBeGreaterThan(100 << 20);
    const before = listing(c);
    const root = c.subvolume('@root')!;
    const r = c.boot(NOW);
    if (r.code === 0) {
      expect(r.report?.result, describeRun(r)).toBe('ok');
      expect(c.kind('@root')).toBe('subvolume');
      expect(c.subvolume('@root')!.id).not.toBe(root.id);
      expect(c.image.isReadOnly('@root')).toBe(false);
      expect(ls(c, '@root')).toEqual([]);
      expect(c.subvolume(`${OLD_ROOTS}/20261126T060000Z`)?.id).toBe(root.id);
      expect(c.read(`${OLD_ROOTS}/20261126T060000Z/marker`)).toBe('root-before-boot\n');
    } else {
      expect(r.signal, describeRun(r)).toBeNull();
      expect(r.code, describeRun(r)).not.toBe(4);
      expect(r.stderr).toMatch(/no space|ENOSPC/i);
      expect(r.report?.result).toBe('failed');
      // Nothing changed: the same subvolumes under the same names, the old root still in place.
      expect(listing(c), describeRun(r)).toEqual(before);
      expect(c.subvolume('@root')?.id).toBe(root.id);
      expect(c.read('@root/marker')).toBe('root-before-boot\n');
    }
    expect(c.archives()).toContain('20261120T000000Z');
    // Free the metadata and boot again: it must work, leaving no half-made root.
    rmSync(c.abs('@persistent/meta'), { recursive: true });
    commit(c);
    const again = c.boot('2026-11-26T06:05:00Z');
    expect(again.code, describeRun(again)).toBe(0);
    expect(c.kind('@root')).toBe('subvolume');
    expect(ls(c, '@root')).toEqual([]);
    expect(c.entries().filter((e) => e.startsWith('.pantheros-new-root'))).toEqual([]);
    expect(c.image.subvolumes().some((s) => s.id === root.id && s.path.startsWith(`${OLD_ROOTS}/`))).toBe(true);
  });

  it('a full data area only (metadata left): the boot still ends with a usable root', () => {
    const c = useBootCase(runtime, { size: '256M' });
    try {
      sh('dd', ['if=/dev/zero', `of=${c.abs('@root/big')}`, 'bs=1M', 'status=none']);
    } catch {
      // ENOSPC
    }
    commit(c);
    const root = c.subvolume('@root')!;
    const r = c.boot(NOW);
    expect(r.code, describeRun(r)).toBe(0);
    expect(c.subvolume(`${OLD_ROOTS}/20261126T060000Z`)?.id).toBe(root.id);
    expect(ls(c, '@root')).toEqual([]);
    expect(c.image.isReadOnly('@root')).toBe(false);
  });

  it('--device: mounts the top level privately, does the boot, and unmounts it again', () => {
    const c = useBootCase(runtime);
    seedArchives(c, ['20260101T000000Z', '20261120T000000Z'], 'root-before-boot\n');
    c.image.unmount();
    expect(mountsOf(c.image.loop)).toEqual([]);
    const r = c.boot(NOW, { access: ['--device', c.image.loop], config: { ...BASE_CONFIG, oldRoots: { keepDays: 30, keepAtLeast: 1 } } });
    const mountedAfter = mountsOf(c.image.loop);
    c.image.mount();
    expect(r.code, describeRun(r)).toBe(0);
    expect(mountedAfter).toEqual([]);
    expect(r.report?.device).toBe(c.image.loop);
    expect(r.report?.result).toBe('ok');
    expect(r.report?.warnings).toEqual([]);
    expect(r.report?.deleted.map((d) => d.path)).toEqual([`${OLD_ROOTS}/20260101T000000Z`]);
    expect(c.archives()).toEqual(['20261120T000000Z', '20261126T060000Z']);
    expect(c.read(`${OLD_ROOTS}/20261126T060000Z/marker`)).toBe('root-before-boot\n');
    expect(ls(c, '@root')).toEqual([]);
    expect(JSON.parse(c.read(LAST_REPORT))).toMatchObject({ device: c.image.loop, result: 'ok' });
  });

  it('--device that appears during the wait (udev late): the boot waits for it and succeeds', async () => {
    const c = useBootCase(runtime);
    c.image.unmount();
    const late = join(c.image.dir, 'late-device');
    const run = spawnBoot(c, ['boot', '--device', late, '--config', writeConfig(c, { ...BASE_CONFIG, deviceTimeoutSeconds: 10 }), '--cmdline', writeCmdline(c), '--now', NOW, '--report', join(c.image.dir, 'late.json')]);
    await new Promise((resolve) => setTimeout(resolve, 700));
    symlinkSync(c.image.loop, late);
    const { code, stderr } = await run;
    const mountedAfter = mountsOf(c.image.loop);
    c.image.mount();
    expect(code, stderr).toBe(0);
    expect(mountedAfter).toEqual([]);
    expect(c.read(`${OLD_ROOTS}/20261126T060000Z/marker`)).toBe('root-before-boot\n');
    expect(ls(c, '@root')).toEqual([]);
  });

  it('"device" from the config is used when no flag is given, and --top-level wins over it', () => {
    const c = useBootCase(runtime);
    const missing = `/dev/pantheros-test-missing-${process.pid}-${Date.now()}`;
    // --top-level given: the (missing) device of the config is not waited for.
    let r = c.boot(NOW, { config: { ...BASE_CONFIG, device: missing } });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.device).toBeNull();
    // No flag: the config's device is mounted privately and unmounted again.
    c.image.unmount();
    r = c.boot('2026-11-26T06:01:00Z', { access: [], config: { ...BASE_CONFIG, device: c.image.loop } });
    const mountedAfter = mountsOf(c.image.loop);
    c.image.mount();
    expect(r.code, describeRun(r)).toBe(0);
    expect(mountedAfter).toEqual([]);
    expect(r.report?.device).toBe(c.image.loop);
    expect(c.archives()).toEqual(['20261126T060000Z', '20261126T060100Z']);
  });

  it('--device that never appears: fails after the bounded wait (deviceTimeoutSeconds) with a clear message', () => {
    const c = useBootCase(runtime);
    const missing = `/dev/pantheros-test-missing-${process.pid}-${Date.now()}`;
    const before = fullState(c);
    const started = performance.now();
    const r = c.boot(NOW, { access: ['--device', missing] });
    const ms = performance.now() - started;
    expect(r.code, describeRun(r)).toBe(3);
    expect(ms).toBeGreaterThanOrEqual(1000);
    expect(ms).toBeLessThan(10_000);
    expect(r.stderr).toContain(`device ${missing} did not appear within 1 s`);
    expect(r.report?.result).toBe('refused');
    expect(fullState(c)).toEqual(before);
  });

  it('--device that is not btrfs: exit 3 naming the device, nothing mounted afterwards', () => {
    const c = useBootCase(runtime);
    const notBtrfs = join(c.image.dir, 'zeros.img');
    sh('truncate', ['-s', '16M', notBtrfs]);
    const loop = sh('losetup', ['--find', '--show', notBtrfs]).trim();
    try {
      const r = c.boot(NOW, { access: ['--device', loop] });
      expect(r.code, describeRun(r)).toBe(3);
      expect(r.stderr).toContain(loop);
      expect(mountsOf(loop)).toEqual([]);
    } finally {
      sh('losetup', ['-d', loop]);
    }
  });
});
