// The rollback scenarios: tool (bundle under Node and Bun) against the shell baseline, alternated,
// each measured run on a fresh copy of a golden image so all variants see identical state.
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { loadavg } from 'node:os';
import { basename, join } from 'node:path';
import { addArchive, archiveDates, benchNow, fillFiles, layOut, OLD_ROOTS } from './generate.mjs';
import { breathe, copyImage, detachImage, makeImage, mountImage, scratchDir, tmpfsRunDir } from './image.mjs';
import { sh, timeCommand } from './sh.mjs';
import { rotate, summarize } from './stats.mjs';
import { buildMinifiedBundle } from './footprint.mjs';

export const REPO = new URL('../../', import.meta.url).pathname.replace(/\/$/, '');
export const BUILT_BUNDLE = join(REPO, 'dist/pantheros-rollback.mjs');
export const BUN = join(REPO, 'node_modules/@oven/bun-linux-x64/bin/bun');
/** How Bun is launched, as the NixOS module launches it (nix/bun-launch.json): `run` before a script, `compile` for an executable. */
export const BUN_LAUNCH = JSON.parse(readFileSync(join(REPO, 'nix/bun-launch.json'), 'utf8'));
export const NODE = process.execPath;
const BUILT_BOOT_BUNDLE = join(REPO, 'dist/pantheros-rollback-boot.mjs');
/** The bundle under test: a private copy (dist/ is rebuilt by teammates while the bench runs). */
export let BUNDLE = BUILT_BUNDLE;
/** The initrd's boot-only bundle, Bun's bytecode build of it and Bun's executable of it (both made here by this Bun), private copies too. */
export let BOOT_BUNDLE = BUILT_BOOT_BUNDLE;
export let BOOT_BYTECODE = null;
export let BOOT_EXE = null;
/** Node's boot-only bundle (CommonJS, dist/pantheros-rollback-boot.cjs: Node starts it without its ES module loader), a private copy. */
export let NODE_BOOT_BUNDLE = null;
const BUILT_NODE_BOOT_BUNDLE = join(REPO, 'dist/pantheros-rollback-boot.cjs');
/** This Node's V8 start-up snapshot of the boot-only entry (dist/pantheros-rollback-boot-snapshot.cjs), made here. */
export let BOOT_NODE_SNAPSHOT = null;
const BUILT_SNAPSHOT_ENTRY = join(REPO, 'dist/pantheros-rollback-boot-snapshot.cjs');

/** Freezes the bundles for this run: copies dist/ into the scratch dir, builds the Bun bytecode; returns the full bundle's sha256. */
export function freezeBundle() {
  BUNDLE = join(scratchDir(), 'pantheros-rollback.mjs');
  copyFileSync(BUILT_BUNDLE, BUNDLE);
  if (existsSync(BUILT_BOOT_BUNDLE)) {
    BOOT_BUNDLE = join(scratchDir(), 'pantheros-rollback-boot.mjs');
    copyFileSync(BUILT_BOOT_BUNDLE, BOOT_BUNDLE);
    const out = join(scratchDir(), 'bun');
    sh(BUN, ['build', BOOT_BUNDLE, '--target=bun', '--format=cjs', '--bytecode', '--outdir', out]);
    BOOT_BYTECODE = join(out, 'pantheros-rollback-boot.js');
    BOOT_EXE = join(out, 'pantheros-rollback-boot');
    sh(BUN, ['build', BOOT_BUNDLE, '--compile', '--bytecode', ...BUN_LAUNCH.compile, '--outfile', BOOT_EXE]);
    NODE_BOOT_BUNDLE = join(scratchDir(), 'pantheros-rollback-boot.cjs');
    copyFileSync(BUILT_NODE_BOOT_BUNDLE, NODE_BOOT_BUNDLE);
    if (existsSync(BUILT_SNAPSHOT_ENTRY)) {
      const entry = join(scratchDir(), 'pantheros-rollback-boot-snapshot.cjs');
      copyFileSync(BUILT_SNAPSHOT_ENTRY, entry);
      BOOT_NODE_SNAPSHOT = join(scratchDir(), 'pantheros-rollback-boot.blob');
      sh(NODE, ['--snapshot-blob', BOOT_NODE_SNAPSHOT, '--build-snapshot', entry], { env: { PATH: process.env.PATH } });
    }
  } else BOOT_BUNDLE = null;
  return createHash('sha256').update(readFileSync(BUNDLE)).digest('hex');
}
const BASELINE = join(REPO, 'bench/baseline-rollback.sh');
const DAY = 86_400_000;

