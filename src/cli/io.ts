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

/**
 * Standard output was closed by its reader before everything was written (`| head`, quitting `less`): write(2)
 * failed with EPIPE. Not a failure of the command; main() exits 141 (128 + SIGPIPE, what a shell reports for a
 * program SIGPIPE stopped) after the run has released what it held, and prints nothing more.
 */
export class OutputClosedError extends Error {
  override name = 'OutputClosedError';
  constructor(options?: { cause?: unknown }) {
    super('standard output was closed before all output was written', options);
  }
}

/** Writes text to stdout; throws OutputClosedError when the reader has gone (EPIPE), other write errors as they are. */
export function writeOut(text: string): void {
  try {
    writeAll(1, text);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EPIPE') throw new OutputClosedError({ cause: error });
    throw error;
  }
}

export function writeErr(text: string): void {
  try {
    writeAll(2, text);
  } catch {
    // stderr gone (closed by the caller): nothing more to say
  }
}
