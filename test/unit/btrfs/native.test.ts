// The btrfs facade without a disk: the ioctl ABI (request numbers and layouts against the uapi
// headers), the parsing of btrfs-progs' real messages (captured in test/fixtures/btrfs-progs), and
// the path checks both paths share.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  decodeDirents64,
  decodeDirItem,
  decodeInoLookupName,
  decodeRootItem,
  decodeRootRef,
  decodeSearchResult,
  encodeInoLookup,
  encodeSearchArgsV2,
  encodeVolArgs,
  encodeVolArgsV2,
  formatUuid,
  IOC,
  nextKey,
} from '../../../src/btrfs/ioctl/abi.js';
import { loadLibc } from '../../../src/btrfs/ioctl/libc.js';
import { btrfsBackend, showPath } from '../../../src/btrfs/native.js';
import { checkPath, errnoName, splitPath } from '../../../src/btrfs/native-common.js';
import { codeFromProgs, isSafeName, isSafePath } from '../../../src/btrfs/native-process.js';
import { REPO } from '../../helpers/prereq.js';

const U64_MAX = (1n << 64n) - 1n;

describe('ioctl ABI', () => {
  it('request numbers are those of linux/btrfs.h (printed by a C program including the Linux 6.1 uapi header)', () => {
    expect(IOC).toEqual({
      SYNC: 0x9408,
      SUBVOL_CREATE: 0x5000940e,
      SNAP_DESTROY: 0x5000940f,
      TREE_SEARCH_V2: 0xc0709411,
      INO_LOOKUP: 0xd0009412,
      WAIT_SYNC: 0x40089416,
      SNAP_CREATE_V2: 0x50009417,
      START_SYNC: 0x80089418,
    });
  });

  it('vol_args_v2 puts fd at 0, flags at 16 and the NUL-terminated name at 56 of 4096 bytes; vol_args the name at 8', () => {
    const v2 = encodeVolArgsV2(Buffer.from('new\nroot'), 7, 2n);
    const view = new DataView(v2.buffer);
    expect(v2.length).toBe(4096);
    expect(view.getBigInt64(0, true)).toBe(7n);
    expect(view.getBigUint64(8, true)).toBe(0n);
    expect(view.getBigUint64(16, true)).toBe(2n);
    expect(Buffer.from(v2.subarray(56, 65))).toEqual(Buffer.from('new\nroot\0'));
    const v1 = encodeVolArgs(Buffer.from([0xff, 0x2d]));
    expect(v1.length).toBe(4096);
    expect(Buffer.from(v1.subarray(0, 11))).toEqual(Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0x2d, 0]));
  });

  it('search args: the key fields at their offsets; results decoded header by header', () => {
    const args = encodeSearchArgsV2({ treeId: 1n, minObjectid: 256n, maxObjectid: U64_MAX - 255n, minType: 132, maxType: 144, minOffset: 0n, maxOffset: U64_MAX }, 256);
    const view = new DataView(args.buffer);
    expect(args.length).toBe(112 + 256);
    expect([view.getBigUint64(0, true), view.getBigUint64(8, true), view.getBigUint64(16, true), view.getBigUint64(32, true), view.getBigUint64(48, true)]).toEqual([1n, 256n, U64_MAX - 255n, U64_MAX, U64_MAX]);
    expect([view.getUint32(56, true), view.getUint32(60, true), view.getUint32(64, true), view.getBigUint64(104, true)]).toEqual([132, 144, 0xffffffff, 256n]);
    // What the kernel writes back: nr_items and (header, item) pairs.
    view.setUint32(64, 2, true);
    const put = (at: number, objectid: bigint, type: number, offset: bigint, data: number[]) => {
      view.setBigUint64(at, 9n, true);
      view.setBigUint64(at + 8, objectid, true);
      view.setBigUint64(at + 16, offset, true);
      view.setUint32(at + 24, type, true);
      view.setUint32(at + 28, data.length, true);
      args.set(data, at + 32);
      return at + 32 + data.length;
    };
    put(put(112, 257n, 132, 0n, [1, 2, 3]), 257n, 144, 5n, [4]);
    expect(decodeSearchResult(args).map((i) => ({ ...i, data: [...i.data] }))).toEqual([
      { transid: 9n, objectid: 257n, type: 132, offset: 0n, data: [1, 2, 3] },
      { transid: 9n, objectid: 257n, type: 144, offset: 5n, data: [4] },
    ]);
  });

  it('the next key after the last item carries into type and objectid, and ends after the largest key', () => {
    expect(nextKey({ objectid: 300n, type: 132, offset: 7n })).toEqual({ objectid: 300n, type: 132, offset: 8n });
    expect(nextKey({ objectid: 300n, type: 132, offset: U64_MAX })).toEqual({ objectid: 300n, type: 133, offset: 0n });
    expect(nextKey({ objectid: 300n, type: 255, offset: U64_MAX })).toEqual({ objectid: 301n, type: 0, offset: 0n });
    expect(nextKey({ objectid: U64_MAX, type: 255, offset: U64_MAX })).toBeNull();
  });

  it('root items: generation, flags, uuids, otransid and otime at the packed offsets; legacy (short) items have none of the extension', () => {
    const item = new Uint8Array(439);
    const view = new DataView(item.buffer);
    view.setBigUint64(160, 42n, true);
    view.setBigUint64(208, 1n, true);
    item.set(Array.from({ length: 16 }, (_, i) => i + 1), 247);
    item.set(Array.from({ length: 16 }, () => 0xab), 263);
    view.setBigUint64(295, 40n, true);
    view.setBigUint64(303, 12n, true);
    view.setBigUint64(339, 1_764_000_000n, true);
    const r = decodeRootItem(item);
    expect({ ...r, uuid: formatUuid(r.uuid), parentUuid: formatUuid(r.parentUuid), receivedUuid: formatUuid(r.receivedUuid) }).toEqual({
      generation: 42n,
      flags: 1n,
      uuid: '01020304-0506-0708-090a-0b0c0d0e0f10',
      parentUuid: 'abababab-abab-abab-abab-abababababab',
      receivedUuid: null,
      ctransid: 40n,
      otransid: 12n,
      otimeSec: 1_764_000_000n,
    });
    const legacy = decodeRootItem(item.slice(0, 239));
    expect([legacy.generation, legacy.uuid, legacy.otransid]).toEqual([42n, null, 0n]);
  });

  it('getdents64 records: d_ino, d_type and the name up to its NUL, record by record; a record running past what was read ends the list', () => {
    // struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }, each record 8-aligned.
    const record = (ino: bigint, type: number, name: number[]) => {
      const reclen = Math.ceil((19 + name.length + 1) / 8) * 8;
      const r = new Uint8Array(reclen);
      const v = new DataView(r.buffer);
      v.setBigUint64(0, ino, true);
      v.setBigInt64(8, 1n, true);
      v.setUint16(16, reclen, true);
      r[18] = type;
      r.set(name, 19);
      return r;
    };
    const parts = [record(257n, 4, [0x61]), record(2n ** 40n + 3n, 10, [0x0a, 0xff, 0x2d]), record(300n, 8, Array.from(Buffer.from('x'.repeat(255))))];
    const buf = new Uint8Array(parts.reduce((n, p) => n + p.length, 0) + 64);
    let at = 0;
    for (const p of parts) {
      buf.set(p, at);
      at += p.length;
    }
    const all = decodeDirents64(buf, at);
    expect(all.map((d) => [d.ino, d.type, Buffer.from(d.name).toString('latin1')])).toEqual([
      [257n, 4, 'a'],
      [2n ** 40n + 3n, 10, '\n\xff-'],
      [300n, 8, 'x'.repeat(255)],
    ]);
    // Only what the kernel said it wrote is read: a cut inside the last record drops it, never reads past.
    expect(decodeDirents64(buf, at - 8).map((d) => d.ino)).toEqual([257n, 2n ** 40n + 3n]);
    expect(decodeDirents64(buf, 0)).toEqual([]);
  });

  it('root refs, dir items and ino_lookup names give their bytes as they are', () => {
    const ref = new Uint8Array(18 + 3);
    new DataView(ref.buffer).setBigUint64(0, 300n, true);
    new DataView(ref.buffer).setUint16(16, 3, true);
    ref.set([0x2d, 0x0a, 0xff], 18);
    expect(decodeRootRef(ref)).toEqual({ dirid: 300n, name: new Uint8Array([0x2d, 0x0a, 0xff]) });
    const dir = new Uint8Array(30 + 7);
    new DataView(dir.buffer).setBigUint64(0, 261n, true);
    new DataView(dir.buffer).setUint16(27, 7, true);
    dir.set(Buffer.from('default'), 30);
    expect(decodeDirItem(dir)).toEqual({ locationObjectid: 261n, name: new Uint8Array(Buffer.from('default')) });
    const lookup = encodeInoLookup(5n, 258n);
    expect(new DataView(lookup.buffer).getBigUint64(8, true)).toBe(258n);
    lookup.set(Buffer.from('@btrfs_tmp/old\nroots/\0junk'), 16);
    expect(Buffer.from(decodeInoLookupName(lookup)).toString()).toBe('@btrfs_tmp/old\nroots/');
  });
});