/**
 * Bun as the operator's commands run it: without its transpiler cache (Bun caches its transpilation of files over
 * 50 KB on disk, ~/.bun/install/cache; an initrd starts without that cache every boot, and the bench measures every
 * Bun run cold alike).
 */
export const BUN_OPERATOR = { BUN_RUNTIME_TRANSPILER_CACHE_PATH: '0' };

/**
 * Bun as stage 1 runs it: cold, and with the environment the NixOS module gives stage 1 under Bun
 * (nix/bun-launch.json `env`: JavaScriptCore compiling on the JavaScript thread). Every boot and floor variant runs
 * so; the operator's commands (`diff`, an online state rollback) run with BUN_OPERATOR, as the running system has no
 * such variable.
 */
export const BUN_COLD = { ...BUN_OPERATOR, ...BUN_LAUNCH.env };

/**
 * Other builds measured beside dist/ (`--tool LABEL=KIND:FILE`, e.g. a build of a throwaway branch,
 * a boot-only bundle, Bun's bytecode build): KIND is node or bun (FILE run by that runtime; a Bun
 * bytecode build is its .js with the .js.jsc beside it), exe (a `bun build --compile` executable), or
 * node-snapshot (a `node --build-snapshot` blob, run as `node --snapshot-blob FILE ARGS`).
 */
export const EXTRA_TOOLS = [];

const TOOL_KINDS = {
  node: (file) => ({ cmd: NODE, pre: [file] }),
  bun: (file) => ({ cmd: BUN, pre: [...BUN_LAUNCH.run, file], env: BUN_COLD }),
  exe: (file) => ({ cmd: file, pre: [], env: BUN_COLD }),
  'node-snapshot': (file) => ({ cmd: NODE, pre: ['--snapshot-blob', file] }),
};

/** Adds one `--tool LABEL=KIND:FILE`; the file (and a Bun .jsc beside it) is frozen into the scratch dir. */
export function addTool(spec) {
  const m = /^([\w.-]+)=(node|bun|exe|node-snapshot):(.+)$/.exec(spec);
  if (!m) throw new Error(`--tool ${spec}: expected LABEL=KIND:FILE with KIND one of ${Object.keys(TOOL_KINDS).join(', ')}`);
  const [, label, kind, file] = m;
  if (!existsSync(file)) throw new Error(`--tool ${spec}: ${file} does not exist`);
  const dir = join(scratchDir(), `tool-${EXTRA_TOOLS.length}`);
  mkdirSync(dir);
  const frozen = join(dir, basename(file));
  copyFileSync(file, frozen);
  if (kind === 'exe') chmodSync(frozen, 0o755);
  if (existsSync(`${file}.jsc`)) copyFileSync(`${file}.jsc`, `${frozen}.jsc`);
  EXTRA_TOOLS.push({ name: `${kind === 'node-snapshot' ? 'node' : kind === 'exe' ? 'bun' : kind}:${label}`, kind: 'tool', label, toolKind: kind, file, sha256: createHash('sha256').update(readFileSync(file)).digest('hex'), ...TOOL_KINDS[kind](frozen) });
}

/** The floor script (bench/floor.ts), bundled like the product. */
const floorBundles = {};
/** The floor script bundled as an ES module (Bun's floors), or as CommonJS (`cjs`: Node's, which starts a CommonJS script without its ESM loader, the least Node does to run a script). */
function floorFile(format = 'esm') {
  if (!floorBundles[format]) {
    floorBundles[format] = join(scratchDir(), format === 'cjs' ? 'floor.cjs' : 'floor.mjs');
    sh(NODE, [join(REPO, 'scripts/build.mjs'), join(REPO, 'bench/floor.ts'), floorBundles[format]], { cwd: REPO });
  }
  return floorBundles[format];
}

