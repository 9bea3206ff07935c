// Turns `btrfs send --no-data -p BLANK ROOT | btrfs receive --dump` into per-path added/changed/deleted. Pure.
//
// The stream rewrites the parent (blank) into the child (root) step by step, so paths name the state at that
// moment: new inodes are created under temporary names (`o<ino>-<gen>-<n>`) and renamed into place, renamed
// directories carry their contents along. A tree of nodes replays it: every node remembers the path it had
// in the parent (null for new inodes), so temporary names, moves and replacements resolve at the end.

/**
 * `flags`: inode flags (chattr) or fs-verity, in version 2 send streams. `metadata` (walk only): only the inode's
 * change time differs and no xattr did — a link count, inode flags, or times set back to their old values.
 */
export type ChangeKind = 'content' | 'mode' | 'owner' | 'xattr' | 'flags' | 'times' | 'replaced' | 'metadata';
/**
 * `subvolume`: a nested subvolume, which send streams leave out; the diff command adds those from the subvolume list.
 * `mount` (walk only): a directory on another device (something mounted inside the compared subvolume).
 */
export type EntryType = 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'device' | 'hardlink' | 'subvolume' | 'mount';

export interface DiffEntry {
  /** Absolute path inside the root ("/" for the root directory itself). */
  path: string;
  status: 'added' | 'changed' | 'deleted';
  /** Known for created and removed entries; undefined for entries the stream only modified. */
  type?: EntryType;
  /** What differs, for changed entries (and replaced ones). */
  changes: ChangeKind[];
  /** For a renamed entry: the path it had in the blank. */
  from?: string;
  /** Symlink target, or the other name of a new hard link. */
  target?: string;
  /** Names of extended attributes set or removed. */
  xattrs?: string[];
}

export interface DumpResult {
  entries: DiffEntry[];
  /** Lines that were not a recognised command on a path of the sent subvolume (e.g. raw xattr data with newlines). */
  skippedLines: number;
  /** Commands seen, by name. */
  commands: Record<string, number>;
  /**
   * Why these entries cannot be trusted, or null. btrfs-progs (6.2) prints an extended attribute's name and value
   * unescaped, so a user's xattr holding a newline writes lines of its own choosing into the dump — entries made up, and
   * a second `snapshot` line that moves every later path out of view. Set when the dump has any xattr command or more
   * than one subvol/snapshot line; the caller then compares some other way (diff: by walking the trees).
   */
  untrusted: string | null;
}

interface Node {
  name: string;
  parent: Node | undefined;
  children: Map<string, Node> | undefined;
  /** Path relative to the subvolume in the parent (blank); null for an inode the stream created. */
  orig: string | null;
  /** Moved by a rename of its own (not only carried along by an ancestor). */
  renamed: boolean;
  type: EntryType | undefined;
  /** Bit set of CHANGE_ORDER indexes. */
  changes: number;
  xattrs: Set<string> | undefined;
  target: string | undefined;
}

const CHANGE_ORDER: ChangeKind[] = ['replaced', 'content', 'mode', 'owner', 'xattr', 'flags', 'times'];
const ESCAPES: Record<string, number> = { a: 7, b: 8, e: 27, f: 12, n: 10, r: 13, t: 9, v: 11, ' ': 32, '\\': 92 };
const CREATE: Record<string, EntryType> = { mkfile: 'file', mkdir: 'dir', mknod: 'device', mkfifo: 'fifo', mksock: 'socket', symlink: 'symlink' };
const MODIFY: Record<string, ChangeKind> = {
  write: 'content',
  update_extent: 'content',
  clone: 'content',
  truncate: 'content',
  fallocate: 'content',
  encoded_write: 'content',
  fileattr: 'flags',
  enable_verity: 'flags',
  chmod: 'mode',
  chown: 'owner',
  utimes: 'times',
  set_xattr: 'xattr',
  remove_xattr: 'xattr',
};
const utf8 = new TextDecoder();

/** Undoes btrfs receive --dump's C-style escaping (\n, \t, \ , \\, \ooo octal bytes …); the result is UTF-8 decoded. */
export function unescapeDumpPath(text: string): string {
  if (!text.includes('\\')) return text;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\' && i + 1 < text.length) {
      const next = text[i + 1]!;
      if (/[0-7]/.test(next) && /^[0-7]{3}$/.test(text.slice(i + 1, i + 4))) {
        bytes.push(parseInt(text.slice(i + 1, i + 4), 8) & 0xff);
        i += 3;
        continue;
      }
      if (next in ESCAPES) {
        bytes.push(ESCAPES[next]!);
        i += 1;
        continue;
      }
    }
    bytes.push(...new TextEncoder().encode(c));
  }
  return utf8.decode(new Uint8Array(bytes));
}

