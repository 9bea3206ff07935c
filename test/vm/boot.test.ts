// End-to-end (issue 3): the bundled tool inside a real initrd under QEMU, booting a btrfs disk
// several times in a row, under Node and under Bun; asserts on the disk between boots and on the report.
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import type { Subvolume } from '../helpers/btrfs-image.js';
import { sh } from '../helpers/btrfs-image.js';
import { RUNTIMES } from '../helpers/prereq.js';
import { createDiskImage, type DiskImage } from '../helpers/vm-disk.js';
import { bootVm, serialTail, type BootOptions, type BootOutcome } from './qemu.js';
import { prepareRig, summarize, type Rig } from './rig.js';

const DEVICE_TIMEOUT_S = 6;
const CONFIG = { device: '/dev/vda', deviceTimeoutSeconds: DEVICE_TIMEOUT_S, oldRoots: { keepDays: 30, keepAtLeast: 3 } };
const OLD_ROOTS = '@btrfs_tmp/old_roots';
const ARCHIVE_NAME = /^\d{8}T\d{6}Z(_\d\d)?$/;
/** Archives made on the host for scenario 6, oldest first: all far older than keepDays. */
const OLD_ARCHIVES = ['01', '02', '03', '04', '05', '06', '07', '08'].map((m) => `2026${m}01T000000Z`);
/**
 * For 6b the guest's clock runs this far ahead of the host's: btrfs records the host's time as each seeded archive's
 * creation time, and on a real machine an archive is made at the time in its name, never before. So the guest sees
 * a history made long ago, with the right clock (an archive named before its creation time would mean a clock that
 * was behind, and is aged from its creation time instead: attack-clock.test.ts).
 */
const AHEAD_MS = 400 * 86_400_000;
const archiveName = (ms: number) => new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
const BOOT_TIMEOUT_MS = 180_000;
/** initrd/pantheros-rollback.service's ExecStart as /init runs it in this VM. */
const UNIT_COMMAND = '/usr/bin/pantheros-rollback boot --device /dev/vda --report /run/pantheros-rollback/report.json';

/** Archives (direct children of the archive directory), in name order. */
function archivesOf(subvolumes: Subvolume[]): Subvolume[] {
  return subvolumes.filter((s) => s.path.startsWith(`${OLD_ROOTS}/`) && !s.path.slice(OLD_ROOTS.length + 1).includes('/'));
}
const nameOf = (s: Subvolume) => s.path.slice(OLD_ROOTS.length + 1);
const byPath = (subvolumes: Subvolume[], path: string) => subvolumes.find((s) => s.path === path);
/** Entries of a directory on the disk, sorted. */
const entriesOf = (disk: DiskImage, path: string) => disk.inspect((top) => readdirSync(join(top, path)).sort());

