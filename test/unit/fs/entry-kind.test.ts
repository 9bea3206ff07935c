// Path joins the executor makes once per top level: the same string node:path's join gives, for every top and
// relative path (the fast path must never change which entry a path names).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { joinerBelow } from '../../../src/fs/entry-kind.js';

describe('joinerBelow', () => {
  it('gives what join gives, for plain and odd tops and relative paths', () => {
    const tops = ['/', '/mnt', '/mnt/', '/mnt//top', '/a/./b', '/a/../b', '/a/b/..', 'relative/top', '.', '', '/x y/ü'];
    const pieces = ['a', 'b', '.', '..', '', '...', '.a', 'a.', ' ', 'ü', 'x\ny', '-'];
    // Every relative path of 1 to 3 of these components, joined by "/" (an empty piece makes "//", a leading or trailing "/").
    const rels: string[] = [];
    for (const a of pieces) {
      rels.push(a);
      for (const b of pieces) {
        rels.push(`${a}/${b}`);
        for (const c of pieces) rels.push(`${a}/${b}/${c}`);
      }
    }
    let fast = 0;
    for (const top of tops) {
      const below = joinerBelow(top);
      for (const rel of rels) {
        expect(below(rel), `${JSON.stringify(top)} + ${JSON.stringify(rel)}`).toBe(join(top, rel));
        if (top.startsWith('/') && !rel.split('/').some((c) => c === '' || c === '.' || c === '..')) fast += 1;
      }
    }
    // Most pairs must take the fast path, or the comparison says little about it.
    expect(fast).toBeGreaterThan(1000);
  });
});