/** Splits "title   escaped-path   rest" at the first unescaped space after the path. */
function splitLine(line: string): { title: string; path: string; rest: string } | undefined {
  const sp = line.indexOf(' ');
  if (sp <= 0) return undefined;
  const title = line.slice(0, sp);
  let i = sp;
  while (line[i] === ' ') i++;
  const start = i;
  while (i < line.length && line[i] !== ' ') i += line[i] === '\\' ? 2 : 1;
  const path = line.slice(start, Math.min(i, line.length));
  while (line[i] === ' ') i++;
  return { title, path, rest: line.slice(i) };
}

function newNode(name: string, parent: Node | undefined, orig: string | null): Node {
  return { name, parent, children: undefined, orig, renamed: false, type: undefined, changes: 0, xattrs: undefined, target: undefined };
}

const BIT = Object.fromEntries(CHANGE_ORDER.map((c, i) => [c, 1 << i])) as Record<ChangeKind, number>;

function join(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

/** An incremental parser: feed lines as they arrive (the stream of a big root is tens of MB), then finish(). */
export function createDumpParser(): { line(text: string): void; finish(): DumpResult } {
  const root = newNode('', undefined, '');
  const removed = new Set<string>();
  const removedTypes = new Map<string, EntryType>();
  const commands: Record<string, number> = {};
  let prefix: string | undefined;
  let skipped = 0;
  let headers = 0;
  let xattrLines = 0;

  // The node at a relative path, creating untouched ones on the way (they keep their parent's original path).
  // Consecutive commands usually name the same path (chown, chmod, utimes …): remember the last lookup until the tree changes.
  let lastRel: string | undefined;
  let lastNode: Node = root;
  const lookup = (rel: string): Node => {
    if (rel === lastRel) return lastNode;
    let node = root;
    if (rel === '') return node;
    for (const name of rel.split('/')) {
      node.children ??= new Map();
      let child = node.children.get(name);
      if (!child) {
        child = newNode(name, node, node.orig === null ? null : join(node.orig, name));
        node.children.set(name, child);
      }
      node = child;
    }
    lastRel = rel;
    lastNode = node;
    return node;
  };
  const detach = (node: Node): void => {
    lastRel = undefined;
    node.parent?.children?.delete(node.name);
    node.parent = undefined;
  };
  // Records the original paths a node (and whatever the stream touched below it) vacated.
  const markRemoved = (node: Node, type: EntryType | undefined): void => {
    if (node.orig !== null) {
      removed.add(node.orig);
      if (type) removedTypes.set(node.orig, type);
    }
    for (const child of node.children?.values() ?? []) markRemoved(child, child.type);
  };
  const attach = (node: Node, rel: string): void => {
    lastRel = undefined;
    const at = rel.lastIndexOf('/');
    const parent = lookup(at < 0 ? '' : rel.slice(0, at));
    const name = at < 0 ? rel : rel.slice(at + 1);
    parent.children ??= new Map();
    const existing = parent.children.get(name);
    if (existing && existing !== node) {
      detach(existing);
      markRemoved(existing, existing.type);
    }
    node.name = name;
    node.parent = parent;
    parent.children.set(name, node);
  };
  // A path of the stream relative to the sent subvolume, or undefined when it is not under it.
  const relative = (escaped: string, allowBare = false): string | undefined => {
    const p = unescapeDumpPath(escaped);
    if (prefix === undefined) return undefined;
    if (p === prefix || p === `${prefix}/`) return '';
    if (p.length > prefix.length && p.charCodeAt(prefix.length) === 47 && p.startsWith(prefix)) {
      const rel = p.slice(prefix.length + 1);
      return rel.endsWith('/') ? rel.replace(/\/+$/, '') : rel;
    }
    if (allowBare && !p.startsWith('./') && !p.startsWith('/')) return p.replace(/\/+$/, '');
    return undefined;
  };
  const valueOf = (rest: string, key: string): string | undefined => (rest.startsWith(`${key}=`) ? rest.slice(key.length + 1) : undefined);

  function line(text: string): void {
    const parts = splitLine(text);
    if (!parts) {
      if (text !== '') skipped++;
      return;
    }
    const { title, rest } = parts;
    if (title === 'set_xattr' || title === 'remove_xattr') xattrLines++;
    if (title === 'subvol' || title === 'snapshot') {
      // Only the first names the sent subvolume (a stream sends one); another can only be text an xattr wrote.
      if (headers++ > 0) return;
      prefix = unescapeDumpPath(parts.path).replace(/\/+$/, '');
      commands[title] = (commands[title] ?? 0) + 1;
      return;
    }
    const known = title in CREATE || title in MODIFY || title === 'rename' || title === 'link' || title === 'unlink' || title === 'rmdir';
    const rel = known ? relative(parts.path) : undefined;
    if (rel === undefined) {
      skipped++;
      return;
    }
    commands[title] = (commands[title] ?? 0) + 1;
    const type = CREATE[title];
    if (type) {
      const node = newNode('', undefined, null);
      node.type = type;
      if (title === 'symlink') node.target = unescapeDumpPath(valueOf(rest, 'dest') ?? '');
      attach(node, rel);
      return;
    }
    const kind = MODIFY[title];
    if (kind) {
      const node = lookup(rel);
      node.changes |= BIT[kind];
      if (kind === 'xattr') {
        const name = /^name=(.*?)(?: data=|$)/.exec(rest)?.[1];
        if (name !== undefined) (node.xattrs ??= new Set()).add(name);
      }
      return;
    }
    switch (title) {
      case 'rename': {
        const to = relative(valueOf(rest, 'dest') ?? '', true);
        if (to === undefined || rel === '') {
          skipped++;
          return;
        }
        const node = lookup(rel);
        detach(node);
        if (node.orig !== null) removed.add(node.orig);
        node.renamed = true;
        attach(node, to);
        return;
      }
      case 'link': {
        const node = newNode('', undefined, null);
        node.type = 'hardlink';
        const dest = relative(valueOf(rest, 'dest') ?? '', true);
        node.target = dest === undefined ? undefined : `/${dest}`;
        attach(node, rel);
        return;
      }
      case 'unlink':
      case 'rmdir': {
        const node = lookup(rel);
        detach(node);
        markRemoved(node, title === 'rmdir' ? 'dir' : node.type);
        return;
      }
    }
  }

  function finish(): DumpResult {
    const entries: DiffEntry[] = [];
    const live = new Set<string>();
    const visit = (node: Node, rel: string): void => {
      live.add(rel);
      const path = `/${rel}`;
      const changes = CHANGE_ORDER.filter((c) => node.changes & BIT[c]);
      const extra = {
        ...(node.type ? { type: node.type } : {}),
        ...(node.target !== undefined ? { target: node.target } : {}),
        ...(node.xattrs ? { xattrs: [...node.xattrs].sort() } : {}),
      };
      if (node.orig === null || node.orig !== rel) {
        // A new inode, or an old one now at another path: the path did not hold it in the blank.
        const from = node.orig !== null ? { from: `/${node.orig}` } : {};
        if (removed.has(rel)) entries.push({ path, status: 'changed', ...extra, changes: ['replaced', ...(node.orig === null ? [] : changes)], ...from });
        else entries.push({ path, status: 'added', ...extra, changes: node.orig === null ? [] : changes, ...from });
      } else if (changes.length) {
        entries.push({ path, status: 'changed', ...extra, changes });
      }
      for (const [name, child] of node.children ?? []) visit(child, join(rel, name));
    };
    visit(root, '');
    // link NEW dest=OLD followed by unlink OLD is how the stream expresses a rename of an unchanged file.
    for (const e of entries) {
      if (e.type === 'hardlink' && e.target !== undefined && removed.has(e.target.slice(1)) && !live.has(e.target.slice(1))) {
        e.from = e.target;
        delete e.type;
        delete e.target;
      }
    }
    for (const rel of removed) {
      if (live.has(rel)) continue;
      const type = removedTypes.get(rel);
      entries.push({ path: `/${rel}`, status: 'deleted', ...(type ? { type } : {}), changes: [] });
    }
    entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const untrusted =
      headers > 1
        ? `the dump names ${headers} subvolumes where the stream sends one`
        : xattrLines > 0
          ? `the dump carries ${xattrLines} extended attribute command(s), whose names and values btrfs-progs prints unescaped`
          : null;
    return { entries, skippedLines: skipped, commands, untrusted };
  }

  return { line, finish };
}

/** Parses a whole dump held in memory (tests, small roots). */
export function parseDump(text: string): DumpResult {
  const parser = createDumpParser();
  for (const l of text.split('\n')) parser.line(l);
  return parser.finish();
}
