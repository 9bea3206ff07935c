import { describe, expect, it } from 'vitest';
import { planBoot, type Plan } from '../../../src/boot/plan.js';
import { findViolations } from '../../../src/boot/check-plan.js';
import { PreconditionError } from '../../../src/errors.js';
import { config, OLD, state, type StateOptions } from './state.js';

const now = new Date('2026-11-26T12:00:00Z');
const plan = (o: StateOptions = {}, cmdline = '') => planBoot(state(o), config, { cmdline, now });
const actions = (p: Plan) => p.steps.map((s) => (s.action === 'rename' ? `rename ${s.from} → ${s.to}` : s.action === 'snapshot' ? `snapshot ${s.source}` : s.action));
const safe = (o: StateOptions, p: Plan) => expect(findViolations(p, state(o), config)).toEqual([]);

describe('planBoot: normal boot', () => {
  it('makes the new root first, then archives, then renames it into place', () => {
    const o = { archives: ['20261125T000000Z'] };
    const p = plan(o);
    expect(actions(p)).toEqual(['snapshot @root-blank', `rename @root → ${OLD}/20261126T120000Z`, `rename ${OLD}/.pantheros-new-root → @root`]);
    expect(p).toMatchObject({ result: 'ok', archive: { name: '20261126T120000Z' }, created: { path: '@root', from: '@root-blank' }, needsListing: false });
    expect(p.steps.every((s) => s.reason.length > 10)).toBe(true);
    safe(o, p);
  });

  it('creates the archive directory when it is missing', () => {
    const o = { oldRoots: 'missing' as const };
    expect(actions(plan(o))[0]).toBe('ensure-dir');
    safe(o, plan(o));
  });

  it('makes an empty root when there is no blank, and says so', () => {
    const p = plan({ blank: 'missing' });
    expect(p.steps.map((s) => s.action)).toContain('create-subvolume');
    expect(p.created?.from).toBe('an empty subvolume');
    expect(p.warnings.join()).toMatch(/blank @root-blank does not exist/);
  });

  it('warns about a writable blank', () => {
    expect(plan({ blankReadOnly: false }).warnings.join()).toMatch(/not read-only/);
  });

  it('asks for the listing only when something may be deleted', () => {
    const recent = Array.from({ length: 8 }, (_, i) => `202611${String(10 + i)}T000000Z`);
    expect(plan({ archives: recent, listing: false }).needsListing).toBe(false);
    expect(plan({ archives: ['20200101T000000Z', ...recent], listing: false }).needsListing).toBe(true);
  });
});

