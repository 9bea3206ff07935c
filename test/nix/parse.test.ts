// Every .nix file of the repository must parse with nix-instantiate (nix-bin; CI has no nixpkgs).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listNixFiles, parseNixFile, requireNix } from '../helpers/nix.js';
import { REPO } from '../helpers/prereq.js';

describe('nix files parse', () => {
  const files = listNixFiles();

  // No skipping: without nix-bin every test here fails with the install hint.
  it('nix-instantiate is installed', () => {
    expect(requireNix).not.toThrow();
  });

  it('finds the module, lib, flake, disko layout, examples and VM test', () => {
    const names = files.map((f) => relative(REPO, f));
    for (const expected of [
      'flake.nix',
      'nix/lib.nix',
      'nix/options.nix',
      'nix/module.nix',
      'nix/package.nix',
      'nix/disko.nix',
      'nix/examples/hetzner-vps/default.nix',
      'nix/examples/ovh-vps/default.nix',
      'nix/tests/rollback.nix',
    ]) {
      expect(names).toContain(expected);
    }
  });

  it.each(files.map((f) => [relative(REPO, f), f]))('%s parses', (_name, file) => {
    expect(parseNixFile(file)).toBeNull();
  });

  it('reports a syntax error (the check can fail)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pantheros-nix-'));
    try {
      const bad = join(dir, 'bad.nix');
      writeFileSync(bad, '{ a = 1; b = ; }\n');
      expect(parseNixFile(bad)).toMatch(/syntax error/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
