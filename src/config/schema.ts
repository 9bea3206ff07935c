// The JSON config shared by the initrd and the running system; the NixOS module renders it.
import * as v from 'valibot';

const subvolumeName = v.pipe(
  v.string(),
  v.minLength(1, 'must not be empty'),
  v.check((s) => !s.startsWith('/') && !s.endsWith('/'), 'must be relative to the top level, without a leading or trailing /'),
  v.check((s) => s.split('/').every((c) => c !== '' && c !== '.' && c !== '..'), 'must not contain empty, . or .. components'),
  v.check((s) => !s.startsWith('-'), 'must not start with -'),
  v.regex(/^[^\0\n]*$/, 'must not contain NUL or newline'),
);
const count = (min: number) => v.pipe(v.number(), v.integer('must be an integer'), v.minValue(min, `must be at least ${min}`));
const absolutePath = v.pipe(v.string(), v.startsWith('/', 'must be an absolute path'));

export const configSchema = v.strictObject({
  device: v.optional(absolutePath),
  deviceTimeoutSeconds: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(3600))),
  targetMaxNested: v.optional(v.pipe(count(0), v.maxValue(1_000_000, 'must be at most 1000000'))),
  subvolumes: v.optional(
    v.strictObject({
      root: v.optional(subvolumeName),
      blank: v.optional(subvolumeName),
      oldRoots: v.optional(subvolumeName),
      snapshots: v.optional(subvolumeName),
      oldState: v.optional(subvolumeName),
    }),
  ),
  oldRoots: v.optional(
    v.strictObject({
      keepDays: v.optional(v.pipe(v.number(), v.finite('must be a finite number of days'), v.minValue(0, 'must be at least 0'))),
      keepAtLeast: v.optional(count(1)),
      minFreePercent: v.optional(v.pipe(v.number(), v.minValue(0, 'must be at least 0'), v.maxValue(90, 'must be at most 90'))),
      ageOutSeconds: v.optional(v.pipe(v.number(), v.finite('must be a finite number of seconds'), v.gtValue(0, 'must be more than 0'), v.maxValue(3600, 'must be at most 3600'))),
    }),
  ),
  snapshotRetention: v.optional(
    v.strictObject({
      hourly: v.optional(count(0)),
      daily: v.optional(count(0)),
      weekly: v.optional(count(0)),
      monthly: v.optional(count(0)),
      activation: v.optional(count(0)),
    }),
  ),
  snapshotSubvolumes: v.optional(v.array(subvolumeName)),
  persistentPaths: v.optional(v.array(absolutePath)),
  // State rollback (src/state): mount point -> subvolume, and the systemd units to stop while it is swapped.
  persistentTree: v.optional(
    v.array(
      v.strictObject({
        path: absolutePath,
        subvolume: subvolumeName,
        neededForBoot: v.optional(v.boolean()),
        units: v.optional(v.array(v.pipe(v.string(), v.regex(/^[A-Za-z0-9:_.\\@][A-Za-z0-9:_.\\@-]*\.(service|socket|timer|target|path|mount|slice|scope)$/, 'must be a systemd unit name such as postgresql.service')))),
      }),
    ),
  ),
});

export type RawConfig = v.InferOutput<typeof configSchema>;
