// The next-boot request file the initrd consumes (`<top>/<oldRoots>/.pantheros-next-boot`): read, written atomically, removed.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/load-config.js';
import { kindOf, NEXT_BOOT_FILE } from '../boot/observe.js';

export type Request = { target: string } | { problem: string } | null;

export function requestPath(top: string, config: Config): string {
  return join(top, config.subvolumes.oldRoots, NEXT_BOOT_FILE);
}

/** The pending request as the boot reads it (first line, trimmed); a problem when the boot would ignore it. */
export function readRequest(top: string, config: Config): Request {
  const abs = requestPath(top, config);
  const kind = kindOf(abs);
  if (kind === 'missing') return null;
  if (kind !== 'file') return { problem: `${NEXT_BOOT_FILE} is a ${kind}, not a regular file: the boot ignores it` };
  const text = readFileSync(abs, 'utf8');
  if (text.length > 4096) return { problem: `${NEXT_BOOT_FILE} is larger than 4 KiB: the boot ignores it` };
  return { target: (text.split('\n')[0] ?? '').trim() };
}

function fsyncPath(abs: string): void {
  const fd = openSync(abs, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes the request durably: a temporary file, fsync, rename over the old one, fsync the directory. */
export function writeRequest(top: string, config: Config, target: string): string {
  const dir = join(top, config.subvolumes.oldRoots);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const abs = requestPath(top, config);
  const tmp = `${abs}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, `${target}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, abs);
  fsyncPath(dir);
  return abs;
}

/** Removes the request (only a regular file); returns what it said, or null when there was none. */
export function removeRequest(top: string, config: Config): Request {
  const request = readRequest(top, config);
  if (request === null) return null;
  const abs = requestPath(top, config);
  if ('target' in request || kindOf(abs) === 'file') {
    unlinkSync(abs);
    fsyncPath(join(top, config.subvolumes.oldRoots));
  }
  return request;
}
