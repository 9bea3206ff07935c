// The subvolume listing and the default subvolume, read from the root tree with BTRFS_IOC_TREE_SEARCH_V2
// and BTRFS_IOC_INO_LOOKUP (both need CAP_SYS_ADMIN), as btrfs-progs' `subvolume list` and
// libbtrfsutil's btrfs_util_get_default_subvolume_fd do; and a directory's entries (getdents64).
// Names come back as bytes: nothing to parse.
import {
  decodeDirents64,
  decodeDirItem,
  decodeInoLookupName,
  decodeRootItem,
  decodeRootRef,
  decodeSearchResult,
  DIR_ITEM_KEY,
  encodeInoLookup,
  encodeSearchArgsV2,
  FIRST_FREE_OBJECTID,
  FS_TREE_OBJECTID,
  IOC,
  LAST_FREE_OBJECTID,
  nextKey,
  ROOT_BACKREF_KEY,
  ROOT_ITEM_KEY,
  ROOT_REF_KEY,
  ROOT_TREE_DIR_OBJECTID,
  ROOT_TREE_OBJECTID,
  type Dirent64,
  type RootItem,
  type SearchItem,
  type SearchKey,
} from './abi.js';
import type { Libc } from './libc.js';

/** Bytes the kernel may fill per search call; about 140 subvolumes (root item + backref) per call. */
const SEARCH_BUFFER = 64 * 1024;

/** Runs a tree search to the end of the key range, calling onItem for every item; returns 0 or an errno. */
export function searchTree(libc: Libc, fd: number, key: SearchKey, onItem: (item: SearchItem) => void): number {
  let from = { objectid: key.minObjectid, type: key.minType, offset: key.minOffset };
  for (;;) {
    const args = encodeSearchArgsV2({ ...key, minObjectid: from.objectid, minType: from.type, minOffset: from.offset }, SEARCH_BUFFER);
    const r = libc.ioctl(fd, IOC.TREE_SEARCH_V2, args);
    if (r.ret === -1) return r.errno;
    const items = decodeSearchResult(args);
    if (items.length === 0) return 0;
    for (const item of items) onItem(item);
    const next = nextKey(items[items.length - 1]!);
    if (next === null) return 0;
    from = next;
  }
}

/** One subvolume as the root tree records it; ids and generations are bigints (u64 on disk). */
export interface RawSubvolume {
  id: bigint;
  /** The subvolume that holds it (ROOT_BACKREF key offset); 5 is the top level. */
  parentId: bigint;
  /** Inode number of the directory in the parent that holds it (256: the parent's root directory). */
  dirId: bigint;
  name: Uint8Array;
  root: RootItem;
}

/**
 * Every subvolume that has a name (a ROOT_BACKREF) in the filesystem of fd: the root items and
 * backrefs of objectids 256 … 2^64-256. Deleted subvolumes the cleaner has not dropped yet have no
 * backref and are left out, as `btrfs subvolume list` does.
 */
export function searchSubvolumes(libc: Libc, fd: number): { errno: number; subvolumes: RawSubvolume[] } {
  const roots = new Map<bigint, RootItem>();
  const refs = new Map<bigint, { parentId: bigint; dirId: bigint; name: Uint8Array }>();
  const errno = searchTree(
    libc,
    fd,
    { treeId: ROOT_TREE_OBJECTID, minObjectid: FIRST_FREE_OBJECTID, maxObjectid: LAST_FREE_OBJECTID, minType: ROOT_ITEM_KEY, maxType: ROOT_BACKREF_KEY, minOffset: 0n, maxOffset: (1n << 64n) - 1n },
    (item) => {
      // The key range is compared as whole keys, so other item types of these objectids (ROOT_REF,
      // free-space-cache inodes) come back too: keep only the two this needs.
      if (item.type === ROOT_ITEM_KEY) roots.set(item.objectid, decodeRootItem(item.data));
      else if (item.type === ROOT_BACKREF_KEY && !refs.has(item.objectid)) {
        const ref = decodeRootRef(item.data);
        refs.set(item.objectid, { parentId: item.offset, dirId: ref.dirid, name: ref.name });
      }
    },
  );
  const subvolumes: RawSubvolume[] = [];
  for (const [id, ref] of refs) {
    const root = roots.get(id);
    if (root) subvolumes.push({ id, ...ref, root });
  }
  subvolumes.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { errno, subvolumes };
}

/** One ROOT_REF item: a subvolume whose entry is in directory `dirId` of the parent subvolume, under `name`. */
export interface ChildRef {
  dirId: bigint;
  name: Uint8Array;
}

