// The module's generated config and layout drive the real bundle, under Node and Bun, exactly as
// the initrd unit and the timers call it: check (with the layout's mount options), boot twice,
// snapshot + prune (nested persistent subvolumes), metrics.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createImage, sh, type Image } from '../helpers/btrfs-image.js';
import { evalNix, requireNix, toNix } from '../helpers/nix.js';
import { RUNTIMES, requirePrerequisites } from '../helpers/prereq.js';
import { runBundle } from '../helpers/run-bundle.js';

beforeAll(() => {
  requireNix();
  requirePrerequisites();
});

interface Mount {
  subvolume: string;
  options: string[];
}
interface Report {
  result: string;
  archived: { name: string } | null;
  created: { from: string } | null;
}

const HOST = {
  device: '/dev/disk/by-label/nixos',
  performanceMode: 'io-optimized',
  persistentTree: { '/var/lib/postgresql': {} },
  snapshotRetention: { hourly: 1 },
};

let image: Image | undefined;
afterEach((context) => {
  image?.destroy(context.task.result?.state === 'fail');
  image = undefined;
});

/** A top level laid out by lib.installScript, plus the module's rendered config and a clean cmdline. */
function prepare(): { img: Image; config: string; cmdline: string; report: string } {
  const img = createImage({ layout: false });
  const script = evalNix<string>(`lib.installScript (${toNix(HOST)}) "$TOP"`);
  execFileSync('bash', ['-euc', script], { env: { ...process.env, TOP: img.top }, stdio: 'pipe' });
  const config = join(img.dir, 'rollback.json');
  writeFileSync(config, JSON.stringify(evalNix(`lib.toolConfig (${toNix(HOST)})`)));
  const cmdline = join(img.dir, 'cmdline');
  writeFileSync(cmdline, 'BOOT_IMAGE=/nix/store/x-linux/bzImage init=/nix/store/y/init\n');
  return { img, config, cmdline, report: join(img.dir, 'report.json') };
}

function layoutMountOptions(extra: Record<string, string[]> = {}): string[] {
  const mounts = evalNix<Record<string, Mount>>(`lib.layout (${toNix(HOST)})`);
  return Object.keys(mounts)
    .sort()
    .flatMap((path) => ['--mount-options', `${path}=${[...mounts[path]!.options, ...(extra[path] ?? [])].join(',')}`]);
}

describe.each(RUNTIMES)('the module config with the bundle under $name', (runtime) => {
  it('check accepts the layout and its mount options; a contradiction is found (the check can fail)', () => {
    const { img, config } = prepare();
    image = img;
    const ok = runBundle(runtime, ['check', '--top-level', img.top, '--config', config, '--json', ...layoutMountOptions()]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ findings: [], errors: 0, warnings: 0 });

    const bad = runBundle(runtime, ['check', '--top-level', img.top, '--config', config, '--json', ...layoutMountOptions({ '/var/log': ['compress=lzo'] })]);
    expect(JSON.parse(bad.stdout).findings.length).toBeGreaterThan(0);
  });

  it('boot archives the root and makes a fresh one from the blank; pantheros.rollback=previous brings it back', () => {
    const { img, config, cmdline, report } = prepare();
    image = img;
    const boot = (cmd = cmdline): Report => {
      const r = runBundle(runtime, ['boot', '--top-level', img.top, '--config', config, '--cmdline', cmd, '--report', report, '--json']);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as Report;
    };
    expect(boot().result).toBe('ok');
    writeFileSync(join(img.top, '@root/volatile-marker'), 'boot1\n');
    const second = boot();
    expect(second.result).toBe('ok');
    expect(readdirSync(join(img.top, '@root'))).toEqual([]);
    expect(readFileSync(join(img.top, '@btrfs_tmp/old_roots', second.archived!.name, 'volatile-marker'), 'utf8')).toBe('boot1\n');
    expect(img.paths().filter((p) => p.startsWith('@btrfs_tmp/old_roots/'))).toHaveLength(2);

    writeFileSync(join(img.top, '@root/volatile-marker'), 'boot2\n');
    const previous = join(img.dir, 'cmdline-previous');
    writeFileSync(previous, `${readFileSync(cmdline, 'utf8').trim()} pantheros.rollback=previous\n`);
    const third = boot(previous);
    expect(third.result).toBe('ok');
    expect(third.created!.from).toContain(third.archived!.name);
    expect(readFileSync(join(img.top, '@root/volatile-marker'), 'utf8')).toBe('boot2\n');
  });

  it('the timers\' snapshot + prune cover every persistent subvolume; metrics are written', () => {
    const { img, config, cmdline, report } = prepare();
    image = img;
    const subvolumes = evalNix<string[]>(`lib.snapshotSubvolumesOf (${toNix(HOST)})`);
    for (const now of ['2026-11-26T06:00:00Z', '2026-11-26T07:00:00Z']) {
      const r = runBundle(runtime, ['snapshot', '--class', 'hourly', '--top-level', img.top, '--config', config, '--now', now]);
      expect(r.code, r.stderr).toBe(0);
    }
    expect(readdirSync(join(img.top, '@snapshots/hourly'))).toHaveLength(2 * subvolumes.length);
    const prune = runBundle(runtime, ['prune', '--top-level', img.top, '--config', config]);
    expect(prune.code, prune.stderr).toBe(0);
    // snapshotRetention.hourly = 1: the newest of each subvolume stays.
    const left = readdirSync(join(img.top, '@snapshots/hourly'));
    expect(left).toHaveLength(subvolumes.length);
    expect(left.every((n) => n.endsWith('.20261126T070000Z'))).toBe(true);

    runBundle(runtime, ['boot', '--top-level', img.top, '--config', config, '--cmdline', cmdline, '--report', report]);
    const dir = join(img.dir, 'metrics');
    mkdirSync(dir);
    const metrics = runBundle(runtime, ['metrics', '--top-level', img.top, '--config', config, '--report', report, '--output', join(dir, 'pantheros_rollback.prom')]);
    expect(metrics.code, metrics.stderr).toBe(0);
    expect(readFileSync(join(dir, 'pantheros_rollback.prom'), 'utf8')).toMatch(/^pantheros_archives 1$/m);
    expect(sh('ls', [dir]).trim()).toBe('pantheros_rollback.prom');
  });
});