/** An empty CommonJS script: Node's own start-up (the least any script pays), timed beside the boot as start-node. */
function emptyScript() {
  const file = join(scratchDir(), 'empty.cjs');
  writeFileSync(file, '');
  return file;
}

/**
 * The floor script as a Bun executable (`bun build --compile --bytecode`, as the boot executable is
 * built): the floor of the bun-boot-exe variant, which starts without a separate runtime or a script
 * to read.
 */
let floorExe;
function floorExeFile() {
  if (!floorExe) {
    floorExe = join(scratchDir(), 'floor-exe');
    sh(BUN, ['build', floorFile(), '--compile', '--bytecode', ...BUN_LAUNCH.compile, '--outfile', floorExe]);
  }
  return floorExe;
}

/**
 * What is compared: the full bundle under each runtime; the initrd's boot-only bundle under each, its
 * Bun bytecode build and Bun executable (`bun build --compile --bytecode`), Node's start-up snapshot of it; any extra builds; the baseline (README create; fair snapshot; each bare and
 * made durable).
 */
export function variants() {
  return only(allVariants());
}

/** `--variants a,b,…`: measure only these (a short run in a quiet moment of a shared machine). */
export const VARIANT_FILTER = { names: null };
const only = (list) => (VARIANT_FILTER.names ? list.filter((v) => VARIANT_FILTER.names.includes(v.name)) : list);

function allVariants() {
  const boot = BOOT_BUNDLE
    ? [
        // Node's boot-only bundle as stage 1 runs it without the snapshot: CommonJS (the ES module bundle under
        // Node until 2026-12-02: --tool esm=node:dist/pantheros-rollback-boot.mjs).
        { name: 'node-boot', kind: 'tool', cmd: NODE, pre: [NODE_BOOT_BUNDLE] },
        // Node starts from the saved heap; the command word follows the options (argv[1] is the first argument).
        ...(BOOT_NODE_SNAPSHOT ? [{ name: 'node-boot-snapshot', kind: 'tool', cmd: NODE, pre: ['--snapshot-blob', BOOT_NODE_SNAPSHOT] }] : []),
        { name: 'bun-boot', kind: 'tool', cmd: BUN, pre: [...BUN_LAUNCH.run, BOOT_BUNDLE], env: BUN_COLD },
        { name: 'bun-boot-bytecode', kind: 'tool', cmd: BUN, pre: [...BUN_LAUNCH.run, BOOT_BYTECODE], env: BUN_COLD },
        { name: 'bun-boot-exe', kind: 'tool', cmd: BOOT_EXE, pre: [], env: BUN_COLD },
      ]
    : [];
  return [
    { name: 'node', kind: 'tool', cmd: NODE, pre: [BUNDLE] },
    { name: 'bun', kind: 'tool', cmd: BUN, pre: [...BUN_LAUNCH.run, BUNDLE], env: BUN_COLD },
    ...boot,
    ...EXTRA_TOOLS,
    { name: 'baseline', kind: 'baseline', mode: 'create' },
    { name: 'baseline-snapshot', kind: 'baseline', mode: 'snapshot' },
    { name: 'baseline-durable', kind: 'baseline', mode: 'create', durable: true },
    { name: 'baseline-snapshot-durable', kind: 'baseline', mode: 'snapshot', durable: true },
  ];
}

/**
 * The physical floor of each runtime (bench/floor.ts through src/btrfs/native.ts): start-up, the
 * renames, one snapshot, one commit; under Bun also as an executable (the floor of bun-boot-exe); the
 * Bun process path (forced) and the two-commit order beside them, and the same three steps in bash (mv, `btrfs subvolume snapshot`, `sync -f`).
 */
