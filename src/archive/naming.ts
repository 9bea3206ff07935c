// Archive names: zero-padded UTC timestamps that sort in time order and never collide.

const OURS = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z(?:_(\d{2,}))?$/;
// The nix-community/impermanence snippet's `date "+%Y-%m-%-d_%H:%M:%S"` (day not zero-padded), accepted for ageing out.
const LEGACY = /^(\d{4})-(\d{1,2})-(\d{1,2})_(\d{1,2}):(\d{2}):(\d{2})$/;

export interface ParsedName {
  /** The time the archive was made, as written in its name (UTC). */
  time: Date;
  /** The collision counter (_NN), 0 when absent. */
  seq: number;
  /** True for names in the impermanence snippet's format. */
  legacy: boolean;
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** Formats a time as YYYYMMDDTHHMMSSZ in UTC. */
export function formatTimestamp(time: Date): string {
  return `${pad(time.getUTCFullYear(), 4)}${pad(time.getUTCMonth() + 1)}${pad(time.getUTCDate())}T${pad(time.getUTCHours())}${pad(time.getUTCMinutes())}${pad(time.getUTCSeconds())}Z`;
}

function validDate(y: number, mo: number, d: number, h: number, mi: number, s: number): Date | undefined {
  const t = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  const ok = t.getUTCFullYear() === y && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d && h < 24 && mi < 60 && s < 60;
  return ok ? t : undefined;
}

/** Parses an archive name; undefined for names that are not timestamps (those are never aged out). */
export function parseArchiveName(name: string): ParsedName | undefined {
  const m = OURS.exec(name);
  if (m) {
    const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
    const time = validDate(y, mo, d, h, mi, s);
    return time && { time, seq: m[7] === undefined ? 0 : Number(m[7]), legacy: false };
  }
  const l = LEGACY.exec(name);
  if (l) {
    const [y, mo, d, h, mi, s] = l.slice(1, 7).map(Number) as [number, number, number, number, number, number];
    const time = validDate(y, mo, d, h, mi, s);
    return time && { time, seq: 0, legacy: true };
  }
  return undefined;
}

const nameTimes = new Map<string, number | undefined>();

/**
 * The time an archive name carries, in milliseconds since the epoch (UTC): `parseArchiveName(name)?.time.getTime()`,
 * undefined for a name that is not a timestamp. Remembered per name for the life of the process: a boot asks it of
 * every archive up to three times (whether any may age out, which facts to read, the retention), and with a
 * thousand archives the parsing was a measurable part of the boot (issue 15). A pure function of the name.
 */
export function archiveNameTime(name: string): number | undefined {
  if (nameTimes.has(name)) return nameTimes.get(name);
  const t = parseArchiveName(name)?.time.getTime();
  nameTimes.set(name, t);
  return t;
}

/**
 * The name for a new archive made at `now`, given every entry name already in the directory: the time of this
 * boot as the clock says it (never moved to sort after a name a wrong clock once wrote: order comes from the
 * creation generation), with `_01`, `_02`… when that name is taken. Never collides with an existing entry.
 */
export function nextArchiveName(now: Date, existing: Iterable<string>): string {
  const taken = new Set(existing);
  const stamp = formatTimestamp(now);
  if (!taken.has(stamp)) return stamp;
  for (let seq = 1; ; seq++) {
    const name = `${stamp}_${pad(seq)}`;
    if (!taken.has(name)) return name;
  }
}
