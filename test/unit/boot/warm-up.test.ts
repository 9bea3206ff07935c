// The warm-up that Node's start-up snapshot of the boot entry runs while it is built (src/boot/warm-up.ts): it must
// still reach the executor's input (a made-up layout gone stale would warm nothing), and it must read nothing — no
// file, no program, no clock, no environment — since whatever it read would be the build machine's, frozen into every
// boot. Checked in fresh Node processes: the permission model denies every file read but the bundle's own and every
// child process, and two runs at different times, time zones and environments must compute the same.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { warmUpBoot } from '../../../src/boot/warm-up.js';

let dir: string;
let bundle: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pantheros-warm-up-'));
  const entry = join(dir, 'entry.ts');
  writeFileSync(entry, `import { warmUpBoot } from ${JSON.stringify(join(process.cwd(), 'src/boot/warm-up.ts'))};\nprocess.stdout.write(JSON.stringify(warmUpBoot()));\n`);
  bundle = join(dir, 'warm-up.mjs');
  await build({ entryPoints: [entry], outfile: bundle, bundle: true, platform: 'node', format: 'esm', target: ['node20'], define: { __PANTHEROS_VERSION__: '"0.0.0-test"' }, logLevel: 'silent' });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the bundled warm-up in a fresh Node that may read only the bundle and start no process. */
function runConfined(env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, ['--experimental-permission', `--allow-fs-read=${bundle}`, '--no-warnings', bundle], { encoding: 'utf8', env });
}

describe('warmUpBoot (what the Node start-up snapshot compiles ahead)', () => {
  it('plans a trivial boot and one that ages out an archive with a nested subvolume, and reports both', () => {
    const [trivial, ageOut] = warmUpBoot();
    expect(trivial!.actions).toEqual(['rename', 'snapshot']);
    expect(ageOut!.actions).toContain('delete');
    expect(ageOut!.actions.slice(-2)).toEqual(['rename', 'snapshot']);
    const report = JSON.parse(ageOut!.report) as { result: string; deleted: { path: string; subvolumes?: unknown[] }[] };
    expect(report.result).toBe('ok');
    expect(report.deleted).toHaveLength(1);
    expect(JSON.stringify(report.deleted[0])).toContain('var/lib/machines');
  });

  it('reads no file and starts no process: it runs under the permission model with nothing allowed but its own bundle', () => {
    // The model is real: the same Node refuses a read outside the bundle.
    const denied = spawnSync(process.execPath, ['--experimental-permission', `--allow-fs-read=${bundle}`, '--no-warnings', '-e', 'require("fs").readFileSync("/etc/hostname")'], { encoding: 'utf8' });
    expect(denied.status).not.toBe(0);
    expect(denied.stderr).toMatch(/ERR_ACCESS_DENIED/);
    const r = runConfined({ PATH: '/usr/bin:/bin' });
    expect(r.status, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { actions: string[] }[]).map((b) => b.actions)).toEqual(warmUpBoot().map((b) => b.actions));
  });

  it('computes the same whatever the clock, the time zone and the environment', async () => {
    const first = runConfined({ PATH: '/usr/bin:/bin', TZ: 'UTC' });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const second = runConfined({ PATH: '/usr/bin:/bin', TZ: 'Pacific/Kiritimati', JOURNAL_STREAM: '8:1234', PANTHEROS_BTRFS: '/nonexistent/btrfs', PANTHEROS_BTRFS_BACKEND: 'process', LANG: 'de_DE.UTF-8' });
    expect(first.status, first.stderr).toBe(0);
    expect(second.status, second.stderr).toBe(0);
    expect(second.stdout).toBe(first.stdout);
    expect(JSON.stringify(warmUpBoot())).toBe(first.stdout);
  });
});
