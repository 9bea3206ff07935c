// Log lines embed names any user chose (subvolumes, files below a root, listing text): one record is one line, and no
// name can start a line that reads as the tool's own or act on the terminal or log viewer that shows it.
import { describe, expect, it } from 'vitest';
import { formatLogLine } from '../../../src/log/logger.js';

const FORGED = 'pantheros-rollback: error: the root was not rolled back';

describe('formatLogLine', () => {
  it('writes one line per record, the priority prefix only where it is read (journal, kmsg)', () => {
    expect(formatLogLine('warn', 'kept @root', true)).toBe('<4>pantheros-rollback: warning: kept @root\n');
    expect(formatLogLine('info', 'done', false)).toBe('pantheros-rollback: done\n');
    expect(formatLogLine('error', 'failed', true)).toBe('<3>pantheros-rollback: error: failed\n');
  });

  it.each([
    ['a newline and a forged record', `old_roots/x/tmp/a\n${FORGED}`],
    ['a newline and a forged priority', `a\n<3>${FORGED}`],
    ['a carriage return that rewrites the line on a terminal', `a\r${FORGED}`],
    ['a terminal escape (clear screen)', 'a\u001b[2Jb'],
    ['a C1 control (CSI, NEL)', 'a\u009b2Jb\u0085c'],
    ['a bidi override', 'gpj\u202e.exe'],
    ['a line separator', `a\u2028${FORGED}`],
  ])('%s stays inside the one line, escaped', (_what, message) => {
    for (const withPriority of [true, false]) {
      const line = formatLogLine('info', `deleting ${message}`, withPriority);
      expect(line.endsWith('\n')).toBe(true);
      const body = line.slice(0, -1);
      expect(body).not.toMatch(/[\p{Cc}\p{Bidi_C}\u2028\u2029]/u);
      expect(body.startsWith(withPriority ? '<6>pantheros-rollback: deleting ' : 'pantheros-rollback: deleting ')).toBe(true);
      // The escapes are JSON's, so the name can be read back exactly.
      expect(JSON.parse(`"${body.slice(body.indexOf('deleting ') + 9)}"`)).toBe(message);
    }
  });
});
