// Output through write(2) on fd 1 and 2. Under Bun the first process.stdout/stderr.write sets up
// Node's stream layer, about 9 ms on every start — more than the whole rollback; writeSync costs nothing.
import { writeSync } from 'node:fs';

function writeAll(fd: number, text: string): void {
  let buf = Buffer.from(text);
  while (buf.length > 0) {
    try {
      buf = buf.subarray(writeSync(fd, buf));
    } catch (error) {
      // A non-blocking pipe that is full: wait for the reader and go on.
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}

export function writeOut(text: string): void {
  writeAll(1, text);
}

export function writeErr(text: string): void {
  try {
    writeAll(2, text);
  } catch {
    // stderr gone (closed by the caller): nothing more to say
  }
}
