// Lints btrfs mount options: contradictions, risky values, and filesystem-wide options set differently per mount. Pure.
import type { Finding } from './finding.js';

export interface MountOptions {
  mountPoint: string;
  /** Comma-separated, as in fstab or /proc/self/mountinfo. */
  options: string;
}

export interface LintContext {
  /** Snapshots or archives share extents with the live data (always true with this tool's layout). */
  snapshots: boolean;
}

interface Setting {
  /** The filesystem-wide setting the option changes. */
  key: string;
  /** The option as normalized text (e.g. "compress=zlib" for a bare "compress"). */
  value: string;
  /** False for the options that turn the setting off. */
  on: boolean;
}

const BOOLEAN_PAIRS: readonly (readonly [string, string])[] = [
  ['datacow', 'nodatacow'],
  ['datasum', 'nodatasum'],
  ['autodefrag', 'noautodefrag'],
  ['barrier', 'nobarrier'],
  ['flushoncommit', 'noflushoncommit'],
  ['treelog', 'notreelog'],
  ['acl', 'noacl'],
  ['enospc_debug', 'noenospc_debug'],
  ['inode_cache', 'noinode_cache'],
];

/** btrfs options that take or are a plain value and are not checked further, still filesystem-wide. */
const VALUED = new Set(['max_inline', 'thread_pool', 'metadata_ratio', 'fatal_errors', 'check_int', 'check_int_data', 'check_int_print_mask', 'rescue', 'norecovery', 'usebackuproot', 'skip_balance', 'degraded', 'device', 'user_subvol_rm_allowed', 'clear_cache', 'rescan_uuid_tree', 'ref_verify', 'fragment']);

/** Per-mount btrfs options: they select what is mounted, they are not settings of the filesystem. */
const PER_MOUNT = new Set(['subvol', 'subvolid']);

/** The setting an option changes, or undefined for options that are not btrfs-specific (noatime, ro, nodev, …). */
export function settingOf(option: string): Setting | undefined {
  const eq = option.indexOf('=');
  const name = eq < 0 ? option : option.slice(0, eq);
  const arg = eq < 0 ? undefined : option.slice(eq + 1);
  if (PER_MOUNT.has(name)) return undefined;
  switch (name) {
    case 'ssd':
    case 'ssd_spread':
      return { key: 'ssd', value: name, on: true };
    case 'nossd':
    case 'nossd_spread':
      return { key: 'ssd', value: name, on: name === 'nossd_spread' };
    case 'compress':
    case 'compress-force': {
      const algo = arg ?? 'zlib';
      return { key: 'compress', value: `${name}=${algo}`, on: !/^(no|none)$/.test(algo) };
    }
    case 'space_cache':
      return { key: 'space_cache', value: arg === undefined ? 'space_cache' : `space_cache=${arg}`, on: true };
    case 'nospace_cache':
      return { key: 'space_cache', value: 'nospace_cache', on: false };
    case 'discard':
      return { key: 'discard', value: `discard=${arg ?? 'sync'}`, on: true };
    case 'nodiscard':
      return { key: 'discard', value: 'nodiscard', on: false };
    case 'commit':
      return { key: 'commit', value: `commit=${arg ?? ''}`, on: true };
  }
  for (const [on, off] of BOOLEAN_PAIRS) {
    if (name === on || name === off) return { key: on, value: name, on: name === on };
  }
  if (VALUED.has(name)) return { key: name, value: option, on: true };
  return undefined;
}

function settingsOf(options: string): Setting[] {
  return options
    .split(',')
    .map((o) => o.trim())
    .filter((o) => o !== '')
    .map(settingOf)
    .filter((s): s is Setting => s !== undefined);
}

function crossMountFix(key: string, values: string[]): string {
  const wanted = values[0] ?? 'the value you want';
  if (key === 'compress') return `put the same ${wanted} on every btrfs mount of this filesystem (at least the first); for per-directory compression use: btrfs property set DIR compression zstd`;
  if (key === 'datacow' || key === 'datasum') return 'drop nodatacow/nodatasum from the mount options and use chattr +C DIR (affects new files) on the directories that need it (databases, VM images)';
  return `give the same ${key} value on every btrfs mount of this filesystem, or only on the first`;
}

