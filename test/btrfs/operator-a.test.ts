// Real btrfs, bundled file, Node and Bun: the operator commands status, list, mount/umount, restore,
// next-boot and check — including bad input (unknown names, traversal, symlinks, bad config).
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { sh } from '../helpers/btrfs-image.js';
import { describeRun, NEXT_BOOT, OLD_ROOTS, useBootCase, type BootCase } from '../helpers/boot-case.js';
import { BUNDLE, requirePrerequisites, RUNTIMES, type Runtime } from '../helpers/prereq.js';
import { runBundle, type RunResult } from '../helpers/run-bundle.js';
import { parseMountinfo } from '../../src/fs/mountinfo.js';

beforeAll(() => requirePrerequisites(['btrfs', 'mkfs.btrfs', 'losetup', 'mount', 'umount', 'cp', 'getfattr', 'setfattr', 'unshare'], 'apt-get install -y btrfs-progs util-linux coreutils attr'));

const DAY = 86_400_000;
const NOW = '2026-11-26T06:00:00Z';
const at = (daysAgo: number) => new Date(Date.parse(NOW) - daysAgo * DAY).toISOString().replace('.000', '');
const A60 = '20260927T060000Z';
const A40 = '20261017T060000Z';
const A1 = '20261125T060000Z';
const SNAP = 'daily/@persistent.20261125T000000Z';
/** A snapshot of the root: a root target (a snapshot of @persistent is state, never a root). */
const ROOT_SNAP = 'daily/@root.20261125T000000Z';
/** What the commands under test read: keep 2, so the history below has archives to age out. */
const CONFIG = { deviceTimeoutSeconds: 1, oldRoots: { keepDays: 30, keepAtLeast: 2 } };
/** What the boots that build the history use, so they delete nothing. */
const HISTORY_CONFIG = { deviceTimeoutSeconds: 1, oldRoots: { keepDays: 30, keepAtLeast: 5 } };
const BROWSE = '/run/pantheros-rollback/browse';

interface Op extends RunResult {
  argv: string[];
  json: unknown;
}

/** Runs an operator command of the bundle against the case's top level and config. */
function op(c: BootCase, args: string[], access: string[] = ['--top-level', c.top]): Op {
  const config = join(c.image.dir, 'operator-config.json');
  if (!existsSync(config)) writeFileSync(config, JSON.stringify(CONFIG));
  const argv = [...args, ...access, ...(args.includes('--config') ? [] : ['--config', config])];
  const r = runBundle(c.runtime, argv);
  let json: unknown;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    json = undefined;
  }
  return { ...r, argv: [c.runtime.name, ...argv], json };
}
const explain = (r: Op) => `${r.argv.join(' ')}\nexit ${r.code}\nstderr:\n${r.stderr}\nstdout:\n${r.stdout.slice(0, 3000)}`;

/** Three boots 60, 40 and 1 days ago (archives A60, A40, A1), and one daily snapshot of @persistent. */
function history(c: BootCase): void {
  for (const days of [60, 40, 1]) {
    c.write('@root/marker', `root ${days}\n`);
    const r = c.boot(at(days), { config: HISTORY_CONFIG });
    expect(r.code, describeRun(r)).toBe(0);
  }
  c.write('@root/marker', 'live root\n');
  sh('btrfs', ['subvolume', 'snapshot', '-r', c.abs('@persistent'), c.abs(`@snapshots/${SNAP}`)]);
  expect(c.archives()).toEqual([A60, A40, A1]);
}

/** history() plus a daily snapshot of the live root. */
function historyWithRootSnapshot(c: BootCase): void {
  history(c);
  sh('btrfs', ['subvolume', 'snapshot', '-r', c.abs('@root'), c.abs(`@snapshots/${ROOT_SNAP}`)]);
}

function browseMounts(): { root: string; mountPoint: string; options: string; source: string }[] {
  return parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')).filter((e) => e.fsType === 'btrfs');
}

