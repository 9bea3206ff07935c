// Real btrfs, bundled file, Node and Bun: every recovery target of pantheros.rollback= and every
// refused one (refused → the normal boot happens, exit 0, nothing outside the archive directory changes).
import { readdirSync, readlinkSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { sh } from '../helpers/btrfs-image.js';
import { BASE_CONFIG, commit, describeRun, fullState, NEXT_BOOT, OLD_ROOTS, outsideState, seedArchives, useBootCase, type BootCase } from '../helpers/boot-case.js';
import { requirePrerequisites, RUNTIMES } from '../helpers/prereq.js';

beforeAll(() => requirePrerequisites());

const T1 = '2026-11-24T06:00:00Z';
const T2 = '2026-11-25T06:00:00Z';
const NOW = '2026-11-26T06:00:00Z';
const A1 = '20261124T060000Z';
const A2 = '20261125T060000Z';
const A3 = '20261126T060000Z';
const SNAP = '20261125T000000Z';
const ls = (c: BootCase, rel: string) => readdirSync(c.abs(rel)).sort();

/** Two normal boots: A1 holds "root-before-boot", A2 holds "second root"; the live root holds "live root". */
function twoBoots(c: BootCase): void {
  for (const [now, next] of [
    [T1, 'second root\n'],
    [T2, 'live root\n'],
  ] as const) {
    const r = c.boot(now);
    expect(r.code, describeRun(r)).toBe(0);
    c.write('@root/marker', next);
  }
  expect(c.archives()).toEqual([A1, A2]);
}

/** A read-only snapshot @snapshots/daily/SNAP of a subvolume holding "from the daily snapshot". */
function dailySnapshot(c: BootCase): void {
  c.createSubvolume('@snapshot-src', { marker: 'from the daily snapshot\n' });
  sh('btrfs', ['subvolume', 'snapshot', '-r', c.abs('@snapshot-src'), c.abs(`@snapshots/daily/${SNAP}`)]);
  sh('btrfs', ['subvolume', 'delete', c.abs('@snapshot-src')]);
}

/** After a boot that restored from `source`: the new root is a writable copy, the source is intact. */
function expectRestored(c: BootCase, source: string, sourceId: number, marker: string): void {
  expect(c.read('@root/marker')).toBe(marker);
  expect(c.image.isReadOnly('@root')).toBe(false);
  const root = c.subvolume('@root')!;
  expect(root.id).not.toBe(sourceId);
  expect(c.subvolume(source)?.id).toBe(sourceId);
  expect(c.read(`${source}/marker`)).toBe(marker);
  // A copy, not the source itself: writing to the new root leaves the source alone.
  c.write('@root/marker', 'changed after restore\n');
  expect(c.read(`${source}/marker`)).toBe(marker);
}

describe.each(RUNTIMES)('boot targets under $name', (runtime) => {
  it('previous: the root just archived comes back as a writable copy; the archive stays intact', () => {
    const c = useBootCase(runtime);
    twoBoots(c);
    const live = c.subvolume('@root')!;
    const r = c.boot(NOW, { cmdline: 'pantheros.rollback=previous' });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.result).toBe('ok');
    expect(r.report?.target).toMatchObject({ requested: 'previous', origin: 'cmdline', kind: 'previous', source: `${OLD_ROOTS}/${A3}`, refused: null });
    expect(r.report?.archived?.name).toBe(A3);
    expect(r.report?.created).toEqual({ path: '@root', from: `${OLD_ROOTS}/${A3}` });
    expect(c.archives()).toEqual([A1, A2, A3]);
    expectRestored(c, `${OLD_ROOTS}/${A3}`, live.id, 'live root\n');
    expect(c.read(`${OLD_ROOTS}/${A1}/marker`)).toBe('root-before-boot\n');
  });

  it('<archive name>: a writable copy of that archive; it and the others stay intact', () => {
    const c = useBootCase(runtime);
    twoBoots(c);
    const a1 = c.subvolume(`${OLD_ROOTS}/${A1}`)!;
    const r = c.boot(NOW, { cmdline: `pantheros.rollback=${A1}` });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.result).toBe('ok');
    expect(r.report?.target).toMatchObject({ kind: 'archive', source: `${OLD_ROOTS}/${A1}`, refused: null });
    expect(r.report?.created).toEqual({ path: '@root', from: `${OLD_ROOTS}/${A1}` });
    expect(c.archives()).toEqual([A1, A2, A3]);
    expect(c.read(`${OLD_ROOTS}/${A3}/marker`)).toBe('live root\n');
    expect(c.read(`${OLD_ROOTS}/${A2}/marker`)).toBe('second root\n');
    expectRestored(c, `${OLD_ROOTS}/${A1}`, a1.id, 'root-before-boot\n');
  });

  it('daily/<snapshot>: a writable copy of a read-only snapshot under @snapshots; the snapshot stays read-only and intact', () => {
    const c = useBootCase(runtime);
    dailySnapshot(c);
    const snap = c.subvolume(`@snapshots/daily/${SNAP}`)!;
    const r = c.boot(NOW, { cmdline: `pantheros.rollback=daily/${SNAP}` });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.result).toBe('ok');
    expect(r.report?.target).toMatchObject({ kind: 'snapshot', source: `@snapshots/daily/${SNAP}`, refused: null });
    expect(r.report?.created).toEqual({ path: '@root', from: `@snapshots/daily/${SNAP}` });
    expect(c.read(`${OLD_ROOTS}/${A3}/marker`)).toBe('root-before-boot\n');
    expect(c.image.isReadOnly(`@snapshots/daily/${SNAP}`)).toBe(true);
    expect(c.read('@root/marker')).toBe('from the daily snapshot\n');
    expect(c.image.isReadOnly('@root')).toBe(false);
    expect(c.subvolume('@root')!.id).not.toBe(snap.id);
    expect(c.subvolume(`@snapshots/daily/${SNAP}`)?.id).toBe(snap.id);
    expect(c.read(`@snapshots/daily/${SNAP}/marker`)).toBe('from the daily snapshot\n');
  });

  it('an expired archive used as the source this boot is not aged out in the same boot', () => {
    const c = useBootCase(runtime);
    seedArchives(c, ['20260101T000000Z', '20260102T000000Z', '20261120T000000Z']);
    const source = c.subvolume(`${OLD_ROOTS}/20260101T000000Z`)!;
    const r = c.boot(NOW, { cmdline: 'pantheros.rollback=20260101T000000Z', config: { ...BASE_CONFIG, oldRoots: { keepDays: 30, keepAtLeast: 1 } } });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.deleted.map((d) => d.path)).toEqual([`${OLD_ROOTS}/20260102T000000Z`]);
    expect(c.archives()).toEqual(['20260101T000000Z', '20261120T000000Z', A3]);
    expect(r.report?.kept.find((k) => k.name === '20260101T000000Z')?.reason).toMatch(/source/);
    expectRestored(c, `${OLD_ROOTS}/20260101T000000Z`, source.id, 'archive 20260101T000000Z\n');
  });

  it('a next-boot request with a refused target is consumed, refused, and the normal boot happens', () => {
    const c = useBootCase(runtime);
    c.write(NEXT_BOOT, '../@persistent\n');
    const outside = outsideState(c);
    const r = c.boot(NOW);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.result).toBe('fell-back');
    expect(r.report?.target).toMatchObject({ requested: '../@persistent', origin: 'next-boot', kind: 'blank', refused: expect.stringMatching(/\.\./) });
    expect(c.kind(NEXT_BOOT)).toBe('missing');
    expect(ls(c, '@root')).toEqual([]);
    expect(c.read(`${OLD_ROOTS}/${A3}/marker`)).toBe('root-before-boot\n');
    expect(outsideState(c)).toEqual(outside);
  });

  it('previous (and keep) when @root is missing after an interrupted boot: the newest archive comes back, no archive is touched', () => {
    const c = useBootCase(runtime);
    seedArchives(c, ['20261120T000000Z', '20261125T000000Z']);
    sh('btrfs', ['subvolume', 'delete', c.abs('@root')]);
    const ids = c.archives().map((n) => c.subvolume(`${OLD_ROOTS}/${n}`)!.id);
    let r = c.boot(NOW, { cmdline: 'pantheros.rollback=previous' });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.archived).toBeNull();
    expect(r.report?.target).toMatchObject({ kind: 'previous', source: `${OLD_ROOTS}/20261125T000000Z` });
    expect(c.read('@root/marker')).toBe('archive 20261125T000000Z\n');
    expect(c.archives().map((n) => c.subvolume(`${OLD_ROOTS}/${n}`)!.id)).toEqual(ids);
    // keep cannot keep what is not there: a root is made all the same, and nothing is lost.
    sh('btrfs', ['subvolume', 'delete', c.abs('@root')]);
    r = c.boot('2026-11-26T07:00:00Z', { cmdline: 'pantheros.rollback=keep' });
    expect(r.code, describeRun(r)).toBe(0);
    expect(c.kind('@root')).toBe('subvolume');
    expect(c.image.isReadOnly('@root')).toBe(false);
    expect(c.archives().map((n) => c.subvolume(`${OLD_ROOTS}/${n}`)!.id)).toEqual(ids);
    expect(r.report?.warnings.join('\n')).toMatch(/@root/);
  });

  it('keep, 0, no, off, false (and KEEP in capitals, rd.pantheros.rollback=keep): nothing changes, same subvolume ids and generations', () => {
    const c = useBootCase(runtime);
    twoBoots(c);
    const before = fullState(c);
    for (const [i, word] of ['pantheros.rollback=keep', 'pantheros.rollback=0', 'pantheros.rollback=no', 'pantheros.rollback=off', 'pantheros.rollback=false', 'pantheros.rollback=KEEP', 'rd.pantheros.rollback=keep'].entries()) {
      const r = c.boot(`2026-11-26T06:0${i}:00Z`, { cmdline: word });
      expect(r.code, describeRun(r)).toBe(0);
      expect(r.report?.result, word).toBe('kept');
      expect(r.report?.target?.kind, word).toBe('keep');
      expect(r.report?.archived, word).toBeNull();
      expect(r.report?.created, word).toBeNull();
      expect(r.report?.deleted, word).toEqual([]);
      expect(fullState(c), word).toEqual(before);
      expect(c.archives(), word).toEqual([A1, A2]);
      expect(c.read('@root/marker'), word).toBe('live root\n');
    }
  });

  it('blank (explicit): the normal boot', () => {
    const c = useBootCase(runtime);
    const r = c.boot(NOW, { cmdline: 'pantheros.rollback=blank', json: true });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.result).toBe('ok');
    // --json prints the same report that --report writes.
    expect(r.json).toEqual(r.report);
    expect(r.report?.target).toMatchObject({ requested: 'blank', kind: 'blank', refused: null });
    expect(r.report?.created).toEqual({ path: '@root', from: '@root-blank' });
    expect(ls(c, '@root')).toEqual([]);
    expect(c.read(`${OLD_ROOTS}/${A3}/marker`)).toBe('root-before-boot\n');
  });

  it('a bare pantheros.rollback (systemd reads it as =1) and =1: the normal boot', () => {
    const c = useBootCase(runtime);
    for (const [i, word] of ['pantheros.rollback', 'pantheros.rollback=1'].entries()) {
      c.write('@root/marker', `${word}\n`);
      const r = c.boot(`2026-11-26T06:0${i}:00Z`, { cmdline: word });
      expect(r.code, describeRun(r)).toBe(0);
      expect(r.report?.created, word).toEqual({ path: '@root', from: '@root-blank' });
      expect(ls(c, '@root'), word).toEqual([]);
      expect(c.read(`${OLD_ROOTS}/${r.report!.archived!.name}/marker`), word).toBe(`${word}\n`);
    }
  });

  it('rd.pantheros.rollback= and pantheros.rollback=: whichever comes last wins, in both directions', () => {
    const c = useBootCase(runtime);
    twoBoots(c);
    // rd. first, plain last: previous wins.
    let r = c.boot(NOW, { cmdline: 'rd.pantheros.rollback=keep pantheros.rollback=previous' });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.target).toMatchObject({ kind: 'previous', requested: 'previous' });
    expect(c.read('@root/marker')).toBe('live root\n');
    expect(c.archives()).toEqual([A1, A2, A3]);
    // plain first, rd. last: keep wins.
    let before = fullState(c);
    r = c.boot('2026-11-26T07:00:00Z', { cmdline: 'pantheros.rollback=previous rd.pantheros.rollback=keep' });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.result).toBe('kept');
    expect(fullState(c)).toEqual(before);
    // The same key twice: the last one wins.
    before = fullState(c);
    r = c.boot('2026-11-26T08:00:00Z', { cmdline: 'pantheros.rollback=blank quiet pantheros.rollback=keep' });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.result).toBe('kept');
    expect(fullState(c)).toEqual(before);
    // rd. last with an archive name.
    r = c.boot('2026-11-26T09:00:00Z', { cmdline: `pantheros.rollback=keep rd.pantheros.rollback=${A1}` });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.target).toMatchObject({ kind: 'archive', source: `${OLD_ROOTS}/${A1}` });
    expect(c.read('@root/marker')).toBe('root-before-boot\n');
  });

  it('quoting: pantheros.rollback="previous", "pantheros.rollback=previous" and single quotes', () => {
    const c = useBootCase(runtime);
    const cases: [string, string][] = [
      ['pantheros.rollback="previous"', 'a\n'],
      ['"pantheros.rollback=previous"', 'b\n'],
      ["pantheros.rollback='previous'", 'c\n'],
    ];
    for (const [i, [word, marker]] of cases.entries()) {
      c.write('@root/marker', marker);
      const r = c.boot(`2026-11-26T06:0${i}:00Z`, { cmdline: word });
      expect(r.code, describeRun(r)).toBe(0);
      expect(r.report?.target, word).toMatchObject({ requested: 'previous', kind: 'previous' });
      expect(c.read('@root/marker'), word).toBe(marker);
    }
    // A quoted value with a space is one word (and not a valid target): refused, normal boot.
    const r = c.boot('2026-11-26T06:10:00Z', { cmdline: 'pantheros.rollback="previous keep" quiet' });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.result).toBe('fell-back');
    expect(r.report?.target?.requested).toBe('previous keep');
    expect(ls(c, '@root')).toEqual([]);
  });

  it('look-alike keys: - equals _ in a key, but neither equals the dot, so pantheros_rollback= and pantheros-rollback= are other parameters', () => {
    const c = useBootCase(runtime);
    const r = c.boot(NOW, { cmdline: 'pantheros_rollback=keep pantheros-rollback=keep rd_pantheros.rollback=keep pantheros.rollbackx=keep' });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.result).toBe('ok');
    expect(r.report?.target).toMatchObject({ origin: 'default', kind: 'blank' });
    expect(c.read(`${OLD_ROOTS}/${A3}/marker`)).toBe('root-before-boot\n');
  });

  interface Refusal {
    what: string;
    cmdline: string;
    setup?: (c: BootCase) => void;
    /** Paths (symlinks, directories) the setup made, which must be exactly as they were afterwards. */
    untouched?: string[];
    reason?: RegExp;
  }
  const refusals: Refusal[] = [
    { what: 'an empty value', cmdline: 'pantheros.rollback=', reason: /empty/ },
    { what: 'an empty quoted value', cmdline: 'pantheros.rollback=""', reason: /empty/ },
    { what: 'an unknown archive name', cmdline: 'pantheros.rollback=20990101T000000Z', reason: /no archive/ },
    { what: 'an unknown word', cmdline: 'pantheros.rollback=yesterday', reason: /no archive/ },
    { what: 'an absolute path', cmdline: 'pantheros.rollback=/@persistent', reason: /absolute/ },
    { what: 'an absolute path to a real archive', cmdline: `pantheros.rollback=/${OLD_ROOTS}/${A2}`, setup: twoBoots, reason: /absolute/ },
    { what: '../@persistent', cmdline: 'pantheros.rollback=../@persistent', reason: /\.\./ },
    { what: 'daily/../../@persistent', cmdline: 'pantheros.rollback=daily/../../@persistent', reason: /\.\./ },
    { what: 'a subvolume outside the allowed directories named like an archive (@persistent)', cmdline: 'pantheros.rollback=@persistent' },
    { what: 'the blank by name', cmdline: 'pantheros.rollback=@root-blank' },
    {
      what: 'a relative symlink in old_roots pointing at @persistent',
      cmdline: 'pantheros.rollback=20261120T000000Z',
      setup: (c) => symlinkSync('../../@persistent', c.abs(`${OLD_ROOTS}/20261120T000000Z`)),
      untouched: [`${OLD_ROOTS}/20261120T000000Z`],
      reason: /symlink/,
    },
    {
      what: 'an absolute symlink in old_roots pointing at /@persistent of the top level',
      cmdline: 'pantheros.rollback=evil',
      setup: (c) => symlinkSync(c.abs('@persistent'), c.abs(`${OLD_ROOTS}/evil`)),
      untouched: [`${OLD_ROOTS}/evil`],
      reason: /symlink/,
    },
    {
      what: 'a plain directory in old_roots',
      cmdline: 'pantheros.rollback=20261121T000000Z',
      setup: (c) => {
        mkdirSync(c.abs(`${OLD_ROOTS}/20261121T000000Z`));
        writeFileSync(c.abs(`${OLD_ROOTS}/20261121T000000Z/marker`), 'plain directory\n');
      },
      untouched: [`${OLD_ROOTS}/20261121T000000Z`],
      reason: /directory/,
    },
    {
      what: 'a snapshot path through a symlinked class directory',
      cmdline: `pantheros.rollback=linked/${SNAP}`,
      setup: (c) => {
        dailySnapshot(c);
        symlinkSync('daily', c.abs('@snapshots/linked'));
      },
      untouched: ['@snapshots/linked'],
      reason: /symlink/,
    },
    {
      what: 'a snapshot path whose last component is a symlink to @persistent',
      cmdline: 'pantheros.rollback=daily/evil',
      setup: (c) => symlinkSync('../../@persistent', c.abs('@snapshots/daily/evil')),
      untouched: ['@snapshots/daily/evil'],
      reason: /symlink/,
    },
    {
      what: 'a snapshot path that is a plain directory',
      cmdline: 'pantheros.rollback=daily/plain',
      setup: (c) => mkdirSync(c.abs('@snapshots/daily/plain')),
      untouched: ['@snapshots/daily/plain'],
    },
    {
      what: 'a snapshot path when @snapshots itself is a symlink (to the archive directory)',
      cmdline: `pantheros.rollback=old_roots/${A2}`,
      setup: (c) => {
        twoBoots(c);
        sh('btrfs', ['subvolume', 'delete', c.abs('@snapshots')]);
        symlinkSync('@btrfs_tmp', c.abs('@snapshots'));
      },
      untouched: ['@snapshots'],
      reason: /symlink/,
    },
    { what: 'a missing snapshot', cmdline: 'pantheros.rollback=daily/20991231T000000Z', reason: /does not exist/ },
    { what: 'a snapshot class directory', cmdline: 'pantheros.rollback=daily' },
    { what: '.pantheros-new-root', cmdline: 'pantheros.rollback=.pantheros-new-root', reason: /hidden/ },
    { what: '.pantheros-next-boot', cmdline: 'pantheros.rollback=.pantheros-next-boot' },
    { what: 'a path into an archive', cmdline: `pantheros.rollback=${A1}/var`, setup: twoBoots },
    {
      what: 'a subvolume nested in a snapshot (class/name/deeper): not a snapshot, though a subvolume',
      cmdline: `pantheros.rollback=daily/${SNAP}/deeper`,
      setup: (c) => {
        c.createSubvolume(`@snapshots/daily/${SNAP}`, { marker: 'another tool\'s snapshot\n' });
        c.createSubvolume(`@snapshots/daily/${SNAP}/deeper`, { marker: 'nested in a snapshot\n' });
      },
      untouched: [`@snapshots/daily/${SNAP}`, `@snapshots/daily/${SNAP}/deeper`],
      reason: /<class>\/<name>/,
    },
  ];

  it.each(refusals)('refused: $what → fresh root from the blank, exit 0, "fell-back" with the reason, nothing outside old_roots changed', ({ cmdline, setup, untouched = [], reason }) => {
    const c = useBootCase(runtime);
    setup?.(c);
    c.write('@root/marker', 'live root\n');
    commit(c);
    const outside = outsideState(c);
    const blank = c.subvolume('@root-blank')!;
    const live = c.subvolume('@root')!;
    const archivesBefore = c.archives().map((n) => [n, c.subvolume(`${OLD_ROOTS}/${n}`)!.id]);
    const links = untouched.map((p) => [p, c.kind(p), c.kind(p) === 'symlink' ? readlinkSync(c.abs(p)) : ls(c, p).join(',')]);
    const r = c.boot(NOW, { cmdline });
    expect(r.code, describeRun(r)).toBe(0);
    const report = r.report!;
    expect(report.result).toBe('fell-back');
    expect(report.exitCode).toBe(0);
    expect(report.target?.origin).toBe('cmdline');
    expect(report.target?.kind).toBe('blank');
    expect(report.target?.refused).toEqual(expect.any(String));
    if (reason) expect(report.target?.refused).toMatch(reason);
    expect(report.warnings.join('\n')).toMatch(/refused/);
    expect(r.stderr).toMatch(/refused/);
    // The normal boot happened: old root archived, new root from the blank.
    expect(report.archived?.name).toBe(A3);
    expect(report.created).toEqual({ path: '@root', from: '@root-blank' });
    expect(c.subvolume(`${OLD_ROOTS}/${A3}`)?.id).toBe(live.id);
    expect(c.read(`${OLD_ROOTS}/${A3}/marker`)).toBe('live root\n');
    expect(ls(c, '@root')).toEqual([]);
    expect(c.image.isReadOnly('@root')).toBe(false);
    // Nothing outside the archive directory changed; no archive lost; what the setup made is as it was.
    expect(outsideState(c)).toEqual(outside);
    expect(c.subvolume('@root-blank')?.id).toBe(blank.id);
    expect(c.image.isReadOnly('@root-blank')).toBe(true);
    expect(c.read('@persistent/marker')).toBe('persistent\n');
    expect(c.archives().filter((n) => n !== A3).map((n) => [n, c.subvolume(`${OLD_ROOTS}/${n}`)!.id])).toEqual(archivesBefore);
    expect(untouched.map((p) => [p, c.kind(p), c.kind(p) === 'symlink' ? readlinkSync(c.abs(p)) : ls(c, p).join(',')])).toEqual(links);
  });
});
