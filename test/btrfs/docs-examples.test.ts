// The docs' --help texts and marked examples are the real output: scripts/docs-examples.mjs reruns every one on a
// throwaway btrfs loop image (the bundled file, under Node and under Bun) and compares with the committed docs/.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, RUNTIMES, requirePrerequisites } from '../helpers/prereq.js';
import { runBundle } from '../helpers/run-bundle.js';

const SCRIPT = join(REPO, 'scripts/docs-examples.mjs');

function check(runtime: string, docs: string): { code: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [SCRIPT, '--check', '--runtime', runtime, '--docs', docs], { encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, stderr: r.stderr };
}

beforeAll(() => requirePrerequisites());

describe.each(RUNTIMES)('docs examples under $name', (runtime) => {
  it('--help lists --version, which prints the package version', () => {
    const { version } = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
    const help = runBundle(runtime, ['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^ {7}pantheros-rollback --version +\(print the version and exit 0\)$/m);
    const printed = runBundle(runtime, ['--version']);
    expect(printed.code).toBe(0);
    expect(printed.stdout).toBe(`${version}\n`);
  });

  it('every --help block and marked example in docs/ is what the bundle prints now', () => {
    const r = check(runtime.bin, join(REPO, 'docs'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  }, 300_000);
});

describe('the check can fail', () => {
  let scratch: string;
  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), 'pantheros-docs-check-'));
    cpSync(join(REPO, 'docs'), scratch, { recursive: true });
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('an example edited by hand is reported with the file and line', () => {
    const file = join(scratch, 'commands.md');
    const text = readFileSync(file, 'utf8');
    const edited = text.replace('keep   20261117T064410Z: among the newest 5', 'keep   20261117T064410Z: among the newest 6');
    expect(edited).not.toBe(text);
    writeFileSync(file, edited);
    const r = check(RUNTIMES[0].bin, scratch);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${file} differs from the real output`);
    expect(r.stderr).toContain('among the newest 6');
  }, 300_000);
});
