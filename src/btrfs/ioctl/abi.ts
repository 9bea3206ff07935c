// The btrfs ioctl ABI: request numbers, argument layouts and the on-disk items a tree search returns.
// Pure byte layout (no bun:ffi here), so Node can load it and unit tests can check it without a disk.
// Source: linux/include/uapi/linux/btrfs.h and btrfs_tree.h (offsets checked with offsetof() against
// the installed uapi headers of Linux 6.1), and btrfs-progs' libbtrfsutil (v6.2) for how they are used.

const IOC_WRITE = 1;
const IOC_READ = 2;
const BTRFS_IOCTL_MAGIC = 0x94;

/** _IOC(dir, 0x94, nr, size) of asm-generic/ioctl.h (x86, arm, riscv; not alpha/mips/powerpc/sparc). */
function ioc(dir: number, nr: number, size: number): number {
  return ((dir << 30) | (size << 16) | (BTRFS_IOCTL_MAGIC << 8) | nr) >>> 0;
}

/** Size of struct btrfs_ioctl_vol_args and _v2 (both 4096 bytes). */
export const VOL_ARGS_SIZE = 4096;
/** struct btrfs_ioctl_search_args_v2 without its flexible buffer. */
const SEARCH_ARGS_V2_HEAD = 112;
/** struct btrfs_ioctl_ino_lookup_args. */
export const INO_LOOKUP_ARGS_SIZE = 4096;

export const IOC = {
  /** _IO(0x94, 8): flush delalloc and commit the running transaction (what `btrfs filesystem sync` does). */
  SYNC: ioc(0, 8, 0),
  /** _IOW(0x94, 14, vol_args): create an empty subvolume named vol_args.name in the directory fd. */
  SUBVOL_CREATE: ioc(IOC_WRITE, 14, VOL_ARGS_SIZE),
  /** _IOW(0x94, 15, vol_args): delete the subvolume named vol_args.name in the directory fd. */
  SNAP_DESTROY: ioc(IOC_WRITE, 15, VOL_ARGS_SIZE),
  /** _IOWR(0x94, 17, search_args_v2): search a B-tree; results into a caller-sized buffer. */
  TREE_SEARCH_V2: ioc(IOC_READ | IOC_WRITE, 17, SEARCH_ARGS_V2_HEAD),
  /** _IOWR(0x94, 18, ino_lookup_args): path of an inode relative to its subvolume root (CAP_SYS_ADMIN). */
  INO_LOOKUP: ioc(IOC_READ | IOC_WRITE, 18, INO_LOOKUP_ARGS_SIZE),
  /** _IOW(0x94, 22, u64): wait until the transaction with this id is committed. */
  WAIT_SYNC: ioc(IOC_WRITE, 22, 8),
  /** _IOW(0x94, 23, vol_args_v2): snapshot the subvolume of vol_args_v2.fd as vol_args_v2.name in the directory fd. */
  SNAP_CREATE_V2: ioc(IOC_WRITE, 23, VOL_ARGS_SIZE),
  /** _IOR(0x94, 24, u64): start committing the running transaction; returns its id (what `--commit-after` does, with WAIT_SYNC). */
  START_SYNC: ioc(IOC_READ, 24, 8),
} as const;

/** BTRFS_SUBVOL_RDONLY: vol_args_v2.flags bit for a read-only snapshot. */
export const SUBVOL_RDONLY = 2n;
/** btrfs_ioctl_vol_args_v2.name holds BTRFS_SUBVOL_NAME_MAX (4039) bytes and a NUL; vol_args.name 4087. */
const V2_NAME_OFFSET = 56;
const V1_NAME_OFFSET = 8;
/** BTRFS_NAME_LEN: the longest directory entry name btrfs stores. */
export const NAME_MAX = 255;

/** struct btrfs_ioctl_vol_args_v2 { s64 fd; u64 transid; u64 flags; u64 unused[4]; char name[4040]; } */
export function encodeVolArgsV2(name: Uint8Array, fd: number, flags: bigint): Uint8Array {
  const buf = new Uint8Array(VOL_ARGS_SIZE);
  const view = new DataView(buf.buffer);
  view.setBigInt64(0, BigInt(fd), true);
  view.setBigUint64(16, flags, true);
  buf.set(name, V2_NAME_OFFSET);
  return buf;
}

