// Turns results.json into bench/results/results.md (every table of a run) and the clean-up sweep plot
// (bench/results/cleanup-sweep.svg). docs/benchmarks.md (method, machine, headline tables) and the README's
// "Benchmarks" summary quote figures from results.md and show the plot; they are written by hand, not here.
import { renderLineChart } from './plot.mjs';

const fmt = (x, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : '—');
const kb = (b) => (Number.isFinite(b) ? `${(b / 1024).toFixed(1)} KiB` : '—');
const mb = (b) => (Number.isFinite(b) ? `${(b / 2 ** 20).toFixed(1)} MiB` : '—');
const med = (summary, name, field = 'wall') => summary?.[name]?.[field]?.median;

/** The plot: median wall time against deleted subvolumes, tool (both runtimes) vs baseline. */
export function renderSweepPlot(results) {
  const points = results.sections.cleanup.points;
  const series = [
    ['node', 'tool under Node (wall)'],
    ['bun', 'tool under Bun (wall)'],
    ['baseline', 'baseline (impermanence README, create)'],
    ['baseline-snapshot', 'baseline (snapshot blank)'],
  ]
    .map(([key, name], i) => ({
      name,
      dashed: i >= 2,
      points: points.filter((p) => Number.isFinite(med(p.summary, key))).map((p) => [p.deletedSubvolumes, Math.round(med(p.summary, key))]),
    }))
    .filter((s) => s.points.length);
  return renderLineChart(series, {
    title: 'Boot rollback time vs. deleted subvolumes (medians, log scale)',
    xLabel: 'subvolumes deleted in this boot (expired archives × 51)',
    yLabel: 'wall time per boot run (ms, log scale)',
    logY: true,
  });
}

/** Each goal of issues 6 and 15 with the measured numbers and whether it is met. */
export function evaluateGoals(results) {
  const s = results.sections;
  const goals = [];
  const add = (goal, measured, met) => goals.push({ goal, measured, met });
  const triv = s.trivial?.summary;
  // Node's own start-up (issue 15): an empty CommonJS script timed in the trivial boot's own alternation
  // (start-node, since 2026-12-02), else the start-up section's empty script; never the bundle's --version.
  const startNode = med(triv, 'start-node') ?? s.startup?.['node-empty-cjs']?.median ?? s.startup?.['node-empty-script']?.median ?? s.startup?.node?.median;
  if (triv) {
    const base = med(triv, 'baseline');
    const durable = med(triv, 'baseline-durable');
    // Every build measured (dist/ and any --tool), per runtime; issue 15 asks for the snippet made durable.
    for (const name of Object.keys(triv).filter((n) => /^bun($|-boot|:)/.test(n))) {
      const t = med(triv, name);
      if (Number.isFinite(durable)) add(`${name} ≤ 1.0× the snippet made durable on trivial`, `${fmt(t)} ms vs ${fmt(durable)} ms (impermanence README snippet + sync -f): ratio ${fmt(t / durable, 2)}; to the bare snippet (${fmt(base)} ms) ${fmt(t / base, 2)}`, t <= durable);
      else add(`${name} ≤ baseline on trivial`, `${fmt(t)} ms vs baseline ${fmt(base)} ms; ratio ${fmt(t / base, 2)}`, t <= base);
    }
    for (const name of Object.keys(triv).filter((n) => /^node($|-boot|:)/.test(n))) {
      const t = med(triv, name);
      const ref = Number.isFinite(durable) ? durable : base;
      add(`${name} ≤ the snippet${Number.isFinite(durable) ? ' made durable' : ''} + Node's start-up (an empty CommonJS script) on trivial`, `${fmt(t)} ms vs ${fmt(ref)} + ${fmt(startNode)} = ${fmt(ref + startNode)} ms`, t <= ref + startNode);
    }
  }
  const heavy = s.cleanup?.points?.find((p) => p.k === 10) ?? s.cleanup?.points?.at(-1);
  if (heavy) {
    const base = med(heavy.summary, 'baseline');
    for (const rt of ['node', 'bun']) {
      const t = med(heavy.summary, rt);
      if (Number.isFinite(t)) add(`clean-up heavy ≤ 0.05× baseline (${rt})`, `${rt} ${fmt(t)} ms vs baseline ${fmt(base)} ms: ratio ${fmt(t / base, 3)} (limit 0.05, issue 15); ${heavy.deletedSubvolumes} subvolumes deleted`, t <= base * 0.05);
    }
  }
  const many = s.many?.summary;
  // The trivial boot measured in the many section's own alternation when it was (since 2026-11-30), else the trivial section's.
  const manyTrivial = s.many?.trivialSummary ?? triv;
  const alongside = s.many?.trivialSummary ? ', the trivial boot measured in the same alternation' : '';
  if (many && manyTrivial) {
    for (const rt of Object.keys(many).filter((n) => !n.startsWith('baseline'))) {
      const m = med(many, rt);
      const t = med(manyTrivial, rt);
      if (Number.isFinite(m) && Number.isFinite(t)) add(`${s.many.description} ≤ 2× trivial (${rt})`, `${fmt(m)} ms vs trivial ${fmt(t)} ms: ${fmt(m / t, 2)}×${alongside}`, m <= 2 * t);
    }
  }
  const big = s.bigroot;
  if (big) {
    const [small, large] = big.sizes;
    for (const rt of ['node', 'bun', 'baseline']) {
      const a = med(big.summary, `${rt}@${small}`);
      const b = med(big.summary, `${rt}@${large}`);
      const wa = med(big.summary, `${rt}@${small}`, 'durationMs');
      const wb = med(big.summary, `${rt}@${large}`, 'durationMs');
      const work = Number.isFinite(wa) ? `; the tool's own durationMs ${fmt(wa)} → ${fmt(wb)} ms (${wb >= wa ? '+' : ''}${fmt((wb / wa - 1) * 100)} %)` : '';
      if (Number.isFinite(a) && Number.isFinite(b)) add(`big root flat (${rt}): ${large} files within 10 % of ${small}`, `wall ${fmt(a)} → ${fmt(b)} ms (${b >= a ? '+' : ''}${fmt((b / a - 1) * 100)} %)${work}`, b <= a * 1.1);
    }
  }
  const sizes = s.startup?.bundleBytes ? s.startup : s.footprint;
  if (sizes) add('bundle under 300 KB unminified', `${sizes.bundleBytes} B (${kb(sizes.bundleBytes)}); minified ${sizes.minifiedBundleBytes} B (${kb(sizes.minifiedBundleBytes)})`, sizes.bundleBytes < 300_000);
  return goals;
}

