// Reading a file the tool is told to read (a report, the kernel command line) without hanging on what is not a
// regular file: a FIFO blocks open(2) and read(2) until a writer comes, and a signal cannot stop a synchronous read.
import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import { kindOfStats } from './entry-kind.js';

/** The file at a path is not a regular file (a FIFO, a device, a directory, a symlink with noFollow). code ENOTREG. */
export class NotRegularFileError extends Error {
  override name = 'NotRegularFileError';
  readonly code = 'ENOTREG';
}

/** The regular file at a path is larger than the caller reads. code EFBIG. */
export class FileTooLargeError extends Error {
  override name = 'FileTooLargeError';
  readonly code = 'EFBIG';
}

/**
 * The bytes of the regular file at `path`. Opened with O_NONBLOCK (a FIFO opens at once instead of waiting for a
 * writer) and O_NOCTTY, then checked through its descriptor (fstat) before anything is read, so a FIFO or device put
 * there meanwhile is never read. With noFollow a symlink as the last component is refused too (O_NOFOLLOW).
 * With maxBytes, a file larger than that (by fstat) is refused before it is read: FileTooLargeError.
 * Throws NotRegularFileError ("PATH is a fifo, not a regular file"), or open's error (ENOENT, EACCES, ELOOP…).
 */
export function readRegularFile(path: string, options: { noFollow?: boolean; maxBytes?: number } = {}): Buffer {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY | (options.noFollow ? constants.O_NOFOLLOW : 0));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP' && options.noFollow) throw new NotRegularFileError(`${path} is a symlink, not a regular file`);
    throw error;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      const kind = st.isFIFO() ? 'fifo' : st.isSocket() ? 'socket' : st.isCharacterDevice() || st.isBlockDevice() ? 'device' : kindOfStats(st);
      throw new NotRegularFileError(`${path} is a ${kind}, not a regular file`);
    }
    if (options.maxBytes !== undefined && st.size > options.maxBytes) throw new FileTooLargeError(`${path} is ${st.size} bytes, more than the ${options.maxBytes} read here`);
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}