/**
 * The subvolumes whose entries sit in subvolume `parentId`, by id: its ROOT_REF items in the root
 * tree (key parentId, ROOT_REF, child id), as `btrfs subvolume list -o` reads them. Each child has one
 * ROOT_REF (a subvolume has one name), removed with its entry when it is deleted.
 */
export function searchChildRefs(libc: Libc, fd: number, parentId: bigint): { errno: number; children: Map<bigint, ChildRef> } {
  const children = new Map<bigint, ChildRef>();
  const errno = searchTree(
    libc,
    fd,
    { treeId: ROOT_TREE_OBJECTID, minObjectid: parentId, maxObjectid: parentId, minType: ROOT_REF_KEY, maxType: ROOT_REF_KEY, minOffset: 0n, maxOffset: (1n << 64n) - 1n },
    (item) => {
      if (item.objectid !== parentId || item.type !== ROOT_REF_KEY) return;
      const ref = decodeRootRef(item.data);
      children.set(item.offset, { dirId: ref.dirid, name: ref.name });
    },
  );
  return { errno, children };
}

/**
 * BTRFS_IOC_INO_LOOKUP: the path of directory `dirId` inside subvolume `treeId`, "" for its root, else ending in
 * "/"; and the subvolume's id, which the kernel writes back into treeid when it is given as 0 (the subvolume
 * holding fd).
 */
export function lookupDirectory(libc: Libc, fd: number, treeId: bigint, dirId: bigint): { errno: number; treeId: bigint; path: Uint8Array } {
  const args = encodeInoLookup(treeId, dirId);
  const r = libc.ioctl(fd, IOC.INO_LOOKUP, args);
  if (r.ret === -1) return { errno: r.errno, treeId, path: new Uint8Array(0) };
  return { errno: 0, treeId: new DataView(args.buffer).getBigUint64(0, true), path: decodeInoLookupName(args) };
}

/**
 * The id of the subvolume holding fd: lookupDirectory with treeid 0 and objectid 256 (fs/btrfs/ioctl.c
 * btrfs_ioctl_ino_lookup; the unprivileged "containing subvolume" query since Linux 4.18).
 */
export function containingSubvolume(libc: Libc, fd: number): { errno: number; id: bigint } {
  const r = lookupDirectory(libc, fd, 0n, FIRST_FREE_OBJECTID);
  return { errno: r.errno, id: r.errno === 0 ? r.treeId : 0n };
}

/**
 * The default subvolume's id: the "default" entry of the root tree directory (objectid 6), whose
 * location is the subvolume mounted when no subvol=/subvolid= is given (5 unless set-default ran).
 */
export function searchDefaultSubvolume(libc: Libc, fd: number): { errno: number; id: bigint } {
  let id = FS_TREE_OBJECTID;
  const want = new TextEncoder().encode('default');
  const errno = searchTree(
    libc,
    fd,
    { treeId: ROOT_TREE_OBJECTID, minObjectid: ROOT_TREE_DIR_OBJECTID, maxObjectid: ROOT_TREE_DIR_OBJECTID, minType: DIR_ITEM_KEY, maxType: DIR_ITEM_KEY, minOffset: 0n, maxOffset: (1n << 64n) - 1n },
    (item) => {
      if (item.type !== DIR_ITEM_KEY) return;
      const dir = decodeDirItem(item.data);
      if (dir.name.length === want.length && dir.name.every((b, i) => b === want[i])) id = dir.locationObjectid;
    },
  );
  return { errno, id };
}

/** Bytes of linux_dirent64 records per getdents64 call: about 1 500 entries with short names. */
const DIRENT_BUFFER = 64 * 1024;

/**
 * Every entry of the directory open as fd except "." and "..", from getdents64(2) in the kernel's
 * order: name bytes, d_type and d_ino, nothing decoded or followed. Returns errno 0, or the errno of
 * the failed call (ENOTDIR; ENOSYS when libc has no getdents64) with the entries read before it.
 */
export function readDirents(libc: Libc, fd: number): { errno: number; entries: Dirent64[] } {
  const entries: Dirent64[] = [];
  if (!libc.getdents64) return { errno: 38, entries };
  const buf = new Uint8Array(DIRENT_BUFFER);
  for (;;) {
    const r = libc.getdents64(fd, buf);
    if (r.ret === -1) return { errno: r.errno, entries };
    if (r.ret === 0) return { errno: 0, entries };
    for (const d of decodeDirents64(buf, r.ret)) {
      const dot = d.name[0] === 0x2e && (d.name.length === 1 || (d.name.length === 2 && d.name[1] === 0x2e));
      if (!dot) entries.push(d);
    }
  }
}