/** struct btrfs_ioctl_vol_args { s64 fd; char name[4088]; } */
export function encodeVolArgs(name: Uint8Array): Uint8Array {
  const buf = new Uint8Array(VOL_ARGS_SIZE);
  buf.set(name, V1_NAME_OFFSET);
  return buf;
}

// Objectids and key types of btrfs_tree.h.
export const ROOT_TREE_OBJECTID = 1n;
export const FS_TREE_OBJECTID = 5n;
export const ROOT_TREE_DIR_OBJECTID = 6n;
export const FIRST_FREE_OBJECTID = 256n;
/** BTRFS_LAST_FREE_OBJECTID = -256ULL: ids above it are internal trees (log, reloc, data reloc). */
export const LAST_FREE_OBJECTID = (1n << 64n) - 256n;
export const DIR_ITEM_KEY = 84;
export const ROOT_ITEM_KEY = 132;
export const ROOT_BACKREF_KEY = 144;
/** ROOT_REF (parent tree id, 156, child subvolume id): the child's name and the directory holding it, in the parent. */
export const ROOT_REF_KEY = 156;
/** btrfs_root_item.flags: BTRFS_ROOT_SUBVOL_RDONLY. */
export const ROOT_SUBVOL_RDONLY = 1n;
const U64_MAX = (1n << 64n) - 1n;

export interface SearchKey {
  treeId: bigint;
  minObjectid: bigint;
  maxObjectid: bigint;
  minType: number;
  maxType: number;
  minOffset: bigint;
  maxOffset: bigint;
}

/**
 * struct btrfs_ioctl_search_args_v2 { struct btrfs_ioctl_search_key key (104 bytes); u64 buf_size; u64 buf[]; }
 * with key = { tree_id, min/max_objectid, min/max_offset, min/max_transid (u64); min/max_type, nr_items (u32); … }.
 */
export function encodeSearchArgsV2(key: SearchKey, bufSize: number, nrItems = 0xffffffff): Uint8Array {
  const buf = new Uint8Array(SEARCH_ARGS_V2_HEAD + bufSize);
  const view = new DataView(buf.buffer);
  view.setBigUint64(0, key.treeId, true);
  view.setBigUint64(8, key.minObjectid, true);
  view.setBigUint64(16, key.maxObjectid, true);
  view.setBigUint64(24, key.minOffset, true);
  view.setBigUint64(32, key.maxOffset, true);
  view.setBigUint64(40, 0n, true);
  view.setBigUint64(48, U64_MAX, true);
  view.setUint32(56, key.minType, true);
  view.setUint32(60, key.maxType, true);
  view.setUint32(64, nrItems, true);
  view.setBigUint64(104, BigInt(bufSize), true);
  return buf;
}

export interface SearchItem {
  transid: bigint;
  objectid: bigint;
  type: number;
  offset: bigint;
  /** The item's bytes (a view into the search buffer). */
  data: Uint8Array;
}

/** The items the kernel wrote: nr_items × (struct btrfs_ioctl_search_header (32 bytes) + item). */
export function decodeSearchResult(args: Uint8Array): SearchItem[] {
  const view = new DataView(args.buffer, args.byteOffset, args.byteLength);
  const count = view.getUint32(64, true);
  const items: SearchItem[] = [];
  let at = SEARCH_ARGS_V2_HEAD;
  for (let i = 0; i < count; i++) {
    const len = view.getUint32(at + 28, true);
    items.push({
      transid: view.getBigUint64(at, true),
      objectid: view.getBigUint64(at + 8, true),
      offset: view.getBigUint64(at + 16, true),
      type: view.getUint32(at + 24, true),
      data: args.subarray(at + 32, at + 32 + len),
    });
    at += 32 + len;
  }
  return items;
}

/** The key after (objectid, type, offset) in key order, or null past the end; to resume a search. */
export function nextKey(item: { objectid: bigint; type: number; offset: bigint }): { objectid: bigint; type: number; offset: bigint } | null {
  if (item.offset < U64_MAX) return { objectid: item.objectid, type: item.type, offset: item.offset + 1n };
  if (item.type < 255) return { objectid: item.objectid, type: item.type + 1, offset: 0n };
  if (item.objectid < U64_MAX) return { objectid: item.objectid + 1n, type: 0, offset: 0n };
  return null;
}

