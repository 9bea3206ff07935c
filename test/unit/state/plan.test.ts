import { describe, expect, it } from 'vitest';
import { findViolations, checkPlan } from '../../../src/engine/check.js';
import { numberSteps, type Step, type StepSpec } from '../../../src/engine/plan.js';
import { InternalError } from '../../../src/errors.js';
import { checkStateShape, stateCheckFacts, stateScope } from '../../../src/state/check-facts.js';
import { planState, type StatePlan } from '../../../src/state/plan.js';
import { parseStateSpec, stateParameter } from '../../../src/state/request.js';
import { requestAtBoot } from '../../../src/state/observe.js';
import { config, PG, PG_DIR, PG_SNAP, state, type StateOptions } from './state.js';

const now = new Date('2026-11-26T12:00:00Z');
const PG_UUID = `uuid-${PG}`;
const H1 = PG_SNAP('hourly', '20261126T100000Z');
const H2 = PG_SNAP('hourly', '20261126T110000Z');
const snaps = (extra: Partial<{ places: Record<string, 'stub' | 'missing' | 'directory' | 'file'> }> = {}) => [
  { path: H1, parentUuid: PG_UUID, cgen: 50, ...extra },
  { path: H2, parentUuid: PG_UUID, cgen: 60, ...extra },
];
const plan = (o: StateOptions) => planState(state(o), config, { now });
const actions = (p: StatePlan) =>
  p.steps.map((s) => (s.action === 'rename' ? `rename ${s.from} → ${s.to}` : s.action === 'snapshot' ? `snapshot ${s.source} → ${s.dest}` : s.action === 'delete' ? `delete(${s.purpose}) ${s.items.map((i) => i.path).join(',')}` : s.action === 'remove-stub' || s.action === 'ensure-dir' || s.action === 'remove-file' ? `${s.action} ${s.path}` : s.action));
/** The plan passes the one check unchanged. */
const safe = (o: StateOptions, p: StatePlan) => {
  checkStateShape(p);
  expect(findViolations(p.steps, stateScope(p, config), stateCheckFacts(state(o), p))).toEqual([]);
};
const T = `${PG_DIR}/.pantheros-new-state`;

describe('state request grammar', () => {
  it('reads <class>/<name>, <who>=<class>, <who>=<class>/<name>; refuses anything doubtful', () => {
    expect(parseStateSpec('hourly/@persistent.20261126T100000Z')).toEqual({ ok: { raw: 'hourly/@persistent.20261126T100000Z', who: null, class: 'hourly', name: '@persistent.20261126T100000Z' } });
    expect(parseStateSpec('/var/lib/postgresql=hourly')).toMatchObject({ ok: { who: { kind: 'mount', path: '/var/lib/postgresql' }, class: 'hourly', name: null } });
    expect(parseStateSpec('@persistent/home=daily/x.20261126T000000Z')).toMatchObject({ ok: { who: { kind: 'subvolume', path: '@persistent/home' }, class: 'daily' } });
    for (const [bad, why] of [
      ['hourly', /names a class but not what/],
      ['../x=hourly', /empty, \. or \.\. component/],
      ['-x=hourly', /starts with -/],
      ['a=hourly/../b', /not <class>/],
      ['a=.hidden', /hidden/],
      ['a=hourly/x y', /characters outside/],
      ['=hourly', /no subvolume or mount point/],
      ['a=hourly/', /empty snapshot name/],
    ] as const) {
      expect(parseStateSpec(bad), bad).toMatchObject({ refused: expect.stringMatching(why) });
    }
  });

  it('the kernel command line: the last pantheros.rollback.state= or rd. form wins (quotes), and wins over the request file', () => {
    expect(stateParameter('quiet pantheros.rollback.state=a=hourly rd.pantheros.rollback.state="b=daily,c=daily"')).toEqual({ key: 'rd.pantheros.rollback.state', value: 'b=daily,c=daily' });
    expect(stateParameter('pantheros.rollback=previous')).toBeUndefined();
    expect(requestAtBoot('pantheros.rollback.state=a=hourly', { text: 'b=daily' })).toMatchObject({ origin: 'cmdline', raw: 'a=hourly', warnings: [expect.stringMatching(/ignored/)] });
    expect(requestAtBoot('', { text: 'b=daily' })).toMatchObject({ origin: 'next-boot', raw: 'b=daily' });
    expect(requestAtBoot('', null)).toMatchObject({ raw: null });
  });
});

