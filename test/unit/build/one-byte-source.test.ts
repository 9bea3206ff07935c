// The bundles are Latin-1 (scripts/one-byte-source.mjs): one character above U+00FF made the whole boot bundle
// two bytes per character in Bun and Node, about 3 ms more on every boot. The build refuses such a bundle.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error a plain .mjs script without types
import { assertOneByteSource, firstWideCharacter } from '../../../scripts/one-byte-source.mjs';

const REPO = new URL('../../../', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'one-byte-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('firstWideCharacter', () => {
  it('finds the first character above U+00FF with its line and column, and passes Latin-1', () => {
    expect(firstWideCharacter('plain ASCII\nand Latin-1: caf\u00e9 \u00b2 \u00ff\n')).toBeNull();
    expect(firstWideCharacter('a\nbc \u2192 d \u2264\n')).toEqual({ line: 2, column: 4, character: '\u2192', text: 'bc \u2192 d \u2264' });
    // Outside the Basic Multilingual Plane: one character (a surrogate pair), found whole.
    expect(firstWideCharacter('x\u{1f600}')).toMatchObject({ line: 1, column: 2, character: '\u{1f600}' });
  });

  it('assertOneByteSource names the file, the place and the character', () => {
    expect(() => assertOneByteSource('out.mjs', '// ok\n  // a \u2192 b\n')).toThrow(/^out\.mjs:2:8: U\+2192 "\u2192" in the bundle \(\/\/ a \u2192 b\)/);
    expect(() => assertOneByteSource('out.mjs', 'const s = "\\u2192";\n')).not.toThrow();
  });
});

describe('the build', () => {
  // Every entry scripts/build.mjs bundles: the operator's command, the initrd's boot-only entry, Node's snapshot entry.
  it.each(['src/bin.ts', 'src/bin-boot.ts', 'src/bin-boot-snapshot.ts'])('bundles %s as Latin-1 only', (entry) => {
    const out = join(dir, `${entry.replace(/\W/g, '-')}.mjs`);
    execFileSync(process.execPath, ['scripts/build.mjs', entry, out], { cwd: REPO, stdio: 'pipe' });
    expect(firstWideCharacter(readFileSync(out, 'utf8'))).toBeNull();
  });

  it('refuses a bundle that would hold a wider character (in a comment esbuild keeps: one inside an object literal), naming it', () => {
    const entry = join(dir, 'entry.ts');
    writeFileSync(entry, 'const tree = {\n  // mount point \u2192 subvolume\n  root: 1,\n};\nconsole.log(tree);\n');
    const r = spawnSync(process.execPath, ['scripts/build.mjs', entry, join(dir, 'entry.mjs')], { cwd: REPO, encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/entry\.mjs:\d+:\d+: U\+2192 "\u2192" in the bundle \(\/\/ mount point \u2192 subvolume\).*two bytes per character/);
  });
});
