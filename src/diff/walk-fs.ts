// The filesystem side of the walk method: lstat/readdir/readlink of a subvolume seen through the top level mount, and
// the probes that name a change more precisely (file data of small same-size files, xattrs through getfattr).
import { spawnSync } from 'node:child_process';
import { lstatSync, readdirSync, readFileSync, readlinkSync, type BigIntStats } from 'node:fs';
import { atPathBelow, SHORT_PATH_BYTES } from '../fs/open-dir.js';
import type { Meta, NodeType, Probe, TreeReader } from './compare-trees.js';

const S_IFMT = 0o170000n;
const TYPES = new Map<bigint, NodeType>([
  [0o040000n, 'dir'],
  [0o100000n, 'file'],
  [0o120000n, 'symlink'],
  [0o010000n, 'fifo'],
  [0o140000n, 'socket'],
  [0o020000n, 'device'],
  [0o060000n, 'device'],
]);

export function metaOf(s: BigIntStats): Meta {
  return {
    type: TYPES.get(s.mode & S_IFMT) ?? 'file',
    ino: s.ino,
    dev: s.dev,
    mode: Number(s.mode & 0o7777n),
    uid: Number(s.uid),
    gid: Number(s.gid),
    size: s.size,
    nlink: Number(s.nlink),
    mtimeNs: s.mtimeNs,
    ctimeNs: s.ctimeNs,
    birthNs: s.birthtimeNs,
  };
}

// Entries that vanish while a live root is read count as missing on that side.
const missing = (error: unknown) => ['ENOENT', 'ENOTDIR'].includes((error as NodeJS.ErrnoException).code ?? '');

/**
 * A tree on disk. Names that are not valid UTF-8 are shown with U+FFFD (as the send method shows them) and read
 * through their real bytes, kept here by shown path. A path longer than the kernel takes at once (a local user's tree
 * deeper than PATH_MAX) is reached through its parent directory held open (src/fs/open-dir.ts atPathBelow).
 * at(rel, op) runs op with a path to rel that works at any length.
 */
export function fsTreeReader(base: string): TreeReader & { abs(rel: string): string | Buffer; at<T>(rel: string, op: (path: string | Buffer) => T): T } {
  const raw = new Map<string, Buffer>();
  const baseBytes = Buffer.byteLength(base);
  const abs = (rel: string): string | Buffer => (rel === '' ? base : (rel.includes('\uFFFD') && raw.get(rel)) || `${base}/${rel}`);
  const at = <T>(rel: string, op: (path: string | Buffer) => T): T => {
    const p = abs(rel);
    if ((typeof p === 'string' ? Buffer.byteLength(p) : p.length) < SHORT_PATH_BYTES) return op(p);
    return atPathBelow(base, (typeof p === 'string' ? Buffer.from(p) : p).subarray(baseBytes + 1), op);
  };
  return {
    abs,
    at,
    stat(rel) {
      try {
        return metaOf(at(rel, (p) => lstatSync(p, { bigint: true })));
      } catch (error) {
        if (missing(error)) return undefined;
        throw error;
      }
    },
    list(rel) {
      const dir = abs(rel);
      let names: string[];
      try {
        names = at(rel, (p) => readdirSync(p));
      } catch (error) {
        if (missing(error)) return [];
        throw error;
      }
      if (typeof dir === 'string' && !names.some((n) => n.includes('\uFFFD'))) return names;
      // Some name is not valid UTF-8 (or the directory's own path is not): read the bytes, keep distinct shown names.
      const dirBytes = typeof dir === 'string' ? Buffer.from(dir) : dir;
      const shown = new Set<string>();
      return at(rel, (p) => readdirSync(p, { encoding: 'buffer' }))
        .sort(Buffer.compare)
        .map((bytes) => {
          let name = bytes.toString('utf8');
          for (let n = 1; shown.has(name); n++) name = `${bytes.toString('utf8')}\uFFFD${n}`;
          shown.add(name);
          if (name.includes('\uFFFD') || typeof dir !== 'string') raw.set(rel === '' ? name : `${rel}/${name}`, Buffer.concat([dirBytes, Buffer.from('/'), bytes]));
          return name;
        });
    },
    readlink(rel) {
      try {
        return at(rel, (p) => readlinkSync(p, 'utf8'));
      } catch (error) {
        if (missing(error)) return '';
        throw error;
      }
    },
  };
}

