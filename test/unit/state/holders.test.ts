// The holders of a subvolume in a message (state-rollback refusing, its dry run): a process name and a path are anyone's
// to choose, so each holder stays one line (a review, 2026-12-01: a directory named with a newline printed a line of
// its own in the refusal).
import { describe, expect, it } from 'vitest';
import { describeHolders } from '../../../src/state/holders.js';
import { PathWalkError } from '../../../src/fs/open-dir.js';

describe('describeHolders', () => {
  it('escapes a newline or a control character in the process name or the path: one line per holder', () => {
    const text = describeHolders([
      { pid: 12, command: 'evil\nrolled back FORGED', what: 'cwd → /var/lib/pg/d\nFORGED' },
      { pid: 13, command: 'postgres', what: 'fd 5 → /var/lib/pg/\u001b[2Jx' },
    ]);
    expect(text).not.toMatch(/[\n\u001b]/);
    expect(text).toBe('pid 12 (evil\\nrolled back FORGED): cwd → /var/lib/pg/d\\nFORGED; pid 13 (postgres): fd 5 → /var/lib/pg/\\u001b[2Jx');
  });
});

describe('PathWalkError', () => {
  it('shows a symlink\'s target as a name: quoted and escaped when it holds a newline', () => {
    const e = new PathWalkError('/srv/x', 'symlink', 'a\nb', 'ELOOP');
    expect(e.message).toBe('/srv/x is a symlink (→ "a\\nb"); refusing to follow it');
  });
});