function rollbackTable(results) {
  const s = results.sections;
  const startNode = s.startup?.node?.median;
  const startBun = s.startup?.bun?.median;
  const rows = [];
  const row = (label, summary, prefix = '') => {
    const g = (name, f) => med(summary, `${name}${prefix}`, f);
    const base = g('baseline');
    const durable = g('baseline-durable');
    rows.push(
      `| ${label} | ${fmt(g('node'))} | ${fmt(g('node') - startNode)} | ${fmt(g('node', 'durationMs'))} | ${fmt(g('bun'))} | ${fmt(g('bun') - startBun)} | ${fmt(g('bun', 'durationMs'))} | ${fmt(base)} | ${fmt(durable)} | ${fmt(g('baseline-snapshot'))} | ${fmt(g('node') / base, 2)} | ${fmt(g('node') / durable, 2)} | ${fmt(g('bun') / base, 2)} | ${fmt(g('bun') / durable, 2)} |`,
    );
  };
  if (s.trivial) row('1. trivial (1 root to archive, nothing to delete)', s.trivial.summary);
  if (s.bigroot) for (const n of s.bigroot.sizes) row(`2. big root, ${n.toLocaleString('en')} files`, s.bigroot.summary, `@${n}`);
  if (s.cleanup) {
    for (const p of s.cleanup.points) {
      const label = p.k === 10 ? `3. clean-up heavy: ${p.archives} archives, ${p.k} expired × 51 subvolumes` : `3. sweep: ${p.archives} archives, ${p.k} expired (${p.deletedSubvolumes} subvolumes)`;
      row(label, p.summary);
    }
  }
  if (s.many) row(`4. many archives (${s.many.description})`, s.many.summary);
  const diff = s.diff;
  if (diff?.status === 'todo') rows.push('| diff on 100 000 changed files | TODO: `diff` not implemented yet | | | | | | | | | | | | |');
  else if (diff?.summary) {
    const d = diff.summary;
    const base = d['fs-diff.sh']?.wall.median;
    rows.push(`| diff, ${diff.files.toLocaleString('en')} changed files (baseline: fs-diff.sh, find-new) | ${fmt(d.node?.wall.median)} | ${fmt(d.node?.wall.median - startNode)} | | ${fmt(d.bun?.wall.median)} | ${fmt(d.bun?.wall.median - startBun)} | | ${fmt(base)} | | | ${fmt(d.node?.wall.median / base, 2)} | | ${fmt(d.bun?.wall.median / base, 2)} | |`);
  }
  return [
    '| scenario | Node wall | Node − start-up | Node durationMs | Bun wall | Bun − start-up | Bun durationMs | baseline (impermanence README) | baseline + sync -f | baseline (snapshot) | Node / baseline | Node / baseline + sync | Bun / baseline | Bun / baseline + sync |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows,
  ].join('\n');
}