describe('planBoot: ageing out', () => {
  const old = ['20250101T000000Z', '20250102T000000Z'];
  const recent = ['20261120T000000Z', '20261121T000000Z', '20261122T000000Z', '20261123T000000Z', '20261124T000000Z'];
  it('deletes expired archives deepest first, with nested subvolumes from the one listing', () => {
    const nested = [`${OLD}/${old[0]}/var/lib/machines`, `${OLD}/${old[0]}/var/lib/machines/a`, `${OLD}/${old[0]}/var/lib/machines/a/b`];
    const o = { archives: [...old, ...recent], nested };
    const p = plan(o);
    const del = p.steps.find((s) => s.action === 'delete');
    expect(del && del.action === 'delete' && del.paths).toEqual([
      `${OLD}/${old[1]}`,
      `${OLD}/${old[0]}/var/lib/machines/a/b`,
      `${OLD}/${old[0]}/var/lib/machines/a`,
      `${OLD}/${old[0]}/var/lib/machines`,
      `${OLD}/${old[0]}`,
    ]);
    expect(p.deletions.map((d) => d.path)).toEqual([`${OLD}/${old[1]}`, `${OLD}/${old[0]}`]);
    safe(o, p);
  });

  it('counts the root archived this boot as the newest, even when a hand-placed archive has a later generation', () => {
    // state() gives archives cgen 10.. in order and @root the next one; a late hand-placed snapshot gets more.
    const o = { archives: ['20260101T000000Z', '20260102T000000Z', '20260103T000000Z'] };
    const s = state(o);
    s.listing!.find((x) => x.path === `${OLD}/20260101T000000Z`)!.cgen = 999;
    const p = planBoot(s, { ...config, oldRoots: { keepDays: 30, keepAtLeast: 2 } }, { cmdline: '', now });
    expect(p.verdicts[0]).toMatchObject({ name: '20261126T120000Z', reason: 'archived this boot' });
    expect(p.verdicts[1]).toMatchObject({ name: '20260101T000000Z', action: 'keep' });
    expect(p.deletions.map((d) => d.path)).toEqual([`${OLD}/20260103T000000Z`, `${OLD}/20260102T000000Z`]);
  });

  it('keeps the newest archive before this boot even with keepAtLeast 1 after a long power-off', () => {
    const o = { archives: ['20260101T000000Z', '20260102T000000Z', '20260103T000000Z'] };
    const p = planBoot(state(o), { ...config, oldRoots: { keepDays: 30, keepAtLeast: 1 } }, { cmdline: '', now });
    expect(p.deletions.map((d) => d.path)).toEqual([`${OLD}/20260102T000000Z`, `${OLD}/20260101T000000Z`]);
    expect(p.verdicts.find((v) => v.name === '20260103T000000Z')?.reason).toBe('newest archive before this boot');
    safe(o, p);
  });

  it('keeps a read-only archive, and one whose nested subvolumes sit in a read-only subvolume', () => {
    const nested = [`${OLD}/${old[1]}/ro`, `${OLD}/${old[1]}/ro/child`];
    const o = { archives: [...old, ...recent], nested, readOnly: [`${OLD}/${old[0]}`, `${OLD}/${old[1]}/ro`] };
    const p = plan(o);
    expect(p.deletions).toEqual([]);
    expect(p.verdicts.find((v) => v.name === old[0])?.reason).toMatch(/read-only, so protected/);
    expect(p.verdicts.find((v) => v.name === old[1])?.reason).toMatch(/inside the read-only .*\/ro, which btrfs cannot delete/);
    // A read-only leaf is fine: btrfs deletes read-only subvolumes from a writable parent.
    const q = plan({ ...o, readOnly: [`${OLD}/${old[1]}/ro/child`] });
    expect(q.deletions.map((d) => d.path)).toEqual([`${OLD}/${old[1]}`, `${OLD}/${old[0]}`]);
  });

  it('leaves plain directories and symlinks in the archive directory alone, with a warning', () => {
    const o = { archives: recent, others: [{ name: '20200101T000000Z', kind: 'directory' as const }, { name: '20200102T000000Z', kind: 'symlink' as const }] };
    const p = plan(o);
    expect(p.steps.some((s) => s.action === 'delete')).toBe(false);
    expect(p.warnings.join('\n')).toMatch(/20200101T000000Z is a plain directory.*\n.*20200102T000000Z is a symlink/);
  });

  it('deletes nothing by age when the clock is behind the newest archive', () => {
    const p = planBoot(state({ archives: [...old, ...recent] }), config, { cmdline: '', now: new Date('2024-01-01T00:00:00Z') });
    expect(p.deletions).toEqual([]);
    expect(p.archive?.name).toBe('20261124T000000Z_01');
    expect(p.warnings.join()).toMatch(/clock .* is earlier than the newest archive/);
  });

  it('keeps everything on keep', () => {
    const p = plan({ archives: [...old, ...recent] }, 'pantheros.rollback=keep');
    expect(p).toMatchObject({ result: 'kept', steps: [], deletions: [], archive: null });
  });
});

