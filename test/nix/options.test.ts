// Every option of pantherOS.filesystems.impermanence has a description and is documented in
// docs/nixos.md, whose host example parses. The options are listed by nixpkgs'
// own manual generator (lib.optionAttrSetToDocList over the real module system).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { evalNixOS, parseNixFile, requireNix } from '../helpers/nix.js';
import { REPO } from '../helpers/prereq.js';

beforeAll(requireNix);

const PREFIX = 'pantherOS.filesystems.impermanence.';

interface OptionDoc {
  name: string;
  type: string;
  internal: boolean;
  description: string | null;
  default: { value: unknown } | null;
  defaultText: string | null;
}
interface OptionInfo {
  path: string;
  described: boolean;
  type: string;
  default: { value: unknown } | null;
}

/** The documented (not internal) options, from nix/tests/nixos/eval.nix `optionDocs`. */
function documentedOptions(): OptionInfo[] {
  return evalNixOS<OptionDoc[]>('e.optionDocs')
    .filter((o) => !o.internal)
    .map((o) => ({ path: o.name, described: typeof o.description === 'string' && o.description.trim() !== '', type: o.type, default: o.default }));
}

/** A default as docs/nixos.md writes it (Nix syntax). */
function asNix(value: unknown): string {
  if (Array.isArray(value)) return value.length ? `[ ${value.map(asNix).join(' ')} ]` : '[ ]';
  if (typeof value === 'string') return JSON.stringify(value);
  return String(value);
}

/** The docs/nixos.md table rows whose third column does not show the option's plain default. */
function wrongDefaults(section: string, options: OptionInfo[]): string[] {
  const rows = new Map<string, string>();
  for (const line of section.split('\n')) {
    const cells = line.split(' | ');
    const name = /^\| `([^`]+)`$/.exec(cells[0] ?? '')?.[1];
    if (name && cells[2] !== undefined) rows.set(name, cells[2]);
  }
  return options
    .filter((o) => o.default !== null)
    .map((o) => ({ name: o.path.slice(PREFIX.length), expected: `\`${asNix(o.default!.value)}\`` }))
    .filter(({ name, expected }) => !(rows.get(name) ?? '').includes(expected))
    .map(({ name, expected }) => `${name}: docs/nixos.md says ${rows.get(name) ?? '(no row)'}, options.nix ${expected}`);
}

/** The reference of the NixOS module (docs/nixos.md): its options table and the complete host. */
function moduleSection(): string {
  return readFileSync(join(REPO, 'docs/nixos.md'), 'utf8');
}

/** Option paths (relative to the prefix) that the section does not mention in backticks. */
function undocumented(section: string, options: OptionInfo[]): string[] {
  return options.map((o) => o.path.slice(PREFIX.length)).filter((p) => !section.includes(`\`${p}\``));
}

describe('module options', () => {
  const options = documentedOptions();

  it('declares the options the design asks for', () => {
    const paths = options.map((o) => o.path.slice(PREFIX.length));
    for (const p of [
      'enable',
      'device',
      'subvolumes.root',
      'subvolumes.blank',
      'subvolumes.oldRoots',
      'subvolumes.snapshots',
      'performanceMode',
      'snapshotRetention.hourly',
      'snapshotRetention.monthly',
      'snapshotSubvolumes',
      'oldRoots.keepDays',
      'oldRoots.keepAtLeast',
      'oldRoots.minFreePercent',
      'runtime',
      'persistentTree',
      'persistentTree.<name>.neededForBoot',
    ]) {
      expect(paths).toContain(p);
    }
  });

  it('every option has a description', () => {
    expect(options.filter((o) => !o.described).map((o) => o.path)).toEqual([]);
  });

  it('docs/nixos.md documents every option', () => {
    expect(undocumented(moduleSection(), options)).toEqual([]);
  });

  it('the docs/nixos.md table shows every plain default as options.nix declares it', () => {
    expect(options.filter((o) => o.default !== null).length).toBeGreaterThan(20);
    expect(wrongDefaults(moduleSection(), options)).toEqual([]);
  });

  it('a wrong default in docs/nixos.md is reported (the check can fail)', () => {
    const changed = options.map((o) => (o.path === `${PREFIX}oldRoots.keepDays` ? { ...o, default: { value: 31 } } : o));
    expect(wrongDefaults(moduleSection(), changed)).toEqual(['oldRoots.keepDays: docs/nixos.md says `30`, options.nix `31`']);
  });

  it('an undocumented option is reported (the check can fail)', () => {
    const fake = [...options, { path: `${PREFIX}notInTheDocs`, described: true, type: 'bool', default: null }];
    expect(undocumented(moduleSection(), fake)).toEqual(['notInTheDocs']);
  });

  it('the docs/nixos.md host example parses and enables the module on btrfs with systemd stage 1', () => {
    const blocks = [...moduleSection().matchAll(/```nix\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks.length).toBeGreaterThan(0);
    const example = blocks[0]!;
    expect(example).toMatch(/pantherOS\.filesystems\.impermanence = impermanence \/\/ \{ enable = true; \}/);
    expect(example).toMatch(/boot\.initrd\.systemd\.enable = true/);
    const dir = mkdtempSync(join(tmpdir(), 'pantheros-nix-'));
    try {
      const file = join(dir, 'example.nix');
      writeFileSync(file, example);
      expect(parseNixFile(file)).toBeNull();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