/** Trivial, every variant measured in the same alternation: builds, baselines and the floors, with ratios. */
function trivialTable(results) {
  const t = results.sections.trivial?.summary;
  if (!t) return '';
  const base = med(t, 'baseline');
  const durable = med(t, 'baseline-durable');
  const snapDurable = med(t, 'baseline-snapshot-durable');
  const rows = Object.entries(t).map(([name, v]) => {
    const m = v.wall.median;
    return `| ${name} | ${fmt(m)} | ${fmt(v.wall.min)} | ${v.wall.n} | ${fmt(v.durationMs?.median)} | ${v.spawns?.median ?? ''} | ${fmt(m / base, 2)} | ${fmt(m / durable, 2)} | ${fmt(m / snapDurable, 2)} |`;
  });
  return [
    '| variant | median wall | min | runs | durationMs | spawns | / baseline | / baseline + sync -f | / baseline (snapshot) + sync -f |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows,
  ].join('\n');
}

function profilesSection(p) {
  const out = [];
  out.push(`Mount options from ${p.source}: ${Object.entries(p.modes).map(([m, v]) => `**${m}** = \`${v.options.join(',') || '(none)'}\`${v.nocowDb ? ' + `chattr +C` db dir' : ''}`).join('; ')}.`);
  if (p.kernelDefaults) out.push(`Options the kernel applies with no options (findmnt): \`${p.kernelDefaults.join(',')}\`; configs are labelled by what they add to that and deduplicated by the effective mount.`);
  if (p.noise) out.push(`A/A noise (defaults measured twice, |ratio − 1|): ${Object.entries(p.noise).map(([w, n]) => `${w} ${fmt(n * 100)} %`).join(', ')}; a setting counts as helping or hurting only beyond max(5 %, that noise).`);
  out.push(`Tree for unpack/read: ${p.treeFiles} files, ${mb(p.tarballBytes)}. Fresh image per run (loop with direct I/O), configs alternated, medians; ratio < 1 is faster than btrfs defaults.`);
  out.push('');
  for (const [name, w] of Object.entries(p.workloads)) {
    out.push(`**${w.title}**`, '', '| mount config | median | ratio to defaults | data on disk after run |', '|---|---:|---:|---:|');
    for (const [key, v] of Object.entries(w.configs)) out.push(`| \`${key}\` | ${fmt(v.median)} | ${fmt(v.ratioToDefaults, 2)} | ${mb(v.dataBytes)} |`);
    out.push('');
  }
  out.push('**Does each setting earn its place?** (median time with the setting / without it, per workload; < 1 is faster)', '', '| mode | setting | ratios | verdict |', '|---|---|---|---|');
  for (const [mode, v] of Object.entries(p.verdicts)) {
    for (const [opt, o] of Object.entries(v.options)) out.push(`| ${mode} | \`${opt}\` | ${Object.entries(o.ratios).map(([w, r]) => `${w} ${fmt(r, 2)}`).join(', ') || '—'} | ${o.verdict} |`);
  }
  out.push('', '| mode | vs defaults, per workload (ratio of times) |', '|---|---|');
  for (const [mode, v] of Object.entries(p.verdicts)) out.push(`| ${mode} | ${Object.entries(v.vsDefaults).map(([w, r]) => `${w} ${fmt(r, 2)}`).join(', ')} |`);
  return out.join('\n');
}

