// The walk method's comparison on in-memory trees: a tiny model of inodes with the kernel's time rules (every
// change moves ctime; entry changes move the directory's mtime), a snapshot that shares inode items, then changes.
import { describe, expect, it } from 'vitest';
import { compareTrees, type Meta, type NodeType, type Probe, type TreeReader } from '../../../src/diff/compare-trees.js';
import type { DiffEntry } from '../../../src/diff/parse-dump.js';

interface Inode extends Meta {
  data: string;
  target?: string;
  xattrs: Record<string, string>;
}

/** A subvolume: paths ('' = top) to inodes; hard links share one inode object. */
class MemTree implements TreeReader {
  nodes = new Map<string, Inode>();
  constructor(
    private clock: { now: bigint; ino: bigint },
    readonly dev: bigint,
  ) {}
  stat(rel: string): Meta | undefined {
    const n = this.nodes.get(rel);
    return n && { ...n };
  }
  list(rel: string): string[] {
    const prefix = rel === '' ? '' : `${rel}/`;
    return [...this.nodes.keys()].filter((p) => p !== '' && p.startsWith(prefix) && !p.slice(prefix.length).includes('/')).map((p) => p.slice(prefix.length));
  }
  readlink(rel: string): string {
    return this.nodes.get(rel)!.target!;
  }
  private tick(): bigint {
    return (this.clock.now += 1000n);
  }
  private touchParent(rel: string): void {
    const parent = this.nodes.get(rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '')!;
    parent.mtimeNs = parent.ctimeNs = this.tick();
  }
  make(rel: string, type: NodeType, extra: Partial<Inode> = {}): this {
    const t = this.tick();
    const data = extra.data ?? '';
    const ino = rel === '' ? 256n : (this.clock.ino += 1n);
    this.nodes.set(rel, { type, ino, dev: this.dev, mode: type === 'dir' ? 0o755 : 0o644, uid: 0, gid: 0, size: BigInt(data.length), nlink: 1, mtimeNs: t, ctimeNs: t, birthNs: t, data, xattrs: {}, ...extra });
    if (rel !== '') this.touchParent(rel);
    return this;
  }
  write(rel: string, data: string): this {
    const n = this.nodes.get(rel)!;
    n.data = data;
    n.size = BigInt(data.length);
    n.mtimeNs = n.ctimeNs = this.tick();
    return this;
  }
  change(rel: string, fields: Partial<Inode>): this {
    Object.assign(this.nodes.get(rel)!, fields, { ctimeNs: this.tick() });
    return this;
  }
  remove(rel: string): this {
    for (const p of [...this.nodes.keys()]) {
      if (p === rel || p.startsWith(`${rel}/`)) {
        const n = this.nodes.get(p)!;
        n.nlink -= 1;
        n.ctimeNs = this.tick();
        this.nodes.delete(p);
      }
    }
    this.touchParent(rel);
    return this;
  }
  rename(from: string, to: string): this {
    if (this.nodes.has(to)) this.remove(to);
    for (const [p, n] of [...this.nodes]) {
      if (p === from || p.startsWith(`${from}/`)) {
        this.nodes.delete(p);
        this.nodes.set(to + p.slice(from.length), n);
      }
    }
    this.nodes.get(to)!.ctimeNs = this.tick();
    this.touchParent(from);
    this.touchParent(to);
    return this;
  }
  link(existing: string, to: string): this {
    const n = this.nodes.get(existing)!;
    n.nlink += 1;
    n.ctimeNs = this.tick();
    this.nodes.set(to, n);
    this.touchParent(to);
    return this;
  }
  /** A writable snapshot: the same inode items (numbers, times), another device. */
  snapshot(dev: bigint): MemTree {
    const copy = new MemTree(this.clock, dev);
    const cloned = new Map<Inode, Inode>();
    for (const [p, n] of this.nodes) {
      if (!cloned.has(n)) cloned.set(n, { ...n, dev, xattrs: { ...n.xattrs } });
      copy.nodes.set(p, cloned.get(n)!);
    }
    return copy;
  }
}

