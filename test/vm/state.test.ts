// The state rollback (issue 14) where it runs: under the real systemd stage 1 of test/vm/stage1.test.ts
// (the shipped unit verbatim, a dracut-built initrd) and, online, under systemd as PID 1 in stage 2
// (test/vm/stage2-systemd.ts: the same systemd 252 as a system, not a stand-in systemctl). One disk,
// three boots in a row:
//   1 (Node)  pantheros.rollback.state=/persistent=hourly: stage 1 rolls @persistent back before
//             sysroot-persistent.mount (the persistent tree's subvolume @persistent/var/lib/db, nested
//             in it, is moved over unchanged); the report in /run says what, from where, archived where;
//   2 (Bun)   a request left by `state-rollback --next-boot /var/lib/db=hourly`: carried out and consumed;
//   3 (Bun)   the key of boot 1 again: not repeated (no request: nothing else); then, under systemd
//             in stage 2, with vmtest-db.service (RequiresMountsFor=/var/lib/db) holding its state open:
//             `state-rollback /var/lib/db=hourly` refuses while a process in no unit holds a file
//             there, and without it stops the unit, swaps, mounts again and starts it (a new
//             InvocationID, started on the rolled-back state), the old state archived.
// Asserts on systemd's own evidence (unit timestamps, systemctl show, the journal) and on the disk.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { sh } from '../helpers/btrfs-image.js';
import { REPO, requirePrerequisites, RUNTIMES, type Runtime } from '../helpers/prereq.js';
import { runBundle } from '../helpers/run-bundle.js';
import { createDiskImage, NIXOS_LABEL, STAGE2_INIT, type DiskImage } from '../helpers/vm-disk.js';
import { monotonic, parseJournal, parseStage1, parseUnitProperties, type Stage1Outcome } from './evidence.js';
import { CACHE, fetchKernel, type Kernel } from './kernel.js';
import { marker, runQemu, section, serialTail } from './qemu.js';
import { requireVmPrerequisites } from './rig.js';
import { buildStage1Initrd, type Stage1Initrd } from './stage1-initrd.js';
import { installSystemdStage2, SYSTEMD_STAGE2_INIT } from './stage2-systemd.js';

const [NODE, BUN] = RUNTIMES;
const UNIT = 'pantheros-rollback.service';
const PERSISTENT_MOUNT = 'sysroot-persistent.mount';
const DB = '@persistent/var/lib/db';
const DB_ENC = '@persistent~2fvar~2flib~2fdb';
const OLD_STATE = '@btrfs_tmp/old_state';
const STATE_REQUEST = `${OLD_STATE}/.pantheros-state-request`;
const CONFIG = {
  // The running system's commands (state-rollback online) find the filesystem by the config's device, as the module writes it.
  device: `/dev/disk/by-label/${NIXOS_LABEL}`,
  deviceTimeoutSeconds: 30,
  oldRoots: { keepDays: 30, keepAtLeast: 3 },
  // No units named: online, the units come from systemd's dependency graph (RequiresMountsFor=).
  persistentTree: [
    { path: '/persistent', subvolume: '@persistent', neededForBoot: true },
    { path: '/var/lib/db', subvolume: DB, neededForBoot: false },
  ],
};
const STATE_KEY = 'pantheros.rollback.state=/persistent=hourly';
const BOOT_TIMEOUT_MS = 300_000;
const SYSTEMD_BOOT_TIMEOUT_MS = 480_000;
const APPEND = [
  'console=ttyS0', 'panic=-1', 'loglevel=4', 'systemd.show_status=false', `root=/dev/disk/by-label/${NIXOS_LABEL}`,
  'rootfstype=btrfs', 'rootflags=subvol=@root', 'rw',
];
/** The snapshots' clock: an hour before the boots (the guest's clock is the host's). */
const T0 = new Date(Math.floor(Date.now() / 1000) * 1000 - 3_600_000);
const stamp = (d: Date) => d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
const P_SNAP = `@snapshots/hourly/@persistent.${stamp(T0)}`;
const DB_SNAP = `@snapshots/hourly/${DB_ENC}.${stamp(T0)}`;

interface Facts {
  id: number;
  uuid: string;
  parentUuid: string | null;
  path: string;
}

