// Evaluates Nix expressions with Debian's nix-bin (Nix 2.8, no nixpkgs, no daemon) for the module
// tests: pure lib.nix expressions, and NixOS configurations through the real nixpkgs module system
// (nix/tests/nixos/eval.nix, with the nix-eval inputs tarball).
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
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
  const r = spawnSync('nix-instantiate', args, { cwd: REPO, env: NIX_ENV, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
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

/** Every .nix file of the repository (outside node_modules, .git and .cache). */
export function listNixFiles(dir = REPO): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === '.git' || entry.name === '.cache') continue;
    const full = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...listNixFiles(full));
    else if (entry.name.endsWith('.nix')) found.push(full);
  }
  return found.sort();
}

// --- The real nixpkgs module system ----------------------------------------------------------------

const TARBALL = 'nix-eval-inputs.tar.zst';

/** How to get the inputs, for the error when none are found. */
function getInputsHint(ci: boolean): string {
  return (
    `the nix-eval inputs are missing: put ${TARBALL} (nixpkgs' lib, disko, impermanence, preservation; ` +
    `see nix/tests/README.md and /work/shared/nix-eval/README.md) at $PANTHEROS_NIX_EVAL_INPUTS, ` +
    `<repo>/../shared/nix-eval/ or /work/shared/nix-eval/` +
    (ci
      ? ' (required in CI)'
      : ', or point NIXPKGS at a nixpkgs checkout (its lib/ is used; DISKO, IMPERMANENCE and PRESERVATION name checkouts of those for the tests that import them)')
  );
}

/** Paths of the trees nix/tests/nixos/eval.nix takes as `inputs` (null: not available). */
export interface NixEvalInputs {
  lib: string;
  disko: string | null;
  impermanence: string | null;
  preservation: string | null;
  /** Where they came from, for messages. */
  source: string;
}

/** Where the tarball is looked for, in order: $PANTHEROS_NIX_EVAL_INPUTS (the file or its directory), <repo>/../shared/nix-eval/, /work/shared/nix-eval/. */
export function nixEvalCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  return [env.PANTHEROS_NIX_EVAL_INPUTS, resolve(REPO, '../shared/nix-eval'), '/work/shared/nix-eval'].filter((c): c is string => Boolean(c));
}

/** The first candidate that is the tarball or a directory holding it; null when none is. */
export function findNixEvalTarball(candidates: string[]): string | null {
  for (const candidate of candidates) {
    const file = existsSync(candidate) && statSync(candidate).isDirectory() ? join(candidate, TARBALL) : candidate;
    if (existsSync(file) && statSync(file).isFile()) return file;
  }
  return null;
}

/**
 * Extracts the tarball once into CACHE/<first 16 hex digits of its sha256>/ (to a temporary
 * directory, then renamed, so a concurrent run never sees half a tree); returns that directory.
 */
export function extractNixEvalTarball(tarball: string, cache = join(REPO, '.cache/nix-eval')): string {
  const hash = createHash('sha256').update(readFileSync(tarball)).digest('hex').slice(0, 16);
  const dir = join(cache, hash);
  if (existsSync(join(dir, 'SOURCES.txt'))) return dir;
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const r = spawnSync('bash', ['-c', 'zstd -dc "$1" | tar -x -C "$2"', 'extract', tarball, tmp], { encoding: 'utf8' });
  if (r.status !== 0) {
    rmSync(tmp, { recursive: true, force: true });
    throw new Error(`extracting ${tarball} failed (zstd and tar are needed): ${r.stderr}`);
  }
  mkdirSync(dirname(dir), { recursive: true });
  try {
    renameSync(tmp, dir);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(join(dir, 'SOURCES.txt'))) throw err;
  }
  return dir;
}

/**
 * Locates the nix-eval inputs: the tarball (see nixEvalCandidates), extracted into .cache/; outside
 * CI a nixpkgs checkout named by NIXPKGS may serve instead. Throws saying how to get them.
 */