describe.each(RUNTIMES)('operator commands under $name', (runtime: Runtime) => {
  it('list: archives and snapshots with creation time, read-only flag, verdicts with reasons, and where the top level is', () => {
    const c = useBootCase(runtime);
    history(c);
    const before = c.image.paths();
    const r = op(c, ['list', '--json', '--now', NOW]);
    expect(r.code, explain(r)).toBe(0);
    const l = r.json as { archives: any[]; snapshots: any[]; topLevel: any; quotas: boolean };
    expect(l.archives.map((a) => a.name)).toEqual([A60, A40, A1]);
    // The next boot archives the live root first, so with keepAtLeast 2 only A1 is kept by count.
    expect(l.archives.map((a) => `${a.verdict.action}: ${a.verdict.reason}`)).toEqual([
      'delete: older than 30 d (60 d) and beyond the newest 2',
      'delete: older than 30 d (40 d) and beyond the newest 2',
      'keep: newest archive before this boot',
    ]);
    expect(l.archives[0]).toMatchObject({ readOnly: false, ageSeconds: 60 * 86_400, named: at(60).replace('Z', '.000Z'), sizeBytes: null });
    expect(Date.parse(l.archives[0].created)).toBeGreaterThan(Date.now() - 600_000);
    expect(l.snapshots).toHaveLength(1);
    expect(l.snapshots[0]).toMatchObject({ name: SNAP, class: 'daily', readOnly: true, verdict: { action: 'keep', reason: 'newest daily snapshot of @persistent' } });
    expect(l.quotas).toBe(false);
    expect(l.topLevel).toMatchObject({ device: c.image.loop, archiveDir: OLD_ROOTS });

    // Through --device: the top level is mounted privately (read-only) and the hint says where it is mounted for real.
    sh('btrfs', ['quota', 'enable', c.top]);
    sh('btrfs', ['quota', 'rescan', '-w', c.top]);
    const h = op(c, ['list', '--now', NOW], ['--device', c.image.loop]);
    expect(h.code, explain(h)).toBe(0);
    expect(h.stdout).toContain(`Top level: ${c.image.loop}, mounted at ${c.top}`);
    expect(h.stdout).toMatch(new RegExp(`${A60}\\s+.*rw\\s+\\d+\\.\\d (KiB|MiB)\\s+WOULD DELETE: older than 30 d \\(60 d\\)`));
    expect(h.stdout).toMatch(/daily\s+@persistent\.20261125T000000Z\s+.*\s+ro\s+/);
    expect(browseMounts().filter((e) => e.mountPoint.startsWith('/run/pantheros-rollback/top-') && e.source === c.image.loop)).toEqual([]);
    // Nothing was changed by listing.
    expect(c.archives()).toEqual([A60, A40, A1]);
    expect(c.image.paths()).toEqual(before);
  });

  it('mount/umount: read-only browsing of an archive and a snapshot; unknown names, classes and traversal refused with what exists', () => {
    const c = useBootCase(runtime);
    history(c);
    const before = c.image.paths();
    const m = op(c, ['mount', A40]);
    expect(m.code, explain(m)).toBe(0);
    const dir = `${BROWSE}/${A40}`;
    try {
      const entry = browseMounts().find((e) => e.mountPoint === dir);
      expect(entry, explain(m)).toMatchObject({ root: `/${OLD_ROOTS}/${A40}` });
      expect(entry!.options.split(',')).toEqual(expect.arrayContaining(['ro', 'nosuid', 'nodev']));
      expect(readFileSync(join(dir, 'marker'), 'utf8')).toBe('root 40\n');
      expect(() => writeFileSync(join(dir, 'x'), 'x')).toThrow(/EROFS/);
      const again = op(c, ['mount', A40]);
      expect(again.code, explain(again)).toBe(2);
      expect(again.stderr).toMatch(/already a mount point/);
    } finally {
      const u = op(c, ['umount', A40]);
      expect(u.code, explain(u)).toBe(0);
    }
    expect(browseMounts().some((e) => e.mountPoint === dir)).toBe(false);
    expect(existsSync(dir)).toBe(false);

    const own = join(c.image.dir, 'browse-snapshot');
    const s = op(c, ['mount', SNAP, own, '--json']);
    expect(s.code, explain(s)).toBe(0);
    expect(s.json).toMatchObject({ kind: 'snapshot', path: `@snapshots/${SNAP}`, dir: own });
    expect(readFileSync(join(own, 'marker'), 'utf8')).toBe('persistent\n');
    const us = op(c, ['umount', own]);
    expect(us.code, explain(us)).toBe(0);
    expect(browseMounts().some((e) => e.mountPoint === own)).toBe(false);

    // Refused: unknown archive, unknown class, traversal, a symlinked class directory, a boot keyword, a non-browse mount.
    symlinkSync('/', c.abs('@snapshots/evil'));
    for (const [name, message] of [
      ['20200101T000000Z', /no archive named "20200101T000000Z"; archives in @btrfs_tmp\/old_roots: 20260927T060000Z, 20261017T060000Z, 20261125T060000Z; snapshots in @snapshots: daily\/@persistent\.20261125T000000Z/],
      ['yearly/@persistent.20261125T000000Z', /no snapshot class "yearly" in @snapshots \(classes: daily, hourly, monthly, weekly\)/],
      ['../../etc', /path contains \.\./],
      ['/etc', /absolute paths are not allowed/],
      ['evil/etc', /no snapshot class "evil" in @snapshots \(it is a symlink\)/],
      ['previous', /is a boot target \(previous\), not an archive or snapshot name/],
    ] as const) {
      const bad = op(c, ['mount', name, join(c.image.dir, 'never')]);
      expect(bad.code, explain(bad)).toBe(2);
      expect(bad.stderr).toMatch(message);
    }
    const notOurs = op(c, ['umount', c.top]);
    expect(notOurs.code, explain(notOurs)).toBe(2);
    expect(notOurs.stderr).toMatch(/not an archive or snapshot mounted by pantheros-rollback mount/);
    expect(existsSync(join(c.image.dir, 'never'))).toBe(false);
    expect(c.image.paths()).toEqual(before);
  });

  it('restore: ownership, mode, times, xattrs, symlinks and shared extents; overwrite only with --force; traversal and symlinks refused', () => {
    const c = useBootCase(runtime);
    history(c);
    const arch = (p: string) => c.abs(`${OLD_ROOTS}/${A1}${p}`);
    mkdirSync(arch('/etc/app/conf.d'), { recursive: true });
    writeFileSync(arch('/etc/app/app.conf'), 'setting = 1\n');
    sh('chown', ['1234:5678', arch('/etc/app/app.conf')]);
    sh('chmod', ['0640', arch('/etc/app/app.conf')]);
    sh('setfattr', ['-n', 'user.origin', '-v', 'archive', arch('/etc/app/app.conf')]);
    utimesSync(arch('/etc/app/app.conf'), new Date('2026-01-02T03:04:05Z'), new Date('2026-01-02T03:04:05Z'));
    writeFileSync(arch('/etc/app/conf.d/big.bin'), Buffer.alloc(2 << 20, 7));
    symlinkSync('../app.conf', arch('/etc/app/conf.d/link'));
    symlinkSync('/etc', arch('/etc/evil'));
    mkdirSync(c.abs('@root/etc'), { recursive: true });
    const dest = c.abs('@root/etc/app');

    const r = op(c, ['restore', '/etc/app', '--from', A1, '--to', dest, '--json']);
    expect(r.code, explain(r)).toBe(0);
    expect(r.json).toMatchObject({ version: 1, path: '/etc/app', sourceKind: 'directory', replaced: null, sharedExtents: true, counts: { files: 2, directories: 2, symlinks: 1, bytes: 12 + (2 << 20) } });
    const st = lstatSync(join(dest, 'app.conf'));
    expect([st.uid, st.gid, st.mode & 0o7777, st.mtime.toISOString()]).toEqual([1234, 5678, 0o640, '2026-01-02T03:04:05.000Z']);
    expect(sh('getfattr', ['--only-values', '-n', 'user.origin', join(dest, 'app.conf')])).toBe('archive');
    expect(readlinkSync(join(dest, 'conf.d/link'))).toBe('../app.conf');
    sh('btrfs', ['filesystem', 'sync', c.top]);
    const du = sh('btrfs', ['filesystem', 'du', '--raw', join(dest, 'conf.d/big.bin')]).trim().split('\n').at(-1)!.trim().split(/\s+/);
    expect(du.slice(0, 3), 'total, exclusive, shared bytes of the restored file').toEqual([String(2 << 20), '0', String(2 << 20)]);

    // Overwrite refused without --force, file unchanged; replaced with --force.
    writeFileSync(join(dest, 'app.conf'), 'local edit\n');
    const refused = op(c, ['restore', '/etc/app/app.conf', '--from', A1, '--to', join(dest, 'app.conf')]);
    expect(refused.code, explain(refused)).toBe(2);
    expect(refused.stderr).toMatch(/exists \(file\); refusing to overwrite it without --force/);
    expect(readFileSync(join(dest, 'app.conf'), 'utf8')).toBe('local edit\n');
    const forced = op(c, ['restore', '/etc/app/app.conf', '--from', A1, '--to', join(dest, 'app.conf'), '--force']);
    expect(forced.code, explain(forced)).toBe(0);
    expect(forced.stdout).toMatch(/replaced the existing file .*app\.conf as a whole; it is kept beside it as .*app\.conf\.pantheros-replaced-\d{8}T\d{6}Z/);
    expect(readFileSync(join(dest, 'app.conf'), 'utf8')).toBe('setting = 1\n');
    const kept = readdirSync(dest).filter((n) => n.startsWith('app.conf.pantheros-replaced-'));
    expect(kept.map((n) => readFileSync(join(dest, n), 'utf8'))).toEqual(['local edit\n']);

    // A symlink named by PATH is copied as a symlink (never followed).
    const link = op(c, ['restore', '/etc/evil', '--from', A1, '--to', c.abs('@root/etc/evil')]);
    expect(link.code, explain(link)).toBe(0);
    expect(readlinkSync(c.abs('@root/etc/evil'))).toBe('/etc');

    for (const [args, message] of [
      [['/etc/evil/passwd', '--from', A1], /\/etc\/evil in archive 20261125T060000Z is a symlink \(→ \/etc\); refusing to follow it/],
      [['/etc/../etc/passwd', '--from', A1], /contains \.\./],
      [['etc/app', '--from', A1], /must be absolute/],
      [['/etc/app', '--from', '20200101T000000Z'], /no archive named "20200101T000000Z"; archives in/],
      [['/etc/app', '--from', 'yearly/x'], /no snapshot class "yearly"/],
      [['/etc/app', '--from', '../old_roots'], /path contains \.\./],
      [['/etc/nothing-here', '--from', A1], /\/etc\/nothing-here does not exist in archive 20261125T060000Z/],
    ] as const) {
      const bad = op(c, ['restore', ...args, '--to', c.abs('@root/etc/never')]);
      expect(bad.code, explain(bad)).toBe(2);
      expect(bad.stderr).toMatch(message);
    }
    expect(existsSync(c.abs('@root/etc/never'))).toBe(false);
    // The archive itself was not touched.
    expect(readFileSync(arch('/etc/app/app.conf'), 'utf8')).toBe('setting = 1\n');
  });

  it("next-boot: judged by the boot's planner, written atomically, shown, cancelled; a real boot consumes it; status reports it", () => {
    const c = useBootCase(runtime);
    historyWithRootSnapshot(c);
    const snapId = c.subvolume(`@snapshots/${ROOT_SNAP}`)!.id;

    const show0 = op(c, ['next-boot']);
    expect(show0.code, explain(show0)).toBe(0);
    expect(show0.stdout).toMatch(/no next-boot request is pending/);
    for (const [target, message] of [
      ['20200101T000000Z', /the boot would refuse "20200101T000000Z": no archive named "20200101T000000Z"/],
      ['yearly/@persistent.20261125T000000Z', /@snapshots\/yearly does not exist/],
      ['daily/nope', /@snapshots\/daily\/nope does not exist/],
      ['../etc', /not a valid target: path contains \.\./],
      // Accepted at boot means accepted here, and the other way round: one planner.
      [SNAP, /snapshot of @persistent, not of the root @root: that is service state/],
    ] as const) {
      const bad = op(c, ['next-boot', target]);
      expect(bad.code, explain(bad)).toBe(2);
      expect(bad.stderr).toMatch(message);
      expect(c.kind(NEXT_BOOT)).toBe('missing');
    }
    const req = op(c, ['next-boot', A40]);
    expect(req.code, explain(req)).toBe(0);
    expect(c.read(NEXT_BOOT)).toBe(`${A40}\n`);
    expect(c.entries().filter((n) => n.includes('.tmp-'))).toEqual([]);
    const cancel = op(c, ['next-boot', '--cancel']);
    expect(cancel.code, explain(cancel)).toBe(0);
    expect(cancel.stdout).toMatch(`cancelled the next-boot request "${A40}"`);
    expect(c.kind(NEXT_BOOT)).toBe('missing');

    const snap = op(c, ['next-boot', ROOT_SNAP]);
    expect(snap.code, explain(snap)).toBe(0);
    expect(snap.stdout).toMatch(/the new @root is a writable snapshot of @snapshots\/daily\/@root\.20261125T000000Z/);
    const shown = op(c, ['next-boot', '--json']);
    expect(shown.json).toMatchObject({ action: 'show', pending: ROOT_SNAP, problem: null, nextBoot: { target: { kind: 'snapshot', origin: 'next-boot', source: `@snapshots/${ROOT_SNAP}` } } });

    const b = c.boot(NOW, { config: CONFIG });
    expect(b.code, describeRun(b)).toBe(0);
    expect(c.kind(NEXT_BOOT)).toBe('missing');
    expect(b.report?.target).toMatchObject({ requested: ROOT_SNAP, origin: 'next-boot', kind: 'snapshot', source: `@snapshots/${ROOT_SNAP}` });
    expect(c.read('@root/marker')).toBe('live root\n');
    expect(c.subvolume('@root')!.id).not.toBe(snapId);
    expect(c.subvolume(`@snapshots/${ROOT_SNAP}`)!.id).toBe(snapId);
    expect(c.image.isReadOnly(`@snapshots/${ROOT_SNAP}`)).toBe(true);
    expect(c.image.paths()).toContain(`${OLD_ROOTS}/20261126T060000Z`);

    // status from the report the boot wrote, and from the copy kept on disk (with an empty /run, as after a reboot).
    const reportFile = b.argv[b.argv.indexOf('--report') + 1]!;
    const st = op(c, ['status', '--report', reportFile]);
    expect(st.code, explain(st)).toBe(0);
    expect(st.stdout.split('\n')[0]).toBe(`Last boot: OK — new root from @snapshots/${ROOT_SNAP}; previous root archived as 20261126T060000Z`);
    expect(st.stdout).toMatch(/deleted:\n(?: {4}.*\n)* {4}@btrfs_tmp\/old_roots\/20260927T060000Z: older than 30 d \(60 d\) and beyond the newest 2\n/);
    const configFile = join(c.image.dir, 'operator-config.json');
    const kept = runBundleWithEmptyRun(runtime, ['status', '--json', '--top-level', c.top, '--config', configFile]);
    expect(kept.code, `${kept.stderr}\n${kept.stdout}`).toBe(0);
    expect(JSON.parse(kept.stdout)).toMatchObject({ source: `<top level>/${OLD_ROOTS}/.pantheros-last-report.json`, report: { result: 'ok', target: { origin: 'next-boot' } } });
    const none = runBundleWithEmptyRun(runtime, ['status', '--config', configFile]);
    expect(none.code).toBe(3);
    expect(none.stderr).toMatch(/no report at \/run\/pantheros-rollback\/report\.json .*give --device DEV/);

    // A refused target: status says plainly that the boot fell back.
    const fb = c.boot('2026-11-27T06:00:00Z', { config: CONFIG, cmdline: 'pantheros.rollback=nope' });
    expect(fb.code, describeRun(fb)).toBe(0);
    const fst = op(c, ['status', '--report', fb.argv[fb.argv.indexOf('--report') + 1]!]);
    expect(fst.code, explain(fst)).toBe(0);
    expect(fst.stdout.split('\n')[0]).toMatch(/^Last boot: FELL BACK — pantheros\.rollback="nope" \(from cmdline\) refused: no archive named "nope"/);
  });

  it('check: a healthy layout passes; ssd+nossd, a writable blank and @root as default subvolume are errors; a bad config is exit 2 naming the key', () => {
    const c = useBootCase(runtime);
    const ok = op(c, ['check']);
    expect(ok.code, explain(ok)).toBe(0);
    expect(ok.stdout).toMatch(/0 errors/);

    const lint = op(c, ['check', '--json', '--mount-options', '/=noatime,ssd,compress=zstd', '--mount-options', '/nix=noatime,nossd,compress=zstd']);
    expect(lint.code, explain(lint)).toBe(0);
    expect((lint.json as any).findings.map((f: any) => f.what)).toEqual(['ssd is set differently on mounts of one filesystem: / ssd, /nix nossd']);
    const fstab = join(c.image.dir, 'fstab');
    writeFileSync(fstab, `${c.image.loop} / btrfs subvol=@root,noatime,ssd 0 0\n${c.image.loop} /nix btrfs subvol=@nix,noatime,nossd 0 0\n/dev/vda1 /boot vfat umask=0077 0 2\n`);
    const fromFstab = op(c, ['check', '--json', '--fstab', fstab]);
    expect(fromFstab.code, explain(fromFstab)).toBe(0);
    expect((fromFstab.json as any).findings.map((f: any) => f.what)).toEqual(['ssd is set differently on mounts of one filesystem: / ssd, /nix nossd']);
    const contra = op(c, ['check', '--json', '--mount-options=/=noatime,ssd,nossd']);
    expect(contra.code, explain(contra)).toBe(1);
    expect((contra.json as any).findings).toEqual([expect.objectContaining({ severity: 'error', subject: '/', what: 'ssd and nossd are both set' })]);

    sh('btrfs', ['property', 'set', '-ts', c.abs('@root-blank'), 'ro', 'false']);
    sh('btrfs', ['subvolume', 'set-default', c.abs('@root')]);
    try {
      const bad = op(c, ['check', '--json'], ['--device', c.image.loop]);
      expect(bad.code, explain(bad)).toBe(1);
      // The findings are the next boot's plan's notices: the same words boot --dry-run and the boot report use.
      expect((bad.json as any).findings.map((f: any) => `${f.severity} ${f.subject}: ${f.what}`)).toEqual(['error @root: @root is the default subvolume', 'error @root-blank: @root-blank is not read-only: anything written into it reappears in every new root']);
    } finally {
      sh('btrfs', ['subvolume', 'set-default', '5', c.top]);
    }

    const badConfig = join(c.image.dir, 'bad-config.json');
    writeFileSync(badConfig, JSON.stringify({ oldRoots: { keepDays: 'thirty' } }));
    for (const command of [['check'], ['list'], ['status'], ['mount', A1], ['umount'], ['restore', '/etc', '--from', A1], ['next-boot', 'keep']]) {
      const r = op(c, [...command, '--config', badConfig]);
      expect(r.code, explain(r)).toBe(2);
      expect(r.stderr).toMatch(/key "oldRoots\.keepDays"/);
    }
    const unreadable = op(c, ['list', '--config', c.image.dir]);
    expect(unreadable.code, explain(unreadable)).toBe(2);
    expect(unreadable.stderr).toMatch(/cannot read config .* is a directory, not a regular file/);
    // Nothing was written by any of the refused runs.
    expect(c.kind(NEXT_BOOT)).toBe('missing');
  });
});

/** Runs the bundle in a private mount namespace with an empty /run/pantheros-rollback, as after a reboot. */
function runBundleWithEmptyRun(runtime: Runtime, args: string[]): RunResult {
  mkdirSync('/run/pantheros-rollback', { recursive: true });
  const script = 'mount -t tmpfs tmpfs /run/pantheros-rollback && exec "$@"';
  try {
    const stdout = sh('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', runtime.bin, BUNDLE, ...args]);
    return { code: 0, signal: null, stdout, stderr: '' };
  } catch (error) {
    const e = error as { status: number | null; stdout: string; stderr: string };
    return { code: e.status, signal: null, stdout: e.stdout, stderr: e.stderr };
  }
}
