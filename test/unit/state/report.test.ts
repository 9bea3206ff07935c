import { describe, expect, it } from 'vitest';
import type { BootReport } from '../../../src/boot/report.js';
import { formatStatus } from '../../../src/commands/status.js';
import { buildMetrics } from '../../../src/metrics/collect.js';
import { formatExposition } from '../../../src/metrics/exposition.js';
import type { StateBootReport } from '../../../src/state/boot.js';
import { groupBySubvolume, stateOfReport } from '../../../src/state/list.js';
import { config, PG } from './state.js';

const state: StateBootReport = {
  requested: '/var/lib/postgresql=hourly',
  origin: 'cmdline',
  result: 'ok',
  rolledBack: [{ subvolume: PG, from: '@snapshots/hourly/@persistent~2fvar~2flib~2fpostgresql.20261126T100000Z', archived: { name: '20261126T110000Z', path: '@btrfs_tmp/old_state/@persistent~2fvar~2flib~2fpostgresql/20261126T110000Z' }, nested: ['16'] }],
  refused: [],
  already: [],
  recovered: [],
  deleted: [],
  warnings: [],
  steps: [{ n: 1, action: 'snapshot', reason: 'r', status: 'done', detail: 'x → y' }],
  durationMs: 30,
  error: null,
};

describe('the state rollback in status, metrics and list', () => {
  it('status says what was rolled back, from which snapshot, where the old state was archived (steps only when it failed)', () => {
    const report = { version: 3, result: 'ok', runtime: 'node 20', startedAt: '2026-11-26T11:00:00.000Z', now: '2026-11-26T11:00:00.000Z', durationMs: 1, processMs: 2, spawns: 1, target: null, archived: null, created: null, deleted: [], kept: [], recovered: [], warnings: [], steps: [], state } as unknown as BootReport;
    const text = formatStatus(report, '/run/x');
    expect(text).toContain(`state rollback: ok — requested "/var/lib/postgresql=hourly" (from cmdline)`);
    expect(text).toContain(`rolled back ${PG} to @snapshots/hourly/@persistent~2fvar~2flib~2fpostgresql.20261126T100000Z; the state it had is archived as @btrfs_tmp/old_state/@persistent~2fvar~2flib~2fpostgresql/20261126T110000Z; nested moved over: 16`);
    expect(text).not.toContain('x → y');
    expect(formatStatus({ ...report, state: { ...state, result: 'failed', error: 'boom' } }, '/run/x')).toMatch(/1\. snapshot x → y \[done\][\s\S]*error: boom/);
  });

  it('metrics carry the state result and one series per subvolume rolled back, with its snapshot and archive', () => {
    const lastBoot = { source: 'r', result: 'ok', durationMs: 5, now: '2026-11-26T11:00:00Z', exitCode: 0, warnings: 0, state: stateOfReport(JSON.parse(JSON.stringify(state))) };
    const text = formatExposition(buildMetrics({ now: new Date('2026-11-26T12:00:00Z'), archives: 0, snapshots: [], lastBoot, usage: undefined, deviceStats: [], freePercent: undefined, minFreePercent: 10, archivedStates: [{ subvolume: PG, count: 2 }] }));
    expect(text).toContain('pantheros_last_boot_state_result{result="ok"} 1');
    expect(text).toContain(`pantheros_last_boot_state_rolled_back{subvolume="${PG}",from="${state.rolledBack[0]!.from}",archived="${state.rolledBack[0]!.archived.path}"} 1`);
    expect(text).toContain(`pantheros_archived_states{subvolume="${PG}"} 2`);
    expect(stateOfReport({ result: 3 })).toBeNull();
  });

  it('list groups the snapshots by the subvolume their names encode, then by class, newest first, with archived states', () => {
    const snap = (cls: string, t: string, age: number, excl: number) => ({ class: cls, name: `${cls}/@persistent~2fvar~2flib~2fpostgresql.${t}`, ageSeconds: age, sizeBytes: { exclusive: excl } });
    const list = groupBySubvolume([snap('hourly', '20261126T100000Z', 7200, 10), snap('hourly', '20261126T110000Z', 3600, 20), snap('activation', '20261125T000000Z', 90000, 5)], config, new Map([[PG, [{ name: '20261120T000000Z', path: 'x', ageSeconds: 5 }]]]));
    const pg = list.find((p) => p.subvolume === PG)!;
    expect(pg.mountPoint).toBe('/var/lib/postgresql');
    expect(pg.classes).toEqual([
      { class: 'hourly', count: 2, newest: { name: 'hourly/@persistent~2fvar~2flib~2fpostgresql.20261126T110000Z', ageSeconds: 3600, exclusiveBytes: 20 }, exclusiveBytes: 30 },
      { class: 'activation', count: 1, newest: expect.objectContaining({ ageSeconds: 90000 }), exclusiveBytes: 5 },
    ]);
    expect(pg.archivedStates).toHaveLength(1);
    expect(list.map((p) => p.subvolume)).toContain('@persistent');
  });
});