export function locateNixEvalInputs(env: NodeJS.ProcessEnv = process.env, candidates = nixEvalCandidates(env), cache?: string): NixEvalInputs {
  const tarball = findNixEvalTarball(candidates);
  const ci = env.CI === 'true';
  if (tarball) {
    const dir = extractNixEvalTarball(tarball, cache);
    return {
      lib: join(dir, 'nixpkgs-lib/lib'),
      disko: join(dir, 'disko'),
      impermanence: join(dir, 'impermanence'),
      preservation: join(dir, 'preservation'),
      source: tarball,
    };
  }
  const nixpkgs = env.NIXPKGS;
  if (!ci && nixpkgs && existsSync(join(nixpkgs, 'lib/default.nix'))) {
    return {
      lib: join(nixpkgs, 'lib'),
      disko: env.DISKO ?? null,
      impermanence: env.IMPERMANENCE ?? null,
      preservation: env.PRESERVATION ?? null,
      source: `NIXPKGS=${nixpkgs}`,
    };
  }
  throw new Error(getInputsHint(ci));
}

let cachedInputs: NixEvalInputs | undefined;

/** The inputs for this run (located once). */
export function nixEvalInputs(): NixEvalInputs {
  cachedInputs ??= locateNixEvalInputs();
  return cachedInputs;
}

function evalConfigArgs(expr: string, extra: string[] = []): string[] {
  const inputs = nixEvalInputs();
  // A path value from a string, whatever characters the directory name has.
  const path = (p: string | null): string => (p === null ? 'null' : `(/. + ${toNix(resolve(p))})`);
  const bound = `{ lib = ${path(inputs.lib)}; disko = ${path(inputs.disko)}; impermanence = ${path(inputs.impermanence)}; preservation = ${path(inputs.preservation)}; }`;
  // --readonly-mode: store paths (lib.fileset.toSource's source) are computed, never written.
  return ['--readonly-mode', '--eval', '--strict', '--json', ...extra, '-E', `let e = import ./nix/tests/nixos/eval.nix { inputs = ${bound}; }; in ${expr}`];
}

