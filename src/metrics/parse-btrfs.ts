// Parsers for `btrfs filesystem usage -b` and `btrfs device stats` (pure; tested on captured output).

export interface FilesystemUsage {
  deviceSize: number;
  allocated: number;
  unallocated: number;
  used: number;
  freeEstimated: number;
}

const USAGE_KEYS: Record<string, keyof FilesystemUsage> = {
  'Device size': 'deviceSize',
  'Device allocated': 'allocated',
  'Device unallocated': 'unallocated',
  Used: 'used',
  'Free (estimated)': 'freeEstimated',
};

/** Reads the "Overall:" block; undefined when a value is missing (an unexpected format). */
export function parseFilesystemUsage(text: string): FilesystemUsage | undefined {
  const out: Partial<FilesystemUsage> = {};
  for (const line of text.split('\n')) {
    const m = /^\s+([A-Za-z() ]+?):\s+(\d+)\b/.exec(line);
    if (!m) continue;
    const key = USAGE_KEYS[m[1]!];
    if (key && out[key] === undefined) out[key] = Number(m[2]);
  }
  return Object.values(USAGE_KEYS).every((k) => out[k] !== undefined) ? (out as FilesystemUsage) : undefined;
}

export interface DeviceCounter {
  device: string;
  counter: string;
  value: number;
}

/** Lines like "[/dev/sda2].write_io_errs    0". */
export function parseDeviceStats(text: string): DeviceCounter[] {
  const out: DeviceCounter[] = [];
  for (const line of text.split('\n')) {
    const m = /^\[(.+)\]\.([a-z_]+)\s+(\d+)\s*$/.exec(line);
    if (m) out.push({ device: m[1]!, counter: m[2]!, value: Number(m[3]) });
  }
  return out;
}
