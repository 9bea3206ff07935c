// Access to the btrfs top level (subvolid=5): an already-mounted directory, or a device mounted privately for one run.
import { existsSync, realpathSync, rmdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { PermissionError, PreconditionError, UsageError } from '../errors.js';
import { hold, type Held } from '../cli/signals.js';
import { mountAt, readMountinfo, type MountEntry } from '../fs/mountinfo.js';
import { makePrivateMountPoint } from '../fs/run-dir.js';
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
  /** The registration that unmounts it on a signal; released by releaseTopLevel. */
  held?: Held;
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

/** The mount that holds `path`: the longest mount point that is a prefix of its real path (realpath when it exists). */
export function mountHolding(mounts: readonly MountEntry[], path: string): MountEntry | undefined {
  let real = path;
  try {
    real = realpathSync(path);
  } catch {
    // keep as given
  }
  let best: MountEntry | undefined;
  for (const e of mounts) {
    const mp = e.mountPoint;
    if ((real === mp || real.startsWith(mp === '/' ? '/' : `${mp}/`)) && (!best || mp.length >= best.mountPoint.length)) best = e;
  }
  return best;
}

/**
 * Checks that dir is where the top level (subvolid=5) of a btrfs filesystem is mounted, as boot does; returns its
 * mountinfo entry. Otherwise throws PreconditionError saying what dir is (a plain directory on some filesystem, a
 * mount of another filesystem, a mount of a subvolume such as subvol=@persistent) and what to pass instead.
 * Source of the facts: /proc/self/mountinfo (field 4 is the subvolume path, "/" for subvolid=5).
 */
export function assertTopLevel(dir: string, mounts: readonly MountEntry[] = readMountinfo()): MountEntry {
  let real: string;
  try {
    real = realpathSync(dir);
  } catch (error) {
    throw new PreconditionError(`--top-level ${dir} does not exist; give the directory where the btrfs top level is mounted (mount -o subvolid=5 DEV DIR), or --device DEV`, { cause: error });
  }
  const entry = mountAt(mounts, real);
  if (!entry) {
    const holder = mountHolding(mounts, real);
    if (holder?.fsType === 'btrfs' && holder.root === '/') {
      throw new PreconditionError(`--top-level ${dir} is a directory inside the btrfs top level mounted at ${holder.mountPoint}; give --top-level ${holder.mountPoint}`);
    }
    const on = holder ? ` on the ${holder.fsType} filesystem ${holder.source} mounted at ${holder.mountPoint}` : '';
    const device = holder?.fsType === 'btrfs' ? holder.source : 'DEV';
    throw new PreconditionError(
      `--top-level ${dir} is a plain directory${on}, not where a btrfs top level is mounted; give --device ${device} (its top level is mounted privately for the run), or mount it there first: mount -o subvolid=5 ${device} ${dir}`,
    );
  }
  if (entry.fsType !== 'btrfs') throw new PreconditionError(`--top-level ${dir} is a ${entry.fsType} mount (${entry.source}), not btrfs; give the directory where the btrfs top level is mounted, or --device DEV`);
  if (entry.root !== '/') {
    throw new PreconditionError(
      `--top-level ${dir} is the subvolume ${entry.root} of ${entry.source} (a subvol=${entry.root.slice(1)} mount), not the top level (subvolid=5); give --device ${entry.source} instead (its top level is mounted privately for the run), or mount the top level somewhere (mount -o subvolid=5 ${entry.source} DIR) and give --top-level DIR`,
    );
  }
  return entry;
}

/** Throws PermissionError unless the process runs as root (mounting and btrfs ioctls need it). */
export function assertRoot(what: string): void {
  if (process.geteuid?.() !== 0) throw new PermissionError(`must run as root to ${what}; nothing was looked at or changed`);
}

/**
 * Mounts (or checks) the top level; pair with releaseTopLevel in a finally. Needs root (PermissionError). A
 * --top-level must be a btrfs subvolid=5 mount (assertTopLevel); a device is mounted at a fresh directory under
 * /run/pantheros-rollback/mnt and registered so that a signal unmounts it.
 */
export async function acquireTopLevel(options: TopLevelOptions): Promise<TopLevel> {
  if (options.topLevel && options.device) throw new UsageError('give either --device or --top-level, not both');
  assertRoot(options.topLevel ? `read the btrfs top level at ${options.topLevel}` : 'mount the btrfs top level');
  if (options.topLevel) {
    assertTopLevel(options.topLevel);
    return { path: resolve(options.topLevel), mountedDevice: undefined };
  }
  const device = options.device;
  if (!device) throw new UsageError('no device: give --device DEV, --top-level DIR, or "device" in the config');
  await waitForDevice(device, options.timeoutSeconds);
  const dir = makePrivateMountPoint();
  const top: TopLevel = { path: dir, mountedDevice: device };
  try {
    runChecked(['mount', '-t', 'btrfs', '-o', `${options.readOnly ? 'ro,' : ''}subvolid=5`, device, dir]);
  } catch (error) {
    rmdirSync(dir);
    const detail = error instanceof CommandError ? error.result.stderr.trim() : String(error);
    throw new PreconditionError(`cannot mount the btrfs top level of ${device}: ${detail}`, { cause: error });
  }
  top.held = hold(`unmounted the private top-level mount ${dir} (${device})`, () => unmount(top));
  return top;
}

function unmount(top: TopLevel): string | undefined {
  const r = runCommand(['umount', top.path]);
  if (r.code !== 0) return `could not unmount ${top.path}: ${r.stderr.trim()}`;
  try {
    rmdirSync(top.path);
  } catch {
    // an empty directory left in /run is harmless
  }
  return undefined;
}

/** Unmounts what acquireTopLevel mounted; never throws (reports a failure as text). */
export function releaseTopLevel(top: TopLevel): string | undefined {
  if (!top.mountedDevice) return undefined;
  return top.held ? top.held.release() : unmount(top);
}
