// Mount profiles: each performanceMode's btrfs mount options (and the io-optimized chattr +C database
// directory) against btrfs defaults, with fio and a source-tree unpack, leave-one-out per option.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { breathe, detachImage, makeImage, mountImage, scratchDir } from './image.mjs';
import { sh, timeCommand } from './sh.mjs';
import { rotate, round, summarize } from './stats.mjs';
import { REPO } from './rollback.mjs';

export const MODES = ['balanced', 'io-optimized', 'space-optimized'];

/** Used until nix/lib.nix exists (the NixOS module's table is the source of truth once it lands). */
const PROVISIONAL = {
  balanced: ['noatime', 'compress=zstd:1'],
  'io-optimized': ['noatime'],
  'space-optimized': ['noatime', 'compress=zstd:3'],
};
/** Modes that put the database directory on chattr +C (nodatacow); provisional, lib.nix's perPathAttributes wins. */
const NOCOW_DB = new Set(['io-optimized']);

function asOptionList(value) {
  if (Array.isArray(value)) return value.map(String);
  if (typeof value === 'string') return value.split(',').filter(Boolean);
  if (value && typeof value === 'object' && 'options' in value) return asOptionList(value.options);
  throw new Error(`unexpected mountOptionsFor result: ${JSON.stringify(value)}`);
}

/** Each mode's mount options, from nix/lib.nix when it evaluates, else the provisional table. */
export function modeOptions(log) {
  const lib = join(REPO, 'nix/lib.nix');
  const modes = {};
  const nocow = {};
  let source = 'provisional table (nix/lib.nix missing)';
  if (existsSync(lib)) {
    try {
      const evalNix = (expr) => JSON.parse(sh('nix-instantiate', ['--eval', '--strict', '--json', '-E', expr], { cwd: REPO }));
      for (const mode of MODES) {
        modes[mode] = asOptionList(evalNix(`(import ./nix/lib.nix).mountOptionsFor "${mode}"`));
        try {
          const attrs = evalNix(`(import ./nix/lib.nix).perPathAttributes "${mode}"`);
          nocow[mode] = attrs['/var/lib/postgresql'] === 'nocow' || attrs['/var/lib/mysql'] === 'nocow';
        } catch {
          // older lib.nix without perPathAttributes: keep the provisional per-path table
        }
      }
      source = 'nix/lib.nix mountOptionsFor / perPathAttributes';
    } catch (error) {
      log(`  nix/lib.nix did not evaluate (${error.message.split('\n')[0]}); using the provisional table`);
      source = 'provisional table (nix/lib.nix did not evaluate)';
    }
  }
  for (const mode of MODES) modes[mode] ??= PROVISIONAL[mode];
  return { source, modes: Object.fromEntries(MODES.map((m) => [m, { options: modes[m], nocowDb: nocow[m] ?? NOCOW_DB.has(m) }])) };
}

/** The options the kernel actually applied (findmnt), minus the subvolume selectors. */
function effectiveOptions(probeFile, options) {
  const m = mountImage(probeFile, { options, directIo: true });
  try {
    return sh('findmnt', ['-n', '-o', 'OPTIONS', '--target', m.top]).trim().split(',').filter((o) => !/^subvol(id)?=/.test(o));
  } finally {
    detachImage(m);
  }
}

/**
 * The configurations to measure: defaults, every mode, and every mode minus one of its settings,
 * deduplicated by the options the kernel really applies (an option that is already the kernel's
 * default, e.g. space_cache=v2 or discard=async on current kernels, yields the same mount).
 */
export function configsFor(modes) {
  const probe = makeImage(join(scratchDir(), 'probe.img'), '300M');
  const effective = new Map();
  const effectiveOf = (options) => {
    const k = [...options].sort().join(',');
    if (!effective.has(k)) effective.set(k, effectiveOptions(probe, options));
    return effective.get(k);
  };
  const base = new Set(effectiveOf([]));
  const configs = new Map();
  const add = (options, nocowDb) => {
    const eff = effectiveOf(options);
    const label = eff.filter((o) => !base.has(o) && o !== 'rw').sort().join(',') || 'defaults';
    const key = `${label}${nocowDb ? ' +C' : ''}`;
    if (!configs.has(key)) configs.set(key, { key, options: [...options].sort(), nocowDb, effective: eff });
    return key;
  };
  add([], false);
  const ablations = {};
  for (const [mode, { options, nocowDb }] of Object.entries(modes)) {
    const full = add(options, nocowDb);
    ablations[mode] = { full, without: {} };
    for (const o of options) ablations[mode].without[o] = add(options.filter((x) => x !== o), nocowDb);
    if (nocowDb) ablations[mode].without['chattr +C db dir'] = add(options, false);
  }
  rmSync(probe, { force: true });
  // An A/A control: defaults measured twice, so the noise floor of this machine is visible.
  configs.set('defaults (A/A control)', { key: 'defaults (A/A control)', options: [], nocowDb: false, effective: [...base] });
  return { configs: [...configs.values()], ablations, kernelDefaults: [...base] };
}