describe('planBoot: targets', () => {
  const archives = ['20261120T000000Z', '20261121T000000Z'];
  it('previous: snapshots the current root before archiving it; the archive is the reported source', () => {
    const o = { archives };
    const p = plan(o, 'pantheros.rollback=previous');
    expect(actions(p).slice(0, 2)).toEqual(['snapshot @root', `rename @root → ${OLD}/20261126T120000Z`]);
    expect(p.target).toMatchObject({ kind: 'previous', source: `${OLD}/20261126T120000Z`, refused: null });
    safe(o, p);
  });

  it('previous with no root left: the newest archive by generation', () => {
    const p = plan({ archives, root: 'missing' }, 'pantheros.rollback=previous');
    expect(p.target.source).toBe(`${OLD}/20261121T000000Z`);
    expect(p.archive).toBeNull();
  });

  it('an archive by name, protected from ageing out', () => {
    const o = { archives: ['20200101T000000Z', ...archives, '20261122T000000Z', '20261123T000000Z', '20261124T000000Z', '20261125T000000Z'] };
    const p = plan(o, 'pantheros.rollback=20200101T000000Z');
    expect(p.target).toMatchObject({ kind: 'archive', source: `${OLD}/20200101T000000Z` });
    expect(p.verdicts.find((v) => v.name === '20200101T000000Z')).toMatchObject({ action: 'keep', reason: "source of this boot's root" });
    safe(o, p);
  });

  it('a snapshot path under the snapshots directory', () => {
    const kinds = { '@snapshots/daily': 'directory' as const, '@snapshots/daily/@root.20261125T000000Z': 'subvolume' as const };
    const p = plan({ kinds }, 'pantheros.rollback=daily/@root.20261125T000000Z');
    expect(p.target).toMatchObject({ kind: 'snapshot', source: '@snapshots/daily/@root.20261125T000000Z', refused: null });
  });

  it.each([
    ['pantheros.rollback=', /empty value/],
    ['pantheros.rollback=nope', /no archive named "nope"/],
    ['pantheros.rollback=/@persistent', /absolute/],
    ['pantheros.rollback=../@persistent', /\.\./],
    ['pantheros.rollback=daily/../../@persistent', /\.\./],
    ['pantheros.rollback=link', /symlink/],
    ['pantheros.rollback=plain', /plain|directory/],
    ['pantheros.rollback=.pantheros-new-root', /hidden/],
    ['pantheros.rollback=daily/missing', /does not exist/],
    ['pantheros.rollback=evil/x', /symlink/],
    ['pantheros.rollback=$(reboot)', /characters/],
  ])('%s is refused and the normal boot happens', (cmdline, why) => {
    const o = {
      archives,
      others: [{ name: 'link', kind: 'symlink' as const }, { name: 'plain', kind: 'directory' as const }],
      kinds: { '@snapshots/daily': 'directory' as const, '@snapshots/evil': 'symlink' as const },
    };
    const p = plan(o, cmdline);
    expect(p.result).toBe('fell-back');
    expect(p.target.refused).toMatch(why);
    expect(p.created?.from).toBe('@root-blank');
    expect(p.warnings.join()).toMatch(/refused/);
    safe(o, p);
  });

  it('a next-boot request is consumed first and acted on; the command line wins over it', () => {
    const o = { archives, others: [{ name: '.pantheros-next-boot', kind: 'file' as const }], nextBoot: { target: 'previous' } };
    const p = plan(o);
    expect(p.steps[0]).toMatchObject({ action: 'consume-request', path: `${OLD}/.pantheros-next-boot` });
    expect(p.target).toMatchObject({ origin: 'next-boot', kind: 'previous' });
    const q = plan(o, 'pantheros.rollback=blank');
    expect(q.steps[0]?.action).toBe('consume-request');
    expect(q.target).toMatchObject({ origin: 'cmdline', kind: 'blank' });
    expect(q.warnings.join()).toMatch(/ignored/);
  });

  it('keep with the root missing falls back to the previous root', () => {
    const p = plan({ archives, root: 'missing' }, 'pantheros.rollback=keep');
    expect(p.target.source).toBe(`${OLD}/20261121T000000Z`);
    expect(p.result).toBe('ok');
  });
});

