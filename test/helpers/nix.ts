// Evaluates pure Nix expressions with Debian's nix-bin (no nixpkgs, no daemon) for the module tests.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './prereq.js';

// nix-bin's default nix.conf names a build-users-group that does not exist outside NixOS.
const NIX_ENV = { ...process.env, NIX_CONFIG: 'build-users-group =' };

const INSTALL_HINT = 'nix-instantiate is missing — run: apt-get install -y --no-install-recommends nix-bin (or bash .ci/run)';

/** Throws with an install hint when nix-instantiate is missing (never skips). */
export function requireNix(): void {
  const r = spawnSync('nix-instantiate', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(INSTALL_HINT);
}

// Runs nix-instantiate; a missing binary becomes the install hint even at test-collection time.
function instantiate(args: string[]): ReturnType<typeof spawnSync> & { stdout: string; stderr: string } {
  const r = spawnSync('nix-instantiate', args, { cwd: REPO, env: NIX_ENV, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') throw new Error(INSTALL_HINT);
  if (r.error) throw r.error;
  return r;
}

/** `nix-instantiate --eval --strict --json -E EXPR` in the repo root; `lib` is bound to nix/lib.nix. */
export function evalNix<T = unknown>(expr: string): T {
  const r = instantiate(['--eval', '--strict', '--json', '-E', `let lib = import ./nix/lib.nix; in ${expr}`]);
  if (r.status !== 0) throw new Error(`nix-instantiate failed on: ${expr}\n${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** Like evalNix but expects failure; returns nix's error output. */
export function evalNixError(expr: string): string {
  const r = instantiate(['--eval', '--strict', '--json', '-E', `let lib = import ./nix/lib.nix; in ${expr}`]);
  if (r.status === 0) throw new Error(`expected evaluation to fail, got: ${r.stdout}`);
  return r.stderr;
}

/** Evaluates a .nix file to JSON. */
export function evalNixFile<T = unknown>(file: string): T {
  const r = instantiate(['--eval', '--strict', '--json', file]);
  if (r.status !== 0) throw new Error(`nix-instantiate failed on ${file}\n${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** Parses a .nix file; returns null when it parses, else nix's message. */
export function parseNixFile(file: string): string | null {
  const r = instantiate(['--parse', file]);
  return r.status === 0 ? null : r.stderr;
}

/** Converts a JS value to a Nix expression (for passing option sets to lib.nix). */
export function toNix(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value).replace(/\$\{/g, '\\${');
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `[ ${value.map((v) => `(${toNix(v)})`).join(' ')} ]`;
  if (typeof value === 'object') {
    return `{ ${Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => `${JSON.stringify(k)} = ${toNix(v)};`)
      .join(' ')} }`;
  }
  throw new Error(`cannot express ${typeof value} in Nix`);
}

/** Every .nix file of the repository (outside node_modules and .git). */
export function listNixFiles(dir = REPO): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === '.git') continue;
    const full = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...listNixFiles(full));
    else if (entry.name.endsWith('.nix')) found.push(full);
  }
  return found.sort();
}

/** The module's output for a host, through nix/tests/module-eval.nix (a stand-in module system). */
export function evalModule<T = Record<string, unknown>>(host: object, hostConfig: object = {}, imported: object = {}): T {
  return evalNix<T>(`import ./nix/tests/module-eval.nix { host = ${toNix(host)}; hostConfig = ${toNix(hostConfig)}; imported = ${toNix(imported)}; }`);
}
