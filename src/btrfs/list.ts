// Parses `btrfs subvolume list -c -g -p -u -q` output (one full listing; never `list -o` per path).
import { runChecked } from './run.js';
import { listArgv } from './commands.js';

export interface SubvolumeInfo {
  id: number;
  gen: number;
  cgen: number;
  parent: number;
  topLevel: number;
  parentUuid: string | null;
  uuid: string | null;
  /** Path relative to the top level (subvolid=5). */
  path: string;
}

const HEAD = /^ID (\d+) gen (\d+)(?: cgen (\d+))?(?: parent (\d+))? top level (\d+)(?: parent_uuid (\S+))?(?: received_uuid (\S+))?(?: uuid (\S+))?$/;

export function parseSubvolumeList(text: string): SubvolumeInfo[] {
  const out: SubvolumeInfo[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    // The path is everything after the first " path " (it may contain spaces); the head is key/value pairs.
    const at = line.indexOf(' path ');
    if (at < 0) continue;
    const m = HEAD.exec(line.slice(0, at).replace(/\s+/g, ' '));
    if (!m) continue;
    const uuid = (s: string | undefined) => (s === undefined || s === '-' ? null : s);
    let path = line.slice(at + ' path '.length);
    if (path.startsWith('<FS_TREE>/')) path = path.slice('<FS_TREE>/'.length);
    out.push({
      id: Number(m[1]),
      gen: Number(m[2]),
      cgen: Number(m[3] ?? m[2]),
      parent: Number(m[4] ?? m[5]),
      topLevel: Number(m[5]),
      parentUuid: uuid(m[6]),
      uuid: uuid(m[8]),
      path,
    });
  }
  return out;
}

/** Creation generation by path, for looking many archives up in one listing without rescanning it. */
export function cgenByPath(listing: readonly SubvolumeInfo[] | null): Map<string, number> {
  return new Map((listing ?? []).map((s) => [s.path, s.cgen]));
}

/** Every subvolume of the filesystem whose top level is mounted at `top`. */
export function listSubvolumes(top: string): SubvolumeInfo[] {
  return parseSubvolumeList(runChecked(listArgv(top)).stdout);
}

/** Ids of the read-only subvolumes. */
export function listReadOnlyIds(top: string): Set<number> {
  return new Set(parseSubvolumeList(runChecked(listArgv(top, true)).stdout).map((s) => s.id));
}
