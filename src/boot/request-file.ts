// The next-boot request (`<top>/<oldRoots>/.pantheros-next-boot`), read the one way the boot reads it: a regular
// file (never through a symlink), at most 4 KiB, its first line trimmed. `next-boot` writes it through a plan.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { kindOf } from '../fs/entry-kind.js';

export const NEXT_BOOT_FILE = '.pantheros-next-boot';
const MAX_BYTES = 4096;

/** A pending request: its target text, or the problem that makes the boot ignore it; null when there is none. */
export type Request = { target: string } | { problem: string } | null;

/** Reads the request in the archive directory `dirAbs` (which the caller has checked is a real directory). */
export function readRequestFile(dirAbs: string): Request {
  const abs = join(dirAbs, NEXT_BOOT_FILE);
  const kind = kindOf(abs);
  if (kind === 'missing') return null;
  if (kind !== 'file') return { problem: `${NEXT_BOOT_FILE} is a ${kind}, not a regular file: ignored` };
  let bytes: Buffer;
  try {
    bytes = readFileSync(abs);
  } catch (error) {
    return { problem: `${NEXT_BOOT_FILE} cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)}): ignored` };
  }
  if (bytes.length > MAX_BYTES) return { problem: `${NEXT_BOOT_FILE} is larger than 4 KiB: ignored` };
  return { target: (bytes.toString('utf8').split('\n')[0] ?? '').trim() };
}

/** The text the request file holds for a target. */
export function requestFileContent(target: string): string {
  return `${target}\n`;
}