/** The workloads; `lowerIsBetter` metric is milliseconds (db: ms per 1 000 fsynced writes). */
function workloads(quick, tarball) {
  const common = ['--ioengine=psync', '--fallocate=none', '--buffer_compress_percentage=50', '--refill_buffers', '--output-format=json'];
  return [
    {
      name: 'db-randwrite-fsync',
      title: '4 KiB random writes, fsync each (database-like): ms per 1 000 writes from the median write + median fsync latency',
      usesNocow: true,
      run(top, config) {
        const dir = join(top, 'db');
        mkdirSync(dir);
        if (config.nocowDb) sh('chattr', ['+C', dir]);
        const out = sh('fio', ['--name=db', `--directory=${dir}`, '--rw=randwrite', '--bs=4k', `--size=${quick ? '32M' : '64M'}`, '--fsync=1', '--time_based', `--runtime=${quick ? 3 : 4}`, ...common]);
        const job = JSON.parse(out.slice(out.indexOf('{'))).jobs[0];
        // Median write + median fsync latency: robust to the bursts of a shared host disk (mean IOPS is not).
        const p50 = (lat) => lat?.percentile?.['50.000000'] ?? Number.NaN;
        return { ms: ((p50(job.write.clat_ns) + p50(job.sync.lat_ns)) / 1e6) * 1000, iops: job.write.iops };
      },
    },
    {
      name: 'seq-write',
      title: `large sequential writes (${quick ? 256 : 512} MiB, 1 MiB blocks, 50 % compressible, fsync at end), ms`,
      run(top) {
        const t = timeCommand('fio', ['--name=seq', `--directory=${top}`, '--rw=write', '--bs=1M', `--size=${quick ? '256M' : '512M'}`, '--end_fsync=1', ...common]);
        if (t.code !== 0) throw new Error(`fio seq failed: ${t.stderr}`);
        return { ms: t.ms };
      },
    },
    {
      name: 'unpack-tree',
      title: 'unpack a source tree (tar -x of /usr/include) + syncfs, ms',
      run(top) {
        const t = timeCommand('bash', ['-c', `tar -xf "$1" -C "$2" && sync -f "$2"`, 'unpack', tarball, top]);
        if (t.code !== 0) throw new Error(`unpack failed: ${t.stderr}`);
        return { ms: t.ms };
      },
    },
    {
      name: 'read-tree',
      title: 'read the unpacked tree back cold (atime last set 3 days ago) + syncfs, ms',
      dependsOnUnpack: true,
      run(top, config, remount) {
        sh('bash', ['-c', `tar -xf "$1" -C "$2" && find "$2" -exec touch -a -h -d '3 days ago' {} + && sync -f "$2"`, 'prep', tarball, top]);
        const fresh = remount();
        const t = timeCommand('bash', ['-c', `tar -cf - -C "$1" . | cat > /dev/null && sync -f "$1"`, 'read', fresh]);
        if (t.code !== 0) throw new Error(`read failed: ${t.stderr}`);
        return { ms: t.ms };
      },
    },
  ];
}

function dataBytesUsed(top) {
  const out = sh('btrfs', ['filesystem', 'df', '-b', top]);
  const m = /^Data[^:]*: total=\d+, used=(\d+)/m.exec(out);
  return m ? Number(m[1]) : Number.NaN;
}