/** Findings for one mount's own options. */
function lintOne(m: MountOptions, context: LintContext): Finding[] {
  const out: Finding[] = [];
  const subject = m.mountPoint;
  const settings = settingsOf(m.options);
  const add = (severity: Finding['severity'], what: string, why: string, fix: string) => out.push({ severity, subject, what, why, fix });
  const has = (value: string) => settings.some((s) => s.value === value);
  const effective = new Map<string, Setting>();
  for (const s of settings) effective.set(s.key, s);
  const compressing = settings.filter((s) => s.key === 'compress' && s.on).map((s) => s.value);

  // Contradictions inside one mount.
  const ssdOn = settings.filter((s) => s.key === 'ssd' && (s.value === 'ssd' || s.value === 'ssd_spread')).map((s) => s.value);
  if (ssdOn.length && has('nossd')) {
    add('error', `${ssdOn[0]} and nossd are both set`, `they contradict; btrfs takes whichever comes last (${effective.get('ssd')!.value}), so one of them does not do what was meant`, 'keep one: ssd (or ssd_spread) for SSD/NVMe, nossd for rotating disks — or neither, btrfs detects non-rotational devices itself');
  }
  if (compressing.length && has('nodatacow')) {
    add('error', `nodatacow and ${compressing[0]} are both set`, 'nodatacow disables compression (and checksums) and compress turns nodatacow off again: which one holds depends on their order', 'decide: compression (drop nodatacow; use chattr +C on the few directories that must not be copy-on-write) or no copy-on-write (drop compress)');
  }
  if (compressing.length && has('nodatasum')) {
    add('error', `nodatasum and ${compressing[0]} are both set`, 'compression needs data checksums: compress turns nodatasum off again, so one of them is silently ignored', 'drop nodatasum (checksums let scrub find and repair corruption) or drop compress');
  }
  const byKey = new Map<string, string[]>();
  for (const s of settings) byKey.set(s.key, [...(byKey.get(s.key) ?? []), s.value]);
  for (const [key, values] of byKey) {
    const distinct = [...new Set(values)];
    if (distinct.length < 2 || key === 'ssd') continue;
    add('warning', `${distinct.join(' and ')} are both set`, `they contradict; the last one (${values.at(-1)}) wins`, `keep only ${values.at(-1)}`);
  }

  // Risky values of the effective settings.
  const commit = effective.get('commit');
  if (commit) {
    const seconds = Number(commit.value.slice('commit='.length));
    if (!/^commit=\d+$/.test(commit.value)) {
      add('error', `${commit.value} is not a number of seconds`, 'the mount fails or the option is ignored', 'use commit=N with N in seconds (default 30), or drop it');
    } else if (seconds > 300) {
      add('warning', `commit=${seconds} is over 300 s`, `the kernel warns about it, and a crash or power loss can lose up to ${seconds} s of writes (including the renames a boot-time rollback makes)`, 'use commit=300 or less (the default is 30)');
    }
  }
  if (effective.get('autodefrag')?.on && context.snapshots) {
    add('warning', 'autodefrag with snapshots', 'defragmenting rewrites extents that snapshots and archived roots share, unsharing them: space use grows with every snapshot', 'drop autodefrag (use noautodefrag); defragment single files on demand with btrfs filesystem defragment if needed');
  }
  if (effective.get('datacow')?.on === false && !compressing.length) {
    add('warning', 'nodatacow for the whole filesystem', 'new files get no data checksums and no compression anywhere on this filesystem, so corruption goes undetected and scrub cannot repair it', 'drop nodatacow and use chattr +C DIR on the directories that need it (databases, VM images)');
  }
  if (effective.get('datasum')?.on === false && !compressing.length) {
    add('warning', 'nodatasum for the whole filesystem', 'new files get no data checksums: corruption goes undetected and scrub cannot repair it', 'drop nodatasum');
  }
  if (effective.get('discard')?.value === 'discard=sync') {
    add('warning', 'discard (synchronous)', 'every freed extent is discarded inside the transaction commit, which slows deletes — such as ageing out archived roots at boot', 'use discard=async (the default on SSDs since Linux 6.2), or nodiscard with a periodic fstrim');
  }
  if (effective.get('space_cache')?.value === 'space_cache=v1') {
    add('warning', 'space_cache=v1', 'the v1 free-space cache is deprecated and slow on large filesystems', 'use space_cache=v2 (the free-space tree, the default since btrfs-progs 5.15)');
  }
  if (effective.get('barrier')?.on === false) {
    add('warning', 'nobarrier', 'without write barriers a power loss can corrupt the filesystem, including the root swap the rollback makes at boot', 'drop nobarrier');
  }
  return out;
}

/** Options that differ between mounts of one filesystem (the first mount's win). */
function lintAcross(mounts: readonly MountOptions[]): Finding[] {
  if (mounts.length < 2) return [];
  const perMount = mounts.map((m) => {
    const eff = new Map<string, string>();
    for (const s of settingsOf(m.options)) eff.set(s.key, s.value);
    return eff;
  });
  const keys = [...new Set(perMount.flatMap((e) => [...e.keys()]))].sort();
  const out: Finding[] = [];
  for (const key of keys) {
    const values = perMount.map((e) => e.get(key));
    const set = values.filter((v): v is string => v !== undefined);
    const distinct = new Set(set);
    // Differences only matter when a later mount asks for something the first mount did not set.
    if (distinct.size < 2 && !(values[0] === undefined && set.length > 0)) continue;
    const listing = mounts.map((m, i) => `${m.mountPoint} ${values[i] ?? '(not set)'}`).join(', ');
    out.push({
      severity: 'warning',
      subject: null,
      what: `${key} is set differently on mounts of one filesystem: ${listing}`,
      why: `btrfs options are filesystem-wide: the first mount (${mounts[0]!.mountPoint}) decides${values[0] ? ` (${values[0]})` : ', and it leaves the default'}; later mounts' values are silently ignored. Only generic options (noatime, ro, nodev, nosuid, noexec) work per mount`,
      fix: crossMountFix(key, set),
    });
  }
  return out;
}

/** Every finding for the mounts of ONE filesystem, in mount order (the first mount is the one whose btrfs options apply). */
export function lintMountOptions(mounts: readonly MountOptions[], context: LintContext = { snapshots: true }): Finding[] {
  return [...mounts.flatMap((m) => lintOne(m, context)), ...lintAcross(mounts)];
}

/** Parses a --mount-options value: "MOUNTPOINT=opt,opt" (or just "opt,opt", for one unnamed mount). */
export function parseMountOptionsFlag(value: string, index: number): MountOptions {
  const m = /^(\/[^=]*)=(.*)$/.exec(value);
  if (m) return { mountPoint: m[1]!, options: m[2]! };
  return { mountPoint: `mount #${index + 1}`, options: value };
}