function footprintSection(f) {
  const out = ['| item | bytes |', '|---|---:|'];
  out.push(`| bundle \`dist/pantheros-rollback.mjs\` | ${f.bundleBytes} (${kb(f.bundleBytes)}) |`);
  out.push(`| bundle minified (\`MINIFY=1\`) | ${f.minifiedBundleBytes} (${kb(f.minifiedBundleBytes)}) |`);
  out.push(`| bundle alone, zstd -19 | ${f.bundleZstd19Bytes} (${kb(f.bundleZstd19Bytes)}) |`);
  if (f.bootBundleBytes) {
    out.push(`| boot-only bundle \`dist/pantheros-rollback-boot.mjs\` (plain; zstd -19) | ${f.bootBundleBytes} (${kb(f.bootBundleBytes)}); ${f.bootBundleZstd19Bytes} (${kb(f.bootBundleZstd19Bytes)}) |`);
    out.push(`| its Bun bytecode build, .js + .jsc (plain; zstd -19) | ${f.bootBytecodeBytes} (${kb(f.bootBytecodeBytes)}); ${f.bootBytecodeZstd19Bytes} (${kb(f.bootBytecodeZstd19Bytes)}) |`);
    if (f.bootExeBytes) out.push(`| its Bun executable (runtime + bytecode, replaces the bun binary; plain; zstd -19) | ${f.bootExeBytes} (${mb(f.bootExeBytes)}); ${f.bootExeZstd19Bytes} (${mb(f.bootExeZstd19Bytes)}) |`);
  }
  for (const [rt, r] of Object.entries(f.runtimes)) {
    out.push(`| ${rt}: binary \`${r.binary}\` | ${r.binaryBytes} (${mb(r.binaryBytes)}) |`);
    out.push(`| ${rt}: binary + all ldd libs + bundle, zstd -19 | ${r.all.zstd19Bytes} (${mb(r.all.zstd19Bytes)}) |`);
    out.push(`| ${rt}: **initrd growth** (binary + libs a systemd initrd lacks${r.extraLibs.length ? `: ${r.extraLibs.map((l) => l.split('/').pop()).join(', ')}` : ''} + bundle), zstd -19 | ${r.growth.zstd19Bytes} (${mb(r.growth.zstd19Bytes)}) |`);
    out.push(`| ${rt}: same, binaries stripped (\`strip --strip-unneeded\`) | ${r.growthStripped.zstd19Bytes} (${mb(r.growthStripped.zstd19Bytes)}) |`);
  }
  return out.join('\n');
}

/** Where the tool's time goes: wall = (exec + runtime init + bundle load + config) + work + exit. */
function breakdownTable(results) {
  const s = results.sections;
  const cases = [];
  if (s.trivial) cases.push(['trivial', s.trivial.summary, '']);
  const heavy = s.cleanup?.points?.find((p) => p.k === 10);
  if (heavy) cases.push(['clean-up heavy', heavy.summary, '']);
  if (s.many) cases.push(['many archives', s.many.summary, '']);
  if (s.bigroot) for (const n of s.bigroot.sizes) cases.push([`big root ${n}`, s.bigroot.summary, `@${n}`]);
  const rows = [];
  for (const [label, summary, suffix] of cases) {
    for (const rt of ['node', 'bun']) {
      const v = summary?.[`${rt}${suffix}`];
      if (!v?.processMs) continue;
      const wall = v.wall.median;
      const proc = v.processMs.median;
      const work = v.durationMs.median;
      rows.push(`| ${label} | ${rt} | ${fmt(wall)} | ${fmt(s.startup?.[rt]?.median)} | ${fmt(proc - work)} | ${fmt(work)} | ${fmt(wall - proc)} | ${v.spawns?.median ?? '—'} |`);
    }
  }
  if (!rows.length) return '';
  return [
    '| scenario | runtime | wall | `--version` alone | in-process before the work (processMs − durationMs) | work (durationMs) | outside the process clock (wall − processMs) | processes spawned |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
    ...rows,
  ].join('\n');
}