export function floorVariants() {
  const f = (name, cmd, mode, env) => ({ name, kind: 'floor', cmd, pre: [...(cmd === BUN ? BUN_LAUNCH.run : []), floorFile(cmd === NODE ? 'cjs' : 'esm')], mode, env });
  return only([
    f('floor-node', NODE, 'one-commit'),
    f('floor-bun', BUN, 'one-commit', BUN_COLD),
    { name: 'floor-bun-exe', kind: 'floor', cmd: floorExeFile(), pre: [], mode: 'one-commit', env: BUN_COLD },
    f('floor-bun-process', BUN, 'one-commit', { ...BUN_COLD, PANTHEROS_BTRFS_BACKEND: 'process' }),
    f('floor-node-two-commits', NODE, 'two-commits'),
    f('floor-bun-two-commits', BUN, 'two-commits', BUN_COLD),
    { name: 'floor-shell', kind: 'floor-shell' },
    // Node's own start-up in the same alternation as the boot (issue 15: Node at most the snippet plus it).
    { name: 'start-node', kind: 'start', cmd: NODE, pre: [emptyScript()] },
  ]);
}

/** Shared inputs of every tool run: config (keepDays 30, keepAtLeast 5), an empty kernel cmdline, the report on a tmpfs (as /run in stage 1). */
function toolInputs() {
  const dir = scratchDir();
  const config = join(dir, 'rollback.json');
  const cmdline = join(dir, 'cmdline');
  if (!existsSync(config)) {
    writeFileSync(config, `${JSON.stringify({ oldRoots: { keepDays: 30, keepAtLeast: 5 } })}\n`);
    writeFileSync(cmdline, 'BOOT_IMAGE=/boot/bzImage root=fstab ro quiet\n');
  }
  return { config, cmdline, report: join(tmpfsRunDir(), 'report.json') };
}

function countSubvolumes(top) {
  return sh('btrfs', ['subvolume', 'list', top]).split('\n').filter((l) => l.startsWith('ID ')).length;
}

const FLOOR_SHELL = 'mv "$1/@root" "$1/@btrfs_tmp/old_roots/20261126T060000Z" && btrfs subvolume snapshot "$1/@root-blank" "$1/@root" >/dev/null && sync -f "$1"';

/** Runs one variant once on a mounted top level; returns the measured sample (throws on failure). */
function runVariant(variant, top) {
  if (variant.kind === 'baseline') {
    const r = timeCommand('bash', [BASELINE, top, variant.mode, ...(variant.durable ? ['durable'] : [])]);
    if (r.code !== 0) throw new Error(`baseline exited ${r.code}: ${r.stderr.trim()}`);
    return { wall: r.ms };
  }
  if (variant.kind === 'start') {
    const r = timeCommand(variant.cmd, variant.pre, { env: variant.env });
    if (r.code !== 0) throw new Error(`${variant.name} exited ${r.code ?? r.signal}: ${r.stderr.trim().slice(0, 500)}`);
    return { wall: r.ms };
  }
  if (variant.kind === 'floor' || variant.kind === 'floor-shell') {
    const r = variant.kind === 'floor' ? timeCommand(variant.cmd, [...variant.pre, top, variant.mode], { env: variant.env }) : timeCommand('bash', ['-c', FLOOR_SHELL, 'floor', top]);
    if (r.code !== 0) throw new Error(`${variant.name} exited ${r.code ?? r.signal}: ${r.stderr.trim().slice(0, 500)}`);
    return { wall: r.ms };
  }
  const { config, cmdline, report } = toolInputs();
  rmSync(report, { force: true });
  const args = [...variant.pre, 'boot', '--top-level', top, '--now', benchNow().toISOString(), '--report', report, '--config', config, '--cmdline', cmdline];
  const r = timeCommand(variant.cmd, args, { env: variant.env });
  if (r.code !== 0) throw new Error(`${variant.name} boot exited ${r.code ?? r.signal}: ${r.stderr.trim().slice(0, 500)}`);
  const rep = JSON.parse(readFileSync(report, 'utf8'));
  const deletedSubvolumes = (rep.deleted ?? []).reduce((n, d) => n + Math.max(1, d.subvolumes?.length ?? 1), 0);
  return { wall: r.ms, durationMs: rep.durationMs, processMs: rep.processMs, spawns: rep.spawns, result: rep.result, deletedSubvolumes };
}

