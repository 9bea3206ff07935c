import { describe, expect, it } from 'vitest';
import type { BootReport } from '../../src/boot/report.js';
import { formatStatus, headline } from '../../src/commands/status.js';
import { describeBootPlan } from '../../src/boot/describe.js';
import { planBoot } from '../../src/boot/plan.js';
import { config, state } from './boot/state.js';

function report(change: Partial<BootReport> = {}): BootReport {
  return {
    version: 3,
    tool: 'pantheros-rollback 0.1.0',
    runtime: 'node 20.20.2',
    startedAt: '2026-11-26T06:32:51.000Z',
    now: '2026-11-26T06:32:51.000Z',
    durationMs: 12.5,
    processMs: 80,
    spawns: 3,
    result: 'ok',
    dryRun: false,
    stage1: true,
    device: '/dev/vda2',
    target: { requested: null, origin: 'default', kind: 'blank', source: null, refused: null },
    archived: { name: '20261126T063251Z', path: '@btrfs_tmp/old_roots/20261126T063251Z' },
    created: { path: '@root', from: '@root-blank' },
    nested: [],
    deleted: [{ path: '@btrfs_tmp/old_roots/20261001T000000Z', reason: 'older than 30 d (56 d) and beyond the newest 5', subvolumes: ['@btrfs_tmp/old_roots/20261001T000000Z'] }],
    kept: [{ name: '20261126T063251Z', reason: 'archived this boot' }],
    recovered: [],
    warnings: [],
    steps: [{ n: 1, action: 'snapshot', reason: 'r', status: 'done', detail: '@root-blank → x' }],
    space: { totalBytes: 100, freeBytes: 40, freePercent: 40, minFreePercent: 10 },
    blockers: [],
    error: null,
    exitCode: 0,
    state: null,
    ...change,
  };
}

describe('status headline', () => {
  it.each<[string, Partial<BootReport>, RegExp]>([
    ['ok', {}, /^Last boot: OK — new root from @root-blank; previous root archived as 20261126T063251Z$/],
    [
      'fell back',
      { result: 'fell-back', target: { requested: 'x', origin: 'cmdline', kind: 'blank', source: null, refused: 'no archive named "x" in @btrfs_tmp/old_roots' } },
      /^Last boot: FELL BACK — pantheros\.rollback="x" \(from cmdline\) refused: no archive named "x"/,
    ],
    ['kept', { result: 'kept', archived: null, created: null }, /^Last boot: KEPT — /],
    ['failed', { result: 'failed', error: 'btrfs subvolume snapshot exited 1: No space left on device', exitCode: 1 }, /^Last boot: FAILED — btrfs subvolume snapshot exited 1: No space left/],
    ['refused', { result: 'refused', error: '@root is mounted at /sysroot (nothing was changed)', exitCode: 3 }, /^Last boot: REFUSED — the rollback did not run: @root is mounted/],
    // The root's part OK, the state rollback not carried out: the headline says both (before: only "OK").
    [
      'ok, state refused',
      { state: { requested: '/var/lib/pg=hourly', origin: 'cmdline', result: 'refused', rolledBack: [], refused: [], already: [], recovered: [], deleted: [], warnings: [], steps: [], durationMs: 1, error: 'not carried out: @persistent/var/lib/pg is mounted at /x' } },
      /^Last boot: OK — new root from @root-blank; previous root archived as 20261126T063251Z; state rollback REFUSED: not carried out: @persistent\/var\/lib\/pg is mounted at \/x$/,
    ],
    [
      'ok, state request refused by the plan',
      { state: { requested: 'x=hourly', origin: 'next-boot', result: 'refused', rolledBack: [], refused: [{ spec: 'x=hourly', reason: 'no such subvolume' }], already: [], recovered: [], deleted: [], warnings: [], steps: [], durationMs: 1, error: null } },
      /; state rollback REFUSED: x=hourly: no such subvolume$/,
    ],
  ])('%s', (_, change, expected) => {
    expect(headline(report(change))).toMatch(expected);
  });

  it('lists deletions with reasons, warnings and the duration; steps only when it failed', () => {
    const text = formatStatus(report({ warnings: ['blank is not empty'] }), '/run/pantheros-rollback/report.json');
    expect(text).toContain('@btrfs_tmp/old_roots/20261001T000000Z: older than 30 d (56 d) and beyond the newest 5');
    expect(text).toContain('    blank is not empty');
    expect(text).toContain('rollback took 12.5 ms (3 processes');
    expect(text).not.toContain('steps:');
    expect(formatStatus(report({ result: 'failed', error: 'e' }), 'f')).toContain('1. snapshot @root-blank → x [done]');
  });
});

describe('the next boot in words (next-boot, list)', () => {
  const now = new Date('2026-11-26T12:00:00Z');
  const archives = ['20261120T000000Z', '20261126T063251Z'];
  it.each<[string, RegExp]>([
    ['', /@root is archived as @btrfs_tmp\/old_roots\/20261126T120000Z; the new @root is a writable snapshot of @root-blank$/],
    ['pantheros.rollback=off', /left as it is/],
    ['pantheros.rollback=previous', /new @root is a writable snapshot of @btrfs_tmp\/old_roots\/20261126T120000Z/],
    ['pantheros.rollback=20261126T063251Z', /writable snapshot of @btrfs_tmp\/old_roots\/20261126T063251Z/],
    ['pantheros.rollback=nope', /the request "nope" is refused: no archive named "nope"/],
  ])('%s', (cmdline, expected) => {
    expect(describeBootPlan(planBoot(state({ archives, cmdline }), config, { now }), '@root')).toMatch(expected);
  });
});