describe('planState: the swap', () => {
  it('snapshots the snapshot under a temporary name in the archive directory, archives the current one, renames the new one into place, commits', () => {
    const o: StateOptions = { raw: H1.replace('@snapshots/', ''), subvolumes: { [PG]: {} }, snapshots: snaps() };
    const p = plan(o);
    expect(p.result).toBe('ok');
    expect(actions(p)).toEqual([`ensure-dir ${PG_DIR}`, `snapshot ${H1} → ${T}`, `rename ${PG} → ${PG_DIR}/20261126T120000Z`, `rename ${T} → ${PG}`, 'commit']);
    expect(p.rollbacks).toMatchObject([{ subvolume: PG, from: H1, archive: { name: '20261126T120000Z' } }]);
    expect(p.steps.every((s) => s.reason.length > 10)).toBe(true);
    safe(o, p);
  });

  it('ages out archived states beyond the retention for at most oldRoots.ageOutSeconds (an archived state a user filled with subvolumes cannot hold the swaps up)', () => {
    const archives = ['20261001T000000Z', '20261002T000000Z', '20261003T000000Z', '20261004T000000Z', '20261005T000000Z', '20261006T000000Z'].map((name) => ({ name }));
    const o: StateOptions = { raw: '/var/lib/postgresql=hourly', subvolumes: { [PG]: { archives } }, snapshots: snaps() };
    const p = planState(state(o), { ...config, oldRoots: { ...config.oldRoots, ageOutSeconds: 7 } }, { now });
    const del = p.steps.find((s) => s.action === 'delete' && s.purpose === 'age-out');
    expect(del && del.action === 'delete' && del.items.length).toBeGreaterThan(0);
    expect(del && del.action === 'delete' && del.budgetSeconds).toBe(7);
    expect(del?.reason).toMatch(/for at most 7 s \(oldRoots\.ageOutSeconds\)/);
  });

  it('immutable (chattr +i): the subvolume, the directory it is in or its archive directory refuses the request with chattr -i named (each rename would fail with EPERM); an immutable archived state is kept, not aged out', () => {
    const archives = ['20261001T000000Z', '20261002T000000Z', '20261003T000000Z', '20261004T000000Z', '20261005T000000Z', '20261006T000000Z', '20261007T000000Z'].map((name) => ({ name }));
    for (const [fixed, said] of [
      [[PG], new RegExp(`^${PG} is immutable \\(chattr \\+i\\), so ${PG} cannot be swapped; lift it with chattr -i <top>/${PG}$`)],
      [['@persistent/var/lib'], /@persistent\/var\/lib is immutable/],
      [[PG_DIR], new RegExp(`${PG_DIR.replace(/[~]/g, '.')} is immutable`)],
    ] as const) {
      const p = plan({ raw: '/var/lib/postgresql=hourly', subvolumes: { [PG]: { archives, immutable: [...fixed] } }, snapshots: snaps() });
      expect(p.result).toBe('refused');
      expect(p.refused.map((r) => r.reason)).toEqual([expect.stringMatching(said)]);
      expect(p.steps.filter((s) => s.action === 'rename')).toEqual([]);
    }
    // An immutable snapshot: the new state would be immutable too.
    const snap = plan({ raw: '/var/lib/postgresql=hourly', subvolumes: { [PG]: { archives, immutable: snaps().map((x) => x.path) } }, snapshots: snaps() });
    expect(snap.result).toBe('refused');
    expect(snap.refused.map((r) => r.reason)).toEqual([expect.stringMatching(/is immutable \(chattr \+i\), and a snapshot of it would be too/)]);
    const o: StateOptions = { raw: '/var/lib/postgresql=hourly', subvolumes: { [PG]: { archives, immutable: [`${PG_DIR}/20261001T000000Z`] } }, snapshots: snaps() };
    const p = plan(o);
    expect(p.result).toBe('ok');
    expect(p.verdicts.find((v) => v.name === '20261001T000000Z')).toMatchObject({ action: 'keep', reason: expect.stringMatching(/^immutable \(chattr \+i\), so protected: btrfs refuses to delete it/) });
    const aged = p.steps.flatMap((s) => (s.action === 'delete' ? s.items.map((i) => i.path) : []));
    expect(aged.length).toBeGreaterThan(0);
    expect(aged).not.toContain(`${PG_DIR}/20261001T000000Z`);
    safe(o, p);
  });

  it('moves 40 000 nested subvolumes a user made in it over, each once: planned in O(n log n) (review finding H2: every pair was compared, 68 s for 20 000 here and past the test timeout for 40 000, before the swaps at boot)', () => {
    const nested = Array.from({ length: 40_000 }, (_, i) => `${PG}/vartmp/user-subvolume-${i}`);
    const inner = nested.slice(0, 100).map((n) => `${n}/inner`);
    const places = Object.fromEntries([["vartmp", "directory" as const], ...nested.map((n) => [n.slice(PG.length + 1), "missing" as const])]);
    const o: StateOptions = { raw: '/var/lib/postgresql=hourly', subvolumes: { [PG]: { nested: [...inner, ...nested] } }, snapshots: snaps({ places }) };
    const p = plan(o);
    expect(p.result).toBe('ok');
    const renames = p.steps.filter((s) => s.action === 'rename' && s.from.startsWith(`${PG}/`));
    // Only the direct ones move (an inner one goes with the one it is in).
    expect(renames).toHaveLength(40_000);
    expect(renames.some((s) => s.action === 'rename' && s.from.endsWith('/inner'))).toBe(false);
  });

  it('by mount point and class: the newest snapshot of that class by creation generation', () => {
    const o: StateOptions = { raw: '/var/lib/postgresql=hourly', subvolumes: { [PG]: {} }, snapshots: [...snaps(), { path: PG_SNAP('hourly', '20991231T000000Z'), parentUuid: PG_UUID, cgen: 10 }] };
    expect(plan(o).rollbacks[0]?.from).toBe(H2);
    safe(o, plan(o));
  });

  it('moves the nested subvolumes of the current one over, unchanged: stub removed first, deeper ones go with their parent', () => {
    const nested = [`${PG}/16`, `${PG}/16/deeper`, `${PG}/new`];
    const o: StateOptions = { raw: '/var/lib/postgresql=hourly', subvolumes: { [PG]: { nested } }, snapshots: snaps({ places: { '16': 'stub', new: 'missing' } }) };
    const p = plan(o);
    expect(actions(p)).toEqual([`ensure-dir ${PG_DIR}`, `snapshot ${H2} → ${T}`, `remove-stub ${T}/16`, `rename ${PG}/16 → ${T}/16`, `rename ${PG}/new → ${T}/new`, `rename ${PG} → ${PG_DIR}/20261126T120000Z`, `rename ${T} → ${PG}`, 'commit']);
    expect(p.rollbacks[0]?.nested).toEqual(['16', 'new']);
    safe(o, p);
  });

  it('refuses a nested subvolume whose place in the snapshot holds something else, or whose parent is missing there', () => {
    for (const [place, rel, why] of [
      ['directory', 'data', /holds a directory at its place/],
      ['file', 'data', /holds a file at its place/],
      ['missing', 'a/b', /parent directory a is not in/],
    ] as const) {
      const p = plan({ raw: '/var/lib/postgresql=hourly', subvolumes: { [PG]: { nested: [`${PG}/${rel}`] } }, snapshots: snaps({ places: { [rel]: place } }) });
      expect(p.result, place).toBe('refused');
      expect(p.refused[0]?.reason).toMatch(why);
      expect(p.steps).toEqual([]);
    }
  });

  it('several subvolumes in one request: innermost first, one commit', () => {
    const inner = `${PG}/16`;
    const innerSnap = '@snapshots/hourly/@persistent~2fvar~2flib~2fpostgresql~2f16.20261126T110000Z';
    const o: StateOptions = {
      raw: `/var/lib/postgresql=hourly,${inner}=hourly`,
      subvolumes: { [PG]: { nested: [inner] }, [inner]: {} },
      snapshots: [...snaps({ places: { '16': 'stub' } }), { path: innerSnap, parentUuid: `uuid-${inner}`, cgen: 70 }],
    };
    const p = plan(o);
    expect(p.result).toBe('ok');
    expect(p.rollbacks.map((r) => r.subvolume)).toEqual([inner, PG]);
    expect(p.steps.filter((s) => s.action === 'commit')).toHaveLength(1);
    safe(o, p);
  });
});