/** Builds an unmounted golden image by running `populate(top)` on a fresh filesystem. */
function buildGolden(name, populate, { from, size = '1G' } = {}) {
  const file = join(scratchDir(), `${name}.golden.img`);
  if (from) copyImage(from, file);
  else makeImage(file, size);
  const m = mountImage(file);
  try {
    populate(m.top);
    sh('btrfs', ['filesystem', 'sync', m.top]);
    return { file, subvolumes: countSubvolumes(m.top) };
  } finally {
    detachImage(m);
  }
}

/** Measures every variant `runs` times on copies of one golden image, alternating the order. */
async function measureOnGolden(golden, { runs, expectDeleted, variants: list = variants(), log, alongside }) {
  const samples = Object.fromEntries(list.map((v) => [v.name, []]));
  const alongsideSamples = Object.fromEntries(list.map((v) => [v.name, []]));
  const errors = {};
  const load = [loadavg()[0]];
  const once = async (g, v, into) => {
    await breathe();
    const file = copyImage(g.file, join(scratchDir(), 'run.img'));
    const m = mountImage(file);
    try {
      const s = runVariant(v, m.top);
      const after = countSubvolumes(m.top);
      // A start-up alone (start-node) changes nothing on the image.
      const expected = v.kind === 'start' ? g.subvolumes : g.subvolumes - (g === golden ? expectDeleted : 0) + 1;
      s.subvolumesAfter = after;
      if (after !== expected) s.mismatch = `expected ${expected} subvolumes after the run, found ${after}`;
      into[v.name].push(s);
    } catch (error) {
      errors[v.name] = error.message;
      log(`  ${v.name}: ${error.message}`);
    } finally {
      detachImage(m);
      rmSync(file, { force: true });
    }
  };
  for (let r = 0; r < runs; r++) {
    for (const v of rotate(list, r)) {
      if (errors[v.name]) continue;
      // With a second golden (the trivial boot beside the many archives), each variant runs on both back to back,
      // in alternating order, so a ratio of the two is not moved by the load drifting between sections.
      const pair = alongside ? (r % 2 ? [[alongside, alongsideSamples], [golden, samples]] : [[golden, samples], [alongside, alongsideSamples]]) : [[golden, samples]];
      for (const [g, into] of pair) if (!errors[v.name]) await once(g, v, into);
    }
  }
  load.push(loadavg()[0]);
  return alongside ? { samples, alongsideSamples, errors, load } : { samples, errors, load };
}

/** Reduces raw samples to medians per variant. */
export function summarizeSamples(samples) {
  const out = {};
  for (const [name, list] of Object.entries(samples)) {
    if (list.length === 0) continue;
    out[name] = { wall: summarize(list.map((s) => s.wall)) };
    for (const field of ['durationMs', 'processMs', 'spawns']) {
      if (list[0][field] !== undefined) out[name][field] = summarize(list.map((s) => s[field]));
    }
    const mismatches = list.filter((s) => s.mismatch).map((s) => s.mismatch);
    if (mismatches.length) out[name].mismatches = [...new Set(mismatches)];
  }
  return out;
}

function logMedians(log, label, summary) {
  log(`  ${label}: ${Object.entries(summary).map(([n, s]) => `${n} ${s.wall.median} ms${s.mismatches ? ` (${s.mismatches[0]})` : ''}`).join(', ')}`);
}