/** Runs all workloads × configs `runs` times, a fresh image (direct-I/O loop) each, alternating order. */
export async function benchProfiles({ runs, quick, log }) {
  const { source, modes } = modeOptions(log);
  log(`  mode options from ${source}: ${JSON.stringify(modes)}`);
  const { configs, ablations, kernelDefaults } = configsFor(modes);
  log(`  kernel defaults: ${kernelDefaults.join(',')}; measuring ${configs.map((c) => c.key).join(' | ')}`);
  const tarball = join(scratchDir(), 'tree.tar');
  const trees = quick ? ['usr/include/c++', 'usr/include/linux', 'usr/include/x86_64-linux-gnu'] : ['usr/include'];
  sh('tar', ['-cf', tarball, '-C', '/', ...trees]);
  const files = Number(sh('bash', ['-c', `tar -tf "$1" | grep -vc '/$'`, 'count', tarball]).trim());
  const list = workloads(quick, tarball);
  const samples = {};
  const space = {};
  for (let r = 0; r < runs; r++) {
    for (const w of list) {
      const applicable = configs.filter((c) => w.usesNocow || !c.nocowDb);
      for (const c of rotate(applicable, r)) {
        await breathe();
        const file = join(scratchDir(), 'fio.img');
        makeImage(file, '3G');
        let m = mountImage(file, { options: c.options, directIo: true });
        const expected = c.effective.join(',');
        const got = sh('findmnt', ['-n', '-o', 'OPTIONS', '--target', m.top]).trim().split(',').filter((o) => !/^subvol(id)?=/.test(o)).join(',');
        if (got !== expected) throw new Error(`mount options drifted: expected ${expected}, got ${got}`);
        const remount = () => {
          detachImage(m);
          m = mountImage(file, { options: c.options, directIo: true });
          return m.top;
        };
        try {
          const s = w.run(m.top, c, remount);
          (samples[`${w.name}|${c.key}`] ??= []).push(s.ms);
          if (r === 0) (space[`${w.name}|${c.key}`] = dataBytesUsed(m.top));
        } finally {
          detachImage(m);
          rmSync(file, { force: true });
        }
      }
    }
    log(`  profiles run ${r + 1}/${runs} done`);
  }
  const results = {};
  for (const w of list) {
    results[w.name] = { title: w.title, usesNocow: Boolean(w.usesNocow), configs: {} };
    for (const c of configs) {
      const s = samples[`${w.name}|${c.key}`];
      if (s) results[w.name].configs[c.key] = { ...summarize(s), dataBytes: space[`${w.name}|${c.key}`] };
    }
    const base = results[w.name].configs.defaults.median;
    for (const v of Object.values(results[w.name].configs)) v.ratioToDefaults = round(v.median / base);
  }
  const noise = {};
  for (const [w, r] of Object.entries(results)) {
    const aa = r.configs['defaults (A/A control)'];
    if (aa) noise[w] = round(Math.abs(aa.median / r.configs.defaults.median - 1));
  }
  return { source, modes, kernelDefaults, configs, ablations, noise, treeFiles: files, tarballBytes: Number(sh('stat', ['-c', '%s', tarball]).trim()), workloads: results, verdicts: judge(modes, ablations, results, noise) };
}

/**
 * For each mode and each of its settings: time with it / time without it, per workload, and a
 * verdict. A change counts only beyond max(5 %, the A/A noise of that workload).
 */
function judge(modes, ablations, results, noise) {
  const verdicts = {};
  for (const mode of Object.keys(modes)) {
    const a = ablations[mode];
    // Per-path +C only exists where a database directory does (the db workload); elsewhere the mode is its mount.
    const on = (r, key) => r.configs[r.usesNocow ? key : key.replace(/ \+C$/, '')];
    verdicts[mode] = { vsDefaults: {}, options: {} };
    for (const [w, r] of Object.entries(results)) {
      const full = on(r, a.full);
      if (full) verdicts[mode].vsDefaults[w] = full.ratioToDefaults;
    }
    for (const [opt, key] of Object.entries(a.without)) {
      if (key === a.full) {
        verdicts[mode].options[opt] = { ratios: {}, verdict: 'redundant: the kernel applies it by default (identical mount)' };
        continue;
      }
      const ratios = {};
      let helps = 0;
      let hurts = 0;
      for (const [w, r] of Object.entries(results)) {
        const withIt = on(r, a.full);
        const without = on(r, key);
        if (!withIt || !without || withIt === without) continue;
        const ratio = withIt.median / without.median;
        ratios[w] = round(ratio);
        const floor = Math.max(0.05, noise[w] ?? 0);
        if (ratio <= 1 - floor) helps++;
        if (ratio >= 1 + floor) hurts++;
      }
      const verdict = helps && !hurts ? 'earns its place' : helps && hurts ? 'mixed: helps some workloads, hurts others' : hurts ? 'costs time (keep only if the space saving is the point)' : 'no effect beyond noise';
      verdicts[mode].options[opt] = { ratios, verdict };
    }
  }
  return verdicts;
}

/** True when fio, chattr and tar are installed. */
export function profilesAvailable() {
  return ['fio', 'chattr', 'tar'].every((t) => spawnSync('which', [t], { stdio: 'ignore' }).status === 0);
}
