import { describe, expect, it } from 'vitest';
import { planBoot, type BootPlan } from '../../../src/boot/plan.js';
import { describeBootPlan } from '../../../src/boot/describe.js';
import { bootCheckFacts, bootScope, checkBootShape } from '../../../src/boot/check-facts.js';
import { checkPlan, findViolations } from '../../../src/engine/check.js';
import type { Step } from '../../../src/engine/plan.js';
import { InternalError, PreconditionError } from '../../../src/errors.js';
import { config, OLD, state, type StateOptions } from './state.js';

const now = new Date('2026-11-26T12:00:00Z');
const plan = (o: StateOptions = {}, c = config) => planBoot(state(o), c, { now });
const actions = (p: BootPlan) =>
  p.steps.map((s) => (s.action === 'rename' ? `rename ${s.from} → ${s.to}` : s.action === 'snapshot' ? `snapshot ${s.source} → ${s.dest}` : s.action === 'delete' ? `delete(${s.purpose}) ${s.items.map((i) => i.path).join(',')}` : s.action));
/** The plan passes the one check unchanged (nothing dropped, nothing refused). */
const safe = (o: StateOptions, p: BootPlan, c = config) => {
  checkBootShape(p, c);
  expect(findViolations(p.steps, bootScope(c), bootCheckFacts(state(o), p, c))).toEqual([]);
};
const warnings = (p: BootPlan) => p.notices.map((n) => `${n.what} ${n.fix}`).join('\n');

describe('planBoot: normal boot', () => {
  it('archives the old root and makes the new one in its place with one snapshot, whose commit carries both: no commit step after it', () => {
    const o = { archives: ['20261125T000000Z'] };
    const p = plan(o);
    expect(actions(p)).toEqual([`rename @root → ${OLD}/20261126T120000Z`, 'snapshot @root-blank → @root']);
    expect(p.steps.at(-1)?.reason).toMatch(/made in a transaction commit that carries the rename before it, so the swap is on disk when it returns/);
    expect(p.newRoot).toBeNull();
    expect(p).toMatchObject({ result: 'ok', archive: { name: '20261126T120000Z' }, created: { path: '@root', from: '@root-blank' }, blockers: [] });
    expect(p.steps.every((s) => s.reason.length > 10)).toBe(true);
    safe(o, p);
  });

  it('creates the archive directory when it (or its parent) is missing', () => {
    for (const o of [{ oldRoots: 'missing' as const }, { oldRoots: 'missing' as const, kinds: { '@btrfs_tmp': 'missing' as const } }]) {
      expect(actions(plan(o))[0]).toBe('ensure-dir');
      safe(o, plan(o));
    }
  });

  it('makes an empty root when there is no blank, and says so as an error', () => {
    const p = plan({ blank: 'missing' });
    expect(p.steps.map((s) => s.action)).toContain('create-subvolume');
    expect(p.created?.from).toBe('an empty subvolume');
    expect(p.notices.find((n) => n.severity === 'error')?.what).toMatch(/blank @root-blank does not exist/);
  });

  it('warns about a writable blank, naming the fix', () => {
    expect(warnings(plan({ blankReadOnly: false }))).toMatch(/not read-only.*btrfs property set -ts <top>\/@root-blank ro true/s);
  });

  it('a mounted root stops execution, not planning: the plan is what the next boot will do', () => {
    const p = plan({ rootMountedAt: ['/'], archives: ['20261125T000000Z'] });
    expect(p.blockers.join()).toMatch(/@root is mounted at \/: this is the running system/);
    expect(actions(p)).toEqual(actions(plan({ archives: ['20261125T000000Z'] })));
  });

  it('a read-only top level stops execution (every step would fail with EROFS); on the running system the mounted root says it first', () => {
    const p = plan({ topWritable: false, archives: ['20261125T000000Z'] });
    expect(p.blockers).toEqual([expect.stringMatching(/the top level \/top is mounted read-only: .*mount -o remount,rw \/top.*--device/)]);
    expect(actions(p)).toEqual(actions(plan({ archives: ['20261125T000000Z'] })));
    expect(plan({ topWritable: false, rootMountedAt: ['/'] }).blockers).toEqual([expect.stringMatching(/this is the running system/)]);
  });

  it('an immutable root, archive directory or directory the root is in (chattr +i) stops execution: the rename fails with EPERM, boot after boot (before: the dry run said fine and the boot failed at step 1)', () => {
    for (const [dirs, said] of [
      [[OLD], /^@btrfs_tmp\/old_roots is immutable \(chattr \+i\): @root cannot be moved to @btrfs_tmp\/old_roots, .*chattr -i <top>\/@btrfs_tmp\/old_roots$/],
      [['@root'], /^@root is immutable/],
      [['', OLD], /^the top level, @btrfs_tmp\/old_roots are immutable .*chattr -i <top> <top>\/@btrfs_tmp\/old_roots$/],
    ] as const) {
      const p = plan({ immutableDirs: [...dirs], archives: ['20261125T000000Z'] });
      expect(p.blockers).toEqual([expect.stringMatching(said)]);
      expect(actions(p)).toEqual(actions(plan({ archives: ['20261125T000000Z'] })));
    }
  });

  it('a read-only root stops execution too (moving it into the archive directory fails with EROFS); on the running system these are said beside the mounted root, and the plan\'s words for the next boot carry them (review revL)', () => {
    const p = plan({ rootReadOnly: true, archives: ['20261125T000000Z'] });
    expect(p.blockers).toEqual([expect.stringMatching(/^@root is read-only \(btrfs property ro\): it cannot be moved to @btrfs_tmp\/old_roots \(EROFS\).*ro false$/)]);
    const live = plan({ rootMountedAt: ['/'], immutableDirs: [OLD], archives: ['20261125T000000Z'] });
    expect(live.blockers).toEqual([expect.stringMatching(/this is the running system/), expect.stringMatching(/is immutable/)]);
    expect(live.refusals).toEqual([expect.stringMatching(/^@btrfs_tmp\/old_roots is immutable/)]);
    expect(describeBootPlan(live, '@root')).toMatch(/; but the boot refuses, changing nothing: @btrfs_tmp\/old_roots is immutable/);
    expect(plan({ archives: ['20261125T000000Z'] }).refusals).toEqual([]);
  });

  it('an immutable source would make an immutable root (a snapshot copies the flag): the blank falls back to an empty subvolume with an error; a target, or one with an immutable nested subvolume, is refused (review revL: the root booted, and nothing could be made in /)', () => {
    const blank = plan({ immutableSources: ['@root-blank'], archives: ['20261125T000000Z'] });
    expect(blank.created).toEqual({ path: '@root', from: 'an empty subvolume' });
    expect(blank.steps.some((s) => s.action === 'create-subvolume' && s.dest === '@root')).toBe(true);
    expect(blank.notices.find((n) => n.severity === 'error')).toMatchObject({ what: expect.stringMatching(/the blank @root-blank is immutable \(chattr \+i\)/), fix: expect.stringMatching(/chattr -i <top>\/@root-blank/) });
    const archives = ['20261120T000000Z', '20261121T000000Z'];
    const a = `${OLD}/${archives[0]}`;
    const target = plan({ archives, cmdline: `pantheros.rollback=${archives[0]}`, immutableSources: [a] });
    expect(target.result).toBe('fell-back');
    expect(target.target.refused).toMatch(new RegExp(`^${a} is immutable \\(chattr \\+i\\), and a snapshot of it would be too.*chattr -i <top>/${a}$`));
    const inner = plan({ archives, cmdline: `pantheros.rollback=${archives[0]}`, nested: { [a]: [`${a}/srv`] }, immutableSources: [`${a}/srv`] });
    expect(inner.target.refused).toMatch(new RegExp(`^${a}/srv \\(in ${a}\\) is immutable`));
    expect(inner.created?.from).toBe('@root-blank');
  });

  it('names the archive with the time of this boot; a name taken in the same second gets _01', () => {
    expect(plan({ archives: ['20261126T120000Z'] }).archive?.name).toBe('20261126T120000Z_01');
    // A wrong clock once wrote a future name: this boot's name still carries this boot's time.
    expect(plan({ archives: ['20991231T000000Z'] }).archive?.name).toBe('20261126T120000Z');
  });

  it('says when the root is the default subvolume', () => {
    expect(plan({ defaultPath: '@root' }).notices.find((n) => n.severity === 'error')?.fix).toMatch(/btrfs subvolume set-default 5/);
  });
});

