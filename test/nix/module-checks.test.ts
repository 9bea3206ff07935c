// Every wrong configuration the module claims to reject (its assertions, and the option types the
// real module system checks) and every warning it gives, evaluated as a build of
// system.build.toplevel would: the cases and the exact messages are the table in nix/tests/README.md,
// so that note cannot drift from what the module system says.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { evalNixOSAsync, normalizeNixMessage, requireNix } from '../helpers/nix.js';
import { REPO } from '../helpers/prereq.js';

beforeAll(requireNix);

const BASE = '{ pantherOS.filesystems.impermanence = { enable = true; device = "/dev/disk/by-label/nixos"; }; boot.initrd.systemd.enable = true; }';

interface Case {
  name: string;
  module: string;
  expected: string;
}

/** The "### name", ```nix``` and ```text``` triples of the note's last section. */
function casesOf(note: string): Case[] {
  const section = note.slice(note.indexOf('## Wrong configurations'));
  const found: Case[] = [];
  for (const m of section.matchAll(/^### (.+)\n\n```nix\n([\s\S]*?)\n```\n\n```text\n([\s\S]*?)\n```$/gm)) {
    found.push({ name: m[1]!, module: m[2]!, expected: m[3]! });
  }
  return found;
}

const NOTE = readFileSync(join(REPO, 'nix/tests/README.md'), 'utf8');
const CASES = casesOf(NOTE);

/** Builds each case's toplevel, two at a time (2 cores). */
async function buildAll(cases: Case[]): Promise<Map<string, { status: number | null; message: string }>> {
  const results = new Map<string, { status: number | null; message: string }>();
  const queue = [...cases];
  const worker = async (): Promise<void> => {
    for (let c = queue.shift(); c; c = queue.shift()) {
      const r = await evalNixOSAsync(`e.toplevel { modules = [ (${BASE}) (${c.module}) ]; }`);
      results.set(c.name, { status: r.status, message: normalizeNixMessage(r.stderr) });
    }
  };
  await Promise.all([worker(), worker()]);
  return results;
}

let results: Map<string, { status: number | null; message: string }>;
beforeAll(async () => {
  results = await buildAll(CASES);
});

describe('nix/tests/README.md lists the wrong configurations', () => {
  it('has every kind of check: assertions, option types, warnings', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(30);
    expect(CASES.filter((c) => c.expected.startsWith('Failed assertions:')).length).toBeGreaterThanOrEqual(14);
    expect(CASES.filter((c) => c.expected.startsWith('A definition for option')).length).toBeGreaterThanOrEqual(12);
    expect(CASES.filter((c) => c.name.startsWith('warning: ')).length).toBe(4);
  });

  it('the base host itself builds without a message (each case is what makes it fail)', async () => {
    const r = await evalNixOSAsync(`e.toplevel { modules = [ (${BASE}) ]; }`);
    expect(r.status, r.stderr).toBe(0);
    expect(normalizeNixMessage(r.stderr)).toBe('');
  });
});

describe.each(CASES.map((c) => [c.name, c] as const))('%s', (name, c) => {
  it(name.startsWith('warning: ') ? 'builds, with exactly this warning' : 'fails to build with exactly this message', () => {
    const r = results.get(name)!;
    expect(r.message).toBe(c.expected);
    expect(r.status).toBe(name.startsWith('warning: ') ? 0 : 1);
  });
});

it('a message that differs from the note is reported (the check can fail)', () => {
  const c = CASES.find((x) => x.name === 'no-device')!;
  expect(results.get(c.name)!.message).not.toBe(c.expected.replace('it is null', 'it is unset'));
  expect(casesOf('## Wrong configurations\n\n### x\n\n```nix\n{ }\n```\n\n```text\nmsg\n```\n')).toEqual([{ name: 'x', module: '{ }', expected: 'msg' }]);
});
