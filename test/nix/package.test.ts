// The package builds with no edits by a flake user: nix/package.nix takes its dependencies from
// package-lock.json through importNpmLock (no dependency hash to keep in sync), which fetches every
// lock entry by its `resolved` URL and checks it against its `integrity`. So every entry must carry
// both, on npm's default registry, whatever registry the machine that wrote the lock used (the
// project's .npmrc makes npm write them).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { evalNixOS, requireNix } from '../helpers/nix.js';
import { REPO } from '../helpers/prereq.js';

beforeAll(requireNix);

const REGISTRY = 'https://registry.npmjs.org/';

interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  link?: boolean;
  name?: string;
}
interface Lock {
  lockfileVersion: number;
  packages: Record<string, LockEntry>;
}

/** Every lock entry that Nix could not fetch as npm would: no resolved/integrity, another registry, a URL that is not this name and version. */
function lockProblems(lock: Lock): string[] {
  const problems: string[] = [];
  if (lock.lockfileVersion < 2) problems.push(`lockfileVersion ${lock.lockfileVersion}: importNpmLock reads the "packages" map of version 2 and 3`);
  for (const [location, entry] of Object.entries(lock.packages)) {
    if (location === '' || entry.link) continue;
    const name = entry.name ?? location.slice(location.lastIndexOf('node_modules/') + 'node_modules/'.length);
    const base = name.startsWith('@') ? name.split('/')[1] : name;
    const expected = `${REGISTRY}${name}/-/${base}-${entry.version}.tgz`;
    if (!entry.resolved) problems.push(`${location}: no resolved`);
    else if (!entry.resolved.startsWith(REGISTRY)) problems.push(`${location}: resolved ${entry.resolved} is not on ${REGISTRY}`);
    else if (entry.resolved !== expected) problems.push(`${location}: resolved ${entry.resolved} is not ${name}@${entry.version} (${expected})`);
    if (!entry.integrity) problems.push(`${location}: no integrity`);
    else if (!/^sha512-[A-Za-z0-9+/]{86}==$/.test(entry.integrity)) problems.push(`${location}: integrity ${entry.integrity} is not a sha512 SRI hash`);
  }
  return problems;
}

/** Placeholder or hand-kept dependency hashes in a Nix file's text. */
function placeholderHashes(text: string): string[] {
  const found: string[] = [];
  for (const pattern of [/lib\.fakeHash\b/, /lib\.fakeSha256\b/, /\bfakeHash\b/, /sha256-A{20,}/, /\b0{52}\b/, /npmDepsHash\s*=/]) {
    const m = pattern.exec(text);
    if (m) found.push(m[0]);
  }
  return found;
}

const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as Lock;
const packageNix = readFileSync(join(REPO, 'nix/package.nix'), 'utf8');

describe('package-lock.json', () => {
  it('records, for every package, its tarball on npm\'s default registry and its integrity', () => {
    expect(Object.keys(lock.packages).length).toBeGreaterThan(100);
    expect(lockProblems(lock)).toEqual([]);
  });

  it.each<[string, (l: Lock) => void, RegExp]>([
    ['no resolved', (l) => delete l.packages['node_modules/valibot']!.resolved, /node_modules\/valibot: no resolved/],
    ['no integrity', (l) => delete l.packages['node_modules/execa']!.integrity, /node_modules\/execa: no integrity/],
    ['a mirror', (l) => (l.packages['node_modules/execa']!.resolved = 'https://registry.npmmirror.com/execa/-/execa-9.6.1.tgz'), /is not on https:\/\/registry\.npmjs\.org\//],
    ['another version', (l) => (l.packages['node_modules/execa']!.resolved = `${REGISTRY}execa/-/execa-9.6.0.tgz`), /is not execa@9\.6\.1/],
  ])('a lock with %s is reported (the check can fail)', (_name, edit, message) => {
    const copy = JSON.parse(JSON.stringify(lock)) as Lock;
    edit(copy);
    expect(lockProblems(copy).join('\n')).toMatch(message);
  });

  it('npm, run in the project, writes resolved URLs to npm\'s default registry (.npmrc overrides this machine\'s config)', () => {
    const get = (key: string): string => {
      const r = spawnSync('npm', ['config', 'get', key], { cwd: REPO, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      return r.stdout.trim();
    };
    expect(get('omit-lockfile-registry-resolved')).toBe('false');
    expect(get('registry')).toBe(REGISTRY);
  });
});

interface PackageEval {
  name: string;
  aarch64Name: string;
  argNames: string[];
  src: string;
  npmConfigHookIsImportNpmLocks: boolean;
  fetched: Record<string, { url: string; hash: string }>;
  devDependencies: string[];
  lockRootDevDependencies: string[];
}

describe('nix/package.nix', () => {
  const pkg = evalNixOS<PackageEval>('e.flake.package');
  const TEST_ONLY = ['node_modules/@oven/bun-linux-x64'];

  it('carries no placeholder or hand-kept dependency hash', () => {
    expect(placeholderHashes(packageNix)).toEqual([]);
    expect(pkg.argNames).not.toContain('npmDepsHash');
    expect(pkg.argNames).toEqual(expect.arrayContaining(['npmDeps', 'npmConfigHook', 'src']));
    expect(pkg.npmConfigHookIsImportNpmLocks).toBe(true);
  });

  it('a placeholder hash is reported (the check can fail)', () => {
    expect(placeholderHashes('npmDepsHash = lib.fakeHash;')).toEqual(['lib.fakeHash', 'fakeHash', 'npmDepsHash =']);
    expect(placeholderHashes('hash = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";')).toEqual(['sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA']);
  });

  it('fetches every lock entry but the test-only Bun binary, by its resolved URL and integrity', () => {
    const expected = Object.fromEntries(
      Object.entries(lock.packages)
        .filter(([location, entry]) => location !== '' && !entry.link && !TEST_ONLY.includes(location))
        .map(([location, entry]) => [location, { url: entry.resolved, hash: entry.integrity }]),
    );
    expect(pkg.fetched).toEqual(expected);
    expect(pkg.devDependencies).not.toContain('@oven/bun-linux-x64');
    expect(pkg.lockRootDevDependencies).not.toContain('@oven/bun-linux-x64');
    expect(pkg.devDependencies).toContain('esbuild');
  });

  it('evaluates for both systems, its source through lib.fileset', () => {
    expect(pkg.name).toBe(`pantheros-rollback-${(JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version}`);
    expect(pkg.aarch64Name).toBe(pkg.name);
    expect(pkg.src).toMatch(/^\/nix\/store\/[0-9a-z]{32}-source$/);
  });
});