/** A blank with a small tree (dir etc, files, a symlink, a hard-linked pair, a dir with content) and a root snapshotted from it. */
function setUp(): { blank: MemTree; root: MemTree } {
  const blank = new MemTree({ now: 1_000_000n, ino: 256n }, 1n).make('', 'dir');
  blank.make('etc', 'dir').make('etc/hosts', 'file', { data: 'hosts\n' }).make('etc/motd', 'file', { data: 'hi\n' });
  blank.make('etc/ln', 'symlink', { target: 'hosts' }).make('etc/pair', 'file', { data: 'p\n' }).link('etc/pair', 'etc/pair2');
  blank.make('var', 'dir').make('var/log', 'dir').make('var/log/old', 'file', { data: 'old\n' });
  blank.make('srv', 'dir').make('srv/a', 'dir').make('srv/a/deep', 'file', { data: 'deep\n' });
  return { blank, root: blank.snapshot(2n) };
}

/** Probes as the filesystem ones answer them: data compare, xattr names that differ. */
function memProbe(root: MemTree, blank: MemTree): Probe {
  return {
    sameData: (rel) => root.nodes.get(rel)?.data === blank.nodes.get(rel)?.data,
    xattrChanges: (rels) =>
      new Map(
        rels.map((rel) => {
          const x = root.nodes.get(rel)!.xattrs;
          const y = blank.nodes.get(rel)!.xattrs;
          return [rel, [...new Set([...Object.keys(x), ...Object.keys(y)])].filter((k) => x[k] !== y[k])];
        }),
      ),
  };
}

const brief = (e: DiffEntry) =>
  `${e.status[0]!.toUpperCase()} ${e.path}${e.type ? ` ${e.type}` : ''}${e.changes.length ? ` [${e.changes.join(',')}]` : ''}${e.from ? ` from ${e.from}` : ''}${e.target !== undefined ? ` -> ${e.target}` : ''}${e.xattrs ? ` x:${e.xattrs.join(',')}` : ''}`;

function diff(root: MemTree, blank: MemTree, prefixes: string[] = [], persisted: string[] = [], probe: Probe | undefined = memProbe(root, blank)) {
  const r = compareTrees(root, blank, { prefixes, persisted, probe });
  return { lines: r.entries.map(brief), persistedSkipped: r.persistedSkipped };
}

