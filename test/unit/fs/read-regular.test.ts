// readRegularFile on the real filesystem: a FIFO (which would block a plain read until a writer came), a device, a
// directory and, with noFollow, a symlink are refused without reading; a regular file and /proc/cmdline are read.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NotRegularFileError, readRegularFile } from '../../../src/fs/read-regular.js';

const dir = mkdtempSync(join(tmpdir(), 'read-regular-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('readRegularFile', () => {
  it('reads a regular file, through a symlink unless noFollow, and /proc/cmdline (a regular file of size 0)', () => {
    writeFileSync(join(dir, 'f'), 'text\n');
    symlinkSync('f', join(dir, 'link'));
    expect(readRegularFile(join(dir, 'f')).toString()).toBe('text\n');
    expect(readRegularFile(join(dir, 'link')).toString()).toBe('text\n');
    expect(() => readRegularFile(join(dir, 'link'), { noFollow: true })).toThrow(new NotRegularFileError(`${join(dir, 'link')} is a symlink, not a regular file`));
    expect(readRegularFile('/proc/cmdline').length).toBeGreaterThan(0);
  });

  it('refuses a FIFO at once (no writer needed), a device and a directory, naming what it is; ENOENT as open gives it', () => {
    const fifo = join(dir, 'fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    expect(() => readRegularFile(fifo)).toThrow(`${fifo} is a fifo, not a regular file`);
    expect(() => readRegularFile('/dev/null')).toThrow('/dev/null is a device, not a regular file');
    expect(() => readRegularFile(dir)).toThrow(`${dir} is a directory, not a regular file`);
    expect(() => readRegularFile(join(dir, 'missing'))).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });
});
