// End-to-end under a real systemd stage 1 (issue 13): a dracut-built initrd (systemd 252) runs the
// shipped initrd/pantheros-rollback.service verbatim against a disk labelled "nixos" (the unit's
// device), under Node and under Bun. Asserts on systemd's own evidence recorded in the initrd (unit
// states and timestamps, `list-dependencies --after sysroot.mount`, the journal) and on what stage 2
// sees after switch-root (the report in /run, the mounted root), then on the disk.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import type { Subvolume } from '../helpers/btrfs-image.js';
import { sh } from '../helpers/btrfs-image.js';
import { requirePrerequisites, RUNTIMES, type Runtime } from '../helpers/prereq.js';
import { createDiskImage, NIXOS_LABEL, STAGE2_INIT, type DiskImage } from '../helpers/vm-disk.js';
import { monotonic, parseStage1, type Stage1Outcome } from './evidence.js';
import { fetchKernel, CACHE, type Kernel } from './kernel.js';
import { runQemu, serialTail } from './qemu.js';
import { requireVmPrerequisites } from './rig.js';
import { buildStage1Initrd, type Stage1Initrd, type Stage1Variant } from './stage1-initrd.js';

const CONFIG = { deviceTimeoutSeconds: 30, oldRoots: { keepDays: 30, keepAtLeast: 3 } };
const UNIT = 'pantheros-rollback.service';
/** systemd-escape -p --suffix=device /dev/disk/by-label/nixos: the device the shipped unit requires. */
const DEVICE_UNIT = 'dev-disk-by\\x2dlabel-nixos.device';
const OLD_ROOTS = '@btrfs_tmp/old_roots';
const LAST_REPORT = `${OLD_ROOTS}/.pantheros-last-report.json`;
const BOOT_TIMEOUT_MS = 300_000;
const LATE_DEVICE_S = 15;
/** A stage-1 command line as systemd reads it: the root by label, as the unit's device. */
const APPEND = [
  'console=ttyS0', 'panic=-1', 'loglevel=4', 'systemd.show_status=false', `root=/dev/disk/by-label/${NIXOS_LABEL}`,
  'rootfstype=btrfs', 'rootflags=subvol=@root', 'rw', `init=${STAGE2_INIT}`,
];

const archivesOf = (subs: Subvolume[]) => subs.filter((s) => s.path.startsWith(`${OLD_ROOTS}/`) && !s.path.slice(OLD_ROOTS.length + 1).includes('/'));
const byPath = (subs: Subvolume[], path: string) => subs.find((s) => s.path === path);
const ids = (subs: Subvolume[]) => subs.map((s) => `${s.id} ${s.path}`);
const readOnly = (disk: DiskImage, path: string) => disk.inspect((top) => sh('btrfs', ['property', 'get', '-ts', join(top, path), 'ro']).trim());

/** The subvolume id mounted at / in stage 2 (mountinfo: root /@root, option subvolid=N), or null. */
function mountedRoot(mountinfo: string): { subvol: string; id: number } | null {
  for (const line of mountinfo.split('\n')) {
    const f = line.split(' ');
    if (f[4] !== '/') continue;
    const id = /subvolid=(\d+)/.exec(line)?.[1];
    if (f[3] && id) return { subvol: f[3], id: Number(id) };
  }
  return null;
}

interface Stage1Record {
  label: string;
  wallS: number;
  /** The unit's ExecMainStart → ExecMainExit under TCG. */
  unitS: number;
}