describe('compareTrees', () => {
  it('an untouched snapshot differs in nothing', () => {
    const { blank, root } = setUp();
    expect(diff(root, blank).lines).toEqual([]);
  });

  it.each<[string, (root: MemTree) => void, string[]]>([
    ['a new file in an existing directory', (r) => r.make('etc/new', 'file'), ['C /etc [times]', 'A /etc/new file']],
    ['a new directory with contents (all listed)', (r) => r.make('opt', 'dir').make('opt/x', 'dir').make('opt/x/y', 'file'), ['C / [times]', 'A /opt dir', 'A /opt/x dir', 'A /opt/x/y file']],
    ['a deleted file', (r) => r.remove('etc/motd'), ['C /etc [times]', 'D /etc/motd file']],
    ['a deleted directory (contents listed)', (r) => r.remove('srv/a'), ['C /srv [times]', 'D /srv/a dir', 'D /srv/a/deep file']],
    ['content: size changed', (r) => r.write('etc/hosts', 'hosts\nmore\n'), ['C /etc/hosts [content,times]']],
    ['content: same size, other data', (r) => r.write('etc/hosts', 'HOSTS\n'), ['C /etc/hosts [content,times]']],
    ['touch -m: same data, new mtime', (r) => r.write('etc/hosts', 'hosts\n'), ['C /etc/hosts [times]']],
    ['a change deep below untouched directories', (r) => r.write('srv/a/deep', 'deeper\n'), ['C /srv/a/deep [content,times]']],
    ['chmod', (r) => r.change('etc/motd', { mode: 0o600 }), ['C /etc/motd [mode]']],
    ['chown', (r) => r.change('etc/motd', { uid: 1000, gid: 100 }), ['C /etc/motd [owner]']],
    ['an xattr set', (r) => r.change('etc/motd', { xattrs: { 'user.a': '0x01' } }), ['C /etc/motd [xattr] x:user.a']],
    ['only the change time (chattr, times set back)', (r) => r.change('etc/motd', {}), ['C /etc/motd [metadata]']],
    ['a symlink pointed elsewhere (a new inode)', (r) => r.remove('etc/ln').make('etc/ln', 'symlink', { target: 'motd' }), ['C /etc [times]', 'C /etc/ln symlink [replaced] -> motd']],
    ['a file replaced by a directory', (r) => r.remove('etc/motd').make('etc/motd', 'dir').make('etc/motd/in', 'file'), ['C /etc [times]', 'C /etc/motd dir [replaced]', 'A /etc/motd/in file']],
    ['a directory replaced by a file', (r) => r.remove('srv/a').make('srv/a', 'file'), ['C /srv [times]', 'C /srv/a file [replaced]', 'D /srv/a/deep file']],
    ['a rename', (r) => r.rename('etc/motd', 'etc/motd.old'), ['C /etc [times]', 'D /etc/motd file', 'A /etc/motd.old file from /etc/motd']],
    ['a rename over an existing file', (r) => r.rename('etc/motd', 'etc/hosts'), ['C /etc [times]', 'C /etc/hosts file [replaced] from /etc/motd', 'D /etc/motd file']],
    ['a directory moved elsewhere (contents listed at both places)', (r) => r.rename('srv/a', 'etc/a'), ['C /etc [times]', 'A /etc/a dir from /srv/a', 'A /etc/a/deep file from /srv/a/deep', 'C /srv [times]', 'D /srv/a dir', 'D /srv/a/deep file']],
    ['a new hard link to an existing file', (r) => r.link('etc/hosts', 'etc/hosts2'), ['C /etc [times]', 'C /etc/hosts [metadata]', 'A /etc/hosts2 hardlink -> /etc/hosts']],
    ['a new file with two names', (r) => r.make('etc/n1', 'file').link('etc/n1', 'etc/n2'), ['C /etc [times]', 'A /etc/n1 file', 'A /etc/n2 hardlink -> /etc/n1']],
    ['one name of a hard-linked pair removed', (r) => r.remove('etc/pair2'), ['C /etc [times]', 'C /etc/pair [metadata]', 'D /etc/pair2 file']],
    ['a nested subvolume: one entry, contents not listed', (r) => r.make('var/lib', 'dir').make('var/lib/machines', 'dir', { ino: 256n, dev: 7n }).make('var/lib/machines/x', 'file'), ['C /var [times]', 'A /var/lib dir', 'A /var/lib/machines subvolume']],
    ['something mounted inside the tree', (r) => r.make('mnt', 'dir', { ino: 300n, dev: 9n }).make('mnt/x', 'file'), ['C / [times]', 'A /mnt mount']],
    ['a fifo and a device node', (r) => r.make('etc/fifo', 'fifo').make('etc/dev', 'device'), ['C /etc [times]', 'A /etc/dev device', 'A /etc/fifo fifo']],
  ])('%s', (_name, change, expected) => {
    const { blank, root } = setUp();
    change(root);
    const { lines } = diff(root, blank);
    // The top directory's own times move with its entries; only cases that change them list it.
    expect(lines.filter((l) => !l.startsWith('C / [times]') || expected.includes(l))).toEqual(expected);
  });

  it('a nested subvolume present in both trees is not reported; one only in the blank is deleted, not entered', () => {
    const { blank, root } = setUp();
    blank.make('srv/both', 'dir', { ino: 256n, dev: 5n }).make('srv/gone', 'dir', { ino: 256n, dev: 6n }).make('srv/gone/x', 'file');
    root.make('srv/both', 'dir', { ino: 256n, dev: 8n });
    expect(diff(root, blank).lines).toEqual(['C /srv [times]', 'D /srv/gone subvolume']);
  });

  it('empty-subvolume stubs (inode 2) in both trees are equal whatever their times say', () => {
    const { blank, root } = setUp();
    blank.make('srv/stub', 'dir', { ino: 2n, birthNs: 0n, dev: 40n });
    root.make('srv/stub', 'dir', { ino: 2n, birthNs: 0n, dev: 41n });
    // One only in the root (made from a snapshot that held a nested subvolume) is an empty directory the boot erases.
    root.make('etc/stub', 'dir', { ino: 2n, birthNs: 0n, dev: 42n });
    expect(diff(root, blank).lines).toEqual(['C /etc [times]', 'A /etc/stub dir', 'C /srv [times]']);
  });

  it('an unrelated tree with the same inode numbers: every entry is replaced (birth times differ), nothing is missed', () => {
    const { blank } = setUp();
    const other = new MemTree({ now: 9_000_000n, ino: 256n }, 3n).make('', 'dir').make('etc', 'dir').make('etc/hosts', 'file', { data: 'hosts\n' });
    expect(diff(other, blank).lines).toEqual([
      'C / dir [replaced]',
      'C /etc dir [replaced]',
      'C /etc/hosts file [replaced]',
      'D /etc/ln symlink',
      'D /etc/motd file',
      'D /etc/pair file',
      'D /etc/pair2 file',
      'D /srv dir',
      'D /srv/a dir',
      'D /srv/a/deep file',
      'D /var dir',
      'D /var/log dir',
      'D /var/log/old file',
    ]);
  });

  it('prefixes: only paths at or below them; other subtrees are not read', () => {
    const { blank, root } = setUp();
    root.make('etc/new', 'file').write('srv/a/deep', 'x').remove('var/log/old').make('opt', 'dir');
    const listed: string[] = [];
    const spy: TreeReader = { stat: (rel) => root.stat(rel), readlink: (rel) => root.readlink(rel), list: (rel) => (listed.push(rel), root.list(rel)) };
    const r = compareTrees(spy, blank, { prefixes: ['/srv/a', '/var/log/old'], persisted: [], probe: memProbe(root, blank) });
    expect(r.entries.map(brief)).toEqual(['C /srv/a/deep [content,times]', 'D /var/log/old file']);
    expect(listed.sort()).toEqual(['', 'srv', 'srv/a', 'var', 'var/log']);
  });

  it('persisted paths: not reported, not read below; a differing one counts once', () => {
    const { blank, root } = setUp();
    root.make('var/log/new', 'file').write('var/log/old', 'x').make('etc/new', 'file').make('srv/keep', 'dir').make('srv/keep/f', 'file');
    const listed: string[] = [];
    const spy: TreeReader = { stat: (rel) => root.stat(rel), readlink: (rel) => root.readlink(rel), list: (rel) => (listed.push(rel), root.list(rel)) };
    const r = compareTrees(spy, blank, { prefixes: [], persisted: ['/var/log', '/srv/keep', '/nowhere'], probe: memProbe(root, blank) });
    expect(r.entries.map(brief)).toEqual(['C /etc [times]', 'A /etc/new file', 'C /srv [times]']);
    expect(r.persistedSkipped).toBe(2);
    expect(listed).not.toContain('var/log');
    expect(listed).not.toContain('srv/keep');
  });

  it('a prefix below a persisted path: read down to it, counted as persisted, not reported', () => {
    const { blank, root } = setUp();
    root.make('var/log/new', 'file').make('var/log/other', 'file');
    const r = compareTrees(root, blank, { prefixes: ['/var/log/new', '/var/log/none'], persisted: ['/var/log'] });
    expect(r.entries).toEqual([]);
    expect(r.persistedSkipped).toBe(1);
  });

  it('without probes: same-size rewrites count as content, change-time-only changes as metadata', () => {
    const { blank, root } = setUp();
    root.write('etc/hosts', 'hosts\n').change('etc/motd', { xattrs: { 'user.a': '1' } });
    expect(diff(root, blank, [], [], {}).lines).toEqual(['C /etc/hosts [content,times]', 'C /etc/motd [metadata]']);
  });

  it('refuses trees whose tops are not directories', () => {
    const { blank } = setUp();
    const none: TreeReader = { stat: () => undefined, list: () => [], readlink: () => '' };
    expect(() => compareTrees(none, blank, { prefixes: [], persisted: [] })).toThrow(/must be directories/);
  });
});