describe('planState: what is refused (all or nothing)', () => {
  const base = { subvolumes: { [PG]: {}, '@persistent/home': { uuid: 'uuid-home' } }, snapshots: snaps() };
  it.each([
    ['a snapshot named for another subvolume', `@persistent/home=${H1.replace('@snapshots/', '')}`, /its name says it is a snapshot of @persistent\/var\/lib\/postgresql, not of @persistent\/home/],
    ['a snapshot btrfs says is of another subvolume', 'hourly/@persistent~2fvar~2flib~2fpostgresql.20261126T090000Z', /btrfs says it is a snapshot of another subvolume \(parent uuid uuid-home/],
    ['a writable snapshot', 'hourly/@persistent~2fvar~2flib~2fpostgresql.20261126T080000Z', /writable/],
    ['the root', '@root=hourly', /root subvolume: roll it back with pantheros.rollback=/],
    ['the archive directory', '@btrfs_tmp=hourly', /overlaps/],
    ['a class without snapshots of it', '/var/lib/postgresql=weekly', /no weekly snapshot of/],
    ['an unknown class', '/var/lib/postgresql=yearly', /no snapshot class directory @snapshots\/yearly/],
    ['a mount point nobody knows', '/srv/x=hourly', /not a mount point of a subvolume/],
    ['a missing snapshot', 'hourly/@persistent~2fvar~2flib~2fpostgresql.20200101T000000Z', /does not exist/],
    ['not a snapshot name', 'hourly/whatever', /not a snapshot name/],
    ['the same subvolume twice', '/var/lib/postgresql=hourly,@persistent/var/lib/postgresql=daily', /named twice/],
  ])('%s, and with it every other item of the request', (_what, raw, why) => {
    const o: StateOptions = {
      ...base,
      raw: `${raw},@persistent/home=hourly`,
      snapshots: [
        ...snaps(),
        { path: '@snapshots/hourly/@persistent~2fvar~2flib~2fpostgresql.20261126T090000Z', parentUuid: 'uuid-home' },
        { path: '@snapshots/hourly/@persistent~2fvar~2flib~2fpostgresql.20261126T080000Z', parentUuid: PG_UUID, readOnly: false },
        { path: '@snapshots/hourly/@persistent~2fhome.20261126T100000Z', parentUuid: 'uuid-home' },
      ],
    };
    const p = plan(o);
    expect(p.result).toBe('refused');
    expect(p.refused.map((r) => r.reason).join('\n')).toMatch(why);
    expect(p.rollbacks).toEqual([]);
    expect(p.steps).toEqual([]);
  });

  it('a refused request file is still consumed (one boot only), and nothing else happens', () => {
    const o: StateOptions = { raw: '/srv/x=hourly', origin: 'next-boot', requestFile: true, ...base };
    const p = plan(o);
    expect(actions(p)).toEqual(['remove-file @btrfs_tmp/old_state/.pantheros-state-request', 'commit']);
    safe(o, p);
  });

  it('after one rollback, older snapshots of the subvolume are still its own (lineage through the snapshot it was made from)', () => {
    // The current subvolume was made from H2 (a snapshot of the first incarnation); H1 is of that first incarnation too.
    const o: StateOptions = { raw: `${PG}=${H1.replace('@snapshots/', '')}`, subvolumes: { [PG]: { uuid: 'uuid-second', parentUuid: `uuid-snap2` } }, snapshots: [{ path: H1, parentUuid: PG_UUID, cgen: 50 }, { path: H2, uuid: 'uuid-snap2', parentUuid: PG_UUID, cgen: 60 }] };
    expect(plan(o).result).toBe('ok');
    safe(o, plan(o));
  });

  it('a kernel command line request already carried out at an earlier boot is not repeated', () => {
    const o: StateOptions = { raw: H2.replace('@snapshots/', ''), origin: 'cmdline', subvolumes: { [PG]: { uuid: 'uuid-second', parentUuid: 'uuid-snap2' } }, snapshots: [{ path: H2, uuid: 'uuid-snap2', parentUuid: PG_UUID }] };
    const p = plan(o);
    expect(p.already).toHaveLength(1);
    expect(p.steps).toEqual([]);
    expect(p.notices.map((n) => n.fix).join()).toMatch(/remove pantheros.rollback.state=/);
    // From the operator the same request is carried out again (the state written since is archived).
    expect(planState(state({ ...o, origin: 'operator' }), config, { now }).rollbacks).toHaveLength(1);
  });

  it('a mounted subvolume blocks execution, not planning', () => {
    const p = plan({ raw: '/var/lib/postgresql=hourly', subvolumes: { [PG]: { mountedAt: ['/var/lib/postgresql'] } }, snapshots: snaps() });
    expect(p.blockers.join()).toMatch(/mounted at \/var\/lib\/postgresql/);
    expect(p.rollbacks).toHaveLength(1);
  });
});

describe('planState: what an interrupted run left', () => {
  it('subvolume still there: the nested subvolumes moved into the temporary go back, then the temporary goes; then the request is carried out', () => {
    const o: StateOptions = {
      raw: '/var/lib/postgresql=hourly',
      subvolumes: { [PG]: { leftovers: [{ name: '.pantheros-new-state', nested: [`${T}/16`, `${T}/16/deeper`] }], archives: [{ name: '20261120T000000Z' }] } },
      snapshots: snaps({ places: { '16': 'stub' } }),
    };
    const p = plan(o);
    expect(actions(p)).toEqual([
      `rename ${T}/16 → ${PG}/16`,
      `delete(leftover) ${T}`,
      `snapshot ${H2} → ${PG_DIR}/.pantheros-new-state.1`,
      `remove-stub ${PG_DIR}/.pantheros-new-state.1/16`,
      `rename ${PG}/16 → ${PG_DIR}/.pantheros-new-state.1/16`,
      `rename ${PG} → ${PG_DIR}/20261126T120000Z`,
      `rename ${PG_DIR}/.pantheros-new-state.1 → ${PG}`,
      'commit',
    ]);
    expect(p.recovered.join()).toMatch(/after moving 1 nested subvolume\(s\) back/);
    safe(o, p);
  });

  it('subvolume gone (the run had archived it): the temporary takes its place, and needs no request', () => {
    const o: StateOptions = { raw: null, subvolumes: { [PG]: { kind: 'missing', leftovers: [{ name: '.pantheros-new-state', nested: [`${T}/16`], parentUuid: 'uuid-snap2' }], archives: [{ name: '20261126T115900Z' }] } } };
    const p = plan(o);
    expect(actions(p)).toEqual([`rename ${T} → ${PG}`, 'commit']);
    safe(o, p);
  });

  it('a nested subvolume whose place is taken is never deleted with the temporary: the temporary stays, the request is refused', () => {
    const o: StateOptions = { raw: '/var/lib/postgresql=hourly', subvolumes: { [PG]: { leftovers: [{ name: '.pantheros-new-state', nested: [`${T}/16`] }], present: [`${PG}/16`] } }, snapshots: snaps() };
    const p = plan(o);
    expect(p.result).toBe('refused');
    expect(p.steps.some((s) => s.action === 'delete')).toBe(false);
    expect(p.notices.find((n) => n.severity === 'error')?.what).toMatch(/left alone, move it back by hand/);
  });
});

describe('the one check on state plans: each new rule can fail', () => {
  const o: StateOptions = { raw: '/var/lib/postgresql=hourly', subvolumes: { [PG]: { nested: [`${PG}/16`], leftovers: [{ name: '.pantheros-new-state.9', nested: [`${PG_DIR}/.pantheros-new-state.9/x`] }] } }, snapshots: snaps({ places: { '16': 'stub', x: 'missing' } }) };
  const good = plan(o);
  const violations = (specs: StepSpec[]) => findViolations(numberSteps(specs), stateScope(good, config), stateCheckFacts(state(o), good)).map((v) => v.text);
  const snap: StepSpec = { action: 'snapshot', source: H2, dest: T, readOnly: false, reason: 'r' };

  it('the plan as made passes', () => safe(o, good));
  it('a nested move of something that is not a confirmed nested subvolume (a plain directory of the current state)', () => {
    expect(violations([snap, { action: 'rename', from: `${PG}/base`, to: `${T}/base`, reason: 'r' }]).join()).toMatch(/not a nested subvolume confirmed inside/);
  });
  it('a nested move to another place', () => {
    expect(violations([snap, { action: 'remove-stub', path: `${T}/16`, reason: 'r' }, { action: 'rename', from: `${PG}/16`, to: `${T}/17`, reason: 'r' }]).join()).toMatch(/to another place/);
  });
  it('a nested move onto the stub a snapshot left, without removing it', () => {
    expect(violations([snap, { action: 'rename', from: `${PG}/16`, to: `${T}/16`, reason: 'r' }]).join()).toMatch(/is taken/);
  });
  it('deleting a leftover temporary that still holds a nested subvolume moved into it', () => {
    const t = `${PG_DIR}/.pantheros-new-state.9`;
    expect(violations([{ action: 'delete', purpose: 'leftover', items: [{ path: t, reason: 'r', subvolumes: [{ path: t }] }], reason: 'r' }]).join()).toMatch(/x inside it is protected .*live state\) and still there/);
    expect(violations([{ action: 'delete', purpose: 'leftover', items: [{ path: t, reason: 'r', subvolumes: [{ path: `${t}/x` }, { path: t }] }], reason: 'r' }]).join()).toMatch(/is protected/);
  });
  it('putting a temporary in place of a subvolume that exists', () => {
    const t = `${PG_DIR}/.pantheros-new-state.9`;
    expect(violations([{ action: 'rename', from: t, to: PG, reason: 'r' }]).join()).toMatch(/is neither/);
  });
  it('a subvolume renamed away with nothing put in its place is refused by the shape check', () => {
    const bad: StatePlan = { ...good, steps: numberSteps([snap, { action: 'rename', from: PG, to: `${PG_DIR}/x`, reason: 'r' }, { action: 'commit', reason: 'r' }]) as Step[] };
    expect(() => checkStateShape(bad)).toThrow(InternalError);
    expect(() => checkPlan(bad.steps.slice(0, 1), stateScope(good, config), stateCheckFacts(state(o), good))).not.toThrow();
  });
});
