// Real-disk state rollback tests (issue 14): a persistent subvolume with a nested one and a snapshot of it, the
// bundle's `state-rollback` run against the test's top level, and what the tests compare before and after.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sh } from './btrfs-image.js';
import type { BootCase } from './boot-case.js';
import { runBundle, type RunResult } from './run-bundle.js';

export const PG = '@persistent/var/lib/pg';
export const PG_ENC = '@persistent~2fvar~2flib~2fpg';
export const PG_DIR = `@btrfs_tmp/old_state/${PG_ENC}`;
export const STATE_REQUEST = '@btrfs_tmp/old_state/.pantheros-state-request';
export const SNAP_TIME = '20261126T100000Z';
export const PG_SNAP = `hourly/${PG_ENC}.${SNAP_TIME}`;
/** The config the state tests run with: the persistent tree names /var/lib/pg. */
export const STATE_CONFIG = { deviceTimeoutSeconds: 1, persistentTree: [{ path: '/var/lib/pg', subvolume: PG, neededForBoot: false, units: [] }] };

/**
 * @persistent/var/lib/pg holding `data` and the nested subvolume `nested` (with `nested/deep` inside it), snapshotted
 * hourly at SNAP_TIME with data "v1"; then changed to "v2" (and the nested one's file to "n2", which a state rollback
 * must keep).
 */
export function seedState(c: BootCase): void {
  c.createSubvolume(PG, { data: 'v1\n' });
  c.createSubvolume(`${PG}/nested`, { f: 'n1\n' });
  c.createSubvolume(`${PG}/nested/deep`, { g: 'd1\n' });
  const r = runState(c, ['snapshot', '--class', 'hourly', PG, '--now', '2026-11-26T10:00:00Z']);
  if (r.code !== 0) throw new Error(`snapshot failed: ${r.stderr}`);
  c.write(`${PG}/data`, 'v2\n');
  c.write(`${PG}/nested/f`, 'n2\n');
  sh('btrfs', ['filesystem', 'sync', c.top]);
}

/** Runs the bundle with --top-level and the state config (written once per image). */
export function runState(c: BootCase, args: string[], env: Record<string, string> = {}, config: unknown = STATE_CONFIG): RunResult {
  const file = join(c.image.dir, `state-config-${JSON.stringify(config).length}.json`);
  writeFileSync(file, JSON.stringify(config));
  return runBundle(c.runtime, [...args, '--top-level', c.top, '--config', file], env);
}

/** Subvolume ids by path (the whole listing), to tell a moved subvolume from a copy. */
export function ids(c: BootCase): Map<string, number> {
  sh('btrfs', ['filesystem', 'sync', c.top]);
  return new Map(c.image.subvolumes().map((s) => [s.path, s.id]));
}

/** Archived states of PG (names), sorted. */
export function stateArchives(c: BootCase): string[] {
  return c.kind(PG_DIR) === 'missing' ? [] : c.image.paths().filter((p) => p.startsWith(`${PG_DIR}/`) && !p.slice(PG_DIR.length + 1).includes('/')).map((p) => p.slice(PG_DIR.length + 1)).sort();
}

/** Makes a directory tree and mounts PG (subvol=) at `<image dir>/<name>`, as the running system mounts /var/lib/pg. */
export function mountPg(c: BootCase, name = 'var-lib-pg'): string {
  const mp = join(c.image.dir, name);
  mkdirSync(mp, { recursive: true });
  sh('mount', ['-o', `subvol=/${PG}`, c.image.loop, mp]);
  return mp;
}

export const readText = (p: string) => readFileSync(p, 'utf8');