/** Files up to this size whose mtime moved but size did not are read on both sides to tell a rewrite from `touch`. */
export const SAME_DATA_MAX_FILE = 64 * 1024;
/** At most this many bytes are read for that in one run; beyond it such files count as content changes. */
export const SAME_DATA_BUDGET = 32 * 1024 * 1024;

/** getfattr -d output: "# file: PATH" then NAME=VALUE lines; PATH has non-printable bytes and backslashes as \ooo / \\. */
export function parseGetfattr(text: string): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('# file: ')) {
      current = new Map();
      out.set(unescapeGetfattr(line.slice('# file: '.length)), current);
    } else if (current && line !== '') {
      const eq = line.indexOf('=');
      if (eq > 0) current.set(line.slice(0, eq), line.slice(eq + 1));
      else current.set(line, '');
    }
  }
  return out;
}

function unescapeGetfattr(text: string): string {
  if (!text.includes('\\')) return text;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\' && /^[0-7]{3}$/.test(text.slice(i + 1, i + 4))) {
      bytes.push(parseInt(text.slice(i + 1, i + 4), 8));
      i += 3;
    } else if (text[i] === '\\' && text[i + 1] === '\\') {
      bytes.push(92);
      i += 1;
    } else bytes.push(...Buffer.from(text[i]!));
  }
  return Buffer.from(bytes).toString('utf8');
}

export const GETFATTR = process.env.PANTHEROS_GETFATTR ?? 'getfattr';

/** All xattrs (any namespace, not following symlinks) of the given paths, hex-encoded; undefined when getfattr cannot run. */
function readXattrs(paths: string[]): Map<string, Map<string, string>> | undefined {
  const out = new Map<string, Map<string, string>>();
  for (let start = 0; start < paths.length; ) {
    // Batches well under the argument size limit.
    let end = start;
    for (let bytes = 0; end < paths.length && bytes < 100_000; end++) bytes += paths[end]!.length + 1;
    const r = spawnSync(GETFATTR, ['--absolute-names', '-h', '-d', '-m', '-', '-e', 'hex', '--', ...paths.slice(start, end)], { encoding: 'utf8', maxBuffer: 1 << 30 });
    if (r.error) return undefined;
    for (const [p, attrs] of parseGetfattr(r.stdout)) out.set(p, attrs);
    start = end;
  }
  return out;
}

/** Probes over the same relative path in the source and the blank. */
export function fsProbe(source: ReturnType<typeof fsTreeReader>, blank: ReturnType<typeof fsTreeReader>): Probe {
  let budget = SAME_DATA_BUDGET;
  return {
    sameData(rel) {
      try {
        const sa = source.at(rel, (p) => lstatSync(p));
        if (sa.size > SAME_DATA_MAX_FILE || budget < 2 * sa.size) return undefined;
        budget -= 2 * sa.size;
        return source.at(rel, (p) => readFileSync(p)).equals(blank.at(rel, (p) => readFileSync(p)));
      } catch {
        return undefined;
      }
    },
    xattrChanges(rels) {
      // getfattr takes paths: names that are not UTF-8 and paths it cannot open at once are left out (said as metadata).
      const fits = (p: string | Buffer) => typeof p === 'string' && Buffer.byteLength(p) < SHORT_PATH_BYTES;
      const named = rels.filter((r) => fits(source.abs(r)) && fits(blank.abs(r)));
      const sa = readXattrs(named.map((r) => source.abs(r) as string));
      const sb = sa && readXattrs(named.map((r) => blank.abs(r) as string));
      if (!sa || !sb) return undefined;
      const out = new Map<string, string[]>();
      for (const rel of named) {
        const x = sa.get(source.abs(rel) as string) ?? new Map<string, string>();
        const y = sb.get(blank.abs(rel) as string) ?? new Map<string, string>();
        const names = [...new Set([...x.keys(), ...y.keys()])].filter((n) => x.get(n) !== y.get(n));
        out.set(rel, names);
      }
      return out;
    },
  };
}