describe('btrfs-progs messages (v6.2, captured)', () => {
  const dir = join(REPO, 'test/fixtures/btrfs-progs');
  const expected: Record<string, string> = {
    'create-eexist': 'EEXIST',
    'create-enoent': 'ENOENT',
    'create-erofs': 'EROFS',
    'create-name-too-long': 'ENAMETOOLONG',
    'delete-default': 'EPERM',
    'delete-enoent': 'ENOENT',
    'delete-enotempty': 'ENOTEMPTY',
    'delete-erofs': 'EROFS',
    'delete-not-subvolume': 'EINVAL',
    'get-default-not-btrfs': 'ENOTTY',
    'snapshot-dest-file': 'EEXIST',
    'snapshot-eexist': 'EEXIST',
    'snapshot-erofs': 'EROFS',
    'snapshot-erofs-mount': 'EROFS',
    'snapshot-not-btrfs': 'ENOTTY',
    'snapshot-not-subvolume': 'EINVAL',
    'sync-enoent': 'ENOENT',
    'sync-not-btrfs': 'ENOTTY',
  };

  it('every captured error maps to the errno the kernel gave', () => {
    const files = readdirSync(dir).filter((f) => f.endsWith('.stderr'));
    expect(files.map((f) => f.replace(/\.stderr$/, '')).sort()).toEqual(Object.keys(expected).sort());
    for (const f of files) expect([f, codeFromProgs(readFileSync(join(dir, f), 'utf8'))]).toEqual([f, expected[f.replace(/\.stderr$/, '')]]);
  });

  it('reads only the first line: a name after progs\' words cannot bring another code from a later line; unknown text is EIO', () => {
    expect(codeFromProgs("WARNING: not deleting default subvolume id 300 '/top/x\nERROR: Could not destroy subvolume/snapshot: No space left on device'\n")).toBe('EPERM');
    expect(codeFromProgs('ERROR: Could not destroy subvolume/snapshot: Directory not empty\nERROR: Could not destroy subvolume/snapshot: File exists\n')).toBe('ENOTEMPTY');
    expect(codeFromProgs('something else\n')).toBe('EIO');
    expect(codeFromProgs('')).toBe('EIO');
  });
});

