// Adversarial, real btrfs, bundled file, Node and Bun: a full disk (README "A full disk heals itself … Below a
// free-space floor archives beyond keepAtLeast go even within keepDays"; issue 9 "Tested on real full images, data
// full and metadata full"). Today it fails.
import { mkdirSync, rmSync, symlinkSync, statfsSync, writeFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { sh } from '../helpers/btrfs-image.js';
import { commit, describeRun, OLD_ROOTS, type BootCase, useBootCase } from '../helpers/boot-case.js';
import { requirePrerequisites, RUNTIMES, type Runtime } from '../helpers/prereq.js';

beforeAll(() => requirePrerequisites());

const CONFIG = { deviceTimeoutSeconds: 1, oldRoots: { keepDays: 30, keepAtLeast: 2, minFreePercent: 10 } };
const RECENT = ['20261120T000000Z', '20261121T000000Z', '20261122T000000Z', '20261123T000000Z', '20261124T000000Z', '20261125T000000Z'];

/** Symlinks whose 2 000-byte targets are stored inline: metadata only. Stops at `count` or at ENOSPC; returns how many. */
function inlineSymlinks(dir: string, count = Number.POSITIVE_INFINITY): number {
  mkdirSync(dir, { recursive: true });
  const target = 'x'.repeat(2000);
  let i = 0;
  for (; i < count; i++) {
    try {
      symlinkSync(target, `${dir}/l${i}`);
    } catch {
      break;
    }
  }
  return i;
}

/**
 * Every chunk allocated, data chunks half used (4 MiB files, every other one removed), then metadata filled to
 * ENOSPC: what a server whose disk filled with data, then lost some of it, then filled with small files looks like.
 * statfs (the floor's measure) still says about a third is free.
 */
function fillMetadataLeavingDataFree(c: BootCase): void {
  const dir = c.abs('@persistent/data');
  mkdirSync(dir);
  // Made before the data fills the chunks: when the metadata is already short then, a mkdir would fail.
  mkdirSync(c.abs('@persistent/meta'));
  const block = Buffer.alloc(4 << 20);
  let n = 0;
  for (; ; n++) {
    try {
      writeFileSync(`${dir}/f${n}`, block);
    } catch {
      break;
    }
  }
  commit(c);
  for (let i = 0; i < n; i += 2) rmSync(`${dir}/f${i}`, { force: true });
  commit(c);
  inlineSymlinks(c.abs('@persistent/meta'));
  commit(c);
}

describe.each(RUNTIMES)('attack: space under $name', (runtime: Runtime) => {
  it('metadata full while statfs shows a third free: archives beyond keepAtLeast go and a fresh root is made (today: every boot fails, "retention allows nothing more to go")', () => {
    const c = useBootCase(runtime);
    for (const name of RECENT) {
      c.createSubvolume(`${OLD_ROOTS}/${name}`, { marker: `archive ${name}\n` });
      inlineSymlinks(c.abs(`${OLD_ROOTS}/${name}/m`), 3000);
      commit(c);
    }
    sh('btrfs', ['subvolume', 'delete', '--commit-after', c.abs('@root')]);
    c.createSubvolume('@root', { marker: 'live root\n' });
    commit(c);
    fillMetadataLeavingDataFree(c);
    const s = statfsSync(c.top);
    expect((s.bavail / s.blocks) * 100, 'the floor measure sees plenty of free space').toBeGreaterThan(CONFIG.oldRoots.minFreePercent);

    for (const day of ['2026-11-26T06:00:00Z', '2026-11-27T06:00:00Z']) {
      const r = c.boot(day, { config: CONFIG });
      // README: "A full disk heals itself"; the floor lets archives beyond keepAtLeast go even within keepDays.
      expect(r.code, `boot at ${day}\n${describeRun(r)}\n${JSON.stringify(r.report?.warnings)}`).toBe(0);
      expect(r.report?.result).toBe('ok');
      expect(c.kind('@root/marker'), 'a fresh root: the marker of the old one is gone').toBe('missing');
    }
  });
});
