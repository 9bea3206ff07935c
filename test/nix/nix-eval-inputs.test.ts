// Where the module tests get nixpkgs' lib and the nix-community modules: the inputs tarball, found in
// a fixed order and extracted once per content; a nixpkgs checkout outside CI; else a failure that
// says how to get them (never a skip).
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findNixEvalTarball, locateNixEvalInputs, nixEvalCandidates } from '../helpers/nix.js';

const scratch = mkdtempSync(join(tmpdir(), 'pantheros-nix-inputs-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('locating the nix-eval inputs', () => {
  it('looks at $PANTHEROS_NIX_EVAL_INPUTS, then <repo>/../shared/nix-eval, then /work/shared/nix-eval', () => {
    const candidates = nixEvalCandidates({ PANTHEROS_NIX_EVAL_INPUTS: '/somewhere/inputs.tar.zst' });
    expect(candidates[0]).toBe('/somewhere/inputs.tar.zst');
    expect(candidates[1]).toMatch(/\/shared\/nix-eval$/);
    expect(candidates.at(-1)).toBe('/work/shared/nix-eval');
    expect(nixEvalCandidates({})).toHaveLength(2);
  });

  it('without the tarball or a nixpkgs checkout the tests fail and say how to get one', () => {
    expect(() => locateNixEvalInputs({}, [join(scratch, 'nothing-here')])).toThrow(/nix-eval inputs are missing: put nix-eval-inputs\.tar\.zst .* or point NIXPKGS at a nixpkgs checkout/);
  });

  it('in CI the tarball is required: a nixpkgs checkout does not serve', () => {
    const nixpkgs = join(scratch, 'nixpkgs');
    mkdirSync(join(nixpkgs, 'lib'), { recursive: true });
    writeFileSync(join(nixpkgs, 'lib/default.nix'), '{ }\n');
    expect(() => locateNixEvalInputs({ CI: 'true', NIXPKGS: nixpkgs }, [])).toThrow(/\(required in CI\)/);
    expect(locateNixEvalInputs({ NIXPKGS: nixpkgs, DISKO: '/d' }, [])).toEqual({
      lib: join(nixpkgs, 'lib'),
      disko: '/d',
      impermanence: null,
      preservation: null,
      source: `NIXPKGS=${nixpkgs}`,
    });
  });

  it('extracts the tarball once, into a directory named by its content', () => {
    const found = findNixEvalTarball(nixEvalCandidates());
    expect(found, 'the nix-eval inputs tarball (see nix/tests/README.md)').not.toBeNull();
    const dir = join(scratch, 'shared');
    mkdirSync(dir);
    copyFileSync(found!, join(dir, 'nix-eval-inputs.tar.zst'));
    const cache = join(scratch, 'cache');
    const first = locateNixEvalInputs({ PANTHEROS_NIX_EVAL_INPUTS: dir }, undefined, cache);
    expect(first.source).toBe(join(dir, 'nix-eval-inputs.tar.zst'));
    expect(first.lib).toMatch(new RegExp(`^${cache}/[0-9a-f]{16}/nixpkgs-lib/lib$`));
    expect(readFileSync(join(first.lib, '.version'), 'utf8').trim()).toBe('26.11');
    const sources = join(first.lib, '../../SOURCES.txt');
    const extractedAt = statSync(sources).mtimeMs;
    const second = locateNixEvalInputs({ PANTHEROS_NIX_EVAL_INPUTS: join(dir, 'nix-eval-inputs.tar.zst') }, undefined, cache);
    expect(second).toEqual(first);
    expect(statSync(sources).mtimeMs).toBe(extractedAt);
  });
});