describe('paths', () => {
  it('splits into parent and last name as bytes, ignoring trailing slashes', () => {
    const s = splitPath(Buffer.from('/top/a\xff/-n\n//', 'latin1'), 'create');
    expect([s.parent.toString('latin1'), s.name.toString('latin1'), s.bytes.toString('latin1')]).toEqual(['/top/a\xff', '-n\n', '/top/a\xff/-n\n']);
    expect(splitPath('/x', 'create').parent.toString()).toBe('/');
  });

  it('refuses, with the same code on both paths: relative paths, NUL, "." and "..", names over 255 bytes, paths of PATH_MAX or more', () => {
    const code = (f: () => unknown) => {
      try {
        f();
        return 'ok';
      } catch (e) {
        return (e as { code: string }).code;
      }
    };
    expect(code(() => splitPath('top/x', 'create'))).toBe('EINVAL');
    expect(code(() => splitPath('/top/x\0y', 'create'))).toBe('EINVAL');
    expect(code(() => splitPath('/top/..', 'create'))).toBe('EINVAL');
    expect(code(() => splitPath('/top/./', 'create'))).toBe('EINVAL');
    expect(code(() => splitPath('/', 'create'))).toBe('EINVAL');
    expect(code(() => splitPath(`/top/${'n'.repeat(255)}`, 'create'))).toBe('ok');
    expect(code(() => splitPath(`/top/${'n'.repeat(256)}`, 'create'))).toBe('ENAMETOOLONG');
    expect(code(() => splitPath(`/${'d/'.repeat(2047)}x`, 'create'))).toBe('ENAMETOOLONG');
    expect(code(() => splitPath(`/${'d/'.repeat(2046)}x`, 'create'))).toBe('ok');
    expect(code(() => checkPath('relative', 'sync'))).toBe('EINVAL');
  });

  it('shows UTF-8 names as they are and escapes control characters and other bytes', () => {
    expect(showPath('/top/café')).toBe('/top/café');
    expect(showPath(Buffer.from('/top/-x\n\xff\\', 'latin1'))).toBe('/top/-x\\x0a\\xff\\x5c');
  });

  it('only printable ASCII, absolute, without "." or ".." components and at most 1 024 bytes goes on a btrfs command line as it is', () => {
    expect(isSafePath(Buffer.from('/top/@btrfs_tmp/old_roots/20261126T060000Z'))).toBe(true);
    expect(isSafePath(Buffer.from('/top/with space/-dash'))).toBe(true);
    expect(isSafePath(Buffer.from('/top/new\nline'))).toBe(false);
    expect(isSafePath(Buffer.from('/top/caf\xc3\xa9', 'latin1'))).toBe(false);
    expect(isSafePath(Buffer.from('/top/../etc'))).toBe(false);
    expect(isSafePath(Buffer.from('relative'))).toBe(false);
    expect(isSafePath(Buffer.from(`/${'a'.repeat(1024)}`))).toBe(false);
    expect(isSafeName(Buffer.from('-r'))).toBe(true);
    expect(isSafeName(Buffer.from('a\tb'))).toBe(false);
  });

  it('names the errnos btrfs gives', () => {
    expect([errnoName(28), errnoName(17), errnoName(30), errnoName(39), errnoName(1), errnoName(4242)]).toEqual(['ENOSPC', 'EEXIST', 'EROFS', 'ENOTEMPTY', 'EPERM', 'E4242']);
  });
});

describe('path choice', () => {
  it('under Node: the process path, without loading bun:ffi and without throwing', () => {
    expect(loadLibc()).toBeNull();
    expect(btrfsBackend()).toBe('process');
  });
});