/** Every subvolume with its id, uuid and parent uuid (btrfs subvolume list -u -q), by path. */
function facts(top: string): Map<string, Facts> {
  const out = new Map<string, Facts>();
  for (const line of sh('btrfs', ['subvolume', 'list', '-u', '-q', top]).split('\n')) {
    const m = /^ID (\d+) .*parent_uuid (\S+)\s+uuid (\S+) path (.*)$/.exec(line);
    if (m) out.set(m[4]!, { id: Number(m[1]), uuid: m[3]!, parentUuid: m[2] === '-' ? null : m[2]!, path: m[4]! });
  }
  return out;
}

/** The archived states of a subvolume (names under <oldState>/<encoded>), sorted. */
const archivesOf = (all: Map<string, Facts>, encoded: string) =>
  [...all.keys()].filter((p) => p.startsWith(`${OLD_STATE}/${encoded}/`) && !p.slice(OLD_STATE.length + encoded.length + 2).includes('/')).sort();

/** `/persistent/…\tcontent` lines stage 2 printed: file → content. */
function persistentFiles(o: Stage1Outcome): Map<string, string> {
  const lines = (section(o.ttyS1, 'persistent-files') ?? '').split('\n').filter(Boolean);
  return new Map(lines.map((l) => [l.slice(0, l.indexOf('\t')), l.slice(l.indexOf('\t') + 1)]));
}

/** What the online driver (test/vm/stage1/stage2-online.sh) printed for one moment (before, refused, after). */
function moment(out: string, name: string) {
  const files = new Map((section(out, `${name}-files`) ?? '').split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('\t')), l.slice(l.indexOf('\t') + 1)]));
  return {
    units: parseUnitProperties(section(out, `${name}-show`) ?? ''),
    files,
    holds: (section(out, `${name}-holds`) ?? '').split('\n').filter(Boolean),
  };
}

/** One run of the tool in the guest: exit code, output and the uptime around it (seconds since boot). */
function guestRun(out: string, name: string) {
  const num = (m: string | null) => (m === null ? NaN : Number(m));
  return {
    exit: num(marker(out, `${name}-exit`)),
    start: num(marker(out, `${name}-start`)),
    end: num(marker(out, `${name}-end`)),
    stdout: section(out, `${name}-stdout`) ?? '',
    stderr: section(out, `${name}-stderr`) ?? '',
  };
}

