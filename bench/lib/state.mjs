// The state-rollback section of `npm run bench` (issue 14): a real PostgreSQL (Debian's postgresql-15) with a few
// hundred MB of data (pgbench) on its own subvolume, broken by a "bad migration", rolled back to its hourly snapshot:
// - online: the time from the request to the database answering again — stop PostgreSQL, `state-rollback`
//   (unmount, swap, mount), start PostgreSQL, the first query that needs the restored data; and the tool's phases;
// - at boot: the tool's share of the boot — `boot` with a state request (as next-boot or pantheros.rollback.state=
//   leaves it) against `boot` without one.
// There is no systemd on the benchmark machine, so PostgreSQL is stopped and started with pg_ctl around the tool
// (under systemd the tool stops and starts the units itself; that path is timed the same way: its own phases).
import { existsSync, mkdirSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { makeImage, mountImage, scratchDir, breathe } from './image.mjs';
import { sh, unitEnv } from './sh.mjs';
import { summarize, rotate } from './stats.mjs';
import { BUNDLE, BUN, BUN_COLD, BUN_LAUNCH, BUN_OPERATOR, NODE } from './rollback.mjs';

const PG_BIN = '/usr/lib/postgresql/15/bin';
const SUBVOLUME = '@persistent/var/lib/postgresql';
// `env` for the operator's commands, `bootEnv` for `boot` (stage 1's environment under Bun, BUN_COLD).
const RUNTIMES = [
  { name: 'node', bin: NODE, flags: [], env: {}, bootEnv: {} },
  { name: 'bun', bin: BUN, flags: BUN_LAUNCH.run, env: BUN_OPERATOR, bootEnv: BUN_COLD },
];

/** Whether the section can run here (PostgreSQL 15 from Debian's packages, runuser). */
export function stateAvailable() {
  return existsSync(`${PG_BIN}/pg_ctl`) && existsSync(`${PG_BIN}/pgbench`) && spawnSync('id', ['postgres'], { stdio: 'ignore' }).status === 0;
}

const asPostgres = (argv, options = {}) => sh('runuser', ['-u', 'postgres', '--', ...argv], options);
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;

/** Runs the bundle under a runtime with the section's config and top level; returns the parsed JSON (or throws). */
function tool(runtime, args, ctx) {
  const env = args[0] === 'boot' ? runtime.bootEnv : runtime.env;
  const r = spawnSync(runtime.bin, [...runtime.flags, BUNDLE, ...args, '--top-level', ctx.top, '--config', ctx.config, '--json'], { encoding: 'utf8', env: unitEnv(env) });
  if (r.status !== 0) throw new Error(`${runtime.name} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

function psql(ctx, sql) {
  return asPostgres([`${PG_BIN}/psql`, '-h', ctx.sock, '-p', '5439', '-d', 'bench', '-At', '-c', sql]).trim();
}

function startPg(ctx) {
  try {
    asPostgres([`${PG_BIN}/pg_ctl`, '-D', ctx.data, '-l', join(ctx.sock, 'pg.log'), '-w', '-o', `-k ${ctx.sock} -p 5439 -c listen_addresses=''`, 'start']);
  } catch (error) {
    const tail = existsSync(join(ctx.sock, 'pg.log')) ? sh('tail', ['-n', '5', join(ctx.sock, 'pg.log')]) : '(no log)';
    throw new Error(`${error.message}\npg.log:\n${tail}`, { cause: error });
  }
}

function stopPg(ctx) {
  asPostgres([`${PG_BIN}/pg_ctl`, '-D', ctx.data, '-w', '-m', 'fast', 'stop'], { stdio: 'ignore' });
}

/**
 * Lays out an image with a PostgreSQL cluster on its own subvolume, loads pgbench data at `scale` (about 15 MB
 * each), snapshots it hourly with the tool, and returns the context.
 */
function setUp(scale, log, holder) {
  // PostgreSQL runs as postgres: the scratch directory must be traversable.
  chmodSync(scratchDir(), 0o755);
  const dir = join(scratchDir(), 'state');
  mkdirSync(dir, { recursive: true });
  const img = mountImage(makeImage(join(dir, 'disk.img'), '8G'), { at: join(dir, 'top') });
  const top = img.top;
  for (const sv of ['@root', '@root-blank', '@persistent', '@snapshots']) sh('btrfs', ['subvolume', 'create', join(top, sv)]);
  sh('btrfs', ['property', 'set', '-ts', join(top, '@root-blank'), 'ro', 'true']);
  mkdirSync(join(top, '@persistent/var/lib'), { recursive: true });
  mkdirSync(join(top, '@btrfs_tmp/old_roots'), { recursive: true });
  mkdirSync(join(top, '@snapshots/hourly'));
  sh('btrfs', ['subvolume', 'create', join(top, SUBVOLUME)]);
  const mp = join(dir, 'var-lib-postgresql');
  mkdirSync(mp);
  sh('mount', ['-o', `subvol=/${SUBVOLUME}`, img.loop, mp]);
  // Given back before image.mjs detaches the image (its cleanUp does not know this mount or the server).
  holder.ctx = { mp, data: join(mp, 'data') };
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ deviceTimeoutSeconds: 1, persistentTree: [{ path: mp, subvolume: SUBVOLUME, units: [] }], oldRoots: { keepDays: 30, keepAtLeast: 3 } }));
  const sock = join(dir, 'sock');
  mkdirSync(sock);
  chmodSync(dir, 0o755);
  chmodSync(sock, 0o777);
  sh('chown', ['postgres:postgres', mp]);
  const ctx = { dir, top, loop: img.loop, mp, config, sock, data: join(mp, 'data') };
  asPostgres([`${PG_BIN}/initdb`, '-D', ctx.data, '-A', 'trust', '-U', 'postgres']);
  startPg(ctx);
  asPostgres([`${PG_BIN}/createdb`, '-h', sock, '-p', '5439', 'bench']);
  const t0 = process.hrtime.bigint();
  asPostgres([`${PG_BIN}/pgbench`, '-h', sock, '-p', '5439', '-i', '-q', '-s', String(scale), 'bench'], { stdio: 'ignore' });
  psql(ctx, 'CHECKPOINT');
  const bytes = Number(sh('du', ['-sb', ctx.data]).split('\t')[0]);
  log(`   state: PostgreSQL cluster with pgbench scale ${scale}: ${(bytes / 2 ** 20).toFixed(0)} MiB in ${(ms(t0) / 1000).toFixed(1)} s`);
  // The snapshot the operator rolls back to, taken with the server stopped. (A timer's snapshot of a running server
  // is crash-consistent and PostgreSQL recovers from it; but it also holds postmaster.pid, and in this container the
  // stopped postmaster lingers unreaped for a while, so PostgreSQL would refuse that pid file as a live server's.)
  const rows = Number(psql(ctx, 'SELECT count(*) FROM pgbench_accounts'));
  stopPg(ctx);
  tool(RUNTIMES[0], ['snapshot', '--class', 'hourly', SUBVOLUME, '--now', '2026-11-26T10:00:00Z'], ctx);
  startPg(ctx);
  return { ...ctx, bytes, rows };
}

/** Stops the server if it runs and unmounts the subvolume; never throws. */
function tearDown(ctx) {
  if (existsSync(join(ctx.data, 'postmaster.pid'))) spawnSync('runuser', ['-u', 'postgres', '--', `${PG_BIN}/pg_ctl`, '-D', ctx.data, '-w', '-m', 'immediate', 'stop'], { stdio: 'ignore' });
  spawnSync('umount', [ctx.mp], { stdio: 'ignore' });
}

/** The bad migration: the accounts table is emptied and a column dropped. */
function breakIt(ctx) {
  psql(ctx, 'BEGIN; TRUNCATE pgbench_accounts; ALTER TABLE pgbench_branches DROP COLUMN filler; COMMIT;');
}

/**
 * Measures `runs` online rollbacks per runtime (alternated) and `runs` boots with and without a state rollback per
 * runtime. Returns samples and medians.
 */
export async function benchState({ runs, scale, log }) {
  const holder = {};
  try {
    return await measure(setUp(scale, log, holder), runs, scale, log);
  } finally {
    if (holder.ctx) tearDown(holder.ctx);
  }
}

async function measure(ctx, runs, scale, log) {
  const online = [];
  let minute = 0;
  const now = () => `2026-11-26T11:${String(minute++).padStart(2, '0')}:00Z`;
  for (let i = 0; i < runs; i++) {
    for (const runtime of rotate(RUNTIMES, i)) {
      breakIt(ctx);
      if (psql(ctx, 'SELECT count(*) FROM pgbench_accounts') !== '0') throw new Error('the bad migration did not take');
      await breathe();
      const t0 = process.hrtime.bigint();
      stopPg(ctx);
      const tStop = ms(t0);
      const t1 = process.hrtime.bigint();
      const out = tool(runtime, ['state-rollback', `${ctx.mp}=hourly`, '--now', now()], ctx);
      const tTool = ms(t1);
      const t2 = process.hrtime.bigint();
      startPg(ctx);
      const rows = Number(psql(ctx, 'SELECT count(*) FROM pgbench_accounts'));
      const tStart = ms(t2);
      const total = ms(t0);
      if (rows !== ctx.rows) throw new Error(`after the rollback the accounts table has ${rows} rows, not ${ctx.rows}`);
      online.push({ runtime: runtime.name, totalMs: total, stopMs: tStop, toolMs: tTool, startMs: tStart, phasesMs: Object.fromEntries(Object.entries(out.timings).map(([k, v]) => [k, v * 1000])) });
      log(`   state online ${runtime.name}: ${total.toFixed(0)} ms (stop ${tStop.toFixed(0)}, tool ${tTool.toFixed(0)} [swap ${(out.timings.swap * 1000).toFixed(1)}], start+answer ${tStart.toFixed(0)})`);
    }
  }

  // At boot: PostgreSQL stopped and its subvolume unmounted, as in stage 1.
  stopPg(ctx);
  sh('umount', [ctx.mp]);
  const plain = join(ctx.dir, 'cmdline-plain');
  writeFileSync(plain, 'quiet\n');
  const boots = [];
  for (let i = 0; i < runs; i++) {
    for (const runtime of rotate(RUNTIMES, i)) {
      for (const withState of i % 2 ? [true, false] : [false, true]) {
        // A request file each time (a kernel command line item already carried out is not repeated).
        if (withState) tool(runtime, ['state-rollback', '--next-boot', `${SUBVOLUME}=hourly`], ctx);
        await breathe();
        const t0 = process.hrtime.bigint();
        const report = tool(runtime, ['boot', '--cmdline', plain, '--now', now()], ctx);
        const wall = ms(t0);
        if (withState && report.state?.rolledBack?.length !== 1) throw new Error(`boot with pantheros.rollback.state= rolled back ${JSON.stringify(report.state)}`);
        boots.push({ runtime: runtime.name, withState, wallMs: wall, durationMs: report.durationMs, stateMs: report.state?.durationMs ?? 0, processMs: report.processMs, spawns: report.spawns });
      }
    }
  }
  const pick = (list, pred, key) => summarize(list.filter(pred).map((x) => x[key]));
  const byRuntime = Object.fromEntries(
    RUNTIMES.map(({ name }) => [
      name,
      {
        online: {
          totalMs: pick(online, (x) => x.runtime === name, 'totalMs'),
          stopMs: pick(online, (x) => x.runtime === name, 'stopMs'),
          toolMs: pick(online, (x) => x.runtime === name, 'toolMs'),
          startMs: pick(online, (x) => x.runtime === name, 'startMs'),
          swapMs: summarize(online.filter((x) => x.runtime === name).map((x) => x.phasesMs.swap)),
          unmountMs: summarize(online.filter((x) => x.runtime === name).map((x) => x.phasesMs.unmount)),
          mountMs: summarize(online.filter((x) => x.runtime === name).map((x) => x.phasesMs.mount)),
        },
        boot: {
          plainWallMs: pick(boots, (x) => x.runtime === name && !x.withState, 'wallMs'),
          stateWallMs: pick(boots, (x) => x.runtime === name && x.withState, 'wallMs'),
          plainDurationMs: pick(boots, (x) => x.runtime === name && !x.withState, 'durationMs'),
          stateDurationMs: pick(boots, (x) => x.runtime === name && x.withState, 'durationMs'),
          statePartMs: pick(boots, (x) => x.runtime === name && x.withState, 'stateMs'),
        },
      },
    ]),
  );
  return { scale, dataBytes: ctx.bytes, rows: ctx.rows, runs, byRuntime, samples: { online, boots } };
}