for (const runtime of RUNTIMES) {
  describe(`systemd stage 1 under ${runtime.name}`, () => {
    let kernel: Kernel;
    const initrds = new Map<Stage1Variant['enable'], Stage1Initrd>();
    let chain: DiskImage;
    const disks: DiskImage[] = [];
    const records: Stage1Record[] = [];
    let failed = false;
    let bootCount = 0;

    beforeAll(() => {
      requireVmPrerequisites();
      // dracut runs in a private mount namespace and copies systemd and btrfs-progs from this machine.
      requirePrerequisites(['unshare', 'chroot', 'dpkg-query', 'systemctl', 'btrfs'], 'apt-get install -y systemd util-linux coreutils btrfs-progs');
      kernel = fetchKernel();
      initrds.set('wants', buildStage1Initrd(kernel, runtime, { config: CONFIG, enable: 'wants' }));
      if (runtime.name === 'node') initrds.set('requires', buildStage1Initrd(kernel, runtime, { config: CONFIG, enable: 'requires' }));
      chain = newDisk();
    });
    afterAll(() => {
      const line = summarize(runtime, records, [...initrds.values()]);
      console.log(line);
      for (const d of disks) d.destroy(failed);
    });

    function newDisk(): DiskImage {
      const disk = createDiskImage({ label: NIXOS_LABEL, stage2: true });
      disks.push(disk);
      return disk;
    }

    /** Boots disk once under the systemd stage 1; on a failed test prints the console and journal tails and keeps the disks. */
    function boot(label: string, disk: DiskImage, options: { cmdline?: string[]; enable?: Stage1Variant['enable'] } = {}): Stage1Outcome {
      bootCount += 1;
      if (disk.isMounted()) disk.unmount();
      const initrd = initrds.get(options.enable ?? 'wants')!;
      const ttyS1 = join(disk.dir, `ttyS1-${bootCount}.txt`);
      const o = parseStage1(runQemu({
        vmlinuz: kernel.vmlinuz, initrd: initrd.path, append: [...APPEND, `vmtest.boot=${bootCount}`, ...(options.cmdline ?? [])],
        drives: [disk.file], ttyS1, timeoutMs: BOOT_TIMEOUT_MS,
      }));
      const unitS = monotonic(o.units, UNIT, 'ExecMainExitTimestampMonotonic') - monotonic(o.units, UNIT, 'ExecMainStartTimestampMonotonic');
      records.push({ label, wallS: o.wallMs / 1000, unitS });
      onTestFailed(() => {
        failed = true;
        const journal = o.journal.slice(-40).map((l) => `[${l.t.toFixed(3)}] ${l.ident}: ${l.message}`).join('\n');
        console.error(`--- ${runtime.name}, boot "${label}": console tail ---\n${serialTail(o.serial, 40)}\n--- journal tail ---\n${journal}\n--- ttyS1: ${ttyS1}`);
      });
      expect(o.exited, `boot "${label}" did not power off by itself:\n${serialTail(o.serial)}`).toBe(true);
      return o;
    }

    /**
     * systemd ran the unit after its device and before sysroot.mount, with the tool's lines in the journal,
     * and switch-root reached stage 2 as PID 1 with the report still in /run.
     */
    function expectStage1Order(o: Stage1Outcome, result: { success: boolean }): void {
      const u = o.units.get(UNIT);
      expect(u, 'systemctl show recorded the unit').toBeDefined();
      expect(u!.LoadState).toBe('loaded');
      expect(u!.FragmentPath).toBe('/etc/systemd/system/pantheros-rollback.service');
      expect(u!.Requires).toContain(`"${DEVICE_UNIT.replace(/\\/g, '\\\\')}"`);
      expect(o.units.get(DEVICE_UNIT)?.ActiveState, 'the device unit').toBe('active');
      const deviceUp = monotonic(o.units, DEVICE_UNIT, 'ActiveEnterTimestampMonotonic');
      const toolStart = monotonic(o.units, UNIT, 'ExecMainStartTimestampMonotonic');
      const toolExit = monotonic(o.units, UNIT, 'ExecMainExitTimestampMonotonic');
      const mountStart = monotonic(o.units, 'sysroot.mount', 'InactiveExitTimestampMonotonic');
      expect(deviceUp, 'device timestamp').toBeGreaterThan(0);
      expect(toolStart, 'the unit started after its device unit was active').toBeGreaterThanOrEqual(deviceUp);
      expect(toolExit, 'the tool exited').toBeGreaterThan(toolStart);
      expect(mountStart, 'sysroot.mount started after the tool exited').toBeGreaterThanOrEqual(toolExit);
      expect(o.units.get('sysroot.mount')?.ActiveState).toBe('active');
      expect(o.afterSysroot, 'list-dependencies --after sysroot.mount').toContain(UNIT);
      if (result.success) {
        expect(u).toMatchObject({ ActiveState: 'active', SubState: 'exited', Result: 'success', ExecMainStatus: '0' });
      } else {
        expect(u).toMatchObject({ ActiveState: 'failed', Result: 'exit-code' });
        expect(u!.ExecMainStatus).not.toBe('0');
      }
      // The journal: systemd's own lines, and the tool's (SYSLOG_IDENTIFIER=pantheros-rollback) in between.
      const at = (pattern: RegExp) => o.journal.find((l) => l.ident === 'systemd' && pattern.test(l.message))?.t ?? NaN;
      const unitDone = at(result.success ? /^Finished pantheros-rollback\.service/ : /^Failed to start pantheros-rollback\.service/);
      expect(at(/^Starting pantheros-rollback\.service/)).toBeLessThan(unitDone);
      expect(unitDone, 'the unit finished before sysroot.mount started').toBeLessThan(at(/^Mounting sysroot\.mount/));
      expect(o.toolJournal.length, 'the tool\'s lines in the journal').toBeGreaterThan(0);
      for (const l of o.toolJournal) {
        expect(l.ident).toBe('pantheros-rollback');
        expect(l.t, l.message).toBeGreaterThanOrEqual(toolStart - 0.001);
        expect(l.t, l.message).toBeLessThanOrEqual(toolExit + 0.001);
      }
      // switch-root happened: stage 2 runs as PID 1 on the root sysroot.mount mounted, and the report survived in /run.
      expect(o.stage2?.pid, 'stage 2 is PID 1 after switch-root').toBe(1);
      expect(o.report, o.reportText ?? 'no /run/pantheros-rollback/report.json after switch-root').not.toBeNull();
      expect(o.report!.runtime.startsWith(`${runtime.name} `)).toBe(true);
      expect(o.completed).toBe(true);
    }

    /** The boot made a new @root (mounted at / in stage 2) and archived the old one; nothing else changed. */
    function expectRolledBack(disk: DiskImage, before: Subvolume[], o: Stage1Outcome): { archive: Subvolume; root: Subvolume } {
      const after = disk.subvolumes();
      const oldRoot = byPath(before, '@root')!;
      const root = byPath(after, '@root')!;
      expect(root, 'an @root after the boot').toBeDefined();
      const newArchives = archivesOf(after).filter((a) => !archivesOf(before).some((b) => b.id === a.id));
      expect(newArchives.map((a) => a.path)).toHaveLength(1);
      const archive = newArchives[0]!;
      expect(archive.id, 'the archive is the old @root (same subvolume)').toBe(oldRoot.id);
      expect(o.report!.archived?.path).toBe(archive.path);
      expect(before.some((s) => s.id === root.id), '@root is a new subvolume').toBe(false);
      expect(mountedRoot(o.mountinfo), 'stage 2 runs on the new @root').toEqual({ subvol: '/@root', id: root.id });
      expect(o.rootWrite, 'the new root is writable in stage 2').toBe('ok');
      expect(disk.read('@root/vmtest-boot')).toBe(`${bootCount}\n`);
      expect(readOnly(disk, '@root')).toBe('ro=false');
      const others = (subs: Subvolume[]) => ids(subs.filter((s) => s.id !== oldRoot.id && s.id !== root.id));
      expect(others(after), 'no other subvolume changed').toEqual(others(before));
      expect(readOnly(disk, '@root-blank')).toBe('ro=true');
      expect(disk.read('@persistent/marker')).toBe('persistent\n');
      // The report in /run is the one the tool also kept on disk (stamped again after the unmount: timings differ).
      const untimed = (r: object | null) => r && { ...r, durationMs: 0, processMs: 0, spawns: 0 };
      expect(untimed(JSON.parse(disk.read(LAST_REPORT) ?? 'null') as object)).toEqual(untimed(o.report));
      return { archive, root };
    }

    it('1: the unit runs after its device and before sysroot.mount; the new @root is mounted and switched to', () => {
      const before = chain.subvolumes();
      const o = boot('1 normal', chain);
      expectStage1Order(o, { success: true });
      const { archive } = expectRolledBack(chain, before, o);
      expect(o.report).toMatchObject({ result: 'ok', exitCode: 0, created: { path: '@root', from: '@root-blank' }, deleted: [] });
      expect(chain.read(`${archive.path}/marker`)).toBe('root-before-boot\n');
      expect(o.toolJournal.some((l) => l.message.includes(`archived ${archive.path.slice(OLD_ROOTS.length + 1)}`)), 'the summary line').toBe(true);
      expect(o.units.get(UNIT)!.WantedBy).toBe('initrd.target');
    }, BOOT_TIMEOUT_MS);

    /** Boot 2 archives the root boot 1's stage 2 ran on and marked. */
    function expectArchivedBoot1(o: Stage1Outcome): void {
      const archive = o.report!.archived!;
      expect(chain.read(`${archive.path}/vmtest-boot`), 'the archive is the root of the boot before').toBe(`${bootCount - 1}\n`);
      expect(archivesOf(chain.subvolumes())).toHaveLength(2);
    }

    if (runtime.name === 'node') {
      it(`2: a second boot with the root device ${LATE_DEVICE_S} s late: the unit waits for it and archives the first boot's root`, () => {
        const before = chain.subvolumes();
        const o = boot('2 late device', chain, { cmdline: ['modprobe.blacklist=virtio_blk', `vmtest.late_device=${LATE_DEVICE_S}`] });
        expectStage1Order(o, { success: true });
        expectRolledBack(chain, before, o);
        expect(o.report!.result).toBe('ok');
        expectArchivedBoot1(o);
        const loaderStart = monotonic(o.units, 'vmtest-late-device.service', 'ExecMainStartTimestampMonotonic');
        const deviceUp = monotonic(o.units, DEVICE_UNIT, 'ActiveEnterTimestampMonotonic');
        expect(loaderStart, 'the delayed driver load ran').toBeGreaterThan(0);
        expect(deviceUp - loaderStart, 'the device appeared only after the delay').toBeGreaterThanOrEqual(LATE_DEVICE_S);
      }, BOOT_TIMEOUT_MS);
    } else {
      it('2: a second boot with a hostile pantheros.rollback=: refused with the reason in the journal; the normal boot archives the first boot\'s root', () => {
        chain.write('@root/hostile', 'before the hostile boot\n');
        const before = chain.subvolumes();
        const o = boot('2 hostile', chain, { cmdline: ['pantheros.rollback=../@persistent'] });
        expectStage1Order(o, { success: true });
        const { archive } = expectRolledBack(chain, before, o);
        expectArchivedBoot1(o);
        expect(o.report).toMatchObject({ result: 'fell-back', exitCode: 0, created: { path: '@root', from: '@root-blank' } });
        expect(o.report!.target).toMatchObject({ requested: '../@persistent', kind: 'blank' });
        expect(o.report!.target?.refused).toMatch(/\S/);
        expect(o.toolJournal.some((l) => l.message.includes('refused')), 'the refusal in the journal').toBe(true);
        expect(chain.read(`${archive.path}/hostile`)).toBe('before the hostile boot\n');
        expect(o.rootListing).not.toContain('hostile');
      }, BOOT_TIMEOUT_MS);
    }

    it('3: pantheros.rollback=previous brings the last root back, and stage 2 runs on that copy', () => {
      chain.write('@root/last-root', 'written before the previous boot\n');
      const before = chain.subvolumes();
      const o = boot('3 previous', chain, { cmdline: ['pantheros.rollback=previous'] });
      expectStage1Order(o, { success: true });
      const { archive, root } = expectRolledBack(chain, before, o);
      expect(o.report!.target).toMatchObject({ requested: 'previous', origin: 'cmdline', kind: 'previous', refused: null });
      expect(o.report!.created).toEqual({ path: '@root', from: archive.path });
      expect(root.id).not.toBe(archive.id);
      expect(o.rootListing, 'stage 2 sees the last root\'s files').toContain('last-root');
      expect(chain.read('@root/last-root')).toBe('written before the previous boot\n');
      expect(chain.read(`${archive.path}/last-root`)).toBe('written before the previous boot\n');
    }, BOOT_TIMEOUT_MS);

    if (runtime.name === 'node') {
      /** A disk whose archive directory is a regular file: the tool refuses (exit 3) and changes nothing. */
      function brokenDisk(): DiskImage {
        const disk = newDisk();
        disk.inspect((top) => {
          sh('rmdir', [join(top, OLD_ROOTS)]);
          writeFileSync(join(top, OLD_ROOTS), 'not a directory\n');
        });
        return disk;
      }

      it('4: a failing run (broken layout) fails the unit; with WantedBy the boot goes on with the root in place', () => {
        const disk = brokenDisk();
        const before = disk.subvolumes();
        const o = boot('4 failing, wanted', disk);
        expectStage1Order(o, { success: false });
        expect(o.units.get(UNIT)!.ExecMainStatus).toBe('3');
        expect(o.report).toMatchObject({ result: 'refused', exitCode: 3, archived: null, created: null, deleted: [] });
        expect(o.toolJournal.some((l) => l.message.includes(OLD_ROOTS)), 'the refusal names the archive directory').toBe(true);
        expect(ids(disk.subvolumes()), 'nothing changed').toEqual(ids(before));
        expect(mountedRoot(o.mountinfo), 'stage 2 runs on the @root that was there').toEqual({ subvol: '/@root', id: byPath(before, '@root')!.id });
        expect(o.emergency).toBeNull();
      }, BOOT_TIMEOUT_MS);

      it('5: with failBootOnError (requiredBy initrd.target) the same failure stops in the emergency shell', () => {
        const disk = brokenDisk();
        const before = disk.subvolumes();
        const o = boot('5 failing, required', disk, { enable: 'requires' });
        expect(o.emergency, `emergency.target was not reached:\n${serialTail(o.serial)}`).not.toBeNull();
        expect(o.stage2, 'no switch-root').toBeNull();
        const u = o.units.get(UNIT)!;
        expect(u).toMatchObject({ ActiveState: 'failed', Result: 'exit-code', ExecMainStatus: '3', RequiredBy: 'initrd.target' });
        expect(o.units.get('initrd.target')?.ActiveEnterTimestampMonotonic, 'initrd.target was never reached').toBe('0');
        expect(o.units.get('initrd-switch-root.target')?.ActiveEnterTimestampMonotonic).toBe('0');
        expect(o.units.get('emergency.target')?.ActiveState).toBe('active');
        expect(o.units.get('emergency.service')).toMatchObject({ ActiveState: 'active', SubState: 'running' });
        expect(o.journal.some((l) => l.ident === 'systemd' && /initrd\.target.*failed with result 'dependency'/.test(l.message))).toBe(true);
        expect(o.serial, 'the emergency shell on the console').toMatch(/emergency mode/);
        expect(o.toolJournal.length).toBeGreaterThan(0);
        expect(ids(disk.subvolumes()), 'nothing changed').toEqual(ids(before));
      }, BOOT_TIMEOUT_MS);
    } else {
      it('4: without a blank the new root is an empty subvolume; the boot still switches root', () => {
        chain.inspect((top) => sh('btrfs', ['subvolume', 'delete', join(top, '@root-blank')]));
        const before = chain.subvolumes();
        const o = boot('4 blank missing', chain);
        expectStage1Order(o, { success: true });
        const after = chain.subvolumes();
        const root = byPath(after, '@root')!;
        expect(before.some((s) => s.id === root.id), 'a new @root').toBe(false);
        expect(archivesOf(after).some((a) => a.id === byPath(before, '@root')!.id), 'the old root is archived').toBe(true);
        expect(o.report).toMatchObject({ result: 'ok', exitCode: 0, created: { path: '@root', from: 'an empty subvolume' } });
        expect(o.report!.warnings.some((w) => w.includes('@root-blank'))).toBe(true);
        expect(o.toolJournal.some((l) => l.message.includes('@root-blank')), 'the warning in the journal').toBe(true);
        expect(mountedRoot(o.mountinfo)).toEqual({ subvol: '/@root', id: root.id });
      }, BOOT_TIMEOUT_MS);
    }
  });
}

function median(values: number[]): number {
  const s = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** One summary line per runtime (also in .cache/vm/stage1-summary-<runtime>.json). */
function summarize(runtime: Runtime, records: Stage1Record[], initrds: Stage1Initrd[]): string {
  const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
  const line =
    `stage1 summary ${runtime.name}: ${records.length} boots, wall median ${median(records.map((r) => r.wallS)).toFixed(1)} s ` +
    `(max ${Math.max(...records.map((r) => r.wallS)).toFixed(1)} s); unit start→exit median ${median(records.map((r) => r.unitS)).toFixed(2)} s; ` +
    `initrd ${initrds.map((i) => mb(i.bytes)).join(', ')} (dracut part ${initrds[0] ? mb(initrds[0].baseBytes) : 'n/a'}` +
    `${initrds[0]?.cachedBase ? ', cached' : `, built in ${initrds[0]?.buildSeconds.toFixed(0)} s`})`;
  writeFileSync(join(CACHE, `stage1-summary-${runtime.name}.json`), `${JSON.stringify({ line, records, initrds }, null, 2)}\n`);
  return line;
}
