// Real btrfs, bundled file, Node and Bun: normal boots, naming, ageing out, odd entries in the archive
// directory, blank problems, next-boot requests, --dry-run and a bad config.
import { readdirSync, readlinkSync, symlinkSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { sh } from '../helpers/btrfs-image.js';
import {
  BASE_CONFIG,
  describeRun,
  fullState,
  LAST_REPORT,
  NEXT_BOOT,
  OLD_ROOTS,
  outsideState,
  seedArchives,
  useBootCase,
  type BootCase,
} from '../helpers/boot-case.js';
import { requirePrerequisites, RUNTIMES } from '../helpers/prereq.js';
import { runBundle } from '../helpers/run-bundle.js';

beforeAll(() => requirePrerequisites());

const NOW = '2026-11-26T06:00:00Z';
const config = (keepDays: number, keepAtLeast: number) => ({ ...BASE_CONFIG, oldRoots: { keepDays, keepAtLeast } });
const ls = (c: BootCase, rel: string) => readdirSync(c.abs(rel)).sort();

describe.each(RUNTIMES)('boot under $name', (runtime) => {
  it('normal boots in a row: each archives the root (marker moves to the archive), the new root is an empty writable snapshot of the blank, names sort in boot order, @persistent untouched', () => {
    const c = useBootCase(runtime);
    const persistent = c.subvolume('@persistent')!;
    const times = ['2026-11-24T06:00:00Z', '2026-11-25T05:59:59Z', '2026-11-26T06:00:00Z'];
    const expectedNames = ['20261124T060000Z', '20261125T055959Z', '20261126T060000Z'];
    let marker = 'root-before-boot\n';
    const archivedIds: number[] = [];
    for (const [i, now] of times.entries()) {
      const oldRoot = c.subvolume('@root')!;
      const r = c.boot(now);
      expect(r.code, describeRun(r)).toBe(0);
      expect(r.report?.result).toBe('ok');
      expect(r.report?.exitCode).toBe(0);
      // The bundle really ran under this runtime.
      expect(r.report?.runtime).toMatch(new RegExp(`^${runtime.name} \\d`));
      expect(r.report?.now).toBe(new Date(now).toISOString());
      expect(r.report?.archived).toEqual({ name: expectedNames[i], path: `${OLD_ROOTS}/${expectedNames[i]}` });
      expect(r.report?.created).toEqual({ path: '@root', from: '@root-blank' });
      expect(r.report?.deleted).toEqual([]);
      expect(r.report?.warnings).toEqual([]);
      // The old root itself was moved (same subvolume id), with its content.
      expect(c.subvolume(`${OLD_ROOTS}/${expectedNames[i]}`)?.id).toBe(oldRoot.id);
      expect(c.read(`${OLD_ROOTS}/${expectedNames[i]}/marker`)).toBe(marker);
      archivedIds.push(oldRoot.id);
      // A brand-new, empty, writable root.
      const root = c.subvolume('@root')!;
      expect(c.kind('@root')).toBe('subvolume');
      expect([...archivedIds, c.subvolume('@root-blank')!.id]).not.toContain(root.id);
      expect(ls(c, '@root')).toEqual([]);
      expect(c.image.isReadOnly('@root')).toBe(false);
      expect(c.image.isReadOnly('@root-blank')).toBe(true);
      expect(c.archives()).toEqual(expectedNames.slice(0, i + 1));
      marker = `written during boot ${i + 1}\n`;
      c.write('@root/marker', marker);
    }
    // One archive per boot, in boot order, and nothing else left behind.
    expect(c.archives()).toEqual([...c.archives()].sort());
    expect(c.entries()).toEqual([...expectedNames, '.pantheros-last-report.json'].sort());
    expect(c.image.paths().filter((p) => p.startsWith(`${OLD_ROOTS}/`))).toEqual(expectedNames.map((n) => `${OLD_ROOTS}/${n}`));
    expect(c.subvolume('@persistent')).toEqual(persistent);
    expect(c.read('@persistent/marker')).toBe('persistent\n');
    const last = JSON.parse(c.read(LAST_REPORT)) as { archived: { name: string } };
    expect(last.archived.name).toBe('20261126T060000Z');
  });

  it('two (and three) boots in the same second get distinct names that sort in boot order', () => {
    const c = useBootCase(runtime);
    const names: string[] = [];
    for (const [i, now] of ['2026-11-26T06:00:00Z', '2026-11-26T06:00:00Z', '2026-11-26T06:00:00.900Z'].entries()) {
      c.write('@root/marker', `boot ${i}\n`);
      const r = c.boot(now);
      expect(r.code, describeRun(r)).toBe(0);
      names.push(r.report!.archived!.name);
    }
    expect(names).toEqual(['20261126T060000Z', '20261126T060000Z_01', '20261126T060000Z_02']);
    expect(c.archives()).toEqual(names);
    expect(names.map((n) => c.read(`${OLD_ROOTS}/${n}/marker`))).toEqual(['boot 0\n', 'boot 1\n', 'boot 2\n']);
  });

  it('clock behind the newest archive: nothing is deleted by age that boot and the name carries the clock; with the right clock ageing resumes', () => {
    const c = useBootCase(runtime);
    seedArchives(c, ['20260101T000000Z', '20261126T060000Z']);
    const cfg = config(30, 1);
    // Six days behind the newest archive: 20260101 would be 323 days old, but the clock is not trusted.
    let r = c.boot('2026-11-20T00:00:00Z', { config: cfg });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.archived?.name).toBe('20261120T000000Z');
    expect(r.report?.deleted).toEqual([]);
    expect(r.report?.warnings.join('\n')).toMatch(/20261126T060000Z is dated after the clock .* nothing is deleted by age this boot/);
    expect(c.read(`${OLD_ROOTS}/20261120T000000Z/marker`)).toBe('live-root\n');
    // An RTC reset to 2000: same.
    c.write('@root/marker', 'after the first clock-behind boot\n');
    r = c.boot('2000-01-01T00:00:00Z', { config: cfg });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.deleted).toEqual([]);
    expect(c.archives()).toEqual(['20000101T000000Z', '20260101T000000Z', '20261120T000000Z', '20261126T060000Z']);
    expect(c.read(`${OLD_ROOTS}/20000101T000000Z/marker`)).toBe('after the first clock-behind boot\n');
    // The clock is right again: the old archive goes; the one named 2000 was made after the others, so it is young.
    r = c.boot('2026-11-27T00:00:00Z', { config: cfg });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.deleted.map((d) => d.path)).toEqual([`${OLD_ROOTS}/20260101T000000Z`]);
    expect(c.archives()).toEqual(['20000101T000000Z', '20261120T000000Z', '20261126T060000Z', '20261127T000000Z']);
  });

  it('ageing out with the right clock keeps the newest keepAtLeast and deletes only what is older than keepDays beyond them', () => {
    const c = useBootCase(runtime);
    const seeds = ['20260801T000000Z', '20260815T000000Z', '20260901T000000Z', '20261001T000000Z', '20261030T000000Z', '20261101T000000Z', '20261120T000000Z'];
    seedArchives(c, seeds);
    const outside = outsideState(c);
    const r = c.boot(NOW, { config: config(10, 3) });
    expect(r.code, describeRun(r)).toBe(0);
    // Newest 3: this boot's archive, 20261120 (6 d), 20261101 (25 d: older than keepDays but among the newest 3).
    // 20261030 (27 d) is older than 10 d and beyond the newest 3: deleted like the rest.
    expect(c.archives()).toEqual(['20261101T000000Z', '20261120T000000Z', '20261126T060000Z']);
    const deleted = ['20260801T000000Z', '20260815T000000Z', '20260901T000000Z', '20261001T000000Z', '20261030T000000Z'];
    expect(r.report?.deleted.map((d) => d.path).sort()).toEqual(deleted.map((n) => `${OLD_ROOTS}/${n}`));
    for (const d of r.report!.deleted) {
      expect(d.reason).toMatch(/older than 10/);
      expect(d.subvolumes).toEqual([d.path]);
    }
    const kept = Object.fromEntries(r.report!.kept.map((k) => [k.name, k.reason]));
    expect(Object.keys(kept).sort()).toEqual(['20261101T000000Z', '20261120T000000Z', '20261126T060000Z']);
    expect(kept['20261101T000000Z']).toMatch(/newest 3/);
    expect(c.image.paths().filter((p) => p.startsWith(`${OLD_ROOTS}/`))).toEqual(c.archives().map((n) => `${OLD_ROOTS}/${n}`));
    expect(outsideState(c)).toEqual(outside);
  });

  it('an archive within keepDays survives even beyond the newest keepAtLeast', () => {
    const c = useBootCase(runtime);
    seedArchives(c, ['20261001T000000Z', '20261030T000000Z', '20261101T000000Z', '20261120T000000Z']);
    const r = c.boot(NOW, { config: config(30, 2) });
    expect(r.code, describeRun(r)).toBe(0);
    // Newest 2: this boot's and 20261120; 20261101 (25 d) and 20261030 (27.25 d) are within 30 d.
    expect(c.archives()).toEqual(['20261030T000000Z', '20261101T000000Z', '20261120T000000Z', '20261126T060000Z']);
    expect(r.report?.deleted.map((d) => d.path)).toEqual([`${OLD_ROOTS}/20261001T000000Z`]);
  });

  it('after a long power-off (every archive older than keepDays) the newest keepAtLeast stay', () => {
    const c = useBootCase(runtime);
    const seeds = ['20260101T000000Z', '20260102T000000Z', '20260103T000000Z', '20260104T000000Z', '20260105T000000Z', '20260106T000000Z', '20260107T000000Z'];
    seedArchives(c, seeds);
    const r = c.boot(NOW, { config: config(30, 3) });
    expect(r.code, describeRun(r)).toBe(0);
    expect(c.archives()).toEqual(['20260106T000000Z', '20260107T000000Z', '20261126T060000Z']);
    expect(c.read(`${OLD_ROOTS}/20261126T060000Z/marker`)).toBe('live-root\n');
    expect(c.read(`${OLD_ROOTS}/20260107T000000Z/marker`)).toBe('archive 20260107T000000Z\n');
  });

  it('after a long power-off with keepAtLeast 1: the boot still succeeds, the archived root stays, older archives age out', () => {
    const c = useBootCase(runtime);
    seedArchives(c, ['20260101T000000Z', '20260102T000000Z', '20260103T000000Z']);
    const live = c.subvolume('@root')!;
    const r = c.boot(NOW, { config: config(30, 1) });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.result).toBe('ok');
    expect(ls(c, '@root')).toEqual([]);
    expect(c.subvolume(`${OLD_ROOTS}/20261126T060000Z`)?.id).toBe(live.id);
    // 20260103 was the newest archive before this boot: keeping it as well is allowed, the older two go.
    expect(c.archives().filter((n) => n !== '20260103T000000Z')).toEqual(['20261126T060000Z']);
    expect(r.report?.deleted.map((d) => d.path)).toEqual(expect.arrayContaining([`${OLD_ROOTS}/20260101T000000Z`, `${OLD_ROOTS}/20260102T000000Z`]));
  });

  it('never deletes the newest archive (by creation generation, not by name), even when no root is archived this boot', () => {
    const c = useBootCase(runtime);
    // 20260901 was made last (highest generation): it is the newest although its name is older.
    seedArchives(c, ['20261001T000000Z', '20260901T000000Z']);
    sh('btrfs', ['subvolume', 'delete', c.abs('@root')]);
    const r = c.boot(NOW, { config: config(30, 1) });
    expect(r.code, describeRun(r)).toBe(0);
    expect(c.kind('@root')).toBe('subvolume');
    expect(r.report?.archived).toBeNull();
    expect(c.archives()).toEqual(['20260901T000000Z']);
    expect(c.read(`${OLD_ROOTS}/20260901T000000Z/marker`)).toBe('archive 20260901T000000Z\n');
  });

  it('nested subvolumes three deep inside an expired archive are deleted deepest first; a sibling archive with the same prefix and nesting survives', () => {
    const c = useBootCase(runtime);
    const nest = () => {
      c.createSubvolume('@root/var/lib/machines', { m: 'machines\n' });
      c.createSubvolume('@root/var/lib/machines/a', { m: 'a\n' });
      c.createSubvolume('@root/var/lib/machines/a/b', { m: 'b\n' });
      mkdirSync(c.abs('@root/var/lib/machines/a/plain-dir'));
      writeFileSync(c.abs('@root/var/lib/machines/a/plain-dir/f'), 'f\n');
    };
    const cfg = config(30, 2);
    nest();
    let r = c.boot('2026-09-15T00:00:00Z', { config: cfg });
    expect(r.code, describeRun(r)).toBe(0);
    nest();
    r = c.boot('2026-09-15T00:00:00Z', { config: cfg });
    expect(r.code, describeRun(r)).toBe(0);
    const [a, b] = ['20260915T000000Z', '20260915T000000Z_01'];
    expect(c.archives()).toEqual([a, b]);
    const outside = outsideState(c);
    r = c.boot(NOW, { config: cfg });
    expect(r.code, describeRun(r)).toBe(0);
    const A = `${OLD_ROOTS}/${a}`;
    expect(r.report?.deleted).toEqual([
      {
        path: A,
        reason: expect.stringMatching(/older than 30/),
        subvolumes: [`${A}/var/lib/machines/a/b`, `${A}/var/lib/machines/a`, `${A}/var/lib/machines`, A],
      },
    ]);
    const B = `${OLD_ROOTS}/${b}`;
    expect(c.image.paths().filter((p) => p.startsWith(`${OLD_ROOTS}/`))).toEqual([
      B,
      `${B}/var/lib/machines`,
      `${B}/var/lib/machines/a`,
      `${B}/var/lib/machines/a/b`,
      `${OLD_ROOTS}/20261126T060000Z`,
    ]);
    expect(c.read(`${B}/var/lib/machines/a/b/m`)).toBe('b\n');
    expect(c.read(`${B}/var/lib/machines/a/plain-dir/f`)).toBe('f\n');
    expect(c.kind(A)).toBe('missing');
    expect(outsideState(c)).toEqual(outside);
  });

  it('nested subvolumes with a space or a leading dash in their names are deleted with their expired archive', () => {
    const c = useBootCase(runtime);
    seedArchives(c, ['20260101T000000Z', '20261120T000000Z']);
    const A = `${OLD_ROOTS}/20260101T000000Z`;
    c.createSubvolume(`${A}/var/lib/my machine`);
    c.createSubvolume(`${A}/var/lib/my machine/-rf`);
    c.createSubvolume(`${A}/var/lib/my machine/-rf/--commit-each`);
    const r = c.boot(NOW, { config: config(30, 1) });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.warnings).toEqual([]);
    expect(r.report?.deleted.map((d) => d.subvolumes)).toEqual([[`${A}/var/lib/my machine/-rf/--commit-each`, `${A}/var/lib/my machine/-rf`, `${A}/var/lib/my machine`, A]]);
    expect(c.image.paths().filter((p) => p.startsWith(`${OLD_ROOTS}/`))).toEqual([`${OLD_ROOTS}/20261120T000000Z`, `${OLD_ROOTS}/20261126T060000Z`]);
  });

  it('an archive whose name is not a timestamp is never aged out', () => {
    const c = useBootCase(runtime);
    c.createSubvolume(`${OLD_ROOTS}/before-upgrade`, { marker: 'manual\n' });
    seedArchives(c, ['20260101T000000Z', '20260102T000000Z']);
    const r = c.boot(NOW, { config: config(30, 2) });
    expect(r.code, describeRun(r)).toBe(0);
    expect(c.archives()).toEqual(['20260102T000000Z', '20261126T060000Z', 'before-upgrade']);
    expect(c.read(`${OLD_ROOTS}/before-upgrade/marker`)).toBe('manual\n');
    expect(r.report?.kept.find((k) => k.name === 'before-upgrade')?.reason).toMatch(/not a timestamp/);
  });

  it('a plain directory and symlinks with expired-looking names inside old_roots are left alone, and what they point to is untouched', () => {
    const c = useBootCase(runtime);
    seedArchives(c, ['20260101T000000Z', '20261120T000000Z']);
    const dir = `${OLD_ROOTS}/20200101T000000Z`;
    mkdirSync(c.abs(dir));
    writeFileSync(c.abs(`${dir}/keep-me`), 'keep\n');
    // A subvolume inside the plain directory: not an archive (the impermanence `list -o` trap).
    c.createSubvolume(`${dir}/inner`, { m: 'inner\n' });
    const links: Record<string, string> = {
      '20200102T000000Z': '../../@persistent',
      '20200103T000000Z': c.abs('@nix'),
      '20200104T000000Z': '/@persistent',
      '20200105T000000Z': '../../@snapshots',
    };
    for (const [name, target] of Object.entries(links)) symlinkSync(target, c.abs(`${OLD_ROOTS}/${name}`));
    writeFileSync(c.abs('@nix/store-marker'), 'nix\n');
    const outside = outsideState(c);
    const r = c.boot(NOW, { config: config(30, 1) });
    expect(r.code, describeRun(r)).toBe(0);
    // The age-out ran (the expired real archive went) ...
    expect(r.report?.deleted.map((d) => d.path)).toEqual([`${OLD_ROOTS}/20260101T000000Z`]);
    // ... and left everything else alone.
    expect(c.kind(dir)).toBe('directory');
    expect(c.read(`${dir}/keep-me`)).toBe('keep\n');
    expect(c.kind(`${dir}/inner`)).toBe('subvolume');
    expect(c.read(`${dir}/inner/m`)).toBe('inner\n');
    for (const [name, target] of Object.entries(links)) {
      expect(c.kind(`${OLD_ROOTS}/${name}`)).toBe('symlink');
      expect(readlinkSync(c.abs(`${OLD_ROOTS}/${name}`))).toBe(target);
    }
    expect(outsideState(c)).toEqual(outside);
    expect(c.read('@persistent/marker')).toBe('persistent\n');
    expect(c.read('@nix/store-marker')).toBe('nix\n');
    expect(ls(c, '@snapshots')).toEqual(['daily', 'hourly', 'monthly', 'weekly']);
    const warnings = r.report!.warnings.join('\n');
    expect(warnings).toContain('20200101T000000Z');
    for (const name of Object.keys(links)) expect(warnings).toContain(name);
    expect(c.archives()).toEqual(['20261120T000000Z', '20261126T060000Z']);
  });

  it('a name taken 100 times in one second (a clock stuck at one time) gets _100: nothing is overwritten, and the order comes from the generation', () => {
    const c = useBootCase(runtime);
    seedArchives(c, ['20000101T000000Z', ...Array.from({ length: 99 }, (_, i) => `20000101T000000Z_${String(i + 1).padStart(2, '0')}`)]);
    const r = c.boot('2000-01-01T00:00:00Z');
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report!.archived!.name).toBe('20000101T000000Z_100');
    expect(c.read(`${OLD_ROOTS}/20000101T000000Z_100/marker`)).toBe('live-root\n');
    expect(r.report!.kept.find((k) => k.name === '20000101T000000Z_100')?.reason).toBe('archived this boot');
  });

  it('a new archive name never overwrites anything: a directory and a symlink already holding the names get skipped', () => {
    const c = useBootCase(runtime);
    mkdirSync(c.abs(`${OLD_ROOTS}/20261126T060000Z`));
    writeFileSync(c.abs(`${OLD_ROOTS}/20261126T060000Z/f`), 'dir\n');
    symlinkSync('../../@persistent', c.abs(`${OLD_ROOTS}/20261126T060000Z_01`));
    const r = c.boot(NOW);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.archived?.name).toBe('20261126T060000Z_02');
    expect(c.read(`${OLD_ROOTS}/20261126T060000Z_02/marker`)).toBe('root-before-boot\n');
    expect(c.read(`${OLD_ROOTS}/20261126T060000Z/f`)).toBe('dir\n');
    expect(readlinkSync(c.abs(`${OLD_ROOTS}/20261126T060000Z_01`))).toBe('../../@persistent');
    expect(c.read('@persistent/marker')).toBe('persistent\n');
  });

  it('archive directory and its parent as subvolumes: archives move in and age out, the directory itself stays', () => {
    const c = useBootCase(runtime);
    sh('rm', ['-r', c.abs('@btrfs_tmp')]);
    c.createSubvolume('@btrfs_tmp');
    c.createSubvolume(OLD_ROOTS);
    seedArchives(c, ['20260101T000000Z', '20261120T000000Z']);
    c.createSubvolume(`${OLD_ROOTS}/20260101T000000Z/var/lib/machines`);
    const r = c.boot(NOW, { config: config(30, 1) });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.deleted.map((d) => d.subvolumes)).toEqual([[`${OLD_ROOTS}/20260101T000000Z/var/lib/machines`, `${OLD_ROOTS}/20260101T000000Z`]]);
    expect(c.image.paths().filter((p) => p.startsWith('@btrfs_tmp'))).toEqual(['@btrfs_tmp', OLD_ROOTS, `${OLD_ROOTS}/20261120T000000Z`, `${OLD_ROOTS}/20261126T060000Z`]);
    expect(c.read(`${OLD_ROOTS}/20261126T060000Z/marker`)).toBe('live-root\n');
    expect(ls(c, '@root')).toEqual([]);
  });

  it('a missing archive directory is created, then the normal boot happens', () => {
    const c = useBootCase(runtime);
    sh('rm', ['-r', c.abs('@btrfs_tmp')]);
    const r = c.boot(NOW);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.steps.map((s) => s.action)[0]).toBe('ensure-dir');
    expect(c.kind(OLD_ROOTS)).toBe('directory');
    expect(c.archives()).toEqual(['20261126T060000Z']);
    expect(c.read(`${OLD_ROOTS}/20261126T060000Z/marker`)).toBe('root-before-boot\n');
    expect(ls(c, '@root')).toEqual([]);
  });

  it('custom subvolume names from the config are used (nothing hard-coded)', () => {
    const c = useBootCase(runtime, { layout: false });
    for (const sv of ['root', 'blank', 'persist', 'snaps']) c.createSubvolume(sv);
    writeFileSync(c.abs('root/marker'), 'custom root\n');
    writeFileSync(c.abs('blank/from-blank'), 'custom blank\n');
    sh('btrfs', ['property', 'set', '-ts', c.abs('blank'), 'ro', 'true']);
    mkdirSync(c.abs('archive/roots'), { recursive: true });
    const cfg = { ...BASE_CONFIG, subvolumes: { root: 'root', blank: 'blank', oldRoots: 'archive/roots', snapshots: 'snaps' } };
    const r = c.boot(NOW, { config: cfg });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.archived).toEqual({ name: '20261126T060000Z', path: 'archive/roots/20261126T060000Z' });
    expect(r.report?.created).toEqual({ path: 'root', from: 'blank' });
    expect(c.read('archive/roots/20261126T060000Z/marker')).toBe('custom root\n');
    expect(ls(c, 'root')).toEqual(['from-blank']);
    expect(c.image.paths()).toEqual(['archive/roots/20261126T060000Z', 'blank', 'persist', 'root', 'snaps']);
    expect(c.kind('@root')).toBe('missing');
  });

  it('temporary subvolumes of this tool left in old_roots (half-made root, killed diff) are removed; other hidden entries are left alone', () => {
    const c = useBootCase(runtime);
    sh('btrfs', ['subvolume', 'snapshot', c.abs('@root-blank'), c.abs(`${OLD_ROOTS}/.pantheros-new-root`)]);
    sh('btrfs', ['subvolume', 'snapshot', '-r', c.abs('@root'), c.abs(`${OLD_ROOTS}/.pantheros-diff-4242`)]);
    c.createSubvolume(`${OLD_ROOTS}/.operator-kept`, { marker: 'hidden\n' });
    symlinkSync('../../@persistent', c.abs(`${OLD_ROOTS}/.pantheros-diff-link`));
    mkdirSync(c.abs(`${OLD_ROOTS}/.pantheros-new-root-dir`));
    const outside = outsideState(c);
    const r = c.boot(NOW);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.recovered.join('\n')).toMatch(/pantheros-new-root/);
    expect(c.image.paths().filter((p) => p.startsWith(`${OLD_ROOTS}/`))).toEqual([`${OLD_ROOTS}/.operator-kept`, `${OLD_ROOTS}/20261126T060000Z`]);
    expect(c.read(`${OLD_ROOTS}/.operator-kept/marker`)).toBe('hidden\n');
    expect(readlinkSync(c.abs(`${OLD_ROOTS}/.pantheros-diff-link`))).toBe('../../@persistent');
    expect(c.kind(`${OLD_ROOTS}/.pantheros-new-root-dir`)).toBe('directory');
    expect(c.read(`${OLD_ROOTS}/20261126T060000Z/marker`)).toBe('root-before-boot\n');
    expect(ls(c, '@root')).toEqual([]);
    expect(outsideState(c)).toEqual(outside);
  });

  it('files left by a write cut off before its rename (the request, the report copy) are removed; lookalikes are left alone', () => {
    const c = useBootCase(runtime);
    // writeFileAtomic names its temporary '.' + the file name + '.pantheros-tmp-<pid>-<random>'.
    const cut = [`${OLD_ROOTS}/..pantheros-next-boot.pantheros-tmp-812-k3j9x0aq`, `${OLD_ROOTS}/..pantheros-last-report.json.pantheros-tmp-9-0`];
    for (const t of cut) writeFileSync(c.abs(t), 'half a write');
    const kept = [`${OLD_ROOTS}/..other.pantheros-tmp-1-abc`, `${OLD_ROOTS}/.pantheros-next-boot.pantheros-tmp-1-abc`];
    for (const k of kept) writeFileSync(c.abs(k), 'not ours');
    symlinkSync('../../@persistent/marker', c.abs(`${OLD_ROOTS}/..pantheros-next-boot.pantheros-tmp-2-abc`));
    const outside = outsideState(c);
    const r = c.boot(NOW);
    expect(r.code, describeRun(r)).toBe(0);
    for (const t of cut) expect(c.kind(t), t).toBe('missing');
    for (const k of kept) expect(c.read(k), k).toBe('not ours');
    expect(readlinkSync(c.abs(`${OLD_ROOTS}/..pantheros-next-boot.pantheros-tmp-2-abc`))).toBe('../../@persistent/marker');
    expect(r.report?.recovered.join('\n')).toMatch(/interrupted write of \.pantheros-next-boot/);
    expect(r.report?.recovered.join('\n')).toMatch(/interrupted write of \.pantheros-last-report\.json/);
    expect(outsideState(c)).toEqual(outside);
  });

  it('missing blank: the new root is an empty subvolume and the report warns', () => {
    const c = useBootCase(runtime);
    sh('btrfs', ['subvolume', 'delete', c.abs('@root-blank')]);
    const r = c.boot(NOW);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.result).toBe('ok');
    expect(c.kind('@root')).toBe('subvolume');
    expect(ls(c, '@root')).toEqual([]);
    expect(c.image.isReadOnly('@root')).toBe(false);
    expect(r.report?.created?.from).toMatch(/empty/);
    expect(r.report?.warnings.join('\n')).toMatch(/@root-blank.*(does not exist|missing)/);
    expect(c.read(`${OLD_ROOTS}/20261126T060000Z/marker`)).toBe('root-before-boot\n');
  });

  it('writable blank: the new root is still made from it, with a warning', () => {
    const c = useBootCase(runtime);
    sh('btrfs', ['property', 'set', '-ts', c.abs('@root-blank'), 'ro', 'false']);
    writeFileSync(c.abs('@root-blank/from-blank'), 'blank\n');
    const r = c.boot(NOW);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.created).toEqual({ path: '@root', from: '@root-blank' });
    expect(r.report?.warnings.join('\n')).toMatch(/@root-blank is not read-only/);
    expect(c.read('@root/from-blank')).toBe('blank\n');
    expect(c.read(`${OLD_ROOTS}/20261126T060000Z/marker`)).toBe('root-before-boot\n');
  });

  it('a blank that is a symlink (to @persistent) is not followed: the new root is empty, @persistent untouched', () => {
    const c = useBootCase(runtime);
    sh('btrfs', ['subvolume', 'delete', c.abs('@root-blank')]);
    symlinkSync('@persistent', c.abs('@root-blank'));
    const outside = outsideState(c);
    const r = c.boot(NOW);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.created?.from).toMatch(/empty/);
    expect(r.report?.warnings.join('\n')).toMatch(/@root-blank is a symlink/);
    expect(ls(c, '@root')).toEqual([]);
    expect(readlinkSync(c.abs('@root-blank'))).toBe('@persistent');
    expect(outsideState(c)).toEqual(outside);
    expect(ls(c, '@persistent')).toEqual(['marker']);
  });

  it('a next-boot request "previous" is consumed and acted on; with a cmdline target the cmdline wins and the request is still consumed', () => {
    const c = useBootCase(runtime);
    c.write('@root/marker', 'current root\n');
    c.write(NEXT_BOOT, 'previous\n');
    let r = c.boot('2026-11-26T06:00:00Z');
    expect(r.code, describeRun(r)).toBe(0);
    expect(c.kind(NEXT_BOOT)).toBe('missing');
    expect(r.report?.target).toMatchObject({ requested: 'previous', origin: 'next-boot', kind: 'previous', source: `${OLD_ROOTS}/20261126T060000Z` });
    expect(c.read('@root/marker')).toBe('current root\n');
    expect(c.read(`${OLD_ROOTS}/20261126T060000Z/marker`)).toBe('current root\n');
    // The next boot is normal again.
    r = c.boot('2026-11-26T06:01:00Z');
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.target?.origin).toBe('default');
    expect(ls(c, '@root')).toEqual([]);
    // Request and cmdline: the cmdline wins, the request is consumed anyway.
    c.write('@root/marker', 'third root\n');
    c.write(NEXT_BOOT, 'previous\n');
    r = c.boot('2026-11-26T06:02:00Z', { cmdline: 'pantheros.rollback=blank' });
    expect(r.code, describeRun(r)).toBe(0);
    expect(c.kind(NEXT_BOOT)).toBe('missing');
    expect(r.report?.target).toMatchObject({ requested: 'blank', origin: 'cmdline', kind: 'blank' });
    expect(r.report?.warnings.join('\n')).toMatch(/next-boot request.*ignored/);
    expect(ls(c, '@root')).toEqual([]);
    expect(c.read(`${OLD_ROOTS}/20261126T060200Z/marker`)).toBe('third root\n');
  });

  it('a next-boot request "keep" is consumed and nothing else changes', () => {
    const c = useBootCase(runtime);
    c.write(NEXT_BOOT, 'keep\n');
    const before = fullState(c);
    const r = c.boot(NOW);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.result).toBe('kept');
    expect(r.report?.target).toMatchObject({ origin: 'next-boot', kind: 'keep' });
    expect(c.kind(NEXT_BOOT)).toBe('missing');
    expect(fullState(c)).toEqual(before);
    expect(c.read('@root/marker')).toBe('root-before-boot\n');
  });

  it('a next-boot request that is a symlink is not followed: ignored with a warning, the normal boot happens', () => {
    const c = useBootCase(runtime);
    c.write('@persistent/request', 'previous\n');
    symlinkSync('../../@persistent/request', c.abs(NEXT_BOOT));
    const r = c.boot(NOW);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.target).toMatchObject({ origin: 'default', kind: 'blank' });
    expect(r.report?.warnings.join('\n')).toMatch(/pantheros-next-boot/);
    expect(ls(c, '@root')).toEqual([]);
    expect(c.read('@persistent/request')).toBe('previous\n');
  });

  it('--dry-run changes nothing, writes no report copy, and prints a reason for every step', () => {
    const c = useBootCase(runtime);
    seedArchives(c, ['20260101T000000Z', '20261120T000000Z']);
    c.createSubvolume(`${OLD_ROOTS}/20260101T000000Z/var/lib/machines`);
    c.write(NEXT_BOOT, 'previous\n');
    const before = fullState(c);
    const entries = c.entries();
    const topEntries = ls(c, '');
    const cfg = config(30, 1);
    const text = c.boot(NOW, { config: cfg, dryRun: true });
    expect(text.code, describeRun(text)).toBe(0);
    const json = c.boot(NOW, { config: cfg, dryRun: true, json: true });
    expect(json.code, describeRun(json)).toBe(0);
    expect(fullState(c)).toEqual(before);
    expect(c.entries()).toEqual(entries);
    expect(ls(c, '')).toEqual(topEntries);
    expect(c.kind(LAST_REPORT)).toBe('missing');
    expect(c.read(NEXT_BOOT)).toBe('previous\n');
    expect(c.read('@root/marker')).toBe('live-root\n');
    const plan = json.json!;
    expect(plan.result).toBe('dry-run');
    // Age out first (a full disk gets the space), then the root renamed to its archive and the new root snapshotted in
    // its place (the snapshot's own commit carries the rename; no nested subvolumes come back, so no temporary name),
    // then the request removed once the new root is in place, and the final commit.
    expect(plan.steps.map((s) => s.action)).toEqual(['delete', 'rename', 'snapshot', 'remove-file', 'commit']);
    for (const s of plan.steps) {
      expect(s.status).toBe('planned');
      expect(s.reason.length).toBeGreaterThan(10);
      expect(text.stdout).toContain(s.reason);
    }
    expect(text.stdout).toMatch(/dry run/i);
    expect(text.stdout.match(/because /g)?.length).toBe(plan.steps.length);
    expect(plan.deleted.map((d) => d.path)).toEqual([`${OLD_ROOTS}/20260101T000000Z`]);
  });

  it.each([
    ['an unparsable --now', ['--now', 'yesterday'], /--now/],
    ['an unknown option', ['--dryrun'], /unknown option --dryrun/],
    ['both --device and --top-level', ['--device', '/dev/null'], /either --device or --top-level/],
  ])('bad flags (%s) exit 2 with a clear message and change nothing', (_what, extra, message) => {
    const c = useBootCase(runtime);
    const before = fullState(c);
    const r = runBundle(runtime, ['boot', '--top-level', c.top, '--cmdline', '/dev/null', '--report', join(c.image.dir, 'r.json'), ...(extra[0] === '--now' ? [] : ['--now', NOW]), ...extra]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(fullState(c)).toEqual(before);
    expect(c.entries()).toEqual([]);
  });

  it.each([
    ['an unknown key', { ...BASE_CONFIG, oldRoot: { keepDays: 3 } }, /oldRoot\b/],
    ['a wrong type', { ...BASE_CONFIG, oldRoots: { keepDays: '30' } }, /oldRoots\.keepDays/],
    ['a wrong nested type', { subvolumes: { root: 5 } }, /subvolumes\.root/],
  ])('a bad config (%s) exits 2 naming the key and changes nothing', (_what, cfg, key) => {
    const c = useBootCase(runtime);
    const before = fullState(c);
    const r = c.boot(NOW, { config: cfg });
    expect(r.code, describeRun(r)).toBe(2);
    expect(r.stderr).toMatch(key);
    expect(fullState(c)).toEqual(before);
    expect(c.entries()).toEqual([]);
    expect(c.read('@root/marker')).toBe('root-before-boot\n');
  });
});
