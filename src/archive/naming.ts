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

export interface NewName {
  name: string;
  /** True when the clock is not after the newest archive's time: the name was placed after it instead. */
  clockBehind: boolean;
}

/**
 * The name for a new archive at `now`, given every entry name already in the directory:
 * it sorts after every existing archive name (even when the clock went back) and collides with nothing.
 */
export function nextArchiveName(now: Date, existing: Iterable<string>): NewName {
  const taken = new Set(existing);
  let newest: { seq: number; time: number } | undefined;
  for (const name of taken) {
    const p = parseArchiveName(name);
    if (!p || p.legacy) continue;
    const key = { seq: p.seq, time: p.time.getTime() };
    if (!newest || key.time > newest.time || (key.time === newest.time && key.seq > newest.seq)) newest = key;
  }
  let time = Math.floor(now.getTime() / 1000) * 1000;
  let seq = 0;
  let clockBehind = false;
  if (newest && newest.time >= time) {
    clockBehind = newest.time > now.getTime();
    time = newest.time;
    seq = newest.seq + 1;
  }
  for (;;) {
    // _01.._99 keep text order; past that, move on to the next second so names still sort.
    if (seq > 99) {
      time += 1000;
      seq = 0;
    }
    const stamp = formatTimestamp(new Date(time));
    const name = seq === 0 ? stamp : `${stamp}_${pad(seq)}`;
    if (!taken.has(name)) return { name, clockBehind };
    seq += 1;
  }
}
