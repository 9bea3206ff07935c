// Real btrfs, bundled file, Node and Bun: the operator commands diff, snapshot, prune and metrics,
// including bad input (unknown archive, unknown class, missing subvolume, unreadable config).
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { sh } from '../helpers/btrfs-image.js';
import { commit, OLD_ROOTS, useBootCase, type BootCase } from '../helpers/boot-case.js';
import { requirePrerequisites, RUNTIMES, type Runtime } from '../helpers/prereq.js';
import { runBundle, type RunResult } from '../helpers/run-bundle.js';
import { rootFromFilledBlank } from '../helpers/diff-case.js';
import { parseExposition, sampleValue } from '../helpers/prometheus.js';

beforeAll(() => requirePrerequisites(['btrfs', 'mkfs.btrfs', 'losetup', 'mount', 'umount', 'setfattr']));

interface Entry {
  path: string;
  status: 'added' | 'changed' | 'deleted';
  type?: string;
  changes: string[];
  from?: string;
  target?: string;
  xattrs?: string[];
}
interface DiffJson {
  source: { kind: string; name: string };
  method: string;
  summary: { added: number; changed: number; deleted: number; persistedSkipped: number };
  persisted: string[];
  unmountedPersistentPaths: string[];
  entries: Entry[];
  unparsedLines: number;
}
interface Verdict {
  path: string;
  name: string;
  class: string;
  subvolume: string;
  action: 'keep' | 'delete';
  reason: string;
}

const show = (r: RunResult, argv: string[]) => `${argv.join(' ')}\nexit ${r.code}\nstderr:\n${r.stderr}\nstdout:\n${r.stdout.slice(0, 3000)}`;

