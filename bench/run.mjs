// `npm run bench`: the rollback benchmark (tool under Node and Bun vs the shell baseline), the mount
// profiles (fio), and the footprint. Writes bench/results/{results.json,results.md,cleanup-sweep.svg}.
// Usage: node bench/run.mjs [--quick] [--only startup,trivial,bigroot,cleanup,many,diff,profiles,footprint,state] [--runs N] [--render]
//                           [--tool LABEL=KIND:FILE]… [--variants NAME,…]
//   --quick     a few minutes: fewer runs, smaller trees, no footprint (results go to bench/results/quick/)
//   --only      run some sections and merge them into the existing results.json (rerun key numbers)
//   --render    only rewrite results.md and the plot from results.json
//   --tool      also measure another build (KIND node|bun|exe|node-snapshot), e.g. a throwaway branch's bundle
//   --variants  measure only these variants of the rollback sections (comma list of names, e.g. bun-boot-exe,baseline-durable,floor-bun)
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { cleanUp } from './lib/image.mjs';
import { addTool, VARIANT_FILTER, benchBigRoot, benchCleanup, benchDiff, benchManyArchives, benchTrivial, BUILT_BUNDLE, BUN, BUNDLE, EXTRA_TOOLS, freezeBundle, measureStartup, NODE, REPO } from './lib/rollback.mjs';
import { benchProfiles, profilesAvailable } from './lib/profiles.mjs';
import { measureFootprint } from './lib/footprint.mjs';
import { renderMarkdown, renderSweepPlot } from './lib/report.mjs';
import { sh } from './lib/sh.mjs';
import { benchState, stateAvailable } from './lib/state.mjs';

const SECTIONS = ['startup', 'trivial', 'bigroot', 'cleanup', 'many', 'diff', 'profiles', 'footprint', 'state'];

function parseArgs(argv) {
  const opts = { quick: false, only: null, runs: null, tools: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') opts.quick = true;
    else if (a === '--only') opts.only = argv[++i].split(',');
    else if (a.startsWith('--only=')) opts.only = a.slice(7).split(',');
    else if (a === '--render') opts.render = true;
    else if (a === '--tool') opts.tools.push(argv[++i]);
    else if (a === '--variants') opts.variants = argv[++i].split(',');
    else if (a.startsWith('--tool=')) opts.tools.push(a.slice(7));
    else if (a === '--runs') opts.runs = Number(argv[++i]);
    else if (a.startsWith('--runs=')) opts.runs = Number(a.slice(7));
    else if (a === '--help' || a === '-h') {
      const head = readFileSync(new URL(import.meta.url), 'utf8').split('\n');
      process.stdout.write(`${head.slice(0, head.findIndex((l) => !l.startsWith('//'))).join('\n')}\n`);
      process.exit(0);
    } else throw new Error(`unknown argument ${a} (see --help)`);
  }
  for (const s of opts.only ?? []) if (!SECTIONS.includes(s)) throw new Error(`unknown section ${s}; one of ${SECTIONS.join(', ')}`);
  return opts;
}

function version(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return (r.stdout || r.stderr || '').split('\n')[0].trim();
}

function machine() {
  const osRelease = existsSync('/etc/os-release') ? /PRETTY_NAME="?([^"\n]*)/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] : '';
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: osRelease,
    kernel: version('uname', ['-r']),
    btrfsProgs: version('btrfs', ['--version']),
    node: process.version,
    bun: version(BUN, ['--version']),
    fio: version('fio', ['--version']),
    storage: `loop-mounted sparse images under ${process.env.TMPDIR ?? '/tmp'} (${sh('findmnt', ['-n', '-o', 'FSTYPE,SOURCE', '-T', process.env.TMPDIR ?? '/tmp']).trim()})`,
  };
}

/** Whether the operator's `diff` exists in the bundle yet (another engineer is writing it). */
function probeDiff() {
  const r = spawnSync(NODE, [BUNDLE, 'diff', '--help'], { encoding: 'utf8' });
  const works = r.status === 0 && !/not yet implemented/.test(r.stdout + r.stderr);
  return works
    ? { status: 'available', usage: r.stdout.trim() }
    : { status: 'todo', note: '`pantheros-rollback diff` is not implemented yet (diff --help says "not yet implemented"); no timing' };
}

function bootWorks() {
  const r = spawnSync(NODE, [BUNDLE, 'boot', '--help'], { encoding: 'utf8' });
  return r.status === 0 && !/not yet implemented/.test(r.stdout + r.stderr);
}