describe('planBoot: ageing out', () => {
  const old = ['20250101T000000Z', '20250102T000000Z'];
  const recent = ['20261120T000000Z', '20261121T000000Z', '20261122T000000Z', '20261123T000000Z', '20261124T000000Z'];
  it('ages out before the new root is made (a full disk gets the space first), each archive with its nested subvolumes deepest first', () => {
    const a = `${OLD}/${old[0]}`;
    const o = { archives: [...old, ...recent], nested: { [a]: [`${a}/var/lib/machines`, `${a}/var/lib/machines/a`, `${a}/var/lib/machines/a/b`] } };
    const p = plan(o);
    expect(actions(p)[0]).toBe(`delete(age-out) ${OLD}/${old[1]},${OLD}/${old[0]}`);
    const del = p.steps[0]!;
    expect(del.action === 'delete' && del.items.find((i) => i.path === a)?.subvolumes.map((s) => s.path)).toEqual([`${a}/var/lib/machines/a/b`, `${a}/var/lib/machines/a`, `${a}/var/lib/machines`, a]);
    safe(o, p);
  });

  it('gives the age-out oldRoots.ageOutSeconds, and says so: no number of subvolumes in an archive keeps the swap from happening (review finding H1)', () => {
    const o = { archives: [...old, ...recent] };
    for (const seconds of [60, 0.25]) {
      const p = plan(o, { ...config, oldRoots: { ...config.oldRoots, ageOutSeconds: seconds } });
      const del = p.steps[0]!;
      expect(del.action === 'delete' && del.purpose === 'age-out' && del.budgetSeconds).toBe(seconds);
      expect(del.reason).toContain(`for at most ${seconds} s this boot (oldRoots.ageOutSeconds)`);
      safe(o, p);
    }
    // Nothing else a boot deletes has a budget: a half-made new root must go before the new one is made under its name.
    const leftover = plan({ archives: recent, others: [{ name: '.pantheros-new-root', kind: 'subvolume' }] }).steps.find((s) => s.action === 'delete' && s.purpose === 'leftover');
    expect(leftover && leftover.action === 'delete' && leftover.budgetSeconds).toBeUndefined();
  });

  it('counts the root archived this boot as the newest, even when a hand-placed archive has a later generation', () => {
    const p = plan({ archives: [...old, 'hand-made', ...recent], cgens: { 'hand-made': 5000 } }, { ...config, oldRoots: { ...config.oldRoots, keepAtLeast: 2 } });
    expect(p.verdicts[0]).toMatchObject({ name: '20261126T120000Z', reason: 'archived this boot' });
    expect(p.verdicts[1]).toMatchObject({ name: 'hand-made', action: 'keep' });
  });

  it('keeps the newest archive before this boot even with keepAtLeast 1 after a long power-off', () => {
    const o = { archives: ['20250101T000000Z', '20250102T000000Z'] };
    const c = { ...config, oldRoots: { ...config.oldRoots, keepAtLeast: 1 } };
    const p = plan(o, c);
    expect(p.verdicts.find((v) => v.name === '20250102T000000Z')).toMatchObject({ action: 'keep', reason: 'newest archive before this boot' });
    expect(p.deletions.map((d) => d.path)).toEqual([`${OLD}/20250101T000000Z`]);
    safe(o, p, c);
  });

  it.each<[string, StateOptions, RegExp]>([
    ['read-only', { readOnly: [`${OLD}/${old[0]}`] }, /read-only, so protected.*ro false/],
    ['immutable (chattr +i: before 2026-12-02 shown as going, then every boot warned that it stayed)', { immutableArchives: [`${OLD}/${old[0]}`] }, /immutable \(chattr \+i\), so protected: btrfs refuses to delete it \(to let it age out: chattr -i <top>\/@btrfs_tmp\/old_roots\/2025/],
    ['received with btrfs receive', { readOnly: [`${OLD}/${old[0]}`], received: [`${OLD}/${old[0]}`] }, /received with btrfs receive.*refuses to make a received subvolume writable.*btrfs subvolume delete/],
    ['the default subvolume', { defaultPath: `${OLD}/${old[0]}` }, /default subvolume.*refuses to delete it/],
    ['mounted', { mountedPaths: [`${OLD}/${old[0]}/var`] }, /mounted/],
    ['not confirmed by the filesystem', { unconfirmed: [`${OLD}/${old[0]}`] }, /not confirmed as a subvolume/],
  ])('keeps an expired archive that is %s, with the reason, and still ages out the others', (_, extra, why) => {
    const o = { archives: [...old, ...recent], ...extra };
    const p = plan(o);
    expect(p.verdicts.find((v) => v.name === old[0])).toMatchObject({ action: 'keep' });
    expect(p.verdicts.find((v) => v.name === old[0])!.reason).toMatch(why);
    expect(p.deletions.map((d) => d.path)).toEqual([`${OLD}/${old[1]}`]);
    expect(actions(p)).toContain('snapshot @root-blank → @root');
    safe(o, p);
  });

  it.each<[string, boolean | null]>([
    ['read-only', true],
    ['of unknown read-only flag', null],
  ])('an expired archive holding a subvolume inside a %s nested one goes: that one is made writable first (anyone may make their own subvolume read-only)', (_, flag) => {
    const a = `${OLD}/${old[0]}`;
    const o = { archives: [...old, ...recent], nested: { [a]: [`${a}/a`, `${a}/a/b`] }, nestedReadOnly: { [`${a}/a`]: flag } };
    const p = plan(o);
    const item = p.deletions.find((d) => d.path === a);
    expect(item?.unlock).toEqual([{ path: `${a}/a` }]);
    expect(item?.subvolumes.map((s) => s.path)).toEqual([`${a}/a/b`, `${a}/a`, a]);
    safe(o, p);
  });

  it('the one check refuses to make writable a subvolume it does not see below the item', () => {
    const a = `${OLD}/${old[0]}`;
    const o = { archives: [...old, ...recent], nested: { [a]: [`${a}/a`, `${a}/a/b`] } };
    const p = plan(o);
    const step = p.steps[0]!;
    if (step.action !== 'delete') throw new Error('expected the age-out first');
    step.items.find((i) => i.path === a)!.unlock = [{ path: '@persistent' }];
    expect(findViolations(p.steps, bootScope(config), bootCheckFacts(state(o), p, config)).map((v) => v.text).join()).toMatch(/@persistent is made writable but is not a subvolume confirmed below it/);
  });

  it('the default subvolume also gets a notice that names the fix', () => {
    expect(plan({ archives: [...old, ...recent], defaultPath: `${OLD}/${old[0]}` }).notices.map((n) => n.fix).join()).toMatch(/set-default 5/);
  });

  it('below the free-space floor everything beyond keepAtLeast goes, even within keepDays, and the report says why', () => {
    const archives = Array.from({ length: 9 }, (_, i) => `202611${String(10 + i)}T000000Z`);
    const p = plan({ archives, freePercent: 3 });
    expect(p.deletions).toHaveLength(5); // 9 + this boot's = 10 archives, newest 5 stay
    expect(p.verdicts.filter((v) => v.action === 'delete').every((v) => /free space 3.0 % is below oldRoots.minFreePercent \(10 %\)/.test(v.reason))).toBe(true);
    expect(warnings(p)).toMatch(/5 archive\(s\) within keepDays but beyond the newest 5 go this boot/);
    expect(plan({ archives, freePercent: 30 }).deletions).toHaveLength(0);
  });

  it('without subvolume facts (the cheap observation) nothing may be deleted: asking for a deletion is a bug, never a guess', () => {
    expect(plan({ archives: recent, facts: false }).deletions).toEqual([]);
    expect(() => plan({ archives: [...old, ...recent], facts: false })).toThrow(InternalError);
  });
});

describe('planBoot: the clock', () => {
  it('one boot with the clock in 2099: the next boot deletes nothing by age and says why; the boots after it age out again', () => {
    const recent = ['20261120T000000Z', '20261121T000000Z', '20261122T000000Z', '20261123T000000Z', '20261124T000000Z'];
    const first = plan({ archives: ['20250101T000000Z', ...recent, '20991231T000000Z'] });
    expect(first.deletions).toEqual([]);
    expect(warnings(first)).toMatch(/20991231T000000Z is dated after the clock/);
    // Two weeks later, with several right-clock boots after it: the future archive is ranked by generation.
    const later = new Date('2026-12-26T12:00:00Z');
    const after = ['20261201T000000Z', '20261205T000000Z', '20261210T000000Z', '20261215T000000Z', '20261220T000000Z'];
    const p = planBoot(state({ archives: ['20250101T000000Z', ...recent, '20991231T000000Z', ...after] }), config, { now: later });
    expect(p.deletions.map((d) => d.path.split('/').at(-1)).sort()).toEqual(['20250101T000000Z', '20261120T000000Z', '20261121T000000Z', '20261122T000000Z', '20261123T000000Z', '20261124T000000Z']);
    expect(p.verdicts.find((v) => v.name === '20991231T000000Z')).toMatchObject({ action: 'keep', ageFrom: 'generation' });
    expect(p.verdicts.find((v) => v.name === '20991231T000000Z')!.reason).toMatch(/dated in the future .*made before 20261201T000000Z/);
  });

  it('a future archive goes once an archive made after it is older than keepDays', () => {
    const names = ['20991231T000000Z', '20261001T000000Z', '20261002T000000Z', '20261003T000000Z', '20261004T000000Z', '20261005T000000Z'];
    const p = plan({ archives: names });
    expect(p.verdicts.find((v) => v.name === '20991231T000000Z')).toMatchObject({ action: 'delete', ageFrom: 'generation' });
    expect(p.verdicts.find((v) => v.name === '20991231T000000Z')!.reason).toMatch(/older than 30 d \(56.5 d at least\).*dated in the future/);
  });

  it('a future name in the impermanence snippet format is ranked the same way, and warned about', () => {
    expect(warnings(plan({ archives: ['20261120T000000Z', '2099-1-1_00:00:00'] }))).toMatch(/2099-1-1_00:00:00 is dated after the clock/);
  });

  it('a name earlier than an archive made before it (a clock that was behind) is aged from that later time', () => {
    const names = ['20261001T000000Z', '20261002T000000Z', '20000101T000000Z', '20261120T000000Z', '20261121T000000Z', '20261122T000000Z', '20261123T000000Z'];
    const p = plan({ archives: names });
    const v = p.verdicts.find((x) => x.name === '20000101T000000Z')!;
    expect(v.action).toBe('delete');
    expect(v.reason).toMatch(/counted from 20261002T000000Z/);
    expect(v.ageDays).toBeCloseTo(55.5, 1);
  });

  it('a name earlier than its own creation time (the clock was behind when it was archived) is aged from the creation time, also when no older archive is left', () => {
    const names = ['20240101T000000Z', '20261120T000000Z', '20261121T000000Z', '20261122T000000Z', '20261123T000000Z', '20261124T000000Z'];
    const p = plan({ archives: names, otimes: { [`${OLD}/20240101T000000Z`]: '2026-11-18T06:00:00Z' } });
    const v = p.verdicts.find((x) => x.name === '20240101T000000Z')!;
    expect(v.action).toBe('keep');
    expect(v.reason).toMatch(/within keepDays \(8.2 d ≤ 30 d, counted from its creation time 2026-11-18T06:00:00.000Z \(its name is earlier: the clock was behind when it was archived\)\)/);
    // Without the creation time it would look 1 060 days old.
    expect(plan({ archives: names }).verdicts.find((x) => x.name === '20240101T000000Z')!.action).toBe('delete');
  });

  it('when the filesystem is full although nothing was due (metadata), room is made as below the floor: beyond keepAtLeast, oldest first', () => {
    const archives = Array.from({ length: 8 }, (_, i) => `202611${String(15 + i)}T000000Z`);
    const p = plan({ archives, spacePressure: true });
    expect(p.deletions).toHaveLength(4);
    expect(p.verdicts.find((v) => v.action === 'delete')!.reason).toMatch(/the filesystem is full \(no space left to make the new root\): beyond the newest 5/);
  });

  it('a clock that jumps forward deletes beyond keepAtLeast, and the report says plainly why so much went', () => {
    const names = Array.from({ length: 8 }, (_, i) => `2000010${i + 1}T000000Z`);
    const p = planBoot(state({ archives: names }), config, { now: new Date('2040-01-01T00:00:00Z') });
    expect(p.deletions).toHaveLength(4); // 8 archives + this boot's, the newest 5 stay
    expect(warnings(p)).toMatch(/every archive is older than keepDays .* the machine was off for a long time or the clock jumped forward; 4 archive\(s\) go at once/);
  });

  it('the count of what goes at once, and of what goes below the floor, leaves out an archive kept for a fact of its own (read-only, the default subvolume) (review remark R2b)', () => {
    const names = Array.from({ length: 8 }, (_, i) => `2000010${i + 1}T000000Z`);
    const o = { archives: names, readOnly: [`${OLD}/${names[0]}`], defaultPath: `${OLD}/${names[1]}` };
    const p = planBoot(state(o), config, { now: new Date('2040-01-01T00:00:00Z') });
    expect(p.deletions).toHaveLength(2);
    expect(warnings(p)).toMatch(/the clock jumped forward; 2 archive\(s\) go at once/);
    expect(warnings(p)).not.toMatch(/4 archive\(s\) go at once/);
    const floor = planBoot(state({ ...o, freePercent: 3 }), config, { now: new Date('2000-01-09T00:00:00Z') });
    expect(floor.deletions).toHaveLength(2);
    expect(warnings(floor)).toMatch(/below oldRoots.minFreePercent \(10 %\): 2 archive\(s\) within keepDays but beyond the newest 5 go this boot/);
  });
});

describe('planBoot: targets', () => {
  const archives = ['20261120T000000Z', '20261121T000000Z'];
  it('previous: snapshots the current root (and its nested subvolumes, shallowest first) before archiving it', () => {
    const o = { archives, cmdline: 'pantheros.rollback=previous', nested: { '@root': ['@root/var/lib/docker', '@root/var/lib/docker/btrfs/subvolumes/a'] } };
    const p = plan(o);
    const nr = `${OLD}/.pantheros-new-root`;
    expect(actions(p)).toEqual([
      `snapshot @root → ${nr}`,
      'remove-stub',
      `snapshot @root/var/lib/docker → ${nr}/var/lib/docker`,
      'remove-stub',
      `snapshot @root/var/lib/docker/btrfs/subvolumes/a → ${nr}/var/lib/docker/btrfs/subvolumes/a`,
      `rename @root → ${OLD}/20261126T120000Z`,
      `rename ${nr} → @root`,
      'commit',
    ]);
    expect(p.nested).toEqual([
      { path: 'var/lib/docker', from: '@root/var/lib/docker' },
      { path: 'var/lib/docker/btrfs/subvolumes/a', from: '@root/var/lib/docker/btrfs/subvolumes/a' },
    ]);
    expect(p.target).toMatchObject({ kind: 'previous', source: `${OLD}/20261126T120000Z` });
    safe(o, p);
  });

  it('an archive as the target whose age-out was cut short: what the executor had set aside at its top to delete (.pantheros-delete-<pid>-<n>, and what is inside) is not brought back, and a warning says so; a look-alike name is', () => {
    const a = `${OLD}/${archives[0]}`;
    const set = `${a}/.pantheros-delete-4242-0`;
    const o = { archives, cmdline: `pantheros.rollback=${archives[0]}`, nested: { [a]: [`${a}/srv`, set, `${set}/inner`, `${a}/.pantheros-delete-x`] } };
    const p = plan(o);
    expect(p.result).toBe('ok');
    expect(p.nested.map((n) => n.path).sort()).toEqual(['.pantheros-delete-x', 'srv']);
    // Its empty directory in the new root goes (a snapshot leaves one for every nested subvolume); it is not snapshotted.
    const stubs = p.steps.flatMap((s) => (s.action === 'remove-stub' ? [s.path] : []));
    expect(stubs).toContain(`${OLD}/.pantheros-new-root/.pantheros-delete-4242-0`);
    expect(p.steps.some((s) => s.action === 'snapshot' && s.source.startsWith(set))).toBe(false);
    expect(warnings(p)).toMatch(new RegExp(`2 nested subvolume\\(s\\) an age-out cut short had set aside at the top of ${a} to delete \\(\\.pantheros-delete-4242-0/inner, \\.pantheros-delete-4242-0\\) are not brought back`));
    safe(o, p);
  });

  it('a target holding more nested subvolumes than targetMaxNested is refused (one snapshot and commit each: a user fills /tmp with them): a fresh root from the blank, the source untouched (review finding H2)', () => {
    const nested = Array.from({ length: 4 }, (_, i) => `@root/tmp/sv${i}`);
    const o = { archives, cmdline: 'pantheros.rollback=previous', nested: { '@root': nested } };
    const refused = plan(o, { ...config, targetMaxNested: 3 });
    expect(refused.result).toBe('fell-back');
    // Named as it is after this boot, with the target that boots it then (review finding M1: it named the new @root).
    expect(refused.target.refused).toMatch(new RegExp(`^${OLD}/20261126T120000Z \\(@root of the previous boot, archived by this boot\\) holds 4 nested subvolumes, more than targetMaxNested \\(3\\).*then ask for pantheros\\.rollback=20261126T120000Z$`));
    expect(actions(refused)).toEqual([`rename @root → ${OLD}/20261126T120000Z`, `snapshot @root-blank → @root`]);
    expect(warnings(refused)).toMatch(/refused: .*20261126T120000Z .*holds 4 nested subvolumes.*booting a fresh root from @root-blank instead/);
    safe(o, refused, { ...config, targetMaxNested: 3 });
    // At the limit it comes back whole; an archive or a snapshot as the target is bounded the same way.
    const whole = plan(o, { ...config, targetMaxNested: 4 });
    expect(whole.result).toBe('ok');
    expect(whole.nested).toHaveLength(4);
    const a = `${OLD}/${archives[0]}`;
    const named = plan({ archives, cmdline: `pantheros.rollback=${archives[0]}`, nested: { [a]: [`${a}/srv`, `${a}/tmp`] } }, { ...config, targetMaxNested: 1 });
    expect(named.target.refused).toMatch(/holds 2 nested subvolumes, more than targetMaxNested \(1\)/);
    expect(config.targetMaxNested).toBe(1000);
  });

  it('previous with no root left: the newest archive by generation, with its nested subvolumes', () => {
    const a = `${OLD}/20261120T000000Z`;
    const p = plan({ archives, root: 'missing', cgens: { '20261120T000000Z': 99 }, cmdline: 'pantheros.rollback=previous', nested: { [a]: [`${a}/srv`] } });
    expect(p.target.source).toBe(a);
    expect(p.nested).toEqual([{ path: 'srv', from: `${a}/srv` }]);
  });

  it('an archive by name, protected from ageing out', () => {
    const names = ['20200101T000000Z', ...Array.from({ length: 6 }, (_, i) => `2026112${i}T000000Z`)];
    const o = { archives: names, cmdline: 'pantheros.rollback=20200101T000000Z' };
    const p = plan(o);
    expect(p.target).toMatchObject({ kind: 'archive', source: `${OLD}/20200101T000000Z` });
    expect(p.verdicts.find((v) => v.name === '20200101T000000Z')?.reason).toMatch(/source of this boot's root/);
    safe(o, p);
  });

  it('a snapshot of the root under the snapshots directory; a snapshot of @persistent is refused, naming the state rollback', () => {
    const kinds = { '@snapshots/daily': 'directory' as const, '@snapshots/daily/@root.20261125T000000Z': 'subvolume' as const, '@snapshots/daily/@persistent.20261125T000000Z': 'subvolume' as const };
    expect(plan({ kinds, cmdline: 'pantheros.rollback=daily/@root.20261125T000000Z' }).target).toMatchObject({ kind: 'snapshot', source: '@snapshots/daily/@root.20261125T000000Z', refused: null });
    const p = plan({ kinds, cmdline: 'pantheros.rollback=daily/@persistent.20261125T000000Z' });
    expect(p.result).toBe('fell-back');
    expect(p.target.refused).toMatch(/snapshot of @persistent, not of the root @root: that is service state, rolled back with a state rollback/);
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
    ['pantheros.rollback=20261121T000000Z', /not confirmed as a subvolume/],
    // A subvolume inside a snapshot is not a snapshot, even when it is one (a nested subvolume of a root's snapshot).
    ['pantheros.rollback=daily/@root.20261125T000000Z/var/lib/machines', /<class>\/<name>: a deeper path/],
    ['pantheros.rollback=daily/x/@root.20261125T000000Z', /<class>\/<name>: a deeper path/],
  ])('%s is refused and the normal boot happens', (cmdline, why) => {
    const o: StateOptions = {
      archives,
      others: [{ name: 'link', kind: 'symlink' }, { name: 'plain', kind: 'directory' }],
      kinds: {
        '@snapshots/daily': 'directory',
        '@snapshots/evil': 'symlink',
        '@snapshots/daily/@root.20261125T000000Z': 'subvolume',
        '@snapshots/daily/@root.20261125T000000Z/var': 'directory',
        '@snapshots/daily/@root.20261125T000000Z/var/lib': 'directory',
        '@snapshots/daily/@root.20261125T000000Z/var/lib/machines': 'subvolume',
        '@snapshots/daily/x': 'directory',
        '@snapshots/daily/x/@root.20261125T000000Z': 'subvolume',
      },
      unconfirmed: [`${OLD}/20261121T000000Z`],
      cmdline,
    };
    const p = plan(o);
    expect(p.result).toBe('fell-back');
    expect(p.target.refused).toMatch(why);
    expect(p.created?.from).toBe('@root-blank');
    expect(warnings(p)).toMatch(/refused/);
    safe(o, p);
  });

  it('a next-boot request is removed once the new root is in place, in the final commit (a transaction btrfs commits between two steps can never hold the removal without the new root); the command line wins over it', () => {
    const o = { archives, request: { target: 'previous' } };
    const p = plan(o);
    expect(actions(p)).toEqual([`rename @root → ${OLD}/20261126T120000Z`, `snapshot ${OLD}/20261126T120000Z → @root`, 'remove-file', 'commit']);
    // With nested subvolumes to bring back (the new root assembled under a temporary name): after the second rename.
    const n = plan({ ...o, nested: { '@root': ['@root/var/lib/machines'] } });
    expect(n.steps.map((s) => s.action).slice(-4)).toEqual(['rename', 'rename', 'remove-file', 'commit']);
    expect(p.target).toMatchObject({ origin: 'next-boot', kind: 'previous' });
    const q = plan({ ...o, cmdline: 'pantheros.rollback=blank' });
    expect(q.steps.map((s) => s.action)).toContain('remove-file');
    expect(q.target).toMatchObject({ origin: 'cmdline', kind: 'blank' });
    expect(warnings(q)).toMatch(/ignored/);
    safe(o, p);
  });

  it('keep changes nothing (a pending request is removed and committed); with the root missing it falls back to the previous root', () => {
    expect(plan({ archives, cmdline: 'pantheros.rollback=keep' }).steps).toEqual([]);
    expect(actions(plan({ archives, request: { target: 'keep' } }))).toEqual(['remove-file', 'commit']);
    const p = plan({ archives, root: 'missing', cmdline: 'pantheros.rollback=keep' });
    expect(p.target.source).toBe(`${OLD}/20261121T000000Z`);
    expect(p.result).toBe('ok');
  });
});

describe('planBoot: interrupted runs and broken layouts', () => {
  it('removes a half-made new root (with what a previous boot restored into it) and makes the new root under a free name', () => {
    const nr = `${OLD}/.pantheros-new-root`;
    const o = { archives: ['20261125T000000Z'], others: [{ name: '.pantheros-new-root', kind: 'subvolume' as const }], nested: { [nr]: [`${nr}/var/lib/docker`] } };
    const p = plan(o);
    expect(actions(p).slice(0, 3)).toEqual([`delete(leftover) ${nr}`, `rename @root → ${OLD}/20261126T120000Z`, 'snapshot @root-blank → @root']);
    expect(p.steps[0]!.action === 'delete' && p.steps[0]!.items[0]!.subvolumes.map((s) => s.path)).toEqual([`${nr}/var/lib/docker`, nr]);
    expect(p.recovered.join()).toMatch(/interrupted/);
    safe(o, p);
  });

  it('removes a temporary snapshot left by a killed diff, and nothing else that is hidden', () => {
    const o = { archives: ['20261125T000000Z'], others: [{ name: '.pantheros-diff-4242', kind: 'subvolume' as const }, { name: '.hand-made', kind: 'subvolume' as const }] };
    const p = plan(o);
    expect(actions(p)[0]).toBe(`delete(leftover) ${OLD}/.pantheros-diff-4242`);
    safe(o, p);
  });

  it('with the root missing, archives nothing and makes a new root', () => {
    const p = plan({ archives: ['20261125T000000Z'], root: 'missing' });
    expect(p.archive).toBeNull();
    expect(actions(p)).toEqual(['snapshot @root-blank → @root']);
  });

  it('ends with a commit step whenever the snapshot of the root is not the last change: a request removed after it, an empty root created', () => {
    const last = (p: ReturnType<typeof plan>) => p.steps.slice(-2).map((s) => s.action);
    expect(last(plan({ archives: ['20261125T000000Z'], request: { target: '20261125T000000Z' } }))).toEqual(['remove-file', 'commit']);
    expect(last(plan({ blank: 'missing' }))).toEqual(['create-subvolume', 'commit']);
  });

  it.each<[StateOptions, RegExp]>([
    [{ root: 'directory' }, /@root is a directory, not a subvolume/],
    [{ root: 'symlink' }, /@root is a symlink/],
    [{ oldRoots: 'file' }, /is a file, not a directory/],
    [{ oldRoots: 'symlink' }, /is a symlink, not a directory/],
    [{ kinds: { '@btrfs_tmp': 'symlink' }, oldRoots: 'missing' }, /@btrfs_tmp is a symlink/],
  ])('refuses %j', (o, why) => {
    expect(() => plan(o)).toThrow(PreconditionError);
    expect(() => plan(o)).toThrow(why);
  });

  it('leaves plain directories, symlinks and odd entries in the archive directory alone, with a warning each', () => {
    const p = plan({ others: [{ name: '20200101T000000Z', kind: 'directory' }, { name: 'x', kind: 'symlink' }, { name: 'f', kind: 'file' }] });
    expect(warnings(p)).toMatch(/plain directory.*\n.*symlink.*\n.*file/);
    expect(p.deletions).toEqual([]);
  });

  it('removes the temporaries of an interrupted write of the request or the report copy (a power cut before the rename), and only those', () => {
    // writeFileAtomic puts a '.' before the file's own name, so a dot-file's temporary starts with '..'.
    const temporaries = ['..pantheros-next-boot.pantheros-tmp-812-k3j9x0aq', '..pantheros-last-report.json.pantheros-tmp-1-0'];
    const lookalikes = [
      { name: '..pantheros-last-report.json.pantheros-tmp-1-0', kind: 'symlink' as const },
      { name: '.pantheros-next-boot.pantheros-tmp-812-k3j9x0aq', kind: 'file' as const },
      { name: '..other.json.pantheros-tmp-1-abc', kind: 'file' as const },
      { name: '..pantheros-next-boot.pantheros-tmp-x-abc', kind: 'file' as const },
      { name: '..pantheros-next-boot.pantheros-tmp-1-abc/', kind: 'file' as const },
      { name: '..pantheros-next-boot.pantheros-tmp-1-Abc', kind: 'file' as const },
      { name: '..pantheros-next-boot.pantheros-tmp-1-abc', kind: 'directory' as const },
    ];
    const p = plan({ archives: ['20261120T000000Z'], others: [...temporaries.map((name) => ({ name, kind: 'file' as const })), ...lookalikes.slice(1)] });
    const removed = p.steps.filter((s) => s.action === 'remove-file').map((s) => (s as { path: string }).path);
    expect(removed).toEqual(temporaries.map((t) => `${OLD}/${t}`));
    expect(p.recovered.join('\n')).toMatch(/interrupted write of \.pantheros-next-boot/);
    // Before the swap (the snapshot, which commits); the one check accepts them, and refuses a lookalike the planner would never name.
    expect(Math.max(...p.steps.flatMap((s, i) => (s.action === 'remove-file' ? [i] : [])))).toBeLessThan(p.steps.findIndex((s) => s.action === 'snapshot'));
    expect(p.steps.at(-1)).toMatchObject({ action: 'snapshot', dest: '@root' });
    const facts = bootCheckFacts(state({ others: temporaries.map((name) => ({ name, kind: 'file' as const })) }), p, config);
    expect(findViolations(p.steps, bootScope(config), facts)).toEqual([]);
    // The check judges names (the executor unlinks, which a directory or symlink of a good name would not let it follow).
    for (const l of lookalikes.filter((x) => x.kind === 'file')) {
      const bad = findViolations([{ n: 1, action: 'remove-file', path: `${OLD}/${l.name}`, reason: 'x' }], bootScope(config), facts);
      expect(bad.map((x) => x.text).join(), l.name).toMatch(/neither a file this plan owns nor the temporary/);
    }
  });

  it('warns about a key on the kernel command line that looks like ours but is not, naming the nearest', () => {
    const p = plan({ cmdline: 'pantheros.rollbak=previous' });
    expect(warnings(p)).toMatch(/unknown kernel command line key "pantheros.rollbak" is ignored \(did you mean pantheros.rollback\?\)/);
    expect(p.target.kind).toBe('blank');
  });

  it('passes the notes of the subvolume listing on as warnings', () => {
    expect(warnings(plan({ notes: ['2 lines of the subvolume listing name @snapshots/daily/x'] }))).toMatch(/2 lines of the subvolume listing/);
  });
});

describe('the one check on boot plans', () => {
  const o = { archives: ['20200101T000000Z', '20200102T000000Z', '20261124T000000Z'] };
  const c = { ...config, oldRoots: { ...config.oldRoots, keepAtLeast: 1 } };
  const base = () => planBoot(state(o), c, { now });
  const judge = (steps: Step[]) => findViolations(steps, bootScope(c), bootCheckFacts(state(o), base(), c));
  const del = (path: string, subvolumes = [path]): Step => ({ n: 99, action: 'delete', purpose: 'age-out', items: [{ path, reason: 'x', subvolumes: subvolumes.map((p) => ({ path: p })) }], reason: 'x' });

  it('accepts the planner plan', () => {
    expect(judge(base().steps)).toEqual([]);
  });

  it.each<[string, Step, RegExp]>([
    ['a delete outside the archive directory', del('@persistent'), /not directly inside/],
    ['a delete through ..', del(`${OLD}/../x`), /not directly inside/],
    ['a delete of the newest archive', del(`${OLD}/20261124T000000Z`), /protected \(the newest archive/],
    ['a delete of something not confirmed', del(`${OLD}/nothing`), /not a subvolume confirmed/],
    ['a nested path that was not confirmed below it', del(`${OLD}/20200101T000000Z`, [`${OLD}/20200101T000000Z/plain`, `${OLD}/20200101T000000Z`]), /not a subvolume confirmed below it/],
    ['a parent before its child', del(`${OLD}/20200101T000000Z`, [`${OLD}/20200101T000000Z`, `${OLD}/20200101T000000Z/x`]), /the item itself must be deleted last|comes before a subvolume inside it/],
    ['a rename of something else', { n: 99, action: 'rename', from: '@persistent', to: '@root', reason: 'x' }, /neither/],
    ['a snapshot outside the archive directory', { n: 99, action: 'snapshot', source: '@root-blank', dest: '@nix', readOnly: false, reason: 'x' }, /not directly inside/],
    ['a snapshot over an existing archive', { n: 99, action: 'snapshot', source: '@root-blank', dest: `${OLD}/20200101T000000Z`, readOnly: false, reason: 'x' }, /already exists/],
    ['removing another file', { n: 99, action: 'remove-file', path: `${OLD}/20200101T000000Z`, reason: 'x' }, /neither a file this plan owns/],
    ['a stub removed outside a new subvolume', { n: 99, action: 'remove-stub', path: '@persistent/x', reason: 'x' }, /not inside a subvolume this plan made/],
  ])('finds %s', (_, step, why) => {
    expect(judge([...base().steps, step]).map((v) => v.text).join('\n')).toMatch(why);
  });

  it('drops a refused delete item (kept, with the reason) and keeps the rest of the plan; any other violation refuses the whole plan', () => {
    const steps = [del(`${OLD}/20261124T000000Z`), ...base().steps.map((s) => ({ ...s, n: s.n + 1 }))];
    steps[0]!.n = 1;
    const r = checkPlan(steps, bootScope(c), bootCheckFacts(state(o), base(), c));
    expect(r.dropped.map((d) => d.path)).toEqual([`${OLD}/20261124T000000Z`]);
    expect(r.steps.map((s) => s.action)).toEqual(base().steps.map((s) => s.action));
    expect(() => checkPlan([...base().steps, { n: 99, action: 'rename', from: '@nix', to: '@root', reason: 'x' }], bootScope(c), bootCheckFacts(state(o), base(), c))).toThrow(InternalError);
  });

  it('refuses a new root made in the place of one that has not been renamed away', () => {
    const p = base();
    const steps: Step[] = [{ n: 1, action: 'snapshot', source: '@root-blank', dest: '@root', readOnly: false, reason: 'x' }, ...p.steps.map((s) => ({ ...s, n: s.n + 1 }))];
    expect(judge(steps).map((v) => v.text).join()).toMatch(/@root is made while the @root it replaces is still there/);
  });

  it('a boot plan must end with a root in place, committed: by a commit step or by the snapshot that made the root', () => {
    const p = base();
    expect(() => checkBootShape(p, c)).not.toThrow();
    expect(() => checkBootShape({ ...p, steps: p.steps.filter((s) => !(s.action === 'snapshot' && s.dest === '@root')) }, c)).toThrow(/ends without a @root/);
    // Anything after the snapshot needs a commit after it: a removal, a rename.
    const snapshot = p.steps.find((s) => s.action === 'snapshot')!;
    const removal: Step = { n: 9, action: 'remove-file', path: `${OLD}/.pantheros-next-boot`, reason: 'x' };
    expect(() => checkBootShape({ ...p, steps: [...p.steps, removal] }, c)).toThrow(/not followed by a commit/);
    expect(() => checkBootShape({ ...p, steps: [...p.steps, removal, { n: 10, action: 'commit', reason: 'x' }] }, c)).not.toThrow();
    // A snapshot elsewhere than the root (a nested subvolume, a temporary new root) does not commit the swap's rename into place.
    const assembled: Step[] = [{ ...snapshot, dest: `${OLD}/.pantheros-new-root` } as Step, { n: 3, action: 'rename', from: `${OLD}/.pantheros-new-root`, to: '@root', reason: 'x' }];
    expect(() => checkBootShape({ ...p, steps: assembled }, c)).toThrow(/not followed by a commit/);
    expect(() => checkBootShape({ ...p, steps: [...assembled, { ...snapshot, n: 4, source: '@root-blank', dest: `@root/var/lib/x` } as Step] }, c)).toThrow(/not followed by a commit/);
    // create-subvolume is followed by its own commit step.
    expect(() => checkBootShape({ ...p, steps: [{ n: 1, action: 'create-subvolume', dest: '@root', reason: 'x' }] }, c)).toThrow(/not followed by a commit/);
  });
});