/** Runs a subcommand against the case's top level with a config file written for it. */
function run(c: BootCase, argv: string[], config: unknown = {}, env: Record<string, string> = {}): RunResult & { argv: string[] } {
  const configFile = join(c.image.dir, `config-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(configFile, JSON.stringify(config));
  const full = [...argv, '--top-level', c.top, '--config', configFile];
  const r = runBundle(c.runtime, full, env);
  return { ...r, argv: [c.runtime.name, ...full] };
}

function json<T>(r: RunResult & { argv: string[] }): T {
  expect(r.code, show(r, r.argv)).toBe(0);
  return JSON.parse(r.stdout) as T;
}

const leftovers = (c: BootCase) => readdirSync(c.abs(OLD_ROOTS)).filter((n) => n.startsWith('.pantheros-diff-'));

/**
 * A blank with content, @root a writable snapshot of it, then every kind of change the next boot erases:
 * new files/dirs/symlinks, appended content, chmod, chown, an xattr, touch -m, deletions, a replaced
 * symlink, a rename, and writes under a persisted path.
 */
function prepareRoot(c: BootCase): void {
  const r = rootFromFilledBlank(c, (b) => {
    mkdirSync(b('etc/deldir'), { recursive: true });
    mkdirSync(b('var/log'), { recursive: true });
    for (const f of ['untouched', 'binxattr', 'hosts', 'chmodme', 'chownme', 'xattrme', 'touchme', 'deleteme', 'renameme', 'deldir/f']) writeFileSync(b(`etc/${f}`), `${f}\n`);
    symlinkSync('hosts', b('etc/oldlink'));
  });
  writeFileSync(r('etc/newfile'), 'new\n');
  mkdirSync(r('etc/newdir'));
  writeFileSync(r('etc/newdir/inner'), 'inner\n');
  symlinkSync('/target', r('etc/newlink'));
  writeFileSync(r('etc/hosts'), 'hosts\nappended\n');
  chmodSync(r('etc/chmodme'), 0o600);
  chownSync(r('etc/chownme'), 1000, 1000);
  sh('setfattr', ['-n', 'user.pantheros', '-v', 'yes', r('etc/xattrme')]);
  // A binary value with newlines, one line looking like a command: receive --dump prints it raw.
  sh('setfattr', ['-n', 'user.bin', '-v', `0x${Buffer.from('\nAB\nunlink ./etc/hosts\n').toString('hex')}`, r('etc/binxattr')]);
  utimesSync(r('etc/touchme'), new Date('2020-01-01T00:00:00Z'), new Date('2020-01-01T00:00:00Z'));
  unlinkSync(r('etc/deleteme'));
  rmSync(r('etc/deldir'), { recursive: true });
  unlinkSync(r('etc/oldlink'));
  symlinkSync('other', r('etc/oldlink'));
  renameSync(r('etc/renameme'), r('etc/renamed'));
  writeFileSync(r('var/log/persisted.log'), 'kept across boots\n');
  mkdirSync(r('srv'));
  writeFileSync(r('srv/under-a-bind-mount'), 'hidden by the mount\n');
  c.createSubvolume('@root/var/lib/machines', { inside: 'container\n' });
  commit(c);
}

describe.each(RUNTIMES)('diff under $name', (runtime: Runtime) => {
  it('reports added, changed (content and metadata only), deleted paths and symlinks; filters by prefix; hides persisted paths; cleans up', () => {
    const c = useBootCase(runtime);
    prepareRoot(c);
    const config = { persistentPaths: ['/var/log'] };
    // A snapshot left by a killed diff (its process is gone) is removed by the next send diff (a walk changes nothing);
    // one of a live process is not.
    let deadPid = 4_000_000;
    while (existsSync(`/proc/${deadPid}`)) deadPid += 1;
    sh('btrfs', ['subvolume', 'snapshot', '-r', c.abs('@root'), c.abs(`${OLD_ROOTS}/.pantheros-diff-${deadPid}`)]);
    sh('btrfs', ['subvolume', 'snapshot', '-r', c.abs('@root'), c.abs(`${OLD_ROOTS}/.pantheros-diff-1`)]);
    // Both methods (walk, the default, and send) give the same answers here; test/btrfs/diff-walk.test.ts compares them in full.
    for (const method of ['walk', 'send'] as const) {
      const d = json<DiffJson>(run(c, ['diff', '--json', ...(method === 'send' ? ['--method', 'send'] : [])], config));
      if (method === 'walk') {
        expect(leftovers(c).sort()).toEqual(['.pantheros-diff-1', `.pantheros-diff-${deadPid}`]);
      } else {
        expect(leftovers(c)).toEqual(['.pantheros-diff-1']);
        sh('btrfs', ['subvolume', 'delete', c.abs(`${OLD_ROOTS}/.pantheros-diff-1`)]);
      }
      const at = new Map(d.entries.map((e) => [e.path, e]));
      expect(d.source).toEqual({ kind: 'root', name: '@root', path: '@root' });
      expect(at.get('/etc/newfile')).toMatchObject({ status: 'added', type: 'file' });
      expect(at.get('/etc/newdir')).toMatchObject({ status: 'added', type: 'dir' });
      expect(at.get('/etc/newdir/inner')).toMatchObject({ status: 'added', type: 'file' });
      expect(at.get('/etc/newlink')).toMatchObject({ status: 'added', type: 'symlink', target: '/target' });
      expect(at.get('/etc/hosts')?.status).toBe('changed');
      expect(at.get('/etc/hosts')?.changes).toContain('content');
      expect(at.get('/etc/chmodme')?.changes).toContain('mode');
      expect(at.get('/etc/chmodme')?.changes).not.toContain('content');
      expect(at.get('/etc/chownme')?.changes).toContain('owner');
      expect(at.get('/etc/xattrme')).toMatchObject({ status: 'changed', xattrs: ['user.pantheros'] });
      expect(at.get('/etc/xattrme')?.changes).toContain('xattr');
      expect(at.get('/etc/touchme')).toMatchObject({ status: 'changed', changes: ['times'] });
      expect(at.get('/etc/binxattr')).toMatchObject({ status: 'changed', xattrs: ['user.bin'] });
      // The send dump carries extended attributes (one value holds newlines, which btrfs-progs prints raw and which
      // could forge lines): send does not trust it and compares by walking, and the JSON says which method answered.
      expect(d.method).toBe('walk');
      expect(d.unparsedLines).toBe(0);
      expect(at.get('/etc/oldlink')).toMatchObject({ status: 'changed', type: 'symlink', target: 'other', changes: ['replaced'] });
      expect(at.get('/etc/renamed')).toMatchObject({ status: 'added', from: '/etc/renameme' });
      for (const p of ['/etc/deleteme', '/etc/deldir', '/etc/deldir/f', '/etc/renameme']) expect(at.get(p)?.status, p).toBe('deleted');
      // A nested subvolume (left out of send streams) is reported from the subvolume list, its contents are not.
      expect(at.get('/var/lib/machines')).toEqual({ path: '/var/lib/machines', status: 'added', type: 'subvolume', changes: [] });
      expect(at.has('/var/lib/machines/inside')).toBe(false);
      // Untouched files are not reported. /var/log is in persistentPaths, but nothing is mounted there (@root is not
      // mounted at all here): its files are in @root and the next boot erases them, so they are reported (issue 11).
      expect(at.has('/etc/untouched')).toBe(false);
      expect(at.get('/var/log/persisted.log')?.status).toBe('added');
      expect(d.persisted).toEqual([]);
      expect(d.unmountedPersistentPaths).toEqual(['/var/log']);
      expect(d.summary.persistedSkipped).toBe(0);
      expect(d.summary).toMatchObject({ deleted: 4 });
      expect(d.summary.added + d.summary.changed + d.summary.deleted).toBe(d.entries.length);
      if (method === 'send') expect(leftovers(c)).toEqual([]);
      if (method === 'send') expect(c.image.paths().filter((p) => p.includes('.pantheros-diff'))).toEqual([]);
    }

    // --prefix, given twice; and the human output.
    const p = json<DiffJson>(run(c, ['diff', '--json', '--prefix', '/etc/deldir', '--prefix=/etc/newdir/'], config));
    expect(p.entries.map((e) => `${e.status} ${e.path}`)).toEqual(['deleted /etc/deldir', 'deleted /etc/deldir/f', 'added /etc/newdir', 'added /etc/newdir/inner']);
    const human = run(c, ['diff', '--prefix', '/etc'], config);
    expect(human.code, show(human, human.argv)).toBe(0);
    expect(human.stdout).toMatch(/^A \/etc\/newfile {2}\(file\)$/m);
    expect(human.stdout).toMatch(/^C \/etc\/chmodme {2}\(mode/m);
    expect(human.stdout).toMatch(/^D \/etc\/deleteme$/m);
    expect(human.stdout).toMatch(/^\d+ added, \d+ changed, 4 deleted — the next boot erases these/m);
  });

  it('hides mount points of other subvolumes of the filesystem (bind mounts from @persistent) where the root is mounted', () => {
    const c = useBootCase(runtime);
    prepareRoot(c);
    mkdirSync(c.abs('@persistent/srv'));
    const mnt = join(c.image.dir, 'sysroot');
    mkdirSync(mnt);
    sh('mount', ['-o', 'subvol=@root', c.image.loop, mnt]);
    try {
      sh('mount', ['--bind', c.abs('@persistent/srv'), join(mnt, 'srv')]);
      try {
        // The walk does not read below a persisted path (it counts once); send filters every entry of its stream. Without
        // extended attributes in the root, so that send answers itself (with them it compares by walking).
        for (const [file, name] of [['xattrme', 'user.pantheros'], ['binxattr', 'user.bin']]) sh('setfattr', ['-x', name!, c.abs(`@root/etc/${file}`)]);
        for (const [method, skipped] of [['walk', 1], ['send', 2]] as const) {
          const d = json<DiffJson>(run(c, ['diff', '--json', '--method', method]));
          expect(d.persisted).toContain('/srv');
          expect(d.entries.filter((e) => e.path === '/srv' || e.path.startsWith('/srv/'))).toEqual([]);
          expect(d.summary.persistedSkipped, method).toBe(skipped);
          expect(d.method).toBe(method);
          expect(d.entries.some((e) => e.path === '/etc/newfile')).toBe(true);
        }
      } finally {
        sh('umount', [join(mnt, 'srv')]);
      }
    } finally {
      sh('umount', [mnt]);
    }
    // Without the mounts, the same paths are reported.
    const d = json<DiffJson>(run(c, ['diff', '--json', '--prefix', '/srv']));
    expect(d.entries.map((e) => `${e.status} ${e.path}`)).toEqual(['added /srv', 'added /srv/under-a-bind-mount']);
  });

  it('an archive by name; an unknown or hidden archive, a bad prefix or an unreadable config is a usage error and leaves nothing behind', () => {
    const c = useBootCase(runtime);
    prepareRoot(c);
    sh('btrfs', ['subvolume', 'snapshot', c.abs('@root'), c.abs(`${OLD_ROOTS}/20261126T060000Z`)]);
    writeFileSync(c.abs('@root/after-archiving'), 'x\n');
    const a = json<DiffJson>(run(c, ['diff', '20261126T060000Z', '--json', '--prefix', '/etc/newfile']));
    expect(a.source).toEqual({ kind: 'archive', name: '20261126T060000Z', path: `${OLD_ROOTS}/20261126T060000Z` });
    expect(a.entries.map((e) => e.path)).toEqual(['/etc/newfile']);
    const live = json<DiffJson>(run(c, ['diff', '--json', '--prefix', '/after-archiving']));
    expect(live.entries.map((e) => e.path)).toEqual(['/after-archiving']);
    const none = run(c, ['diff', '--prefix', '/no/such/path']);
    expect(none.code, show(none, none.argv)).toBe(0);
    expect(none.stdout).toMatch(/^no differences: the next boot erases nothing \(\d+ ms\)$/m);
    const before = c.image.paths();
    for (const [argv, pattern] of [
      [['diff', '20991231T000000Z'], /no archive named "20991231T000000Z"/],
      [['diff', '.pantheros-last-report.json'], /not an archive name/],
      [['diff', '../../@persistent'], /not an archive name/],
      [['diff', '--prefix', 'etc'], /--prefix must be an absolute path/],
      [['diff', 'a', 'b'], /at most one ARCHIVE/],
      [['diff', '--bogus'], /unknown option --bogus/],
      [['diff', '--method', 'fast'], /--method must be walk or send, not "fast"/],
    ] as const) {
      const r = run(c, [...argv]);
      expect(r.code, show(r, r.argv)).toBe(2);
      expect(r.stderr).toMatch(pattern);
    }
    for (const config of [join(c.image.dir, 'missing.json'), c.image.dir]) {
      const r = runBundle(runtime, ['diff', '--top-level', c.top, '--config', config]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/cannot read config/);
    }
    expect(c.image.paths()).toEqual(before);
    expect(leftovers(c)).toEqual([]);
  });
});

describe.each(RUNTIMES)('snapshot and prune under $name', (runtime: Runtime) => {
  it('snapshot: read-only, names sort by time and never collide, default @persistent, encoded nested names, class dir created; bad class / missing subvolume change nothing', () => {
    const c = useBootCase(runtime);
    c.createSubvolume('@data/alice', { f: 'alice\n' });
    rmSync(c.abs('@snapshots/hourly'), { recursive: true });
    const names: string[] = [];
    for (const now of ['2026-11-26T06:00:00Z', '2026-11-26T06:00:00Z', '2026-11-26T06:00:00.500Z', '2026-11-26T07:00:00Z']) {
      const s = json<{ created: { subvolume: string; name: string; path: string }[] }>(run(c, ['snapshot', '--class', 'hourly', '--now', now, '--json']));
      expect(s.created).toHaveLength(1);
      expect(s.created[0]!.subvolume).toBe('@persistent');
      names.push(s.created[0]!.name);
    }
    expect(names).toEqual(['@persistent.20261126T060000Z', '@persistent.20261126T060000Z_01', '@persistent.20261126T060000Z_02', '@persistent.20261126T070000Z']);
    expect(readdirSync(c.abs('@snapshots/hourly')).sort()).toEqual(names);
    for (const n of names) {
      expect(c.image.isReadOnly(`@snapshots/hourly/${n}`)).toBe(true);
      expect(c.read(`@snapshots/hourly/${n}/marker`)).toBe('persistent\n');
    }
    const two = run(c, ['snapshot', '--class', 'daily', '@data/alice', '@persistent', '--now', '2026-11-26T08:00:00Z']);
    expect(two.code, show(two, two.argv)).toBe(0);
    expect(two.stdout).toContain('created @snapshots/daily/@data~2falice.20261126T080000Z (read-only snapshot of @data/alice)');
    expect(c.read('@snapshots/daily/@data~2falice.20261126T080000Z/f')).toBe('alice\n');

    const before = c.image.paths();
    for (const [argv, code, pattern] of [
      [['snapshot', '--class', 'yearly'], 2, /unknown snapshot class "yearly"/],
      [['snapshot'], 2, /--class is required/],
      [['snapshot', '--class', 'daily', '--now', 'yesterday'], 2, /--now must be an ISO-8601 time/],
      [['snapshot', '--class', 'daily', '../etc'], 2, /not a subvolume path/],
      [['snapshot', '--class', 'daily', '@persistent', '@missing'], 3, /cannot snapshot @missing: no such subvolume \(nothing was changed\)/],
      [['snapshot', '--class', 'daily', '@data'], 3, /cannot snapshot @data: it is a directory, not a subvolume/],
    ] as const) {
      const r = run(c, [...argv]);
      expect(r.code, show(r, r.argv)).toBe(code);
      expect(r.stderr).toMatch(pattern);
    }
    expect(c.image.paths()).toEqual(before);
  });

  it('prune: keeps exactly the newest N per class and subvolume (never the newest, ordered by cgen), leaves foreign entries alone, one list and one delete', () => {
    const c = useBootCase(runtime);
    c.createSubvolume('@data/alice');
    const snap = (cls: string, subvolume: string, name: string) => {
      sh('btrfs', ['subvolume', 'snapshot', '-r', c.abs(subvolume), c.abs(`@snapshots/${cls}/${name}`)]);
      commit(c);
    };
    const hour = (i: number) => `2026112${Math.floor(i / 24)}T${String(i % 24).padStart(2, '0')}0000Z`;
    const hourly = Array.from({ length: 30 }, (_, i) => `@persistent.${hour(i)}`);
    for (const n of hourly) snap('hourly', '@persistent', n);
    for (const i of [0, 1, 2]) snap('hourly', '@data/alice', `@data~2falice.${hour(i)}`);
    const daily = Array.from({ length: 10 }, (_, i) => `@persistent.202611${String(i + 1).padStart(2, '0')}T000000Z`);
    for (const n of daily) snap('daily', '@persistent', n);
    // The clock was ahead when this one was taken: created first (lower cgen), so it is the older one.
    snap('weekly', '@persistent', '@persistent.20300101T000000Z');
    snap('weekly', '@persistent', '@persistent.20261101T000000Z');
    // Foreign entries: a subvolume with another name, a writable one with our name, a directory and a symlink with our names.
    sh('btrfs', ['subvolume', 'create', c.abs('@snapshots/hourly/manual-backup')]);
    sh('btrfs', ['subvolume', 'snapshot', c.abs('@persistent'), c.abs('@snapshots/hourly/@persistent.20261101T000000Z')]);
    mkdirSync(c.abs('@snapshots/hourly/@persistent.20261101T010000Z'));
    symlinkSync(c.abs(`@snapshots/hourly/${hourly[29]}`), c.abs('@snapshots/hourly/@persistent.20261101T020000Z'));
    commit(c);
    const config = { snapshotRetention: { hourly: 24, daily: 7, weekly: 0, monthly: 6 } };
    const before = c.image.paths();

    const dry = json<{ dryRun: boolean; verdicts: Verdict[]; ignored: { path: string }[]; deleted: string[] }>(run(c, ['prune', '--dry-run', '--json'], config));
    expect(dry.dryRun).toBe(true);
    expect(dry.deleted).toEqual([]);
    expect(c.image.paths()).toEqual(before);
    expect(dry.verdicts.filter((v) => v.action === 'delete')).toHaveLength(6 + 3 + 1);
    expect(dry.verdicts.every((v) => v.reason.length > 0)).toBe(true);
    expect(dry.ignored.map((i) => i.path).sort()).toEqual([
      '@snapshots/hourly/@persistent.20261101T000000Z',
      '@snapshots/hourly/@persistent.20261101T010000Z',
      '@snapshots/hourly/@persistent.20261101T020000Z',
      '@snapshots/hourly/manual-backup',
    ]);

    const log = join(c.image.dir, 'btrfs.log');
    const wrapper = join(c.image.dir, 'btrfs-wrapper.sh');
    writeFileSync(wrapper, `#!/bin/sh\necho "$*" >> ${log}\nexec btrfs "$@"\n`);
    chmodSync(wrapper, 0o755);
    const r = run(c, ['prune'], config, { PANTHEROS_BTRFS: wrapper });
    expect(r.code, show(r, r.argv)).toBe(0);
    expect(r.stdout).toMatch(/^keep {3}hourly\/@persistent\.20261121T050000Z: newest hourly snapshot of @persistent$/m);
    expect(r.stdout).toMatch(/^delete hourly\/@persistent\.20261120T000000Z: beyond the newest 24 hourly snapshots of @persistent \(#30 of 30\)$/m);
    expect(r.stdout).toMatch(/^keep {3}weekly\/@persistent\.20261101T000000Z: newest weekly snapshot of @persistent \(kept although weekly retention is 0\)$/m);
    expect(r.stdout).toMatch(/^ignore @snapshots\/hourly\/manual-backup: name is not/m);
    const calls = readFileSync(log, 'utf8').trim().split('\n');
    // One listing (the mount is writable: read-only flags are the kernel's answer to access(W_OK), not `list -r`),
    // each snapshot to delete confirmed on its own, one delete.
    expect(calls.filter((l) => l.startsWith('subvolume list'))).toHaveLength(1);
    expect(calls.filter((l) => l.startsWith('subvolume show'))).toHaveLength(10);
    expect(calls.filter((l) => l.startsWith('subvolume delete'))).toHaveLength(1);
    // Committed once after the delete (deleteSubvolumes with commit: one `filesystem sync` per filesystem).
    expect(calls.slice(calls.findIndex((l) => l.startsWith('subvolume delete')) + 1).filter((l) => l.startsWith('filesystem sync'))).toHaveLength(1);

    const remaining = (cls: string) => readdirSync(c.abs(`@snapshots/${cls}`)).sort();
    expect(remaining('hourly')).toEqual(
      [...hourly.slice(6), '@data~2falice.20261120T000000Z', '@data~2falice.20261120T010000Z', '@data~2falice.20261120T020000Z', 'manual-backup', '@persistent.20261101T000000Z', '@persistent.20261101T010000Z', '@persistent.20261101T020000Z'].sort(),
    );
    expect(remaining('daily')).toEqual(daily.slice(3).sort());
    expect(remaining('weekly')).toEqual(['@persistent.20261101T000000Z']);
    // The symlink's target (the newest hourly) is still there, and prune again deletes nothing.
    expect(c.kind(`@snapshots/hourly/${hourly[29]}`)).toBe('subvolume');
    const again = json<{ verdicts: Verdict[] }>(run(c, ['prune', '--json'], config));
    expect(again.verdicts.filter((v) => v.action === 'delete')).toEqual([]);

    for (const [argv, pattern] of [
      [['prune', '--class', 'yearly'], /unknown snapshot class "yearly"/],
      [['prune', 'extra'], /unexpected argument extra/],
    ] as const) {
      const bad = run(c, [...argv], config);
      expect(bad.code, show(bad, bad.argv)).toBe(2);
      expect(bad.stderr).toMatch(pattern);
    }
    const bad = run(c, ['prune'], { snapshotRetention: { hourly: -1 } });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/snapshotRetention\.hourly/);
  });
});

