// The dm-log-writes reader and replayer on logs built here byte by byte in the kernel's format
// (drivers/md/dm-log-writes.c): what the power-cut test's crash points rest on.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  flagText, isFlushPoint, LOG_DISCARD, LOG_FLUSH, LOG_FUA, LOG_MARK, LOG_METADATA, readWriteLog, replay, WRITE_LOG_MAGIC, WriteLogError,
} from './log-writes.js';

const SECTOR = 512;

interface RawEntry {
  sector: number;
  flags: number;
  /** Written data (whole sectors) or a mark's text. */
  data?: Buffer | string;
  /** nr_sectors of a discard (which carries no data). */
  discardSectors?: number;
}

/** A log as the kernel lays it out: super block in block 0, then per entry a header block and its data blocks. */
function buildLog(entries: RawEntry[], options: { magic?: bigint; version?: bigint; count?: number } = {}): Buffer {
  const blocks: Buffer[] = [];
  const sb = Buffer.alloc(SECTOR);
  sb.writeBigUInt64LE(options.magic ?? WRITE_LOG_MAGIC, 0);
  sb.writeBigUInt64LE(options.version ?? 1n, 8);
  sb.writeBigUInt64LE(BigInt(options.count ?? entries.length), 16);
  sb.writeUInt32LE(SECTOR, 24);
  blocks.push(sb);
  for (const e of entries) {
    const header = Buffer.alloc(SECTOR);
    const isMark = (e.flags & LOG_MARK) !== 0;
    const data = typeof e.data === 'string' ? Buffer.from(e.data) : e.data;
    const nrSectors = isMark ? 0 : (e.discardSectors ?? (data ? data.length / SECTOR : 0));
    header.writeBigUInt64LE(BigInt(e.sector), 0);
    header.writeBigUInt64LE(BigInt(nrSectors), 8);
    header.writeBigUInt64LE(BigInt(e.flags), 16);
    header.writeBigUInt64LE(BigInt(isMark ? data!.length : 0), 24);
    if (isMark) data!.copy(header, 32);
    blocks.push(header);
    if (!isMark && !(e.flags & LOG_DISCARD) && data) blocks.push(data);
  }
  return Buffer.concat(blocks);
}

const fill = (byte: number, sectors: number) => Buffer.alloc(sectors * SECTOR, byte);

describe('dm-log-writes reader', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  function files(log: Buffer, imageSectors = 16): { logPath: string; imagePath: string } {
    const dir = mkdtempSync(join(tmpdir(), 'pantheros-logwrites-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'log'), log);
    writeFileSync(join(dir, 'image'), Buffer.alloc(imageSectors * SECTOR));
    return { logPath: join(dir, 'log'), imagePath: join(dir, 'image') };
  }

  const entries: RawEntry[] = [
    { sector: 0, flags: LOG_MARK, data: 'boot-start' },
    { sector: 2, flags: 0, data: fill(0xaa, 2) },
    { sector: 0, flags: LOG_FLUSH },
    { sector: 8, flags: LOG_DISCARD, discardSectors: 4 },
    { sector: 3, flags: LOG_FUA | LOG_METADATA, data: fill(0xbb, 1) },
    { sector: 10, flags: 0, data: fill(0xcc, 3) },
    { sector: 0, flags: LOG_MARK, data: 'tool-exit-0' },
  ];

  it('reads every entry: sector, size, flags, marks, and where its data is', () => {
    const { logPath } = files(buildLog(entries));
    const log = readWriteLog(logPath);
    expect(log.sectorSize).toBe(SECTOR);
    expect(log.entries.map((e) => [e.index, e.sector, e.nrSectors, e.flags, e.mark])).toEqual([
      [0, 0, 0, LOG_MARK, 'boot-start'],
      [1, 2, 2, 0, null],
      [2, 0, 0, LOG_FLUSH, null],
      [3, 8, 4, LOG_DISCARD, null],
      [4, 3, 1, LOG_FUA | LOG_METADATA, null],
      [5, 10, 3, 0, null],
      [6, 0, 0, LOG_MARK, 'tool-exit-0'],
    ]);
    // Header blocks: super, mark, header+2 data, flush header, discard header (no data), header+1, header+3.
    expect(log.entries.map((e) => e.dataOffset / SECTOR)).toEqual([2, 3, 6, 7, 8, 10, 14]);
    expect(log.entries.filter(isFlushPoint).map((e) => e.index)).toEqual([2, 4]);
    expect(flagText(LOG_FUA | LOG_METADATA)).toBe('FUA|META');
    expect(flagText(0)).toBe('WRITE');
  });

  it('replays a prefix onto the image: later writes are absent, discards and marks write nothing', () => {
    const { logPath, imagePath } = files(buildLog(entries));
    const log = readWriteLog(logPath);
    expect(replay(log, logPath, imagePath, 0, 3)).toBe(2 * SECTOR);
    let image = readFileSync(imagePath);
    expect(image.subarray(2 * SECTOR, 4 * SECTOR).every((b) => b === 0xaa)).toBe(true);
    expect(image.subarray(10 * SECTOR, 13 * SECTOR).every((b) => b === 0)).toBe(true);
    // The rest, in two steps, gives the same image as one whole replay.
    expect(replay(log, logPath, imagePath, 3, log.entries.length)).toBe(4 * SECTOR);
    image = readFileSync(imagePath);
    expect(image.subarray(2 * SECTOR, 3 * SECTOR).every((b) => b === 0xaa)).toBe(true);
    expect(image.subarray(3 * SECTOR, 4 * SECTOR).every((b) => b === 0xbb)).toBe(true);
    expect(image.subarray(10 * SECTOR, 13 * SECTOR).every((b) => b === 0xcc)).toBe(true);
    const whole = files(buildLog(entries));
    replay(log, whole.logPath, whole.imagePath, 0, log.entries.length);
    expect(readFileSync(whole.imagePath).equals(image)).toBe(true);
  });

  it('rejects what is not a complete log', () => {
    expect(() => readWriteLog(files(buildLog(entries, { magic: 0x1234n })).logPath)).toThrow(WriteLogError);
    expect(() => readWriteLog(files(buildLog(entries, { version: 2n })).logPath)).toThrow(/version 2/);
    // A super block that promises more entries than the file holds (a truncated copy).
    expect(() => readWriteLog(files(buildLog(entries, { count: 9 })).logPath)).toThrow(/past the end/);
    const truncated = buildLog(entries).subarray(0, 12 * SECTOR);
    expect(() => readWriteLog(files(truncated).logPath)).toThrow(/past the end/);
  });
});