/** Process start-up alone: `RUNTIME bundle --version`, and bash for the baseline. */
export function measureStartup({ runs, log }) {
  const cmds = [
    { name: 'node', cmd: NODE, args: [BUNDLE, '--version'] },
    { name: 'bun', cmd: BUN, args: [...BUN_LAUNCH.run, BUNDLE, '--version'], env: BUN_COLD },
    { name: 'bun-warm-cache', cmd: BUN, args: [...BUN_LAUNCH.run, BUNDLE, '--version'] },
    { name: 'bun-empty-script', cmd: BUN, args: [...BUN_LAUNCH.run, join(scratchDir(), 'empty.mjs')] },
    { name: 'node-empty-script', cmd: NODE, args: [join(scratchDir(), 'empty.mjs')] },
    // Where Node's start goes: exec and dynamic linking alone (--version exits before V8 starts), an
    // empty CommonJS script (no ESM loader), an empty ES module.
    { name: 'node-version-flag', cmd: NODE, args: ['--version'] },
    { name: 'node-empty-cjs', cmd: NODE, args: [emptyScript()] },
    { name: 'bun-version-flag', cmd: BUN, args: ['--version'] },
    { name: 'bun-import-child-process', cmd: BUN, args: [...BUN_LAUNCH.run, join(scratchDir(), 'child-process.mjs')] },
    { name: 'bun-minified-bundle', cmd: BUN, args: [...BUN_LAUNCH.run, buildMinifiedBundle(), '--version'], env: BUN_COLD },
    { name: 'node-minified-bundle', cmd: NODE, args: [buildMinifiedBundle(), '--version'] },
    { name: 'bash', cmd: 'bash', args: ['-c', ':'] },
    ...(BOOT_BUNDLE
      ? [
          { name: 'node-boot', cmd: NODE, args: [NODE_BOOT_BUNDLE, '--version'] },
          { name: 'bun-boot', cmd: BUN, args: [...BUN_LAUNCH.run, BOOT_BUNDLE, '--version'], env: BUN_COLD },
          { name: 'bun-boot-bytecode', cmd: BUN, args: [...BUN_LAUNCH.run, BOOT_BYTECODE, '--version'], env: BUN_COLD },
          { name: 'bun-boot-exe', cmd: BOOT_EXE, args: ['--version'], env: BUN_COLD },
          // Node takes a leading --version for itself: the snapshot gets `version` (the same path in main).
          ...(BOOT_NODE_SNAPSHOT ? [{ name: 'node-boot-snapshot', cmd: NODE, args: ['--snapshot-blob', BOOT_NODE_SNAPSHOT, 'version'] }] : []),
        ]
      : []),
    // Node takes a leading --version for itself when no script is named: the snapshot blob gets `version`.
    ...EXTRA_TOOLS.map((t) => ({ name: t.name, cmd: t.cmd, args: [...t.pre, t.toolKind === 'node-snapshot' ? 'version' : '--version'], env: t.env })),
  ];
  writeFileSync(join(scratchDir(), 'empty.mjs'), '');
  writeFileSync(join(scratchDir(), 'child-process.mjs'), "import 'node:child_process';\n");
  const samples = Object.fromEntries(cmds.map((c) => [c.name, []]));
  for (let r = 0; r < runs; r++) {
    for (const c of rotate(cmds, r)) {
      const t = timeCommand(c.cmd, c.args, { env: c.env });
      if (t.code !== 0) throw new Error(`${c.name} --version failed: ${t.stderr}`);
      samples[c.name].push(t.ms);
    }
  }
  const out = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summarize(v)]));
  out.bundleBytes = statSync(BUNDLE).size;
  out.minifiedBundleBytes = statSync(buildMinifiedBundle()).size;
  log(`  start-up medians: ${Object.entries(out).filter(([, v]) => v.median !== undefined).map(([k, v]) => `${k} ${v.median} ms`).join(', ')}`);
  return out;
}

/** 1. trivial: one root to archive, nothing to delete; every runtime's floor measured in the same alternation. */
export async function benchTrivial({ runs, log }) {
  const golden = buildGolden('trivial', (top) => layOut(top));
  const m = await measureOnGolden(golden, { runs, expectDeleted: 0, variants: [...variants(), ...floorVariants()], log });
  logMedians(log, 'trivial', summarizeSamples(m.samples));
  return { description: 'one root to archive, nothing to delete', ...m, summary: summarizeSamples(m.samples) };
}