describe('state rollback under a real systemd: at boot in stage 1, online with systemd as PID 1 in stage 2', () => {
  let kernel: Kernel;
  const initrds = new Map<string, Stage1Initrd>();
  let disk: DiskImage;
  let failed = false;
  let bootCount = 0;
  const walls: string[] = [];
  let cfgFile = '';

  /** Runs the bundle on the host against the disk's top level (mounted while fn runs). */
  const hostTool = (runtime: Runtime, args: string[]) =>
    disk.inspect((top) => runBundle(runtime, [...args, '--top-level', top, '--config', cfgFile]));

  beforeAll(() => {
    requireVmPrerequisites();
    requirePrerequisites(['unshare', 'chroot', 'dpkg-query', 'systemctl', 'btrfs', 'cpio', 'zstd'], 'apt-get install -y systemd util-linux coreutils btrfs-progs cpio zstd');
    kernel = fetchKernel();
    const extraUnits = { dir: join(REPO, 'test/vm/stage1/state-units'), enable: [[PERSISTENT_MOUNT, 'initrd-fs.target', 'requires']] as [string, string, 'requires'][] };
    for (const runtime of RUNTIMES) initrds.set(runtime.name, buildStage1Initrd(kernel, runtime, { config: CONFIG, enable: 'wants', extraUnits }));
    disk = createDiskImage({ label: NIXOS_LABEL, stage2: true, size: '2G' });
    cfgFile = join(disk.dir, 'config.json');
    writeFileSync(cfgFile, JSON.stringify(CONFIG));
    disk.inspect((top) => {
      installSystemdStage2(top, initrds.get(BUN.name)!);
      // The persistent tree: a subvolume nested in @persistent, as a database's state is.
      sh('mkdir', ['-p', join(top, '@persistent/var/lib')]);
      sh('btrfs', ['subvolume', 'create', join(top, DB)]);
      writeFileSync(join(top, DB, 'data'), 'db-1\n');
    });
    const snap = hostTool(NODE, ['snapshot', '--class', 'hourly', '@persistent', DB, '--now', T0.toISOString()]);
    expect(snap.code, snap.stderr).toBe(0);
    // The change after the snapshot (the bad deploy).
    disk.write('@persistent/marker', 'marker-2\n');
    disk.write(`${DB}/data`, 'db-2\n');
  }, 900_000);
  afterAll(() => {
    const line = `state vm summary: ${bootCount} boots: ${walls.join('; ')}`;
    console.log(line);
    writeFileSync(join(CACHE, 'state-summary.txt'), `${line}\n`);
    disk?.destroy(failed);
  });

  function boot(label: string, runtime: Runtime, cmdline: string[], init = STAGE2_INIT, timeoutMs = BOOT_TIMEOUT_MS): Stage1Outcome {
    bootCount += 1;
    if (disk.isMounted()) disk.unmount();
    const ttyS1 = join(disk.dir, `ttyS1-${bootCount}.txt`);
    const o = parseStage1(runQemu({
      vmlinuz: kernel.vmlinuz, initrd: initrds.get(runtime.name)!.path, append: [...APPEND, `init=${init}`, `vmtest.boot=${bootCount}`, ...cmdline],
      drives: [disk.file], ttyS1, timeoutMs,
    }));
    walls.push(`${label} (${runtime.name}) ${(o.wallMs / 1000).toFixed(0)} s`);
    onTestFailed(() => {
      failed = true;
      const journal = o.journal.slice(-40).map((l) => `[${l.t.toFixed(3)}] ${l.ident}: ${l.message}`).join('\n');
      console.error(`--- boot "${label}": console tail ---\n${serialTail(o.serial, 60)}\n--- journal tail ---\n${journal}\n--- ttyS1: ${ttyS1}`);
    });
    expect(o.exited, `boot "${label}" did not power off by itself:\n${serialTail(o.serial)}`).toBe(true);
    return o;
  }

  /**
   * systemd ran the unit after its device, and it exited (successfully) before sysroot.mount and
   * sysroot-persistent.mount started: nothing had mounted the persistent subvolumes while it swapped them.
   */
  function expectBeforeMounts(o: Stage1Outcome, runtime: Runtime): void {
    const u = o.units.get(UNIT);
    expect(u, 'systemctl show recorded the unit').toMatchObject({ ActiveState: 'active', SubState: 'exited', Result: 'success', ExecMainStatus: '0' });
    const toolStart = monotonic(o.units, UNIT, 'ExecMainStartTimestampMonotonic');
    const toolExit = monotonic(o.units, UNIT, 'ExecMainExitTimestampMonotonic');
    expect(toolExit).toBeGreaterThan(toolStart);
    for (const mount of ['sysroot.mount', PERSISTENT_MOUNT]) {
      expect(o.units.get(mount)?.ActiveState, mount).toBe('active');
      expect(monotonic(o.units, mount, 'InactiveExitTimestampMonotonic'), `${mount} started after the tool exited`).toBeGreaterThanOrEqual(toolExit);
    }
    expect(o.units.get(PERSISTENT_MOUNT)).toMatchObject({ Where: '/sysroot/persistent', Options: expect.stringContaining('subvol=/@persistent') });
    const at = (pattern: RegExp) => o.journal.find((l) => l.ident === 'systemd' && pattern.test(l.message))?.t ?? NaN;
    expect(at(/^Finished pantheros-rollback\.service/), 'systemd: the unit finished before /persistent was mounted').toBeLessThan(at(/^Mounting sysroot-persistent\.mount/));
    expect(o.report, o.reportText ?? 'no report in /run after switch-root').not.toBeNull();
    expect(o.report!.runtime.startsWith(`${runtime.name} `)).toBe(true);
    expect(o.report!.result).toBe('ok');
    // Every line of the tool in the journal, under its identifier, while the unit ran.
    for (const l of o.toolJournal) expect(l.t, l.message).toBeLessThanOrEqual(toolExit + 0.001);
  }

  /** The tool's journal line for one rollback, between the unit's start and exit. */
  function expectJournalSays(o: Stage1Outcome, subvolume: string, from: string, archived: string): void {
    const line = o.toolJournal.find((l) => l.message.includes(`state: rolled back ${subvolume} to ${from}; the state it had is archived as ${archived}`));
    expect(line, `the tool's journal:\n${o.toolJournal.map((l) => l.message).join('\n')}`).toBeDefined();
    expect(line!.t).toBeGreaterThanOrEqual(monotonic(o.units, UNIT, 'ExecMainStartTimestampMonotonic') - 0.001);
  }

  it('1 (Node): pantheros.rollback.state= rolls @persistent back in stage 1 before anything mounts it; the nested database is moved over unchanged', () => {
    const before = disk.inspect(facts);
    const o = boot('1 state key', NODE, [STATE_KEY]);
    expectBeforeMounts(o, NODE);
    const state = o.report!.state;
    expect(state).toMatchObject({ origin: 'cmdline', requested: '/persistent=hourly', result: 'ok', refused: [], already: [], error: null });
    expect(state!.rolledBack).toHaveLength(1);
    const [r] = state!.rolledBack;
    expect(r).toMatchObject({ subvolume: '@persistent', from: P_SNAP, nested: ['var/lib/db'] });
    expect(r!.archived.path).toBe(`${OLD_STATE}/@persistent/${r!.archived.name}`);
    expectJournalSays(o, '@persistent', P_SNAP, r!.archived.path);
    // Stage 2 sees, through the /persistent stage 1 mounted, the snapshot's state and the database as it was.
    const seen = persistentFiles(o);
    expect(seen.get('/persistent/marker')).toBe('persistent');
    expect(seen.get('/persistent/var/lib/db/data')).toBe('db-2');
    // On the disk: a new @persistent made from the snapshot, the old one archived whole, the nested one the same subvolume.
    const afterBoot1 = disk.inspect(facts);
    const now = afterBoot1.get('@persistent')!;
    expect(before.get('@persistent')!.id).not.toBe(now.id);
    expect(now.parentUuid, '@persistent is a snapshot of the hourly snapshot').toBe(before.get(P_SNAP)!.uuid);
    expect(afterBoot1.get(r!.archived.path)?.id, 'the archive is the old @persistent').toBe(before.get('@persistent')!.id);
    expect(disk.read(`${r!.archived.path}/marker`)).toBe('marker-2\n');
    expect(afterBoot1.get(DB)?.id, 'the nested subvolume was moved, not copied').toBe(before.get(DB)!.id);
    expect(disk.read(`${DB}/data`)).toBe('db-2\n');
    expect(afterBoot1.get(P_SNAP), 'the snapshot stays').toEqual(before.get(P_SNAP));
    expect(disk.inspect((top) => sh('btrfs', ['property', 'get', '-ts', join(top, P_SNAP), 'ro']).trim())).toBe('ro=true');
    expect(archivesOf(afterBoot1, '@persistent')).toEqual([r!.archived.path]);
  }, BOOT_TIMEOUT_MS);

  let dbArchive1 = '';
  it('2 (Bun): a request from state-rollback --next-boot is carried out in stage 1 once and consumed', () => {
    disk.write('@persistent/marker', 'marker-3\n');
    const asked = hostTool(BUN, ['state-rollback', '--next-boot', '/var/lib/db=hourly']);
    expect(asked.code, asked.stderr).toBe(0);
    const pinned = `${DB}=${DB_SNAP.slice('@snapshots/'.length)}`;
    expect(disk.read(STATE_REQUEST)).toBe(`${pinned}\n`);
    const before = disk.inspect(facts);
    const o = boot('2 request', BUN, []);
    expectBeforeMounts(o, BUN);
    const state = o.report!.state;
    expect(state).toMatchObject({ origin: 'next-boot', requested: pinned, result: 'ok', refused: [], already: [], error: null });
    expect(state!.rolledBack).toHaveLength(1);
    const [r] = state!.rolledBack;
    expect(r).toMatchObject({ subvolume: DB, from: DB_SNAP, nested: [] });
    dbArchive1 = r!.archived.path;
    expect(dbArchive1).toBe(`${OLD_STATE}/${DB_ENC}/${r!.archived.name}`);
    expect(state!.steps.find((s) => s.action === 'remove-file')).toMatchObject({ status: 'done', detail: expect.stringContaining('.pantheros-state-request') });
    expectJournalSays(o, DB, DB_SNAP, dbArchive1);
    const seen = persistentFiles(o);
    expect(seen.get('/persistent/var/lib/db/data'), 'stage 2 sees the rolled-back database').toBe('db-1');
    expect(seen.get('/persistent/marker'), '@persistent itself is left alone').toBe('marker-3');
    const after = disk.inspect(facts);
    expect(disk.read(STATE_REQUEST), 'the request is consumed').toBeNull();
    expect(after.get(DB)!.parentUuid).toBe(before.get(DB_SNAP)!.uuid);
    expect(after.get(dbArchive1)?.id).toBe(before.get(DB)!.id);
    expect(disk.read(`${dbArchive1}/data`)).toBe('db-2\n');
    expect(after.get('@persistent')?.id, '@persistent unchanged').toBe(before.get('@persistent')!.id);
  }, BOOT_TIMEOUT_MS);

  it('3 (Bun): the same key is not repeated; online under systemd as PID 1 the rollback refuses a holder in no unit, then stops, swaps, mounts and starts the unit', () => {
    disk.write(`${DB}/data`, 'db-3\n');
    const before = disk.inspect(facts);
    const o = boot('3 key again + online under systemd', BUN, [STATE_KEY], SYSTEMD_STAGE2_INIT, SYSTEMD_BOOT_TIMEOUT_MS);
    const out = o.ttyS1;
    expect(o.completed, `stage 2 under systemd did not finish:\n${serialTail(o.serial, 80)}\n--- ttyS1 ---\n${out.slice(-4000)}`).toBe(true);

    // Stage 1: the key of boot 1 is not carried out again (it would discard what was written since), no request.
    expectBeforeMounts(o, BUN);
    expect(o.report!.state).toMatchObject({ origin: 'cmdline', result: 'ok', rolledBack: [], already: [{ subvolume: '@persistent', from: P_SNAP }] });
    expect(o.report!.state!.warnings.join('\n')).toContain('already made from');
    expect(o.toolJournal.some((l) => l.message.includes('not rolled back again')), 'the journal says why').toBe(true);

    // Stage 2: systemd is PID 1, running the service on the mount systemd made from /etc/fstab.
    expect((section(out, 'pid1') ?? '').split('\n').slice(0, 2)).toEqual(['/usr/lib/systemd/systemd', 'systemd']);
    const first = moment(out, 'before');
    const db0 = first.units.get('vmtest-db.service');
    const mount0 = first.units.get('var-lib-db.mount');
    expect(db0).toMatchObject({ ActiveState: 'active', SubState: 'running', RequiresMountsFor: '/var/lib/db' });
    expect(db0!.Requires).toContain('var-lib-db.mount');
    expect(mount0).toMatchObject({ ActiveState: 'active', SubState: 'mounted', Where: '/var/lib/db', SourcePath: '/etc/fstab' });
    expect((mount0!.RequiredBy ?? '').split(' ')).toContain('vmtest-db.service');
    expect(first.files.get('data')).toBe('db-3|');
    expect(first.files.get('starts')).toBe(`started ${db0!.InvocationID}|`);
    expect(first.holds, 'the service holds its state: cwd and an open file').toEqual(['/var/lib/db', '/var/lib/db/log']);

    // A process in no unit (the root cgroup) holds a file open there: refused, named, nothing changed;
    // the unit was stopped for the look and started again.
    const holder = (section(out, 'holder') ?? '').split('\n');
    expect(holder[1], 'the holder is in the root cgroup, in no unit').toBe('0::/');
    const refused = guestRun(out, 'refused');
    expect(refused.exit, refused.stderr).toBe(3);
    expect(refused.stderr).toContain(`pid ${holder[0]} (sleep): fd 4 → /var/lib/db/data`);
    const mid = moment(out, 'refused');
    const db1 = mid.units.get('vmtest-db.service')!;
    expect(db1).toMatchObject({ ActiveState: 'active', SubState: 'running' });
    expect(db1.InvocationID, 'started again after the refusal').not.toBe(db0!.InvocationID);
    expect(mid.files.get('data')).toBe('db-3|');
    expect(mid.files.get('starts')).toBe(`started ${db0!.InvocationID}|started ${db1.InvocationID}|`);

    // The rollback: systemd stopped the unit, the tool swapped and mounted again, systemd started the unit on the old state.
    const rolled = guestRun(out, 'rollback');
    expect(rolled.exit, rolled.stderr).toBe(0);
    const json = JSON.parse(rolled.stdout) as { action: string; result: string; units: string[]; mounts: { mountPoint: string }[]; rollbacks: { subvolume: string; from: string; archived: { path: string }; nested: string[] }[]; holders: unknown[]; events: string[]; timings: Record<string, number> };
    expect(json).toMatchObject({ action: 'online', result: 'ok', units: ['vmtest-db.service'], mounts: [{ mountPoint: '/var/lib/db' }], holders: [] });
    expect(json.rollbacks).toHaveLength(1);
    expect(json.rollbacks[0]).toMatchObject({ subvolume: DB, from: DB_SNAP, nested: [] });
    const archive = json.rollbacks[0]!.archived.path;
    walls.push(`online rollback in the guest ${(rolled.end - rolled.start).toFixed(1)} s wall (tool: ${Object.entries(json.timings).map(([k, t]) => `${k} ${t.toFixed(2)} s`).join(', ')}), refusal ${(refused.end - refused.start).toFixed(1)} s`);
    expect(json.events).toEqual(['stopped vmtest-db.service', 'unmounted /var/lib/db', 'mounted /var/lib/db again', 'started vmtest-db.service again']);
    const last = moment(out, 'after');
    const db2 = last.units.get('vmtest-db.service')!;
    expect(db2).toMatchObject({ ActiveState: 'active', SubState: 'running' });
    expect([db0!.InvocationID, db1.InvocationID]).not.toContain(db2.InvocationID);
    const enter = Number(db2.ActiveEnterTimestampMonotonic) / 1e6;
    expect(enter, 'the unit was started again during the run').toBeGreaterThan(rolled.start);
    expect(enter).toBeLessThan(rolled.end);
    expect(last.units.get('var-lib-db.mount')).toMatchObject({ ActiveState: 'active', SubState: 'mounted' });
    expect(last.files.get('data'), 'the service runs on the snapshot\'s state').toBe('db-1|');
    expect(last.files.get('starts'), 'its start was written into the new state').toBe(`started ${db2.InvocationID}|`);
    expect(last.holds).toEqual(['/var/lib/db', '/var/lib/db/log']);
    // systemd's journal: the stop and the start, in order, while the tool ran.
    const journal = parseJournal(section(out, 'stage2-journal') ?? '');
    const when = (pattern: RegExp) => journal.filter((l) => l.ident === 'systemd' && pattern.test(l.message)).map((l) => l.t).filter((t) => t >= rolled.start && t <= rolled.end);
    const stopped = when(/^Stopped vmtest-db\.service/);
    const started = when(/^Started vmtest-db\.service/);
    expect(stopped, 'systemd stopped the unit during the run').toHaveLength(1);
    expect(started, 'systemd started the unit during the run').toHaveLength(1);
    expect(stopped[0]!).toBeLessThan(started[0]!);
    const mountLine = section(out, 'mountinfo')!.split('\n').find((l) => l.split(' ')[4] === '/var/lib/db');
    expect(mountLine?.split(' ')[3], 'the new state is mounted').toBe(`/${DB}`);

    // On the disk: the database is a new subvolume from the snapshot; the state it had is archived whole.
    const after = disk.inspect(facts);
    expect(after.get(DB)!.parentUuid).toBe(before.get(DB_SNAP)!.uuid);
    expect(after.get(archive)?.id, 'the archive is the database the service ran on').toBe(before.get(DB)!.id);
    expect(disk.read(`${archive}/data`)).toBe('db-3\n');
    expect(disk.read(`${archive}/starts`)).toBe(`started ${db0!.InvocationID}\nstarted ${db1.InvocationID}\n`);
    expect(archivesOf(after, DB_ENC), 'one archive per rollback: none for the refused run').toEqual([dbArchive1, archive].sort());
    expect(after.get('@persistent')?.id).toBe(before.get('@persistent')!.id);
    expect(disk.read('@persistent/marker')).toBe('marker-3\n');
    expect([...after.keys()].filter((p) => p.includes('.pantheros-new-state')), 'no temporary left').toEqual([]);
  }, SYSTEMD_BOOT_TIMEOUT_MS);
});