describe('planBoot: interrupted runs and broken layouts', () => {
  it('removes a half-made new root and makes it again', () => {
    const o = { archives: ['20261125T000000Z'], others: [{ name: '.pantheros-new-root', kind: 'subvolume' as const }] };
    const p = plan(o);
    expect(actions(p).slice(0, 2)).toEqual(['delete-leftover', 'snapshot @root-blank']);
    expect(p.recovered.join()).toMatch(/interrupted/);
    safe(o, p);
  });

  it('removes a temporary snapshot left by a killed diff, and nothing else that is hidden', () => {
    const o = {
      archives: ['20261125T000000Z'],
      others: [
        { name: '.pantheros-diff-4242', kind: 'subvolume' as const },
        { name: '.hand-made', kind: 'subvolume' as const },
      ],
    };
    const p = plan(o);
    const step = p.steps.find((s) => s.action === 'delete-leftover');
    expect(step && step.action === 'delete-leftover' && step.paths).toEqual([`${OLD}/.pantheros-diff-4242`]);
    safe(o, p);
    step!.action === 'delete-leftover' && step!.paths.push(`${OLD}/.hand-made`);
    expect(findViolations(p, state(o), config).join()).toMatch(/not one of this tool's temporary subvolumes/);
  });

  it('with the root missing, archives nothing and makes a new root', () => {
    const p = plan({ archives: ['20261125T000000Z'], root: 'missing', others: [{ name: '.pantheros-new-root', kind: 'subvolume' as const }] });
    expect(p.archive).toBeNull();
    expect(actions(p)).toEqual(['delete-leftover', 'snapshot @root-blank', `rename ${OLD}/.pantheros-new-root → @root`]);
  });

  it.each<[StateOptions, RegExp]>([
    [{ root: 'directory' }, /@root is a directory, not a subvolume/],
    [{ root: 'symlink' }, /@root is a symlink/],
    [{ mounted: ['/sysroot'] }, /@root is mounted at \/sysroot/],
    [{ oldRoots: 'file' }, /is a file, not a directory/],
    [{ oldRoots: 'symlink' }, /is a symlink, not a directory/],
  ])('refuses %j', (o, why) => {
    expect(() => plan(o)).toThrow(PreconditionError);
    expect(() => plan(o)).toThrow(why);
  });
});

describe('findViolations (the safety check)', () => {
  const o = { archives: ['20200101T000000Z', '20200102T000000Z', '20261124T000000Z'] };
  const base = () => planBoot(state(o), { ...config, oldRoots: { keepDays: 30, keepAtLeast: 1 } }, { cmdline: '', now });

  it('accepts a correct plan', () => {
    expect(findViolations(base(), state(o), config)).toEqual([]);
  });

  it.each<[string, (p: Plan) => void, RegExp]>([
    ['a delete outside the archive directory', (p) => p.steps.push({ n: 99, action: 'delete', paths: ['@persistent'], archives: ['@persistent'], reason: 'x' }), /not strictly inside/],
    ['a delete through ..', (p) => p.steps.push({ n: 99, action: 'delete', paths: [`${OLD}/../x`], archives: [], reason: 'x' }), /not strictly inside/],
    ['a delete of the newest archive', (p) => p.steps.push({ n: 99, action: 'delete', paths: [`${OLD}/20261124T000000Z`], archives: [], reason: 'x' }), /protected/],
    ['a delete of the archive made this boot', (p) => p.steps.push({ n: 99, action: 'delete', paths: [p.archive!.path], archives: [], reason: 'x' }), /protected|not a subvolume in the listing/],
    ['a delete of something not listed', (p) => p.steps.push({ n: 99, action: 'delete', paths: [`${OLD}/20200101T000000Z/plain`], archives: [], reason: 'x' }), /not a subvolume in the listing/],
    ['a parent before its child', (p) => p.steps.push({ n: 99, action: 'delete', paths: [`${OLD}/20200101T000000Z`, `${OLD}/20200101T000000Z/x`], archives: [], reason: 'x' }), /before a subvolume inside it/],
    ['a rename of something else', (p) => p.steps.push({ n: 99, action: 'rename', from: '@persistent', to: '@root', reason: 'x' }), /only @root/],
    ['a snapshot outside the archive directory', (p) => p.steps.push({ n: 99, action: 'snapshot', source: '@root-blank', dest: '@nix', reason: 'x' }), /not the new root/],
    ['a plan without a root', (p) => (p.steps = p.steps.filter((s) => !(s.action === 'rename' && s.to === '@root'))), /without a @root/],
  ])('rejects %s', (_, mutate, why) => {
    const p = base();
    mutate(p);
    expect(findViolations(p, state(o), config).join('\n')).toMatch(why);
  });
});
