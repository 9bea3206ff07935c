// `btrfs subvolume list -c -g -p -u -q -R [-r|-s]` output read as bytes. Paths are printed raw (btrfs-progs 6.2 has no
// escaping and no JSON for this command), so a subvolume whose name holds a newline continues on the next line,
// and that line may itself look like a listing line: the text alone cannot say which lines are real. This module
// only splits the text faithfully; src/btrfs/inventory.ts decides what to trust by checking the filesystem.
import { constants } from 'node:buffer';

/** One line of the listing that has the shape of an entry (`ID … path …`), with the lines that continue its path. */
export interface ListingEntry {
  /** Index of its first line in the output (0 for the first). */
  line: number;
  /** Index of the last line its path text spans (continuation lines that do not look like entries are joined). */
  lastLine: number;
  id: number;
  gen: number;
  cgen: number;
  parent: number;
  topLevel: number;
  parentUuid: string | null;
  receivedUuid: string | null;
  uuid: string | null;
  /**
   * The `otime` field of a `list -s` line (creation time, whole seconds, read as UTC: the listing runs with TZ=UTC0);
   * null for "-" (not recorded) or a time that is not one; undefined when the line has no such field.
   */
  otime?: Date | null;
  /** The path text as printed (relative to the top level), continuation lines joined with "\n"; exact bytes. */
  text: Buffer;
}

export interface ListingText {
  /** How many lines the output has. */
  lineCount: number;
  entries: ListingEntry[];
}

// Fields are separated by runs of whitespace (btrfs pads some); the otime's date and time are captured apart so that
// whatever run separates them, the time read is the same.
const HEAD =
  /^ID\s+(\d+)\s+gen\s+(\d+)(?:\s+cgen\s+(\d+))?(?:\s+parent\s+(\d+))?\s+top\s+level\s+(\d+)(?:\s+otime\s+(?:(-)|(\d{4}-\d{2}-\d{2})\s+(\d{2}:\d{2}:\d{2})))?(?:\s+parent_uuid\s+(\S+))?(?:\s+received_uuid\s+(\S+))?(?:\s+uuid\s+(\S+))?$/;
const PATH_MARK = ' path ';
const FS_TREE = '<FS_TREE>/';

/**
 * The longest listing parseListing reads (bytes): the output is read as one string, and no string is longer than
 * this (node:buffer constants.MAX_STRING_LENGTH: 2^29 − 24 characters under Node 20, 2^31 − 1 under Bun).
 */
export const MAX_LISTING_BYTES = constants.MAX_STRING_LENGTH;

const uuidOf = (s: string | undefined) => (s === undefined || s === '-' ? null : s);

/**
 * The entry of the line at [start, end) of `text` (the whole output read as latin1, so each character is the byte at
 * the same offset of `out`) when it has the shape of a listing entry; undefined otherwise. Looks at that line only:
 * a search for " path " that ran on past the line's end made every line of a name holding newlines scan ahead to
 * the next entry, and a user's chain of such names made the boot's parse cubic (minutes: issue 9, found in review).
 */
function parseLine(out: Buffer, text: string, start: number, end: number, index: number): ListingEntry | undefined {
  const inLine = text.slice(start, end).indexOf(PATH_MARK);
  if (inLine < 0) return undefined;
  const at = start + inLine;
  const m = HEAD.exec(text.slice(start, at));
  if (!m) return undefined;
  let from = at + PATH_MARK.length;
  if (text.startsWith(FS_TREE, from)) from += FS_TREE.length;
  const otime = m[6] !== undefined ? null : m[7] === undefined ? undefined : new Date(`${m[7]}T${m[8]}Z`);
  const entry: ListingEntry = {
    line: index,
    lastLine: index,
    id: Number(m[1]),
    gen: Number(m[2]),
    cgen: Number(m[3] ?? m[2]),
    parent: Number(m[4] ?? m[5]),
    topLevel: Number(m[5]),
    parentUuid: uuidOf(m[9]),
    receivedUuid: uuidOf(m[10]),
    uuid: uuidOf(m[11]),
    text: out.subarray(from, end),
  };
  if (otime !== undefined) entry.otime = otime && !Number.isNaN(otime.getTime()) ? otime : null;
  return entry;
}

/**
 * Splits listing output into lines and entry-shaped lines. A line without the entry shape can only be the rest of
 * a path holding a newline, so it is joined to the entry before it; an entry-shaped line is kept as an entry even
 * when it is really the rest of a name (the inventory finds those out). Throws RangeError for output longer than
 * MAX_LISTING_BYTES.
 */
export function parseListing(out: Buffer): ListingText {
  if (out.length > MAX_LISTING_BYTES) throw new RangeError(`a listing of ${out.length} bytes is longer than the longest string (${MAX_LISTING_BYTES})`);
  // One string for the whole output: searching and slicing it is far cheaper than a Buffer call per line.
  const text = out.toString('latin1');
  const entries: ListingEntry[] = [];
  // Where the path of the last entry starts in `out`: the lines joined to it follow it directly, so its joined text
  // (its lines with the "\n" between them) is the output's own bytes from there to the end of its last line: one
  // view, not a copy of the whole text again for every line joined.
  let lastTextStart = 0;
  let i = 0;
  for (let start = 0; start < text.length; i++) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const entry = parseLine(out, text, start, end, i);
    if (entry) {
      entries.push(entry);
      lastTextStart = end - entry.text.length;
    } else {
      const last = entries.at(-1);
      if (last && last.lastLine === i - 1) {
        last.text = out.subarray(lastTextStart, end);
        last.lastLine = i;
      }
    }
    start = end + 1;
  }
  return { lineCount: i, entries };
}
