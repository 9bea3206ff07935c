#!/usr/bin/env node
// Writes the command examples of docs/*.md from real runs: `--help` of every command, and every block marked
// <!-- example: NAME --> … <!-- /example --> from the bundled file run on a throwaway btrfs loop image.
// Volatile parts (the real clock, durations, the temporary directory, the loop device, runtime versions) are
// replaced by fixed placeholders, so a second run writes the same bytes. Needs root and btrfs-progs.
//   node scripts/docs-examples.mjs           rewrite the marked blocks in docs/
//   node scripts/docs-examples.mjs --check   change nothing; exit 1 and show the blocks that differ
//   --docs DIR      the documents to rewrite or check (default: docs/)
//   --runtime BIN   the runtime that runs the bundle (default: this Node; the test also passes Bun)
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const REPO = new URL('..', import.meta.url).pathname.replace(/\/$/, '');
const BUNDLE = join(REPO, 'dist/pantheros-rollback.mjs');
const COMMANDS = ['boot', 'status', 'list', 'diff', 'mount', 'umount', 'restore', 'snapshot', 'prune', 'state-rollback', 'next-boot', 'metrics', 'check'];

function sh(cmd, args, input) {
  return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
}

/** Runs the bundle; returns {code, out} with stdout then stderr, as a terminal shows them (stderr last). */
let runtime = process.execPath;
function tool(args) {
  const r = spawnSync(runtime, [BUNDLE, ...args], { encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

/** A throwaway 1 GiB btrfs image, its top level mounted at <dir>/top. */
function makeImage() {
  const dir = mkdtempSync(join(tmpdir(), 'pantheros-docs-'));
  const file = join(dir, 'disk.img');
  const top = join(dir, 'top');
  mkdirSync(top);
  sh('truncate', ['-s', '1G', file]);
  sh('mkfs.btrfs', ['-q', '-f', file]);
  const loop = sh('losetup', ['--find', '--show', file]).trim();
  sh('mount', ['-o', 'subvolid=5', loop, top]);
  return {
    dir,
    top,
    loop,
    destroy() {
      spawnSync('umount', ['-R', top]);
      spawnSync('losetup', ['-d', loop]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Replaces what differs from run to run with fixed text: the temporary directory, the loop device, times read from
 * the real clock (anything that parses to a moment inside [from, to]), durations and runtime versions.
 */
export function normalise(text, { dir, loop, from, to }) {
  const inRun = (t) => t >= from - 120_000 && t <= to + 120_000;
  let s = text.split(dir).join('/tmp/pantheros-docs');
  s = s.split(loop).join('/dev/loop6');
  s = s.replace(/\/dev\/loop\d+/g, '/dev/loop6');
  s = s.replace(/\b(\d{4})-(\d{2})-(\d{2})([T ])(\d{2}):(\d{2}):(\d{2})(\.\d{3})?(Z| UTC)?/g, (m, y, mo, d, sep, h, mi, sec, ms = '', z = '') =>
    inRun(Date.UTC(+y, +mo - 1, +d, +h, +mi, +sec)) ? `YYYY-MM-DD${sep}hh:mm:ss${ms ? '.sss' : ''}${z}` : m,
  );
  s = s.replace(/\b(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/g, (m, y, mo, d, h, mi, sec) =>
    inRun(Date.UTC(+y, +mo - 1, +d, +h, +mi, +sec)) ? 'YYYYMMDDThhmmssZ' : m,
  );
  s = s.replace(/\b\d+(\.\d+)? (ms|s)\b(?! ago)/g, (m, _f, unit) => `… ${unit}`);
  s = s.replace(/"(durationMs|processMs|ms|seconds)": [\d.]+/g, '"$1": "…"');
  s = s.replace(/\b(node|bun) v?\d+\.\d+\.\d+/g, '<runtime> <version>');
  s = s.replace(/pantheros-rollback \d+\.\d+\.\d+/g, 'pantheros-rollback <version>');
  s = s.replace(/\d+\.\d % free/g, 'NN.N % free');
  // Under Bun the btrfs work goes through ioctls (no processes), under Node through btrfs processes.
  s = s.replace(/\(\d+ process(es)?, /g, '(N processes, ');
  s = s.replace(/"spawns": \d+/g, '"spawns": "…"');
  s = s.replace(/"majorMinor": "\d+:\d+"/g, '"majorMinor": "0:NN"');
  s = s.replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/g, 'xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx');
  s = s.replace(/"(totalBytes|freeBytes|freePercent)": [\d.]+/g, '"$1": "…"');
  return s;
}

/** The examples: name → text of the block (a console session), and name → help text. */
export function generate() {
  const image = makeImage();
  const from = Date.now();
  const { dir, top, loop } = image;
  const examples = new Map();
  const helps = new Map();
  try {
    helps.set('overview', tool(['--help']).out.trimEnd());
    for (const c of COMMANDS) helps.set(c, tool([c, '--help']).out.trimEnd());

    // The server layout (docs/configuration.md), with marker files.
    const sv = (p) => sh('btrfs', ['-q', 'subvolume', 'create', join(top, p)]);
    sv('@root-blank');
    sh('btrfs', ['property', 'set', '-ts', join(top, '@root-blank'), 'ro', 'true']);
    sh('btrfs', ['-q', 'subvolume', 'snapshot', join(top, '@root-blank'), join(top, '@root')]);
    sv('@nix');
    sv('@persistent');
    writeFileSync(join(top, '@persistent/notes.txt'), 'kept forever\n');
    sv('@snapshots');
    mkdirSync(join(top, '@btrfs_tmp/old_roots'), { recursive: true });
    const config = join(dir, 'rollback.json');
    writeFileSync(config, `${JSON.stringify({ device: loop, snapshotRetention: { daily: 2 } }, null, 2)}\n`);
    const cmdline = join(dir, 'cmdline');
    writeFileSync(cmdline, 'quiet\n');
    const base = ['--top-level', top, '--config', config];
    const run = (args, extra = []) => tool([...args, ...extra]);
    const shown = (args) => `# pantheros-rollback ${args.join(' ')}`;
    const session = (steps) =>
      steps.map(({ args, extra = [], filter = (x) => x, note = '' }) => `${shown(args)}${note ? `    # ${note}` : ''}\n${filter(run(args, extra).out).trimEnd()}`).join('\n');

    // Earlier boots, each with a file written into its root, so that there are archives of different ages.
    const bootAt = (now, content) => {
      mkdirSync(join(top, '@root/etc/myapp'), { recursive: true });
      writeFileSync(join(top, '@root/etc/myapp.conf'), content);
      const r = run(['boot', ...base, '--cmdline', cmdline, '--now', now]);
      if (r.code !== 0) throw new Error(`boot at ${now} failed: ${r.out}`);
    };
    bootAt('2026-10-19T06:58:02Z', 'v1\n');
    bootAt('2026-11-03T08:01:33Z', 'v2\n');
    bootAt('2026-11-17T06:44:10Z', 'v3\n');
    bootAt('2026-11-22T07:05:51Z', 'v4\n');
    mkdirSync(join(top, '@root/etc/myapp'), { recursive: true });
    writeFileSync(join(top, '@root/etc/myapp/a'), 'a\n');
    writeFileSync(join(top, '@root/etc/myapp/b'), 'b\n');
    bootAt('2026-11-25T06:59:27Z', 'listen = 0.0.0.0:8080\n');
    const now = '2026-11-26T06:30:12Z';
    const report = join(dir, 'report.json');
    const bootArgs = ['--cmdline', cmdline, '--now', now];
    examples.set('boot-dry-run', session([{ args: ['boot', '--dry-run'], extra: [...base, ...bootArgs] }]));
    examples.set('boot', session([{ args: ['boot'], extra: [...base, ...bootArgs, '--report', report] }]));
    examples.set('status', session([{ args: ['status'], extra: ['--report', report] }]));
    examples.set('boot-json', session([{ args: ['status', '--json'], extra: ['--report', report] }]));

    const snap = (cls, at) => run(['snapshot', '--class', cls, ...base, '--now', at]);
    snap('daily', '2026-11-24T00:00:00Z');
    snap('daily', '2026-11-25T00:00:00Z');
    snap('weekly', '2026-11-23T00:00:00Z');
    examples.set(
      'snapshot',
      session([
        { args: ['snapshot', '--class', 'daily'], extra: [...base, '--now', '2026-11-26T00:00:00Z'] },
        { args: ['snapshot', '--class', 'hourly'], extra: [...base, '--now', '2026-11-26T06:00:00Z'] },
        { args: ['snapshot', '--class', 'hourly'], extra: [...base, '--now', '2026-11-26T06:00:00Z'], note: 'again in the same second' },
        { args: ['snapshot', '--class', 'weekly', '@persistent', '@nix'], extra: [...base, '--now', '2026-11-26T06:00:05Z'] },
      ]),
    );
    const listNow = ['--now', '2026-11-26T07:05:00Z'];
    examples.set('list', session([{ args: ['list'], extra: [...base, ...listNow] }]));
    examples.set('list-json', session([{ args: ['list', '--json'], extra: [...base, ...listNow] }]));
    examples.set('prune', session([{ args: ['prune', '--dry-run'], extra: base }]));
    examples.set('prune-json', session([{ args: ['prune', '--dry-run', '--json'], extra: base }]));

    // The live root, changed since this boot.
    mkdirSync(join(top, '@root/etc'), { recursive: true });
    writeFileSync(join(top, '@root/etc/hosts'), '127.0.0.1 localhost db1\n');
    mkdirSync(join(top, '@root/root'));
    writeFileSync(join(top, '@root/root/.bash_history'), 'ls\n');
    symlinkSync('/run/current-system/sw/bin/vim', join(top, '@root/root/editor'));
    examples.set('diff', session([{ args: ['diff'], extra: base }, { args: ['diff', '--prefix', '/etc', '--summary'], extra: base }]));
    examples.set('diff-json', session([{ args: ['diff', '--prefix', '/etc', '--json'], extra: base }]));

    examples.set(
      'mount',
      session([
        { args: ['mount', '20261125T065927Z'], extra: base },
        { args: ['umount', '20261125T065927Z'], extra: ['--config', config] },
        { args: ['mount', '2026-11-25'], extra: base },
      ]),
    );

    const sysroot = join(dir, 'sysroot');
    mkdirSync(join(sysroot, 'etc/myapp'), { recursive: true });
    writeFileSync(join(sysroot, 'etc/myapp.conf'), 'broken\n');
    writeFileSync(join(sysroot, 'etc/myapp/a'), 'x\n');
    symlinkSync(sysroot, join(dir, 'link'));
    const replacedName = (t) => t.replace(/pantheros-replaced-\d{8}T\d{6}Z(_\d+)?/g, 'pantheros-replaced-YYYYMMDDThhmmssZ');
    const dest = (p) => `${sysroot}${p}`;
    examples.set(
      'restore',
      session([
        { args: ['restore', '/etc/myapp.conf', '--from', '20261125T065927Z', '--to', dest('/etc/myapp.conf')], extra: base },
        { args: ['restore', '/etc/myapp.conf', '--from', '20261125T065927Z', '--to', dest('/etc/myapp.conf'), '--force'], extra: base, filter: replacedName },
        { args: ['restore', '/etc/myapp', '--from', '20261125T065927Z', '--to', dest('/etc/myapp'), '--force', '--dry-run'], extra: base, filter: replacedName },
        { args: ['restore', '/etc/myapp.conf', '--from', '20261125T065927Z', '--to', join(dir, 'link/etc/x.conf')], extra: base },
        { args: ['restore', '/etc/../etc/shadow', '--from', '20261125T065927Z'], extra: base },
      ]),
    );
    examples.set('restore-json', session([{ args: ['restore', '/etc/myapp', '--from', '20261125T065927Z', '--to', dest('/etc/myapp.new'), '--json'], extra: base }]));

    const nbNow = ['--now', '2026-11-26T07:10:00Z'];
    examples.set(
      'next-boot',
      session([
        { args: ['next-boot', '20261122T070551Z'], extra: [...base, ...nbNow] },
        { args: ['next-boot'], extra: [...base, ...nbNow] },
        { args: ['next-boot', '--cancel'], extra: [...base, ...nbNow] },
      ]),
    );
    examples.set('next-boot-json', session([{ args: ['next-boot', '--json'], extra: [...base, ...nbNow] }]));

    const srNow = ['--now', '2026-11-26T07:12:30Z'];
    examples.set(
      'state-rollback',
      session([
        { args: ['state-rollback', '--next-boot', '@persistent=daily'], extra: [...base, ...srNow] },
        { args: ['state-rollback'], extra: base },
        { args: ['state-rollback', '--cancel'], extra: base },
      ]),
    );
    examples.set('state-rollback-json', session([{ args: ['state-rollback', '--next-boot', '@persistent=daily', '--dry-run', '--json'], extra: [...base, ...srNow] }]));

    const lint = ['--mount-options', '/=noatime,compress=zstd,ssd,nossd', '--mount-options', '/nix=noatime,compress=zstd:1,autodefrag'];
    examples.set('check', session([{ args: ['check', ...lint], extra: base }]));
    examples.set('check-json', session([{ args: ['check', '--json'], extra: [...base, '--mount-options', '/=noatime'] }]));

    const someSeries = (t) =>
      t
        .split('\n')
        .filter((l) => /pantheros_(archives|snapshots|last_boot_result|last_boot_exit_code)\b/.test(l))
        .join('\n');
    examples.set('metrics', session([{ args: ['metrics'], extra: [...base, '--report', report], filter: someSeries, note: 'only some series shown' }]));
    const someMetrics = (t) => {
      const o = JSON.parse(t);
      return JSON.stringify({ ...o, metrics: o.metrics.filter((m) => /^pantheros_(archives|last_boot_result)$/.test(m.name)) }, null, 2);
    };
    examples.set('metrics-json', session([{ args: ['metrics', '--json'], extra: [...base, '--report', report], filter: someMetrics, note: 'two of the series shown' }]));
  } finally {
    image.destroy();
  }
  const ctx = { dir, loop, from, to: Date.now() };
  for (const [k, v] of examples) examples.set(k, normalise(v, ctx));
  return { examples, helps };
}

/** Rewrites every marked block of one document; throws on a marker with no generated text. */
export function applyBlocks(doc, { examples, helps }) {
  return doc
    .replace(/(<!-- help: ([\w-]+) -->\n)[\s\S]*?(<!-- \/help -->)/g, (_m, open, name, close) => {
      const text = helps.get(name);
      if (text === undefined) throw new Error(`no help text for the marker "help: ${name}"`);
      return `${open}\`\`\`\n${text}\n\`\`\`\n${close}`;
    })
    .replace(/(<!-- example: ([\w-]+) -->\n)[\s\S]*?(<!-- \/example -->)/g, (_m, open, name, close) => {
      const text = examples.get(name);
      if (text === undefined) throw new Error(`no generated example for the marker "example: ${name}"`);
      return `${open}\`\`\`console\n${text}\n\`\`\`\n${close}`;
    });
}

/** Every docs/*.md file: name → [current text, text with the blocks rewritten]. */
export function rewriteDocs(docs, generated) {
  const out = new Map();
  for (const f of readdirSync(docs).filter((n) => n.endsWith('.md')).sort()) {
    const current = readFileSync(join(docs, f), 'utf8');
    out.set(f, [current, applyBlocks(current, generated)]);
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const argv = process.argv.slice(2);
  const check = argv.includes('--check');
  const value = (flag, fallback) => (argv.includes(flag) ? argv[argv.indexOf(flag) + 1] : fallback);
  const docs = value('--docs', join(REPO, 'docs'));
  runtime = value('--runtime', process.execPath);
  const generated = generate();
  let differ = 0;
  for (const [f, [current, next]] of rewriteDocs(docs, generated)) {
    if (current === next) continue;
    differ++;
    if (check) {
      const a = current.split('\n');
      const b = next.split('\n');
      const i = a.findIndex((l, n) => l !== b[n]);
      process.stderr.write(`${join(docs, f)} differs from the real output at line ${i + 1}:\n  docs:  ${a[i]}\n  real:  ${b[i]}\n`);
    } else {
      writeFileSync(join(docs, f), next);
      process.stdout.write(`rewrote ${join(docs, f)}\n`);
    }
  }
  if (check && differ) {
    process.stderr.write(`${differ} file(s) differ; run: npm run docs:examples\n`);
    process.exitCode = 1;
  }
}
