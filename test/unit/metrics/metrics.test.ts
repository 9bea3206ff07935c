import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { escapeLabelValue, formatExposition } from '../../../src/metrics/exposition.js';
import { parseDeviceStats, parseFilesystemUsage } from '../../../src/metrics/parse-btrfs.js';
import { buildMetrics, type MetricFacts } from '../../../src/metrics/collect.js';
import { parseExposition, sampleValue } from '../../helpers/prometheus.js';

const fixture = (name: string) => readFileSync(new URL(`../../fixtures/metrics/${name}`, import.meta.url), 'utf8');

describe('btrfs output parsers (real captured output)', () => {
  it('filesystem usage -b', () => {
    expect(parseFilesystemUsage(fixture('filesystem-usage-b.txt'))).toEqual({
      deviceSize: 1073741824,
      allocated: 367394816,
      unallocated: 706347008,
      used: 149815296,
      freeEstimated: 712638464,
    });
  });
  it('filesystem usage in an unknown format is undefined, not zeros', () => {
    expect(parseFilesystemUsage('Overall:\n    Device size:  1 GiB\n')).toBeUndefined();
  });
  it('device stats', () => {
    const stats = parseDeviceStats(fixture('device-stats.txt'));
    expect(stats).toHaveLength(5);
    expect(stats[0]).toEqual({ device: '/dev/loop1', counter: 'write_io_errs', value: 0 });
    expect(parseDeviceStats('[/dev/sda2].corruption_errs 17\n[/dev/sdb].read_io_errs 3\n')).toEqual([
      { device: '/dev/sda2', counter: 'corruption_errs', value: 17 },
      { device: '/dev/sdb', counter: 'read_io_errs', value: 3 },
    ]);
  });
});

describe('formatExposition', () => {
  it.each([
    ['plain', 'plain'],
    ['a"b', 'a\\"b'],
    ['a\\b', 'a\\\\b'],
    ['a\nb', 'a\\nb'],
  ])('escapes label value %j', (raw, escaped) => {
    expect(escapeLabelValue(raw)).toBe(escaped);
  });
  it('round-trips odd label values through the validator', () => {
    const text = formatExposition([{ name: 'pantheros_x', help: 'x', type: 'gauge', samples: [{ labels: { subvolume: 'we"ird\\\nname' }, value: 1 }] }]);
    expect(parseExposition(text)[0]!.labels.subvolume).toBe('we"ird\\\nname');
  });
  it('the validator rejects broken text (so the tests that use it can fail)', () => {
    expect(() => parseExposition('pantheros_x 1\n')).toThrow(/without HELP and TYPE/);
    expect(() => parseExposition('# HELP a b\n# TYPE a gauge\na{b="c} 1\n')).toThrow(/not a valid/);
    expect(() => parseExposition('# HELP a b\n# TYPE a gauge\na 1\na 2\n')).toThrow(/duplicate/);
  });
});

const base: MetricFacts = {
  now: new Date('2026-11-26T12:00:00Z'),
  archives: 3,
  snapshots: [
    { class: 'hourly', subvolume: '@persistent', name: '@persistent.20261126T110000Z', path: 'p1', cgen: 1 },
    { class: 'hourly', subvolume: '@persistent', name: '@persistent.20261126T100000Z', path: 'p2', cgen: 2 },
    { class: 'daily', subvolume: '@home/alice', name: '@home~2falice.20261125T000000Z', path: 'p3', cgen: 3 },
  ],
  lastBoot: { source: 'r', result: 'fell-back', durationMs: 1234, now: '2026-11-26T06:00:00Z', exitCode: 0, warnings: 2 },
  usage: { deviceSize: 100, allocated: 60, unallocated: 40, used: 30, freeEstimated: 65 },
  deviceStats: [{ device: '/dev/sda2', counter: 'corruption_errs', value: 4 }],
  freePercent: 7.123,
  minFreePercent: 10,
};

describe('buildMetrics', () => {
  const samples = parseExposition(formatExposition(buildMetrics(base)));
  it.each([
    ['pantheros_archives', {}, 3],
    ['pantheros_free_space_percent', {}, 7.12],
    ['pantheros_free_space_floor_percent', {}, 10],
    ['pantheros_snapshots_by_class', { class: 'hourly' }, 2],
    ['pantheros_snapshots_by_class', { class: 'weekly' }, 0],
    ['pantheros_snapshots', { class: 'daily', subvolume: '@home/alice' }, 1],
    ['pantheros_snapshot_newest_age_seconds', { class: 'hourly', subvolume: '@persistent' }, 3600],
    ['pantheros_snapshot_newest_age_seconds', { class: 'daily', subvolume: '@home/alice' }, 129600],
    ['pantheros_last_boot_report_found', {}, 1],
    ['pantheros_last_boot_result', { result: 'fell-back' }, 1],
    ['pantheros_last_boot_result', { result: 'ok' }, 0],
    ['pantheros_last_boot_duration_seconds', {}, 1.234],
    ['pantheros_last_boot_warnings', {}, 2],
    ['pantheros_filesystem_unallocated_bytes', {}, 40],
    ['pantheros_filesystem_free_bytes', {}, 65],
    ['pantheros_device_errors_total', { device: '/dev/sda2', counter: 'corruption_errs' }, 4],
  ])('%s%j = %d', (name, labels, value) => {
    expect(sampleValue(samples, name, labels)).toBe(value);
  });
  it('every name starts with pantheros_', () => {
    expect(samples.every((s) => s.name.startsWith('pantheros_'))).toBe(true);
  });
  it('without a report or usage: only report_found=0, no stale result series', () => {
    const s = parseExposition(formatExposition(buildMetrics({ ...base, lastBoot: undefined, usage: undefined })));
    expect(sampleValue(s, 'pantheros_last_boot_report_found')).toBe(0);
    expect(s.some((x) => x.name === 'pantheros_last_boot_result' || x.name.startsWith('pantheros_filesystem_'))).toBe(false);
  });
  it('an unknown result gets its own series', () => {
    const s = parseExposition(formatExposition(buildMetrics({ ...base, lastBoot: { ...base.lastBoot!, result: 'weird' } })));
    expect(sampleValue(s, 'pantheros_last_boot_result', { result: 'weird' })).toBe(1);
  });
});