for (const runtime of RUNTIMES) {
  describe(`VM boot under ${runtime.name}`, () => {
    let rig: Rig;
    let chain: DiskImage; // scenarios 1-5 boot this disk in a row
    const extraDisks: DiskImage[] = [];
    let failed = false;
    let bootCount = 0;

    beforeAll(() => {
      rig = prepareRig(runtime, CONFIG);
      chain = createDiskImage();
    });
    afterAll(() => {
      if (rig) console.log(summarize(rig));
      for (const d of [chain, ...extraDisks]) d?.destroy(failed);
    });

    /**
     * Boots once with disk as /dev/vda (unmounted on the host while QEMU runs, mounted again after
     * for the assertions); on a failed test prints the serial log tail of this boot.
     */
    function boot(label: string, disk: DiskImage | null, options: Omit<BootOptions, 'kernel' | 'initrd' | 'disk'> = {}): BootOutcome {
      bootCount += 1;
      if (disk?.isMounted()) disk.unmount();
      const outcome = bootVm({
        kernel: rig.kernel, initrd: rig.initrd.path, disk: disk?.file, bootNumber: bootCount, timeoutMs: BOOT_TIMEOUT_MS, ...options,
      });
      disk?.mount();
      rig.boots.push({
        label, disk: disk !== null, durationMs: outcome.report?.durationMs ?? null, processMs: outcome.report?.processMs ?? null, wallMs: outcome.wallMs,
      });
      onTestFailed(() => {
        failed = true;
        console.error(`--- ${runtime.name}, boot "${label}": last serial lines ---\n${serialTail(outcome.serial)}`);
      });
      expect(outcome.completed, `boot "${label}" did not reach the end of /init:\n${serialTail(outcome.serial)}`).toBe(true);
      return outcome;
    }

    /** A normal boot happened: the old @root is now the one new archive, a fresh writable @root, all else untouched. */
    function expectRolledBack(disk: DiskImage, before: Subvolume[], o: BootOutcome): { archive: Subvolume; root: Subvolume } {
      expect(o.exitCode, o.stderr).toBe(0);
      expect(o.report, o.reportText ?? 'no report').not.toBeNull();
      expect(o.report!.exitCode).toBe(0);
      expect(o.report!.runtime.startsWith(`${runtime.name} `)).toBe(true);
      expect(o.command).toBe(UNIT_COMMAND);
      expect(o.root, 'the new @root could not be mounted and written').toBe('ok');
      // The tool unmounted its private top-level mount.
      expect(o.mountinfo).not.toMatch(/ - btrfs /);
      expect(o.kmsg.length, 'no log line in /dev/kmsg').toBeGreaterThan(0);

      const after = disk.subvolumes();
      const oldRoot = byPath(before, '@root')!;
      const newArchives = archivesOf(after).filter((a) => !archivesOf(before).some((b) => b.id === a.id));
      expect(newArchives.map(nameOf)).toHaveLength(1);
      const archive = newArchives[0]!;
      expect(nameOf(archive)).toMatch(ARCHIVE_NAME);
      expect(archive.id, 'the archive is the old @root itself (renamed, same subvolume id)').toBe(oldRoot.id);
      expect(o.report!.archived?.name).toBe(nameOf(archive));
      const root = byPath(after, '@root')!;
      expect(root, 'no @root after the boot').toBeDefined();
      expect(before.some((s) => s.id === root.id), '@root is a new subvolume').toBe(false);
      expect(disk.inspect(() => sh('btrfs', ['property', 'get', '-ts', join(disk.top, '@root'), 'ro']).trim())).toBe('ro=false');
      expect(disk.read('@root/vmtest-boot')).toBe(`${bootCount}\n`);
      // Nothing else changed: same subvolumes (id and path), the blank still read-only, @persistent intact.
      const others = (subs: Subvolume[]) => subs.filter((s) => s.id !== oldRoot.id && s.id !== root.id).map((s) => `${s.id} ${s.path}`);
      expect(others(after)).toEqual(others(before));
      expect(disk.inspect(() => sh('btrfs', ['property', 'get', '-ts', join(disk.top, '@root-blank'), 'ro']).trim())).toBe('ro=true');
      expect(disk.read('@persistent/marker')).toBe('persistent\n');
      expect(entriesOf(disk, '.')).toEqual(['@btrfs_tmp', '@nix', '@persistent', '@root', '@root-blank', '@snapshots']);
      return { archive, root };
    }

    it('the bundle starts under this runtime inside the initrd', () => {
      const o = boot('version', null, { mode: 'version' });
      expect(o.version?.trim()).toBe('0.1.0');
    }, BOOT_TIMEOUT_MS);

    it('1: boot 1 archives @root with its marker and creates a fresh @root; @persistent is untouched', () => {
      const before = chain.subvolumes();
      expect(chain.read('@root/marker')).toBe('root-before-boot\n');
      const o = boot('1 normal', chain);
      const { archive } = expectRolledBack(chain, before, o);
      expect(o.report!.result).toBe('ok');
      expect(o.report!.target?.kind).toBe('blank');
      expect(o.report!.created).toEqual({ path: '@root', from: '@root-blank' });
      expect(o.report!.deleted).toEqual([]);
      expect(entriesOf(chain, '@root')).toEqual(['vmtest-boot']);
      expect(chain.read(`${archive.path}/marker`)).toBe('root-before-boot\n');
      expect(archivesOf(chain.subvolumes())).toHaveLength(1);
    }, BOOT_TIMEOUT_MS);

    it('2: boots 2 and 3 in a row make one archive each; names sort in boot order', () => {
      for (const n of [2, 3]) {
        const before = chain.subvolumes();
        const o = boot(`${n} normal`, chain);
        const { archive } = expectRolledBack(chain, before, o);
        expect(o.report!.result).toBe('ok');
        // The archive is the root of the previous boot, which /init marked with that boot's number.
        expect(chain.read(`${archive.path}/vmtest-boot`)).toBe(`${bootCount - 1}\n`);
        expect(entriesOf(chain, '@root')).toEqual(['vmtest-boot']);
      }
      const archives = archivesOf(chain.subvolumes());
      expect(archives).toHaveLength(3);
      const byCreation = [...archives].sort((a, b) => a.cgen - b.cgen).map(nameOf);
      expect(archives.map(nameOf)).toEqual(byCreation);
      expect(chain.read(`${archives[0]!.path}/marker`)).toBe('root-before-boot\n');
    }, 3 * BOOT_TIMEOUT_MS);

    it('3: pantheros.rollback=previous brings the last root back; its archive stays intact', () => {
      chain.write('@root/last-root', 'written before the previous boot\n');
      const before = chain.subvolumes();
      const bootOfLastRoot = chain.read('@root/vmtest-boot');
      const o = boot('3 previous', chain, { cmdline: ['pantheros.rollback=previous'] });
      const { archive, root } = expectRolledBack(chain, before, o);
      expect(o.report!.result).toBe('ok');
      expect(o.report!.target).toMatchObject({ requested: 'previous', origin: 'cmdline', kind: 'previous', refused: null });
      expect(o.report!.created).toEqual({ path: '@root', from: archive.path });
      expect(root.id).not.toBe(archive.id);
      expect(chain.read('@root/last-root')).toBe('written before the previous boot\n');
      expect(entriesOf(chain, '@root')).toEqual(['last-root', 'vmtest-boot']);
      // /init wrote this boot's number into the new @root; the archive still has the old one.
      expect(chain.read(`${archive.path}/last-root`)).toBe('written before the previous boot\n');
      expect(chain.read(`${archive.path}/vmtest-boot`)).toBe(bootOfLastRoot);
      expect(entriesOf(chain, archive.path)).toEqual(['last-root', 'vmtest-boot']);
    }, BOOT_TIMEOUT_MS);

    it('4: hostile values are refused with a reason and the normal boot happens', () => {
      for (const value of ['../@persistent', 'no-such-archive', '']) {
        chain.write('@root/hostile', `before pantheros.rollback=${value}\n`);
        const before = chain.subvolumes();
        const o = boot(`4 hostile "${value}"`, chain, { cmdline: [`pantheros.rollback=${value}`] });
        const { archive } = expectRolledBack(chain, before, o);
        expect(o.report!.result, value).toBe('fell-back');
        expect(o.report!.target?.requested, value).toBe(value);
        expect(o.report!.target?.kind, value).toBe('blank');
        expect(o.report!.target?.refused, value).toEqual(expect.stringMatching(/\S/));
        expect(o.report!.warnings.length, value).toBeGreaterThan(0);
        expect(o.kmsg.some((l) => l.includes('refused')), 'the refusal is in the journal (kmsg)').toBe(true);
        expect(o.report!.created).toEqual({ path: '@root', from: '@root-blank' });
        expect(o.report!.deleted).toEqual([]);
        expect(entriesOf(chain, '@root'), value).toEqual(['vmtest-boot']);
        expect(chain.read(`${archive.path}/hostile`)).toBe(`before pantheros.rollback=${value}\n`);
        expect(entriesOf(chain, '@persistent')).toEqual(['marker']);
      }
    }, 3 * BOOT_TIMEOUT_MS);

    it('5: pantheros.rollback=keep leaves @root untouched', () => {
      chain.write('@root/keep', 'kept across this boot\n');
      const before = chain.subvolumes();
      const entries = entriesOf(chain, '@root');
      const o = boot('5 keep', chain, { cmdline: ['pantheros.rollback=keep'] });
      expect(o.exitCode, o.stderr).toBe(0);
      expect(o.report?.result, o.reportText ?? 'no report').toBe('kept');
      expect(o.report!.target?.kind).toBe('keep');
      expect(o.report!.archived).toBeNull();
      expect(o.report!.created).toBeNull();
      expect(o.root).toBe('ok');
      const after = chain.subvolumes();
      expect(after.map((s) => `${s.id} ${s.path}`)).toEqual(before.map((s) => `${s.id} ${s.path}`));
      expect(entriesOf(chain, '@root')).toEqual(entries);
      expect(chain.read('@root/keep')).toBe('kept across this boot\n');
      expect(chain.read('@root/vmtest-boot')).toBe(`${bootCount}\n`);
    }, BOOT_TIMEOUT_MS);

    /**
     * A fresh disk with the history of earlier boots: the OLD_ARCHIVES, each once a root made from the
     * blank, oldest first, then the current @root (so creation generations grow with boot order, as on
     * a real machine).
     */
    function diskWithOldArchives(names: readonly string[] = OLD_ARCHIVES): DiskImage {
      const disk = createDiskImage();
      extraDisks.push(disk);
      disk.inspect((top) => {
        for (const name of names) {
          sh('btrfs', ['subvolume', 'snapshot', join(top, '@root-blank'), join(top, OLD_ROOTS, name)]);
          writeFileSync(join(top, OLD_ROOTS, name, 'archive'), `${name}\n`);
        }
        sh('btrfs', ['subvolume', 'delete', '--commit-after', join(top, '@root')]);
        sh('btrfs', ['subvolume', 'snapshot', join(top, '@root-blank'), join(top, '@root')]);
        writeFileSync(join(top, '@root/marker'), 'root-before-boot\n');
      });
      return disk;
    }

    it('6a: with the clock behind the newest archive nothing is deleted by age', () => {
      const disk = diskWithOldArchives();
      const before = disk.subvolumes();
      // An RTC reset to a date before the newest archive (2026-08-01) but after most of them.
      const o = boot('6a clock behind', disk, { rtcBase: '2026-03-15T00:00:00' });
      expect(o.date.startsWith('2026-03-15'), `VM clock ${o.date}`).toBe(true);
      const { archive } = expectRolledBack(disk, before, o);
      expect(o.report!.now.startsWith('2026-03-15')).toBe(true);
      expect(o.report!.deleted).toEqual([]);
      const names = archivesOf(disk.subvolumes()).map(nameOf);
      expect(names.sort()).toEqual([...OLD_ARCHIVES, nameOf(archive)].sort());
      // The name carries the clock of this boot (the order comes from the creation generation), and the report says why nothing went.
      expect(nameOf(archive).startsWith('20260315T'), `new archive ${nameOf(archive)}`).toBe(true);
      expect(o.report!.warnings.join('\n')).toMatch(/dated after the clock .* nothing is deleted by age this boot/);
    }, BOOT_TIMEOUT_MS);

    it('6b: with the clock right, archives older than keepDays beyond the newest keepAtLeast are deleted', () => {
      const guestNow = Date.now() + AHEAD_MS;
      // Eight archives a month apart, the newest 30 days before the guest's present; all made (on the host) before their names.
      const names = [240, 210, 180, 150, 120, 90, 60, 30].map((days) => archiveName(guestNow - days * 86_400_000));
      const disk = diskWithOldArchives(names);
      const before = disk.subvolumes();
      const o = boot('6b clock right', disk, { rtcBase: new Date(guestNow).toISOString().replace(/\.\d{3}Z$/, '') });
      const vmClock = Date.parse(o.date);
      expect(Math.abs(vmClock - guestNow), `VM clock ${o.date}`).toBeLessThan(3_600_000);
      expect(o.exitCode, o.stderr).toBe(0);
      const after = disk.subvolumes();
      const archive = archivesOf(after).find((a) => a.id === byPath(before, '@root')!.id);
      expect(archive, 'the old @root is archived').toBeDefined();
      // keepAtLeast 3 counts this boot's archive: it and the two newest old ones stay.
      const kept = names.slice(-2);
      const deleted = names.slice(0, -2);
      expect(archivesOf(after).map(nameOf)).toEqual([...kept, nameOf(archive!)]);
      expect(o.report!.deleted.map((d) => d.path).sort()).toEqual(deleted.map((n) => `${OLD_ROOTS}/${n}`));
      for (const d of o.report!.deleted) expect(d.reason).toMatch(/\S/);
      for (const n of kept) expect(disk.read(`${OLD_ROOTS}/${n}/archive`)).toBe(`${n}\n`);
      // Nothing outside the archive directory went away.
      const outside = (subs: Subvolume[]) => subs.filter((s) => !s.path.startsWith(`${OLD_ROOTS}/`) && s.path !== '@root').map((s) => `${s.id} ${s.path}`);
      expect(outside(after)).toEqual(outside(before));
      expect(disk.read('@persistent/marker')).toBe('persistent\n');
    }, BOOT_TIMEOUT_MS);

    it('7: when the disk never appears the tool gives up after its bounded wait and the init continues', () => {
      const o = boot('7 no disk', null);
      expect(o.exitCode, o.stderr).toBe(3);
      const message = [o.stderr, ...o.kmsg].join('\n');
      expect(message).toContain('/dev/vda');
      expect(o.report, 'a report in /run for stage 2 to read').not.toBeNull();
      expect(o.report!).toMatchObject({ result: 'refused', exitCode: 3, archived: null, created: null, deleted: [] });
      expect(o.report!.error).toContain('/dev/vda');
      const waited = o.uptime.toolEnd! - o.uptime.toolStart!;
      expect(waited).toBeGreaterThanOrEqual(DEVICE_TIMEOUT_S);
      expect(waited).toBeLessThan(DEVICE_TIMEOUT_S + 30);
      expect(o.root).toBe('unmountable');
    }, BOOT_TIMEOUT_MS);
  });
}