/** The whole results.md. */
export function renderMarkdown(results) {
  const m = results.machine;
  const s = results.sections;
  const out = [];
  out.push(`# pantheros-rollback benchmark results${results.quick ? ' (--quick)' : ''}`, '');
  // Where the method and the headline figures are: docs/benchmarks.md, linked relative to this file.
  const docs = results.quick ? '../../../docs/benchmarks.md' : '../../docs/benchmarks.md';
  out.push(`Every table of the last run, rendered from \`results.json\` (\`node bench/run.mjs --render\` rewrites this file and the plot). Method, machine and the headline figures: [docs/benchmarks.md](${docs}); the README's "Benchmarks" section quotes those.`, '');
  out.push(`- Date: ${results.date.slice(0, 10)}; last invocation \`${results.command}\` (\`npm run bench\` = \`npm run build && node bench/run.mjs\`; \`--only\` reruns merge into the same results)`);
  if (results.bundle) out.push(`- Bundle under test: ${results.bundle.bytes} B, sha256 ${results.bundle.sha256.slice(0, 12)}…, git ${results.bundle.gitCommit}${results.bundle.srcDirty ? ' (+ uncommitted src changes)' : ''}`);
  out.push(`- Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, kernel ${m.kernel}, ${m.btrfsProgs}, Node ${m.node}, Bun ${m.bun}, ${m.fio}; ${m.storage}`);
  out.push(`- Sections (measured at, UTC; load average over 1 min when it started): ${Object.entries(s).map(([k, v]) => `${k} ${v.measuredAt?.slice(11, 16) ?? '?'} (load ${fmt(v.loadBefore, 2)})`).join(', ')}`);
  out.push('');
  if (s.startup) {
    const st = s.startup;
    out.push(`Start-up alone (\`RUNTIME dist/pantheros-rollback.mjs --version\`, median of ${st.node.n}): Node ${fmt(st.node.median)} ms, Bun ${fmt(st.bun.median)} ms (without Bun's on-disk transpiler cache, as in an initrd; with a warm cache ${fmt(st['bun-warm-cache']?.median)} ms); an empty script: Node ${fmt(st['node-empty-script']?.median)} ms (CommonJS ${fmt(st['node-empty-cjs']?.median)} ms; \`node --version\`, exec and linking only, ${fmt(st['node-version-flag']?.median)} ms), Bun ${fmt(st['bun-empty-script']?.median)} ms (\`bun --version\` ${fmt(st['bun-version-flag']?.median)} ms); Bun with only \`import 'node:child_process'\`: ${fmt(st['bun-import-child-process']?.median)} ms; the minified bundle (\`MINIFY=1\`): Node ${fmt(st['node-minified-bundle']?.median)} ms, Bun ${fmt(st['bun-minified-bundle']?.median)} ms; \`bash -c :\` ${fmt(st.bash.median)} ms (minima: Node ${fmt(st.node.min)}, Bun ${fmt(st.bun.min)}, Bun empty ${fmt(st['bun-empty-script']?.min)} ms). All Bun runs below are cold-cache (\`BUN_RUNTIME_TRANSPILER_CACHE_PATH=0\`).`, '');
    const extra = Object.entries(st).filter(([k, v]) => (k.includes(':') || k.includes('-boot')) && v?.median !== undefined);
    if (extra.length) out.push(`The boot-only bundle's and other builds' start-up (\`--version\`; \`version\` for a Node snapshot blob): ${extra.map(([k, v]) => `${k} ${fmt(v.median)} ms`).join(', ')}.`, '');
  }
  out.push('## Rollback (median wall ms per boot run; "− start-up" subtracts the runtime\'s start-up; durationMs is the tool\'s own report; "+ sync -f" is the snippet made equally durable: one commit at its end)', '', rollbackTable(results), '');
  const trivial = trivialTable(results);
  if (trivial) {
    const tools = results.tools?.length ? ` Other builds (\`--tool\`): ${results.tools.map((x) => `${x.name} = \`${x.file}\` (${x.kind}, sha256 ${x.sha256.slice(0, 12)}…)`).join('; ')}.` : '';
    out.push('### Trivial boot, every variant (floor-*: start-up + one snapshot + one commit through src/btrfs/native.ts, bench/floor.ts)', '', `Load average ${fmt(results.sections.trivial.load?.[0], 2)} → ${fmt(results.sections.trivial.load?.[1], 2)} during the section.${tools}`, '', trivial, '');
  }
  const breakdown = breakdownTable(results);
  if (breakdown) out.push('### Where the tool\'s time goes (medians, ms)', '', breakdown, '');
  const goals = evaluateGoals(results);
  if (goals.length) {
    out.push('## Goals', '', '| goal | measured | met |', '|---|---|---|');
    for (const g of goals) out.push(`| ${g.goal} | ${g.measured} | ${g.met ? 'yes' : '**no**'} |`);
    out.push('');
  }
  const errors = [s.trivial, s.bigroot, s.many, s.diff, ...(s.cleanup?.points ?? [])].flatMap((x) => Object.entries(x?.errors ?? {}));
  const summaries = [s.trivial?.summary, s.bigroot?.summary, s.many?.summary, ...(s.cleanup?.points ?? []).map((p) => p.summary)];
  for (const sum of summaries) for (const [k, v] of Object.entries(sum ?? {})) for (const mm of v.mismatches ?? []) errors.push([k, `did different work: ${mm}`]);
  if (errors.length) out.push('## Errors', '', ...[...new Set(errors.map(([k, e]) => `- ${k}: ${e}`))], '');
  if (s.cleanup) out.push('![time vs deleted subvolumes](cleanup-sweep.svg)', '');
  if (s.profiles) out.push('## Mount profiles (fio / tar)', '', profilesSection(s.profiles), '');
  if (s.footprint) out.push('## Footprint', '', footprintSection(s.footprint), '');
  return `${out.join('\n')}\n`;
}