/** 3. clean-up heavy and the sweep: 30 recent archives + k expired, each with `nested` nested subvolumes. */
export async function benchCleanup({ runs, sweep, nested = 50, recent = 30, log }) {
  const now = benchNow();
  const points = [];
  for (const k of [...sweep].sort((a, b) => a - b)) {
    const t0 = Date.now();
    const golden = buildGolden(`cleanup-${k}`, (top) => {
      layOut(top);
      for (const d of archiveDates(now, { recent, expired: k })) addArchive(top, d, nested);
    });
    log(`  golden for ${k} expired archives (${golden.subvolumes} subvolumes) built in ${Date.now() - t0} ms`);
    const expectDeleted = k * (nested + 1);
    const m = await measureOnGolden(golden, { runs, expectDeleted, log });
    rmSync(golden.file, { force: true });
    points.push({ k, archives: recent + k, deletedSubvolumes: expectDeleted, ...m, summary: summarizeSamples(m.samples) });
    logMedians(log, `k=${k}`, points.at(-1).summary);
  }
  return { description: `${recent} recent archives + k expired (older than keepDays 30), each with ${nested} nested subvolumes`, points };
}

/** 4. many archives: 1 000 archives, none expired. */
export async function benchManyArchives({ runs, count, log }) {
  const t0 = Date.now();
  const golden = buildGolden('many', (top) => {
    layOut(top);
    for (const d of archiveDates(benchNow(), { recent: count, expired: 0 })) addArchive(top, d, 0);
  });
  log(`  golden with ${count} archives built in ${Date.now() - t0} ms`);
  // The trivial boot in the same alternation: the goal (≤ 2× trivial) is a ratio, measured under one load.
  const trivial = buildGolden('many-trivial', (top) => layOut(top));
  const { alongsideSamples, ...m } = await measureOnGolden(golden, { runs, expectDeleted: 0, log, alongside: trivial });
  rmSync(golden.file, { force: true });
  rmSync(trivial.file, { force: true });
  logMedians(log, 'many', summarizeSamples(m.samples));
  logMedians(log, 'many: trivial alongside', summarizeSamples(alongsideSamples));
  return { description: `${count} archives, none expired`, ...m, summary: summarizeSamples(m.samples), trivialSamples: alongsideSamples, trivialSummary: summarizeSamples(alongsideSamples) };
}

/**
 * 2. big root: @root holding `sizes` files. Each file tree is written once into @src<N>; every run
 * snapshots it into @root (O(1)), runs a variant, then removes the archive and the new root.
 */
export async function benchBigRoot({ runs, sizes, log }) {
  const file = join(scratchDir(), 'bigroot.img');
  makeImage(file, '8G');
  const m = mountImage(file);
  const samples = {};
  const errors = {};
  const load = [loadavg()[0]];
  try {
    layOut(m.top);
    sh('btrfs', ['subvolume', 'delete', join(m.top, '@root')]);
    for (const n of sizes) {
      const t0 = Date.now();
      sh('btrfs', ['subvolume', 'create', join(m.top, `@src${n}`)]);
      fillFiles(join(m.top, `@src${n}`), n);
      sh('btrfs', ['filesystem', 'sync', m.top]);
      log(`  wrote @src${n} (${n} files) in ${Date.now() - t0} ms`);
      for (const v of variants()) samples[`${v.name}@${n}`] = [];
    }
    // Flush the generated trees through the loop device to the host disk first, so background
    // writeback of ~1 GB of metadata does not compete with the first measured runs.
    sh('sync', []);
    for (let r = 0; r < runs; r++) {
      for (const n of rotate(sizes, r)) {
        for (const v of rotate(variants(), r)) {
          const key = `${v.name}@${n}`;
          if (errors[key]) continue;
          await breathe();
          sh('btrfs', ['subvolume', 'snapshot', join(m.top, `@src${n}`), join(m.top, '@root')]);
          try {
            samples[key].push(runVariant(v, m.top));
            const archived = readdirSync(join(m.top, OLD_ROOTS)).filter((e) => !e.startsWith('.'));
            if (archived.length !== 1) throw new Error(`expected one archive after the run, found ${archived.length}`);
          } catch (error) {
            errors[key] = error.message;
            log(`  ${key}: ${error.message}`);
          } finally {
            resetBigRoot(m.top);
          }
        }
      }
    }
  } finally {
    detachImage(m);
    rmSync(file, { force: true });
  }
  load.push(loadavg()[0]);
  logMedians(log, 'bigroot', summarizeSamples(samples));
  return { description: '@root holding N files (snapshot of a pre-written tree)', sizes, samples, errors, load, summary: summarizeSamples(samples) };
}