/** Evaluates EXPR with `e` bound to nix/tests/nixos/eval.nix (the real module system); JSON result. */
export function evalNixOS<T = unknown>(expr: string): T {
  const r = instantiate(evalConfigArgs(expr));
  if (r.status !== 0) throw new Error(`nix-instantiate failed on: ${expr}\n${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** Like evalNixOS but expects failure; returns nix's error output (warnings included). */
export function evalNixOSError(expr: string): string {
  const r = instantiate(evalConfigArgs(expr));
  if (r.status === 0) throw new Error(`expected evaluation to fail, got: ${r.stdout.slice(0, 2000)}`);
  return r.stderr;
}

/** Like evalNixOS, and also returns what the evaluation printed (lib.warn's "evaluation warning" lines). */
export function evalNixOSWithStderr<T = unknown>(expr: string): { value: T; stderr: string } {
  const r = instantiate(evalConfigArgs(expr));
  if (r.status !== 0) throw new Error(`nix-instantiate failed on: ${expr}\n${r.stderr}`);
  return { value: JSON.parse(r.stdout) as T, stderr: r.stderr };
}

/** Runs EXPR like evalNixOS without blocking; resolves with the exit status and both outputs. */
export function evalNixOSAsync(expr: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const args = evalConfigArgs(expr);
  return new Promise((resolvePromise, reject) => {
    const child = spawn('nix-instantiate', args, { cwd: REPO, env: NIX_ENV });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err: NodeJS.ErrnoException) => reject(err.code === 'ENOENT' ? new Error(INSTALL_HINT) : err));
    child.on('close', (status) => resolvePromise({ status, stdout, stderr }));
  });
}

/** What Nix printed, as a reader sees it: no ANSI colours, no "error: " prefix, no indentation, no --show-trace hint, this checkout's path as <repo>. */
export function normalizeNixMessage(stderr: string): string {
  return stderr
    .replace(/\x1b\[[0-9;]*m/g, '')
    .split('\n')
    .filter((line) => !line.startsWith("(use '--show-trace'"))
    .map((line) => line.replace(/^error: */, '').replace(/^trace: /, '').replace(/^ {7}/, '').trimEnd())
    .filter((line) => line !== '')
    .join('\n')
    .replaceAll(REPO, '<repo>');
}

/** A NixOS configuration for eval.nix's `host`: Nix module expressions, and which nix-community modules to import. */
export interface Host {
  modules: string[];
  imports?: ('impermanence' | 'preservation' | 'disko')[];
}

/** The Nix expression of a Host. */
export function hostExpr(host: Host): string {
  return `{ modules = [ ${host.modules.map((m) => `(${m})`).join(' ')} ]; imports = ${toNix(host.imports ?? [])}; }`;
}

/** A module setting pantherOS.filesystems.impermanence to `values` and, by default, systemd stage 1. */
export function impermanenceModule(values: object, extra = 'boot.initrd.systemd.enable = true;'): string {
  return `{ lib, ... }: { pantherOS.filesystems.impermanence = ${toNix(values)}; ${extra} }`;
}

/** Summaries (nix/tests/nixos/eval.nix `summarize`) of several hosts in one nix-instantiate run. */
export function evalHosts<T>(hosts: Record<string, Host>): Record<string, T> {
  const attrs = Object.entries(hosts)
    .map(([name, host]) => `${JSON.stringify(name)} = ${hostExpr(host)};`)
    .join(' ');
  return evalNixOS<Record<string, T>>(`e.hosts { ${attrs} }`);
}

/** The error a build of the host's system.build.toplevel stops with (failed assertions, type errors). */
export function hostBuildError(host: Host): string {
  return evalNixOSError(`e.toplevel ${hostExpr(host)}`);
}

/** A rendered unit of either stage (nix/tests/nixos/systemd.nix). */
export interface UnitFile {
  text: string;
  wantedBy: string[];
  requiredBy: string[];
  enable: boolean;
}

/** A store file whose contents eval.nix knows (null: a binary stands here). */
export interface StoreFile {
  text: string | null;
  executable: boolean;
}

/** What nix/tests/nixos/eval.nix `summarize` returns for a host. */
export interface NixosSummary {
  failedAssertions: string[];
  warnings: string[];
  fileSystems: Record<string, { mountPoint: string; device: string | null; fsType: string; options: string[]; neededForBoot: boolean; depends: string[] }>;
  initrdFstab: string;
  initrd: {
    enable: boolean;
    units: Record<string, UnitFile>;
    storePaths: { source: string; target: string | null }[];
    contents: Record<string, string>;
    extraBin: Record<string, string>;
    initrdBin: string[];
    supportedFilesystems: string[];
  };
  units: Record<string, UnitFile>;
  tmpfilesRules: string[];
  /** system.activationScripts, each as its text. */
  activationScripts: Record<string, string>;
  etc: Record<string, string>;
  systemPackages: string[];
  files: Record<string, StoreFile>;
  scrub: { enable: boolean; interval: string; fileSystems: string[] };
  sshHostKeys: string[];
  nodeExporter: { enabledCollectors: string[]; extraFlags: string[] };
  persistence: Record<string, { directories: string[]; files: string[] }> | null;
  preservation: {
    enable: boolean;
    preserveAt: Record<string, { directories: { directory: string; inInitrd: boolean }[]; files: { file: string; inInitrd: boolean }[] }>;
  } | null;
}

/** The text of a known store file (throws when eval.nix does not know its contents). */
export function storeFileText(summary: NixosSummary, path: string): string {
  const text = summary.files[path]?.text;
  if (typeof text !== 'string') throw new Error(`no known contents for ${path}`);
  return text;
}