describe.each(RUNTIMES)('metrics under $name', (runtime: Runtime) => {
  it('valid exposition text, written atomically, with archives, snapshots, the last boot, space and device errors', () => {
    const c = useBootCase(runtime);
    const report = join(c.image.dir, 'report.json');
    const cmdline = join(c.image.dir, 'cmdline');
    writeFileSync(cmdline, 'quiet\n');
    writeFileSync(join(c.image.dir, 'boot.json'), '{}');
    const boot = runBundle(runtime, ['boot', '--top-level', c.top, '--cmdline', cmdline, '--report', report, '--now', '2026-11-26T06:00:00Z', '--config', join(c.image.dir, 'boot.json')]);
    expect(boot.code, boot.stderr).toBe(0);
    for (const now of ['2026-01-01T05:00:00Z', '2026-01-01T06:00:00Z']) expect(run(c, ['snapshot', '--class', 'hourly', '--now', now]).code).toBe(0);

    const dir = join(c.image.dir, 'textfile');
    mkdirSync(dir);
    const out = join(dir, 'pantheros.prom');
    writeFileSync(out, 'stale\n');
    const r = run(c, ['metrics', '--output', out, '--report', report]);
    expect(r.code, show(r, r.argv)).toBe(0);
    expect(r.stdout).toMatch(/^wrote \d+ metrics to /);
    expect(readdirSync(dir)).toEqual(['pantheros.prom']);
    const samples = parseExposition(readFileSync(out, 'utf8'));
    expect(samples.every((s) => s.name.startsWith('pantheros_'))).toBe(true);
    expect(sampleValue(samples, 'pantheros_archives')).toBe(1);
    expect(sampleValue(samples, 'pantheros_snapshots_by_class', { class: 'hourly' })).toBe(2);
    expect(sampleValue(samples, 'pantheros_snapshots', { class: 'hourly', subvolume: '@persistent' })).toBe(2);
    expect(sampleValue(samples, 'pantheros_snapshot_newest_age_seconds', { class: 'hourly', subvolume: '@persistent' })).toBeGreaterThan(0);
    expect(sampleValue(samples, 'pantheros_last_boot_report_found')).toBe(1);
    expect(sampleValue(samples, 'pantheros_last_boot_result', { result: 'ok' })).toBe(1);
    expect(sampleValue(samples, 'pantheros_last_boot_result', { result: 'failed' })).toBe(0);
    const reportJson = JSON.parse(readFileSync(report, 'utf8')) as { durationMs: number };
    expect(sampleValue(samples, 'pantheros_last_boot_duration_seconds')).toBe(reportJson.durationMs / 1000);
    expect(sampleValue(samples, 'pantheros_filesystem_size_bytes')).toBe(1024 ** 3);
    expect(sampleValue(samples, 'pantheros_filesystem_unallocated_bytes')).toBeGreaterThan(0);
    expect(sampleValue(samples, 'pantheros_filesystem_used_bytes')).toBeGreaterThan(0);
    for (const counter of ['write_io_errs', 'read_io_errs', 'flush_io_errs', 'corruption_errs', 'generation_errs']) {
      expect(sampleValue(samples, 'pantheros_device_errors_total', { device: c.image.loop, counter })).toBe(0);
    }

    // stdout and --json; a missing report is reported as such.
    const text = run(c, ['metrics', '--report', join(c.image.dir, 'no-such-report.json')]);
    expect(text.code, show(text, text.argv)).toBe(0);
    expect(sampleValue(parseExposition(text.stdout), 'pantheros_last_boot_report_found')).toBe(0);
    const j = json<{ metrics: { name: string }[] }>(run(c, ['metrics', '--json', '--report', report]));
    expect(j.metrics.map((m) => m.name)).toContain('pantheros_last_boot_result');

    const missing = run(c, ['metrics', '--output', join(c.image.dir, 'nope', 'x.prom')]);
    expect(missing.code, show(missing, missing.argv)).toBe(3);
    expect(missing.stderr).toMatch(/does not exist/);
    expect(existsSync(join(c.image.dir, 'nope'))).toBe(false);
  });

  it('--help of every command', () => {
    for (const cmd of ['diff', 'snapshot', 'prune', 'metrics']) {
      const r = runBundle(runtime, [cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^Usage: pantheros-rollback ${cmd} `));
      expect(r.stdout).toContain('--json');
    }
  });
});
