// A system error's message holds its paths raw (node:fs and Bun: "ENOENT: …, rename 'PATH' -> 'DEST'"), and a path is
// anyone's to name. A review (2026-12-01) had a nested subvolume named "x\npantheros-rollback: ok: …" renamed away
// during a state rollback: the failure message printed that forged line of its own below the error (the whole run:
// test/btrfs/attack-state-online.test.ts).
import { renameSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { describeError } from '../../../src/errors.js';

const FORGED = 'x\npantheros-rollback: ok: rolled back everything; all done';

function fsError(): Error {
  try {
    renameSync(`/nonexistent-${process.pid}/${FORGED}`, `/nonexistent-${process.pid}/${FORGED}.2`);
  } catch (error) {
    return error as Error;
  }
  throw new Error('rename of a missing path succeeded');
}

describe('error messages stay one line whatever the names in them', () => {
  it('describeError escapes the newlines of a system error\'s paths, also as a cause; other messages are as they were', () => {
    const e = fsError();
    expect((e as NodeJS.ErrnoException).syscall).toBe('rename');
    expect(e.message).toContain('\n');
    const text = describeError(e);
    expect(text).not.toContain('\n');
    expect(text).toContain('x\\npantheros-rollback: ok');
    const wrapped = describeError(new Error('step 3 rename failed', { cause: e }));
    expect(wrapped).not.toContain('\n');
    expect(wrapped.startsWith('step 3 rename failed: ENOENT')).toBe(true);
    expect(describeError(new Error('plain'))).toBe('plain');
  });
});