/** The fields of struct btrfs_root_item (packed, 439 bytes) that describe a subvolume. */
export interface RootItem {
  generation: bigint;
  flags: bigint;
  /** Present only in root items written since subvolume uuids exist (Linux 3.6); else null. */
  uuid: Uint8Array | null;
  parentUuid: Uint8Array | null;
  receivedUuid: Uint8Array | null;
  ctransid: bigint;
  /** Generation that created the subvolume (`btrfs subvolume list -c` "cgen"); 0 in legacy items. */
  otransid: bigint;
  /** Creation time, seconds since the epoch (otime.sec); 0 in legacy items. */
  otimeSec: bigint;
}

/** Offset of generation_v2: a root item shorter than this plus its extension is the legacy format. */
const ROOT_ITEM_FULL_SIZE = 439;

export function decodeRootItem(data: Uint8Array): RootItem {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const full = data.byteLength >= ROOT_ITEM_FULL_SIZE;
  return {
    generation: view.getBigUint64(160, true),
    flags: view.getBigUint64(208, true),
    uuid: full ? data.slice(247, 263) : null,
    parentUuid: full ? data.slice(263, 279) : null,
    receivedUuid: full ? data.slice(279, 295) : null,
    ctransid: full ? view.getBigUint64(295, true) : 0n,
    otransid: full ? view.getBigUint64(303, true) : 0n,
    otimeSec: full ? view.getBigUint64(339, true) : 0n,
  };
}

/** struct btrfs_root_ref { u64 dirid; u64 sequence; u16 name_len; } followed by the name bytes. */
export function decodeRootRef(data: Uint8Array): { dirid: bigint; name: Uint8Array } {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const nameLen = view.getUint16(16, true);
  return { dirid: view.getBigUint64(0, true), name: data.slice(18, 18 + nameLen) };
}

/** struct btrfs_dir_item { struct btrfs_disk_key location (17); u64 transid; u16 data_len; u16 name_len; u8 type; } + name. */
export function decodeDirItem(data: Uint8Array): { locationObjectid: bigint; name: Uint8Array } {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const nameLen = view.getUint16(27, true);
  return { locationObjectid: view.getBigUint64(0, true), name: data.slice(30, 30 + nameLen) };
}

/** struct btrfs_ioctl_ino_lookup_args { u64 treeid; u64 objectid; char name[4080]; } */
export function encodeInoLookup(treeId: bigint, objectid: bigint): Uint8Array {
  const buf = new Uint8Array(INO_LOOKUP_ARGS_SIZE);
  const view = new DataView(buf.buffer);
  view.setBigUint64(0, treeId, true);
  view.setBigUint64(8, objectid, true);
  return buf;
}

/** The path the kernel wrote into ino_lookup_args.name: NUL-terminated, ending in "/" unless empty. */
export function decodeInoLookupName(args: Uint8Array): Uint8Array {
  const name = args.subarray(16);
  const end = name.indexOf(0);
  return name.slice(0, end < 0 ? name.length : end);
}

/** A 16-byte uuid in the 8-4-4-4-12 form btrfs-progs prints; null when all zero (progs prints "-"). */
export function formatUuid(bytes: Uint8Array | null): string | null {
  if (!bytes || bytes.every((b) => b === 0)) return null;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** d_type values of linux_dirent64 (dirent.h). */
export const DT = { UNKNOWN: 0, FIFO: 1, CHR: 2, DIR: 4, BLK: 6, REG: 8, LNK: 10, SOCK: 12 } as const;

/** One record of getdents64(2): struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }. */
export interface Dirent64 {
  /** For a subvolume's entry btrfs gives the subvolume's id here (its root directory's inode number is 256). */
  ino: bigint;
  type: number;
  /** The name's bytes, without the terminating NUL. */
  name: Uint8Array;
}

/** The records getdents64 wrote into buf[0, length). */
export function decodeDirents64(buf: Uint8Array, length: number): Dirent64[] {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: Dirent64[] = [];
  for (let at = 0; at + 19 < length; ) {
    const reclen = view.getUint16(at + 16, true);
    if (reclen < 20 || at + reclen > length) break;
    const name = buf.subarray(at + 19, at + reclen);
    const end = name.indexOf(0);
    out.push({ ino: view.getBigUint64(at, true), type: buf[at + 18]!, name: name.slice(0, end < 0 ? name.length : end) });
    at += reclen;
  }
  return out;
}