/** Rewrites results.md and the plot from an existing results.json (no measuring, no root needed). */
function render(outDir) {
  const results = JSON.parse(readFileSync(join(outDir, 'results.json'), 'utf8'));
  if (results.sections.cleanup) writeFileSync(join(outDir, 'cleanup-sweep.svg'), renderSweepPlot(results));
  writeFileSync(join(outDir, 'results.md'), renderMarkdown(results));
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.render) return render(join(REPO, 'bench/results', opts.quick ? 'quick' : ''));
  if (process.getuid?.() !== 0) throw new Error('the benchmark needs root (loop devices and mounts)');
  if (!existsSync(BUILT_BUNDLE)) throw new Error(`${BUILT_BUNDLE} is missing — run: npm run build`);
  const bundleSha256 = freezeBundle();
  for (const t of opts.tools) addTool(t);
  VARIANT_FILTER.names = opts.variants ?? null;
  const outDir = join(REPO, 'bench/results', opts.quick ? 'quick' : '');
  mkdirSync(outDir, { recursive: true });
  const jsonPath = join(outDir, 'results.json');
  const sections = opts.only ?? SECTIONS.filter((s) => !(opts.quick && s === 'footprint'));
  const previous = opts.only && existsSync(jsonPath) ? JSON.parse(readFileSync(jsonPath, 'utf8')) : {};
  const q = opts.quick;
  const runs = (full, quick) => opts.runs ?? (q ? quick : full);
  const log = (line) => process.stderr.write(`${line}\n`);
  const started = new Date();
  const results = {
    ...previous,
    command: `node bench/run.mjs ${process.argv.slice(2).join(' ')}`.trim(),
    quick: q,
    machine: machine(),
    bundle: { sha256: bundleSha256, bytes: statSync(BUNDLE).size, gitCommit: sh('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO }).trim(), srcDirty: sh('git', ['status', '--porcelain', '--', 'src'], { cwd: REPO }).trim() !== '' },
    // Other builds measured in this run; an earlier run's only while the sections that measured them are kept.
    tools: EXTRA_TOOLS.length || sections.some((x) => ['trivial', 'bigroot', 'cleanup', 'many'].includes(x)) ? EXTRA_TOOLS.map((t) => ({ name: t.name, kind: t.toolKind, file: t.file, sha256: t.sha256 })) : previous.tools,
    sections: { ...(previous.sections ?? {}) },
  };
  const stamp = (name, data) => {
    results.sections[name] = { ...data, measuredAt: new Date().toISOString(), loadBefore: data.loadBefore };
    writeFileSync(jsonPath, `${JSON.stringify(results, null, 2)}\n`);
  };
  log(`bench: ${sections.join(', ')}${q ? ' (quick)' : ''}; load ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  const toolReady = bootWorks();
  if (!toolReady) log('bench: `boot --help` says "not yet implemented": tool runs will fail and be reported as errors');
  for (const s of sections) {
    const t0 = Date.now();
    const loadBefore = loadavg()[0];
    log(`== ${s}`);
    if (s === 'startup') stamp(s, { loadBefore, ...measureStartup({ runs: runs(21, 7), log }) });
    else if (s === 'trivial') stamp(s, { loadBefore, ...(await benchTrivial({ runs: runs(15, 5), log })) });
    else if (s === 'bigroot') stamp(s, { loadBefore, ...(await benchBigRoot({ runs: runs(15, 3), sizes: q ? [10_000, 100_000] : [100_000, 1_000_000], log })) });
    else if (s === 'cleanup') stamp(s, { loadBefore, ...(await benchCleanup({ runs: runs(7, 3), sweep: q ? [0, 2, 10] : [0, 1, 2, 5, 10], log })) });
    else if (s === 'many') stamp(s, { loadBefore, ...(await benchManyArchives({ runs: runs(9, 3), count: q ? 300 : 1000, log })) });
    else if (s === 'diff') {
      const probe = probeDiff();
      if (probe.status === 'todo') stamp(s, { loadBefore, ...probe });
      else stamp(s, { loadBefore, status: 'measured', usage: probe.usage, ...(await benchDiff({ runs: runs(5, 3), files: q ? 20_000 : 100_000, log })) });
    }
    else if (s === 'profiles') {
      if (!profilesAvailable()) throw new Error('profiles need fio, chattr and tar — run: apt-get install -y fio e2fsprogs tar');
      stamp(s, { loadBefore, ...(await benchProfiles({ runs: runs(5, 2), quick: q, log })) });
    } else if (s === 'footprint') stamp(s, { loadBefore, ...measureFootprint({ log }) });
    // State rollback (issue 14, bench/lib/state.mjs): a real PostgreSQL rolled back online, and the boot's share.
    else if (s === 'state') {
      if (!stateAvailable()) throw new Error('state needs PostgreSQL 15 — run: apt-get install -y postgresql-15');
      stamp(s, { loadBefore, ...(await benchState({ runs: runs(5, 2), scale: q ? 5 : 20, log })) });
    }
    log(`   ${s} took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  results.date = started.toISOString();
  results.finished = new Date().toISOString();
  writeFileSync(jsonPath, `${JSON.stringify(results, null, 2)}\n`);
  render(outDir);
  log(`bench: wrote ${outDir}/results.{json,md}${results.sections.cleanup ? ' and cleanup-sweep.svg' : ''}`);
}

try {
  await main();
} catch (error) {
  process.stderr.write(`bench: ${error.stack ?? error}\n`);
  process.exitCode = 1;
} finally {
  cleanUp();
}
