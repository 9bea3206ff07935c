// The order of a state plan's steps decides what a power cut can leave (issue 13's finding, here for the state
// rollback): creating a snapshot commits the btrfs transaction, so anything planned before a snapshot is on disk
// before the swap is. Found by the power-cut test (test/powercut, "state rollback of @persistent from a next-boot
// request"): the request file was removed before the snapshot, and a cut between the snapshot's commit and the
// swap's lost the request with @persistent not rolled back (2 of 24 FLUSH/FUA points).
import { describe, expect, it } from 'vitest';
import { findViolations } from '../../../src/engine/check.js';
import { checkStateShape, stateCheckFacts, stateScope } from '../../../src/state/check-facts.js';
import { planState } from '../../../src/state/plan.js';
import { config, PG, PG_SNAP, state, type StateOptions } from './state.js';

const now = new Date('2026-11-26T12:00:00Z');
const REQUEST = '@btrfs_tmp/old_state/.pantheros-state-request';
const INNER = `${PG}/16`;
const INNER_SNAP = '@snapshots/hourly/@persistent~2fvar~2flib~2fpostgresql~2f16.20261126T110000Z';
const H2 = PG_SNAP('hourly', '20261126T110000Z');

/** A request file for two subvolumes, one nested in the other (each with its own snapshot). */
const twoFromRequest = (origin: 'next-boot' | 'cmdline'): StateOptions => ({
  raw: `${PG}=hourly,${INNER}=hourly`,
  origin,
  requestFile: true,
  subvolumes: { [PG]: { nested: [INNER, `${PG}/other`] }, [INNER]: {} },
  snapshots: [
    { path: H2, parentUuid: `uuid-${PG}`, cgen: 60, places: { '16': 'stub', other: 'stub' } },
    { path: INNER_SNAP, parentUuid: `uuid-${INNER}`, cgen: 70 },
  ],
});

describe('planState: what a power cut can leave', () => {
  it.each(['next-boot', 'cmdline'] as const)('every snapshot comes before the first change the swap makes, and the consumed request (%s) goes with the renames, in the one commit', (origin) => {
    const o = twoFromRequest(origin);
    const p = planState(state(o), config, { now });
    expect(p.result).toBe('ok');
    const at = (pred: (a: string) => boolean) => p.steps.filter((s) => pred(s.action)).map((s) => s.n);
    const snapshots = at((a) => a === 'snapshot');
    const changes = at((a) => a === 'rename' || a === 'remove-stub' || a === 'remove-file');
    const [commit] = at((a) => a === 'commit');
    expect(snapshots).toHaveLength(2);
    // Nothing after the last snapshot is committed before the commit step: the request removal, the stub removals
    // and every rename reach the disk together.
    expect(Math.max(...snapshots)).toBeLessThan(Math.min(...changes));
    expect(p.steps.find((s) => s.action === 'remove-file')).toMatchObject({ path: REQUEST });
    expect(Math.max(...changes)).toBeLessThan(commit!);
    expect(p.steps.at(-1)?.action).toBe('commit');
    // The same plan still passes the one check.
    checkStateShape(p);
    expect(findViolations(p.steps, stateScope(p, config), stateCheckFacts(state(o), p))).toEqual([]);
  });
});
