// Access to the btrfs top level (subvolid=5): an already-mounted directory, or a device mounted privately for one run.
import { existsSync, mkdirSync, mkdtempSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PreconditionError, UsageError } from '../errors.js';
import { CommandError, runChecked, runCommand } from './run.js';

export interface TopLevelOptions {
  device?: string | undefined;
  topLevel?: string | undefined;
  /** How long to wait for the device node to appear. */
  timeoutSeconds: number;
  /** Mount read-only (operator commands that only look). */
  readOnly?: boolean;
}

export interface TopLevel {
  path: string;
  /** Set when this run mounted the device and must unmount it. */
  mountedDevice: string | undefined;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits up to timeoutSeconds for a device node (udev may still be creating it in the initrd). */
export async function waitForDevice(device: string, timeoutSeconds: number): Promise<void> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  while (!existsSync(device)) {
    if (Date.now() >= deadline) {
      throw new PreconditionError(`device ${device} did not appear within ${timeoutSeconds} s; is the disk attached and the name right?`);
    }
    await sleep(50);
  }
}

function privateMountPoint(): string {
  for (const base of ['/run/pantheros-rollback', tmpdir()]) {
    try {
      mkdirSync(base, { recursive: true, mode: 0o700 });
      return mkdtempSync(join(base, 'top-'));
    } catch {
      // next
    }
  }
  throw new PreconditionError('cannot create a private mount point under /run/pantheros-rollback or the temporary directory');
}

/** Mounts (or checks) the top level; pair with releaseTopLevel in a finally. */
export async function acquireTopLevel(options: TopLevelOptions): Promise<TopLevel> {
  if (options.topLevel && options.device) throw new UsageError('give either --device or --top-level, not both');
  if (options.topLevel) return { path: resolve(options.topLevel), mountedDevice: undefined };
  const device = options.device;
  if (!device) throw new UsageError('no device: give --device DEV, --top-level DIR, or "device" in the config');
  await waitForDevice(device, options.timeoutSeconds);
  const dir = privateMountPoint();
  try {
    runChecked(['mount', '-t', 'btrfs', '-o', `${options.readOnly ? 'ro,' : ''}subvolid=5`, device, dir]);
  } catch (error) {
    rmdirSync(dir);
    const detail = error instanceof CommandError ? error.result.stderr.trim() : String(error);
    throw new PreconditionError(`cannot mount the btrfs top level of ${device}: ${detail}`, { cause: error });
  }
  return { path: dir, mountedDevice: device };
}

/** Unmounts what acquireTopLevel mounted; never throws (reports a failure as text). */
export function releaseTopLevel(top: TopLevel): string | undefined {
  if (!top.mountedDevice) return undefined;
  const r = runCommand(['umount', top.path]);
  if (r.code !== 0) return `could not unmount ${top.path}: ${r.stderr.trim()}`;
  try {
    rmdirSync(top.path);
  } catch {
    // an empty directory left in /run is harmless
  }
  return undefined;
}
