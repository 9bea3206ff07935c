// A local user makes tens of thousands of subvolumes in a root's /tmp in seconds (btrfs lets anyone create one where
// they may write). A review (2026-12-02) had 70 000 of them in an archive due to age out: the boot was still planning
// when systemd killed it at 390 s, every boot, so the root was never rolled back. Two loops compared every nested
// subvolume with every other (which to make writable first; the order check). Planned and checked here at 40 000, with
// the results checked in full; before the change this took minutes, past the test's timeout.
import { describe, expect, it } from 'vitest';
import { nearestAncestors } from '../../../src/engine/plan.js';
import { planAndCheckBoot } from '../../../src/boot/run-boot.js';
import { config, OLD, state } from '../boot/state.js';

const now = new Date('2026-11-26T12:00:00Z');
const EXPIRED = '20260901T000000Z';
const recent = ['20261120T000000Z', '20261121T000000Z', '20261122T000000Z', '20261123T000000Z', '20261124T000000Z', '20261125T000000Z'];

describe('nearestAncestors', () => {
  it('finds the nearest listed directory above each path, in tree order (a/b-c sorts between a/b and a/b/x as text)', () => {
    const paths = ['a/b/x', 'a/b-c', 'a', 'a/b', 'a/b-c/y', 'z', 'a/b/x/deep/er', 'ab/c'];
    expect(nearestAncestors(paths)).toEqual([3, 2, -1, 2, 1, -1, 0, -1]);
    expect(nearestAncestors([])).toEqual([]);
    expect(nearestAncestors(['x'])).toEqual([-1]);
  });
});

describe('an archive holding 40 000 subvolumes a user made in its /tmp', { timeout: 30_000 }, () => {
  it('is aged out with every one of them, the read-only holders (and those not known to be writable) made writable first, in a plan the check accepts', () => {
    const tmp = `${OLD}/${EXPIRED}/tmp`;
    // 20 000 side by side, and 10 000 pairs of one inside another (the outer ones hold: made writable first).
    const flat = Array.from({ length: 20_000 }, (_, i) => `${tmp}/s${i}`);
    const outer = Array.from({ length: 10_000 }, (_, i) => `${tmp}/o${i}`);
    const inner = outer.map((o) => `${o}/i`);
    // Half the holders read-only, a tenth of unknown state (a forged line), the rest writable: those need no flag
    // change, a commit each (review finding H1, second round: 10 000 writable holders made writable one by one took
    // the whole age-out before anything was deleted, every boot).
    const readOnly = Object.fromEntries(outer.map((p, i) => [p, i % 2 === 0 ? true : i % 10 === 1 ? null : false]));
    const o = { archives: [EXPIRED, ...recent], nested: { [`${OLD}/${EXPIRED}`]: [...flat, ...outer, ...inner] }, nestedReadOnly: readOnly, cmdline: '' };
    const plan = planAndCheckBoot(state(o), config, now);
    const del = plan.steps.find((s) => s.action === 'delete' && s.purpose === 'age-out');
    expect(del?.action).toBe('delete');
    if (del?.action !== 'delete') return;
    const item = del.items[0]!;
    expect(item.path).toBe(`${OLD}/${EXPIRED}`);
    expect(item.subvolumes).toHaveLength(40_001);
    expect(new Set(item.unlock?.map((u) => u.path))).toEqual(new Set(outer.filter((p) => readOnly[p] !== false)));
    expect(item.unlock).toHaveLength(6_000);
    const at = new Map(item.subvolumes.map((s, i) => [s.path, i]));
    for (const [i, o2] of outer.entries()) expect(at.get(inner[i]!)!).toBeLessThan(at.get(o2)!);
  });

  it('as the source of the next boot (previous), with targetMaxNested raised for it: every one comes back, each after the one it is in', () => {
    const root = '@root';
    const flat = Array.from({ length: 30_000 }, (_, i) => `${root}/tmp/s${i}`);
    const outer = Array.from({ length: 5_000 }, (_, i) => `${root}/tmp/o${i}`);
    const o = { archives: recent, nested: { [root]: [...flat, ...outer, ...outer.map((x) => `${x}/i`)] }, cmdline: 'pantheros.rollback=previous' };
    // By default (targetMaxNested 1 000) such a target is refused; an operator who means it raises the bound.
    expect(planAndCheckBoot(state(o), config, now).target.refused).toMatch(/holds 40000 nested subvolumes, more than targetMaxNested \(1000\)/);
    const plan = planAndCheckBoot(state(o), { ...config, targetMaxNested: 1_000_000 }, now);
    expect(plan.target.refused).toBeNull();
    const snapshots = plan.steps.filter((s) => s.action === 'snapshot');
    expect(snapshots).toHaveLength(40_001);
  });
});
