// `btrfs subvolume list -c -g -p -u -q -R [-r|-s]` output read as bytes. Paths are printed raw (btrfs-progs 6.2 has no
// escaping and no JSON for this command), so a subvolume whose name holds a newline continues on the next line,
// and that line may itself look like a listing line: the text alone cannot say which lines are real. This module
// only splits the text faithfully; src/btrfs/inventory.ts decides what to trust by checking the filesystem.

/** One line of the listing that has the shape of an entry (`ID … path …`), with the lines that continue its path. */
export interface ListingEntry {
  /** Index of its first line in `ListingText.lines`. */
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
  /** Every line of the output, exact bytes, without the newline. */
  lines: Buffer[];
  entries: ListingEntry[];
}

const HEAD = /^ID (\d+) gen (\d+)(?: cgen (\d+))?(?: parent (\d+))? top level (\d+)(?: otime (-|\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}))?(?: parent_uuid (\S+))?(?: received_uuid (\S+))?(?: uuid (\S+))?$/;
const PATH_MARK = Buffer.from(' path ');
const FS_TREE = Buffer.from('<FS_TREE>/');
const NEWLINE = Buffer.from('\n');

function splitLines(out: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  let start = 0;
  for (let i = out.indexOf(0x0a); i !== -1; i = out.indexOf(0x0a, start)) {
    lines.push(out.subarray(start, i));
    start = i + 1;
  }
  if (start < out.length) lines.push(out.subarray(start));
  return lines;
}

/** The head fields of a line that has the shape of a listing entry, or undefined. */
function parseHead(line: Buffer): (Omit<ListingEntry, 'line' | 'lastLine' | 'text'> & { text: Buffer }) | undefined {
  const at = line.indexOf(PATH_MARK);
  if (at < 0) return undefined;
  // The head is ASCII; latin1 maps each byte to one character, so no byte can be mistaken for another.
  const m = HEAD.exec(line.subarray(0, at).toString('latin1').replace(/\s+/g, ' '));
  if (!m) return undefined;
  const uuid = (s: string | undefined) => (s === undefined || s === '-' ? null : s);
  let text = line.subarray(at + PATH_MARK.length);
  if (text.subarray(0, FS_TREE.length).equals(FS_TREE)) text = text.subarray(FS_TREE.length);
  const otime = m[6] === undefined ? undefined : m[6] === '-' ? null : new Date(`${m[6].replace(' ', 'T')}Z`);
  return {
    id: Number(m[1]),
    gen: Number(m[2]),
    cgen: Number(m[3] ?? m[2]),
    parent: Number(m[4] ?? m[5]),
    topLevel: Number(m[5]),
    ...(otime === undefined ? {} : { otime: otime && !Number.isNaN(otime.getTime()) ? otime : null }),
    parentUuid: uuid(m[7]),
    receivedUuid: uuid(m[8]),
    uuid: uuid(m[9]),
    text,
  };
}

/**
 * Splits listing output into lines and entry-shaped lines. A line without the entry shape can only be the rest of
 * a path holding a newline, so it is joined to the entry before it; an entry-shaped line is kept as an entry even
 * when it is really the rest of a name (the inventory finds those out).
 */
export function parseListing(out: Buffer): ListingText {
  const lines = splitLines(out);
  const entries: ListingEntry[] = [];
  lines.forEach((line, i) => {
    const head = parseHead(line);
    if (head) {
      entries.push({ ...head, line: i, lastLine: i });
      return;
    }
    const last = entries.at(-1);
    if (last && last.lastLine === i - 1) {
      last.text = Buffer.concat([last.text, NEWLINE, line]);
      last.lastLine = i;
    }
  });
  return { lines, entries };
}