/**
 * The operator's `diff` on a root with `files` changed files: @root-blank holds the files, @root is
 * its snapshot with every file rewritten. Compared with the community fs-diff.sh approach
 * (`btrfs subvolume find-new` since the blank's generation; it misses deletions and metadata).
 */
export async function benchDiff({ runs, files, log }) {
  const file = join(scratchDir(), 'diff.img');
  makeImage(file, '4G');
  const m = mountImage(file);
  const top = m.top;
  const samples = { node: [], bun: [], 'fs-diff.sh': [] };
  const errors = {};
  const load = [loadavg()[0]];
  try {
    const t0 = Date.now();
    sh('btrfs', ['subvolume', 'create', join(top, '@root-blank')]);
    fillFiles(join(top, '@root-blank'), files);
    sh('btrfs', ['property', 'set', '-ts', join(top, '@root-blank'), 'ro', 'true']);
    sh('btrfs', ['subvolume', 'snapshot', join(top, '@root-blank'), join(top, '@root')]);
    fillFiles(join(top, '@root'), files, 0, 'changed\n');
    sh('mkdir', ['-p', join(top, OLD_ROOTS)]);
    sh('btrfs', ['filesystem', 'sync', top]);
    log(`  blank with ${files} files and a root changing all of them written in ${Date.now() - t0} ms`);
    const { config } = toolInputs();
    const check = JSON.parse(sh(NODE, [BUNDLE, 'diff', '--top-level', top, '--config', config, '--json']));
    log(`  diff --json summary: ${JSON.stringify(check.summary)}`);
    const variants = [
      { name: 'node', cmd: NODE, args: [BUNDLE, 'diff', '--top-level', top, '--config', config] },
      { name: 'bun', cmd: BUN, args: [...BUN_LAUNCH.run, BUNDLE, 'diff', '--top-level', top, '--config', config], env: BUN_OPERATOR },
      { name: 'fs-diff.sh', cmd: 'bash', args: [join(REPO, 'bench/baseline-diff.sh'), join(top, '@root-blank'), join(top, '@root')] },
    ];
    for (let r = 0; r < runs; r++) {
      for (const v of rotate(variants, r)) {
        if (errors[v.name]) continue;
        await breathe();
        const t = timeCommand(v.cmd, v.args, { env: v.env });
        if (t.code !== 0) {
          errors[v.name] = `${v.name} exited ${t.code}: ${t.stderr.trim().slice(0, 300)}`;
          log(`  ${errors[v.name]}`);
        } else samples[v.name].push({ wall: t.ms });
        sh('btrfs', ['filesystem', 'sync', top]);
        sh('btrfs', ['subvolume', 'sync', top]);
      }
    }
    load.push(loadavg()[0]);
    const summary = summarizeSamples(samples);
    logMedians(log, 'diff', summary);
    return { description: `diff of @root against @root-blank with ${files} changed files`, files, checked: check.summary, samples, errors, load, summary };
  } finally {
    detachImage(m);
    rmSync(file, { force: true });
  }
}

/** Removes whatever a run archived and created, and waits for the cleaner so runs do not overlap. */
function resetBigRoot(top) {
  const oldRoots = join(top, OLD_ROOTS);
  for (const e of readdirSync(oldRoots)) {
    const p = join(oldRoots, e);
    if (e.startsWith('.')) rmSync(p, { force: true, recursive: true });
    else sh('btrfs', ['subvolume', 'delete', p]);
  }
  if (existsSync(join(top, '@root'))) sh('btrfs', ['subvolume', 'delete', join(top, '@root')]);
  sh('btrfs', ['filesystem', 'sync', top]);
  sh('btrfs', ['subvolume', 'sync', top]);
}
