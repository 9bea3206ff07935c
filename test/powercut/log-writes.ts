// Reads a dm-log-writes log and replays it onto a copy of the disk it recorded (the method of
// fstests generic/482). Format (Linux drivers/md/dm-log-writes.c, Documentation/admin-guide/
// device-mapper/log-writes.rst): at byte 0 a super block { le64 magic, le64 version, le64
// nr_entries, le32 sectorsize }; then, from byte `sectorsize` on, nr_entries entries, each one
// block of `sectorsize` bytes holding { le64 sector, le64 nr_sectors, le64 flags, le64 data_len }
// (a mark's text follows the header in the same block) and, unless the entry is a discard or a
// mark, nr_sectors blocks of the data written. Sectors count in `sectorsize` units of the data
// device. Writes are logged when they are flushed (FUA writes when they complete), so every
// prefix of the log is a state a disk with a volatile write cache can hold after a power cut.
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';

export const LOG_FLUSH = 1 << 0;
export const LOG_FUA = 1 << 1;
export const LOG_DISCARD = 1 << 2;
export const LOG_MARK = 1 << 3;
export const LOG_METADATA = 1 << 4;
export const WRITE_LOG_MAGIC = 0x6a736677736872n;
export const WRITE_LOG_VERSION = 1n;
const SUPER_BYTES = 28;
const ENTRY_BYTES = 32;

export interface LogEntry {
  /** Position in the log, from 0. */
  index: number;
  /** First sector written, in units of the log's sectorSize. */
  sector: number;
  nrSectors: number;
  /** LOG_* bits. */
  flags: number;
  /** The mark's name for a LOG_MARK entry, else null. */
  mark: string | null;
  /** Byte offset of the data in the log file (nrSectors * sectorSize bytes); meaningless for marks and discards. */
  dataOffset: number;
}

export interface WriteLog {
  sectorSize: number;
  entries: LogEntry[];
}

/** Thrown for a log that is not a complete dm-log-writes log (bad magic or version, an entry past the end). */
export class WriteLogError extends Error {}

function readAt(fd: number, length: number, position: number): Buffer {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done === length ? buf : buf.subarray(0, done);
}

/** Sector numbers and counts fit a JavaScript number exactly for any disk below 2^53 sectors. */
function safeNumber(value: bigint, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new WriteLogError(`${what} ${value} is out of range`);
  return Number(value);
}

/**
 * Parses the super block and every entry header of the log file at path (data is not read).
 * Throws WriteLogError when the magic or version is wrong or an entry runs past the end of the file.
 */
export function readWriteLog(path: string): WriteLog {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const sb = readAt(fd, SUPER_BYTES, 0);
    if (sb.length < SUPER_BYTES) throw new WriteLogError(`${path}: shorter than a super block`);
    if (sb.readBigUInt64LE(0) !== WRITE_LOG_MAGIC) throw new WriteLogError(`${path}: not a dm-log-writes log (bad magic)`);
    const version = sb.readBigUInt64LE(8);
    if (version !== WRITE_LOG_VERSION) throw new WriteLogError(`${path}: log version ${version}, expected ${WRITE_LOG_VERSION}`);
    const count = safeNumber(sb.readBigUInt64LE(16), 'nr_entries');
    const sectorSize = sb.readUInt32LE(24);
    if (sectorSize < 512 || (sectorSize & (sectorSize - 1)) !== 0) throw new WriteLogError(`${path}: sector size ${sectorSize}`);
    const entries: LogEntry[] = [];
    let pos = sectorSize;
    for (let index = 0; index < count; index++) {
      const block = readAt(fd, sectorSize, pos);
      if (block.length < sectorSize) throw new WriteLogError(`${path}: entry ${index} of ${count} is past the end of the log`);
      const sector = safeNumber(block.readBigUInt64LE(0), `entry ${index} sector`);
      const nrSectors = safeNumber(block.readBigUInt64LE(8), `entry ${index} nr_sectors`);
      const flags = safeNumber(block.readBigUInt64LE(16), `entry ${index} flags`);
      const dataLen = safeNumber(block.readBigUInt64LE(24), `entry ${index} data_len`);
      const isMark = (flags & LOG_MARK) !== 0;
      if (isMark && dataLen > sectorSize - ENTRY_BYTES) throw new WriteLogError(`${path}: entry ${index}: mark of ${dataLen} bytes`);
      const mark = isMark ? block.subarray(ENTRY_BYTES, ENTRY_BYTES + dataLen).toString('utf8') : null;
      const dataOffset = pos + sectorSize;
      // The kernel advances by one block for the header, plus the data unless it is a discard (marks have nr_sectors 0).
      const dataBlocks = flags & LOG_DISCARD ? 0 : nrSectors;
      pos = dataOffset + dataBlocks * sectorSize;
      if (pos > size) throw new WriteLogError(`${path}: entry ${index} of ${count} (${dataBlocks} blocks) is past the end of the log`);
      entries.push({ index, sector, nrSectors, flags, mark, dataOffset });
    }
    return { sectorSize, entries };
  } finally {
    closeSync(fd);
  }
}

/** Whether the entry carries data to write (not a mark, not a discard, at least one sector). */
export function writesData(entry: LogEntry): boolean {
  return (entry.flags & (LOG_MARK | LOG_DISCARD)) === 0 && entry.nrSectors > 0;
}

/** Whether a power cut right after this entry is a state a disk honouring FLUSH/FUA must be able to hold (CI's crash points). */
export function isFlushPoint(entry: LogEntry): boolean {
  return (entry.flags & (LOG_FLUSH | LOG_FUA)) !== 0;
}

/** Short text of an entry's flags, for reports: e.g. "FLUSH|FUA|META". */
export function flagText(flags: number): string {
  const names: [number, string][] = [[LOG_FLUSH, 'FLUSH'], [LOG_FUA, 'FUA'], [LOG_DISCARD, 'DISCARD'], [LOG_MARK, 'MARK'], [LOG_METADATA, 'META']];
  return names.filter(([bit]) => flags & bit).map(([, n]) => n).join('|') || 'WRITE';
}

/**
 * Replays entries [from, to) of log (read from logPath) onto the image file at imagePath, in log order.
 * Discards are not applied: QEMU's default (-drive discard=ignore) keeps the data, so the
 * whole-log replay stays byte-identical to the disk QEMU wrote. Returns the bytes written.
 */
export function replay(log: WriteLog, logPath: string, imagePath: string, from: number, to: number): number {
  const logFd = openSync(logPath, 'r');
  const imageFd = openSync(imagePath, 'r+');
  let written = 0;
  try {
    for (const entry of log.entries.slice(from, to)) {
      if (!writesData(entry)) continue;
      const length = entry.nrSectors * log.sectorSize;
      const data = readAt(logFd, length, entry.dataOffset);
      if (data.length !== length) throw new WriteLogError(`entry ${entry.index}: ${data.length} of ${length} data bytes in the log`);
      let done = 0;
      while (done < length) done += writeSync(imageFd, data, done, length - done, entry.sector * log.sectorSize + done);
      written += length;
    }
  } finally {
    closeSync(logFd);
    closeSync(imageFd);
  }
  return written;
}
