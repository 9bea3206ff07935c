// Builds the metrics from what was observed (pure: the clock and every fact are passed in).
import { SNAPSHOT_CLASSES } from '../config/load-config.js';
import type { SnapshotFact } from '../retention/snapshots.js';
import { parseSnapshotName } from '../retention/snapshots.js';
import type { Metric } from './exposition.js';
import type { DeviceCounter, FilesystemUsage } from './parse-btrfs.js';

export const BOOT_RESULTS = ['ok', 'fell-back', 'kept', 'dry-run', 'failed', 'refused'] as const;

export interface LastBoot {
  source: string;
  result: string;
  durationMs: number;
  now: string;
  exitCode: number;
  warnings: number;
  /** The state rollback of that boot (report version 3), when there was one. */
  state?: { result: string; rolledBack: { subvolume: string; from: string; archived: string }[] } | null;
}

export interface MetricFacts {
  now: Date;
  archives: number;
  snapshots: SnapshotFact[];
  lastBoot: LastBoot | undefined;
  usage: FilesystemUsage | undefined;
  deviceStats: DeviceCounter[];
  /** Free space as the boot measures it for the floor (statfs, unallocated included), in percent; undefined when unknown. */
  freePercent: number | undefined;
  /** oldRoots.minFreePercent: below it the boot ages out archives beyond keepAtLeast even within keepDays. */
  minFreePercent: number;
  /** Archived states per subvolume (state rollback: <oldState>/<encoded subvolume>/…). */
  archivedStates?: { subvolume: string; count: number }[];
}

const gauge = (name: string, help: string, samples: Metric['samples']): Metric => ({ name: `pantheros_${name}`, help, type: 'gauge', samples });

export function buildMetrics(f: MetricFacts): Metric[] {
  const metrics: Metric[] = [];
  metrics.push(gauge('archives', 'Archived roots in the archive directory (old_roots).', [{ value: f.archives }]));
  metrics.push(gauge('free_space_floor_percent', 'oldRoots.minFreePercent: below this free space the boot ages out archives beyond keepAtLeast even within keepDays.', [{ value: f.minFreePercent }]));
  if (f.freePercent !== undefined) {
    metrics.push(gauge('free_space_percent', 'Free space of the filesystem in percent, as the boot measures it against the floor (statfs, unallocated included).', [{ value: Math.round(f.freePercent * 100) / 100 }]));
  }

  const groups = new Map<string, { cls: string; subvolume: string; count: number; newest: number }>();
  for (const s of f.snapshots) {
    const key = `${s.class}\0${s.subvolume}`;
    const time = parseSnapshotName(s.name)?.time.getTime() ?? -Infinity;
    const g = groups.get(key) ?? { cls: s.class, subvolume: s.subvolume, count: 0, newest: -Infinity };
    g.count += 1;
    g.newest = Math.max(g.newest, time);
    groups.set(key, g);
  }
  const sorted = [...groups.values()].sort((a, b) => SNAPSHOT_CLASSES.indexOf(a.cls as never) - SNAPSHOT_CLASSES.indexOf(b.cls as never) || (a.subvolume < b.subvolume ? -1 : 1));
  metrics.push(
    gauge(
      'snapshots_by_class',
      'Timed snapshots per class (all subvolumes).',
      SNAPSHOT_CLASSES.map((cls) => ({ labels: { class: cls }, value: sorted.filter((g) => g.cls === cls).reduce((n, g) => n + g.count, 0) })),
    ),
    gauge('snapshots', 'Timed snapshots per class and snapshotted subvolume.', sorted.map((g) => ({ labels: { class: g.cls, subvolume: g.subvolume }, value: g.count }))),
    gauge(
      'snapshot_newest_age_seconds',
      'Age of the newest snapshot per class and subvolume, from the time in its name.',
      sorted.filter((g) => Number.isFinite(g.newest)).map((g) => ({ labels: { class: g.cls, subvolume: g.subvolume }, value: Math.max(0, Math.round((f.now.getTime() - g.newest) / 1000)) })),
    ),
  );

  metrics.push(gauge('last_boot_report_found', '1 when the last boot\'s report was found (/run or the persistent copy), else 0.', [{ value: f.lastBoot ? 1 : 0 }]));
  if (f.lastBoot) {
    const b = f.lastBoot;
    const results = (BOOT_RESULTS as readonly string[]).includes(b.result) ? BOOT_RESULTS : [...BOOT_RESULTS, b.result];
    metrics.push(
      gauge('last_boot_result', 'Result of the last boot\'s rollback: 1 for the result it had, 0 for the others.', results.map((r) => ({ labels: { result: r }, value: r === b.result ? 1 : 0 }))),
      gauge('last_boot_duration_seconds', 'Duration of the last boot\'s rollback work.', [{ value: b.durationMs / 1000 }]),
      gauge('last_boot_exit_code', 'Exit code of the last boot\'s rollback (0 ok, 1 step failed, 3 precondition, 4 internal).', [{ value: b.exitCode }]),
      gauge('last_boot_warnings', 'Warnings in the last boot\'s report.', [{ value: b.warnings }]),
      gauge('last_boot_timestamp_seconds', 'When the last boot\'s rollback ran (Unix time).', [{ value: Math.round(new Date(b.now).getTime() / 1000) }]),
    );
  }

  // State rollback (issue 14): what the last boot rolled back, from which snapshot, archived where; archived states.
  if (f.lastBoot?.state) {
    const st = f.lastBoot.state;
    metrics.push(
      gauge('last_boot_state_result', 'Result of the last boot\'s state rollback (pantheros.rollback.state= or a request): 1 for the result it had.', ['ok', 'refused', 'failed', 'dry-run'].map((r) => ({ labels: { result: r }, value: r === st.result ? 1 : 0 }))),
      gauge('last_boot_state_rolled_back', 'Subvolumes the last boot rolled back: 1 per subvolume, with the snapshot it came from and where its old state was archived.', st.rolledBack.map((r) => ({ labels: { subvolume: r.subvolume, from: r.from, archived: r.archived }, value: 1 }))),
    );
  }
  if (f.archivedStates) metrics.push(gauge('archived_states', 'States replaced by state rollbacks and kept, per subvolume.', f.archivedStates.map((a) => ({ labels: { subvolume: a.subvolume }, value: a.count }))));

  if (f.usage) {
    const u = f.usage;
    metrics.push(
      gauge('filesystem_size_bytes', 'Size of all devices of the btrfs filesystem.', [{ value: u.deviceSize }]),
      gauge('filesystem_used_bytes', 'Bytes used in allocated chunks.', [{ value: u.used }]),
      gauge('filesystem_free_bytes', 'Free bytes, estimated by btrfs (free in chunks plus unallocated, by data profile).', [{ value: u.freeEstimated }]),
      gauge('filesystem_allocated_bytes', 'Bytes allocated to chunks.', [{ value: u.allocated }]),
      gauge('filesystem_unallocated_bytes', 'Bytes not allocated to any chunk; when this nears 0, metadata can run out although free space remains.', [{ value: u.unallocated }]),
    );
  }
  metrics.push({
    name: 'pantheros_device_errors_total',
    help: 'btrfs device error counters (btrfs device stats), per device and counter.',
    type: 'counter',
    samples: f.deviceStats.map((d) => ({ labels: { device: d.device, counter: d.counter }, value: d.value })),
  });
  metrics.push(gauge('metrics_timestamp_seconds', 'When these metrics were collected (Unix time).', [{ value: Math.round(f.now.getTime() / 1000) }]));
  return metrics;
}
