// Runs src/btrfs/native.ts, bundled like the product (scripts/build.mjs), under every runtime and path:
// Node (process path), Bun (ioctl path) and Bun forced onto the process path.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUN, NODE, REPO } from './prereq.js';
import type { DriverOp } from './native-driver.js';
import type { SubvolumeRecord } from '../../src/btrfs/native.js';

export interface NativeVariant {
  name: string;
  bin: string;
  env: Record<string, string>;
  /** The path the facade must have taken. */
  backend: 'ioctl' | 'process';
}

export const NATIVE_VARIANTS: readonly NativeVariant[] = [
  { name: 'node (process)', bin: NODE, env: {}, backend: 'process' },
  { name: 'bun (ioctl)', bin: BUN, env: {}, backend: 'ioctl' },
  { name: 'bun (process, forced)', bin: BUN, env: { PANTHEROS_BTRFS_BACKEND: 'process' }, backend: 'process' },
];

export interface WireError {
  name: string;
  code: string;
  operation: string;
  path: string;
  message: string;
}

export type Answer =
  | { ok: true; committed?: boolean; commitError?: WireError | null; results?: ({ deleted: true } | { deleted: false; error: WireError })[]; list?: WireSubvolume[] | null; id?: number; direct?: boolean; entries?: { name: string; validName: boolean; kind: string }[] }
  | { ok: false; error?: WireError; internal?: string };

/** A SubvolumeRecord as the driver prints it (path bytes as hex). */
export type WireSubvolume = Omit<SubvolumeRecord, 'path'> & { path: { hex: string } };

let driver: string | undefined;
let driverDir: string | undefined;

/** Bundles test/helpers/native-driver.ts once per test process, with the product's build script. */
export function nativeDriver(): string {
  if (!driver) {
    driverDir = mkdtempSync(join(tmpdir(), 'pantheros-native-driver-'));
    const out = join(driverDir, 'native-driver.mjs');
    execFileSync(NODE, [join(REPO, 'scripts/build.mjs'), join(REPO, 'test/helpers/native-driver.ts'), out], { cwd: REPO, stdio: 'pipe' });
    driver = out;
  }
  return driver;
}

/** Removes the bundled driver (call in afterAll). */
export function removeNativeDriver(): void {
  if (driverDir) rmSync(driverDir, { recursive: true, force: true });
  driver = driverDir = undefined;
}

/** A path as the driver takes it: any bytes, as hex. */
export const hexPath = (p: string | Buffer) => ({ hex: (typeof p === 'string' ? Buffer.from(p) : p).toString('hex') });

/** Runs the operations in one process of the variant; throws unless it took the variant's path. */
export function runNative(variant: NativeVariant, ops: DriverOp[]): Answer[] {
  const r = spawnSync(variant.bin, [nativeDriver(), JSON.stringify(ops)], { encoding: 'utf8', env: { ...process.env, ...variant.env }, timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${variant.name}: driver exited ${r.status ?? r.signal}: ${r.stderr}`);
  const answer = JSON.parse(r.stdout) as { backend: string; runtime: string; results: Answer[] };
  if (answer.backend !== variant.backend) throw new Error(`${variant.name}: took the ${answer.backend} path, expected ${variant.backend}`);
  if (answer.runtime !== (variant.bin === BUN ? 'bun' : 'node')) throw new Error(`${variant.name}: ran under ${answer.runtime}`);
  return answer.results;
}

/** The error code of each answer ('ok' for a success), for comparing outcomes at a glance. */
export const codes = (answers: Answer[]) => answers.map((a) => (a.ok ? 'ok' : (a.error?.code ?? `internal: ${a.internal}`)));
