// The engine's one way to change btrfs: snapshot, create, delete, commit (and, under Bun, list).
// Chosen once per process: the btrfs ioctls through bun:ffi under Bun (no process to start), else
// the `btrfs` process (btrfs-progs), which is the path under Node and the fallback under Bun. Both
// paths take the same inputs and give the same outcomes and the same errors (BtrfsError.code);
// test/btrfs/ioctl-native.test.ts proves it on real filesystems under both runtimes.
import { closeSync, constants, fstatSync, openSync } from 'node:fs';
import { loadLibc, type Libc } from './ioctl/libc.js';
import { commitTransaction, snapCreate, snapDestroy, subvolCreate, syncFs } from './ioctl/operations.js';
import { containingSubvolume, lookupDirectory, readDirents, searchChildRefs, searchDefaultSubvolume, searchSubvolumes } from './ioctl/search.js';
import { DT, formatUuid, ROOT_SUBVOL_RDONLY } from './ioctl/abi.js';
import type { EntryKind } from '../fs/entry-kind.js';
import { BtrfsError, btrfsError, checkPath, errnoName, fsError, openDirectory, openSubvolume, splitPath, type BtrfsOperation, type BtrfsPath, type DeleteOutcome, type DeleteResult } from './native-common.js';
import * as viaProcess from './native-process.js';

export { BtrfsError, showPath, STRERROR, type BtrfsOperation, type BtrfsPath, type DeleteOutcome, type DeleteResult } from './native-common.js';
export type BtrfsBackend = 'ioctl' | 'process';


type Chosen = { backend: 'ioctl'; libc: Libc } | { backend: 'process' };
let chosen: Chosen | undefined;

function choose(): Chosen {
  if (!chosen) {
    const libc = process.env.PANTHEROS_BTRFS_BACKEND === 'process' ? null : loadLibc();
    chosen = libc ? { backend: 'ioctl', libc } : { backend: 'process' };
  }
  return chosen;
}

/**
 * Which path this process uses, decided on first use and kept: 'ioctl' under Bun when bun:ffi loads
 * libc and a probe ioctl behaves (1-2 ms, once), else 'process'. PANTHEROS_BTRFS_BACKEND=process forces
 * the process path (tests; a way out if the ioctl path ever misbehaves). Never throws; under Node it
 * does not load bun:ffi.
 */
export function btrfsBackend(): BtrfsBackend {
  return choose().backend;
}

function check(errno: number, operation: BtrfsOperation, path: BtrfsPath, source?: BtrfsPath): void {
  if (errno !== 0) throw btrfsError(errnoName(errno), operation, path, { source });
}

/**
 * Snapshots the subvolume at sourceAbs as destAbs (a new name in an existing directory), read-only
 * when asked. The kernel commits a transaction before it returns, so the snapshot and everything
 * before it in the running transaction are durable when this returns.
 *
 * ioctl path: BTRFS_IOC_SNAP_CREATE_V2 on the destination's parent directory with the source's fd
 * (btrfs.h; `btrfs subvolume snapshot` makes the same call). Process path: `btrfs subvolume snapshot
 * [-r] /proc/self/fd/3 /proc/self/fd/4/<name>` with the source and the parent passed as fds 3 and 4.
 * A last name that is not printable ASCII is snapshotted under a temporary printable name
 * (`.pantheros-tmp.<pid>.<n>`), renamed into place with rename(2) and committed; a crash in between
 * leaves that temporary subvolume. Either way the snapshot is on disk under its name when this
 * returns (the ioctl commits the transaction that makes it, with every change before it).
 *
 * Errors (BtrfsError.code): EEXIST (destAbs exists: checked first on the process path, since
 * btrfs-progs would otherwise snapshot *into* an existing directory), EINVAL (the source is not a
 * subvolume, a symlink, or a bad name), ENOENT/ENOTDIR (a missing source or parent), EROFS (the
 * parent is in a read-only subvolume or mount), ENOSPC (no metadata space), EXDEV (another
 * filesystem), ENAMETOOLONG (a last name over 255 bytes, or a path over PATH_MAX). options.shown names the
 * source and destination in errors when the paths given are /proc/self/fd/N/NAME of directories held open.
 */
export function snapshotSubvolume(sourceAbs: BtrfsPath, destAbs: BtrfsPath, options: { readOnly: boolean; shown?: { source: BtrfsPath; dest: BtrfsPath } } = { readOnly: false }): void {
  // options.shown: the paths errors name, when the ones given are /proc/self/fd/N/NAME of directories held open.
  const shownSource = options.shown?.source ?? sourceAbs;
  const shownDest = options.shown?.dest ?? destAbs;
  const dest = splitPath(destAbs, 'snapshot', shownSource);
  const source = checkPath(sourceAbs, 'snapshot', shownDest, shownSource);
  const sourceFd = openSubvolume(source, 'snapshot', shownDest, shownSource);
  try {
    const parentFd = openDirectory(dest.parent, 'snapshot', shownDest, shownSource);
    try {
      const c = choose();
      if (c.backend === 'ioctl') check(snapCreate(c.libc, parentFd, sourceFd, dest.name, options.readOnly), 'snapshot', shownDest, shownSource);
      else viaProcess.snapshot(sourceFd, parentFd, dest, options.readOnly, shownDest, shownSource);
    } finally {
      closeSync(parentFd);
    }
  } finally {
    closeSync(sourceFd);
  }
}

/**
 * Creates an empty subvolume at destAbs (a new name in an existing directory). Not committed: follow
 * it with syncFilesystem (or a snapshot) for durability.
 *
 * ioctl path: BTRFS_IOC_SUBVOL_CREATE on the parent directory (the call `btrfs subvolume create`
 * makes). Process path: `btrfs subvolume create /proc/self/fd/3/<name>`; a name that is not printable
 * ASCII goes through a temporary name and rename(2), as for snapshotSubvolume.
 *
 * Errors: EEXIST, EROFS, ENOSPC, ENOENT/ENOTDIR (no parent), EINVAL/ENAMETOOLONG (bad name).
 */
export function createSubvolume(destAbs: BtrfsPath): void {
  const dest = splitPath(destAbs, 'create');
  const parentFd = openDirectory(dest.parent, 'create', destAbs);
  try {
    const c = choose();
    if (c.backend === 'ioctl') check(subvolCreate(c.libc, parentFd, dest.name), 'create', destAbs);
    else viaProcess.create(parentFd, dest, destAbs);
  } finally {
    closeSync(parentFd);
  }
}

/**
 * Deletes each subvolume, in the order given (give nested ones first), never stopping at a failure,
 * then — when commit is true — commits the filesystem (whatever succeeded), like `btrfs subvolume
 * delete --commit-after`, so the deletions (and every change before them) survive a crash. The
 * commit is asked once per parent directory's st_dev, which btrfs gives per subvolume: parents in
 * several subvolumes of one filesystem cost one commit and then empty ones (about 0.05 ms each on
 * the ioctl path, one more `btrfs` process each on the process path; the engine's parents are the
 * archive directory and directories inside the archives being deleted, which are gone by then).
 * The space is freed later by the kernel's cleaner.
 *
 * The last name is never followed: a symlink or a file is refused with ENOTDIR and a plain
 * directory with EINVAL (what the kernel answers), never deleted through. Per-path errors: ENOENT,
 * ENOTDIR, EINVAL, ENOTEMPTY (holds other subvolumes), EPERM (the default subvolume), EROFS
 * (read-only subvolume or mount above it), EBUSY (mounted), EINVAL/ENAMETOOLONG (bad path).
 *
 * ioctl path: BTRFS_IOC_SNAP_DESTROY on the parent directory (what btrfs-progs calls), then
 * BTRFS_IOC_START_SYNC + BTRFS_IOC_WAIT_SYNC. Process path: each path is first
 * checked with lstat(2) (progs would follow a symlink), then one `btrfs subvolume delete P…` runs for
 * all of them (a path that is not printable ASCII goes as /proc/self/fd/N of the subvolume, opened
 * O_NOFOLLOW, which progs resolves with realpath(3)); whether each was deleted is decided by lstat(2)
 * afterwards, never from the output; a failed path is tried once more on its own so that the errno
 * read from progs' message belongs to it alone; then `btrfs filesystem sync` (a separate process, so
 * that whether the commit worked is its exit status, not text), for each parent that still exists.
 */
export function deleteSubvolumes(absPaths: readonly BtrfsPath[], options: { commit: boolean }): DeleteOutcome {
  const c = choose();
  if (c.backend === 'process') return viaProcess.deleteAll(absPaths, options.commit);
  const results: DeleteResult[] = [];
  const parents = new Map<string, number>();
  /** One open parent per st_dev (btrfs: per subvolume) touched, and the path it was opened for (for messages). */
  const filesystems = new Map<number, { fd: number; path: BtrfsPath }>();
  try {
    for (const path of absPaths) {
      try {
        const target = splitPath(path, 'delete');
        const key = target.parent.toString('latin1');
        let parentFd = parents.get(key);
        if (parentFd === undefined) {
          parentFd = openDirectory(target.parent, 'delete', path);
          parents.set(key, parentFd);
          const dev = fstatSync(parentFd).dev;
          if (!filesystems.has(dev)) filesystems.set(dev, { fd: parentFd, path: target.parent });
        }
        check(snapDestroy(c.libc, parentFd, target.name), 'delete', path);
        results.push({ path, deleted: true });
      } catch (error) {
        if (!(error instanceof BtrfsError)) throw error;
        results.push({ path, deleted: false, error });
      }
    }
    let commitError: BtrfsError | null = null;
    if (options.commit) {
      for (const fs of filesystems.values()) {
        const errno = commitTransaction(c.libc, fs.fd);
        if (errno !== 0) commitError ??= btrfsError(errnoName(errno), 'sync', fs.path);
      }
    }
    return { results, committed: options.commit && filesystems.size > 0 && commitError === null, commitError };
  } finally {
    for (const fd of parents.values()) closeSync(fd);
  }
}

/**
 * Deletes the subvolume named `name` (one component) in the directory held open by parentFd, without a path a
 * symlink could turn: for a subvolume that sits below directories a user may change. `top` is the top level's
 * absolute path (root's). No commit (the caller's next commit writes it).
 *
 * ioctl path: BTRFS_IOC_SNAP_DESTROY on the directory parentFd holds (opened again through /proc/self/fd/N, which
 * reaches the held directory itself, not a path). Process path (btrfs-progs resolves any path it is given
 * with realpath(3), /proc/self/fd links included): the subvolume is opened through parentFd (O_NOFOLLOW, inode 256
 * checked), made root's with mode 0700 and checked to be still that entry (the kernel's delete by id looks its
 * current name up again in its current parent), its id read from that descriptor (`btrfs inspect-internal rootid
 * /proc/self/fd/3`), and it is deleted by that id (`btrfs subvolume delete --subvolid ID TOP`, Linux >= 5.7).
 *
 * Errors (BtrfsError.code): ENOENT (no such name), ENOTDIR (a file or symlink), EINVAL (not a subvolume; an unsafe
 * top), ENOTEMPTY (it holds another subvolume), EXDEV (process path: not on the top level's mount), EPERM, EROFS,
 * and what btrfs-progs reports.
 */
export function deleteSubvolumeIn(parentFd: number, name: Buffer, top: string, reported: BtrfsPath): void {
  const c = choose();
  if (c.backend === 'process') return viaProcess.deleteIn(parentFd, name, top, reported);
  // parentFd may be O_PATH (no ioctl on it): the directory it holds is opened again through its /proc link.
  const fd = openDirectory(Buffer.from(`/proc/self/fd/${parentFd}`), 'delete', reported);
  try {
    check(snapDestroy(c.libc, fd, name), 'delete', reported);
  } finally {
    closeSync(fd);
  }
}

/**
 * Commits the running transaction of the filesystem holding absPathOnFs (a file or directory on it)
 * and waits for it: everything done before is durable when this returns. One commit; nothing to do
 * when nothing changed since the last one.
 *
 * ioctl path: BTRFS_IOC_SYNC (writes out dirty data, then commits; what syncfs(2) does on btrfs).
 * Process path: `btrfs filesystem sync PATH` (the same ioctl), with a path that is not printable
 * ASCII passed as /proc/self/fd/3. Errors: ENOENT, ENOTTY (not btrfs), EROFS, EIO.
 */
export function syncFilesystem(absPathOnFs: BtrfsPath): void {
  const bytes = checkPath(absPathOnFs, 'sync');
  let fd: number;
  try {
    fd = openSync(bytes, constants.O_RDONLY);
  } catch (error) {
    throw fsError(error, 'sync', absPathOnFs);
  }
  try {
    const c = choose();
    if (c.backend === 'ioctl') check(syncFs(c.libc, fd), 'sync', absPathOnFs);
    else viaProcess.sync(fd, bytes, absPathOnFs);
  } finally {
    closeSync(fd);
  }
}

/** One subvolume as the filesystem records it; a fact no name can forge. */
export interface SubvolumeRecord {
  id: number;
  /** The subvolume holding it; 5 is the top level. */
  parentId: number;
  /** Generation of the last change (`btrfs subvolume list` "gen"). */
  gen: number;
  /** Generation that created it (otransid; `list -c` "cgen"). */
  cgen: number;
  readOnly: boolean;
  /** btrfs_root_item.flags (bit 0: read-only). */
  flags: number;
  uuid: string | null;
  parentUuid: string | null;
  receivedUuid: string | null;
  /** Creation time, seconds since the epoch (0 when the filesystem did not record it). */
  otime: number;
  /** Path relative to the top level (subvolid=5), as raw bytes (no leading "/"). */
  path: Buffer;
}

/**
 * Every subvolume of the filesystem holding absPathOnFs, from the root tree itself
 * (BTRFS_IOC_TREE_SEARCH_V2 over ROOT_ITEM and ROOT_BACKREF items, BTRFS_IOC_INO_LOOKUP for the
 * directory each one sits in; root only), sorted by id, with paths as bytes relative to the top level
 * whatever subvolume is mounted — the facts `btrfs subvolume list -c -g -p -u -q -R` prints as text.
 * Returns null on the process path: read `btrfs subvolume list` there (src/btrfs/list.ts) and verify
 * it. Throws BtrfsError (EPERM without CAP_SYS_ADMIN, ENOTTY when not btrfs).
 */
export function listSubvolumes(absPathOnFs: BtrfsPath): SubvolumeRecord[] | null {
  const c = choose();
  if (c.backend !== 'ioctl') return null;
  const fd = openDirectory(checkPath(absPathOnFs, 'list'), 'list', absPathOnFs);
  try {
    const { errno, subvolumes } = searchSubvolumes(c.libc, fd);
    check(errno, 'list', absPathOnFs);
    const byId = new Map(subvolumes.map((s) => [s.id, s]));
    const dirs = new Map<string, Buffer>();
    const paths = new Map<bigint, Buffer | null>();
    const pathOf = (id: bigint, depth: number): Buffer | null => {
      if (id === 5n) return Buffer.alloc(0);
      const known = paths.get(id);
      if (known !== undefined) return known;
      const s = byId.get(id);
      // Unreachable (its parent is being deleted) or a loop that cannot exist on a sound filesystem.
      if (!s || depth > 4096) return null;
      const parentPath = pathOf(s.parentId, depth + 1);
      if (parentPath === null) return null;
      let dir: Buffer = Buffer.alloc(0);
      if (s.dirId !== 256n) {
        const key = `${s.parentId}/${s.dirId}`;
        let found = dirs.get(key);
        if (found === undefined) {
          const r = lookupDirectory(c.libc, fd, s.parentId, s.dirId);
          check(r.errno, 'list', absPathOnFs);
          found = Buffer.from(r.path);
          dirs.set(key, found);
        }
        dir = found;
      }
      const path = Buffer.concat([parentPath, parentPath.length ? Buffer.from('/') : Buffer.alloc(0), dir, s.name]);
      paths.set(id, path);
      return path;
    };
    const out: SubvolumeRecord[] = [];
    for (const s of subvolumes) {
      const path = pathOf(s.id, 0);
      if (path === null) continue;
      out.push({
        id: Number(s.id),
        parentId: Number(s.parentId),
        gen: Number(s.root.generation),
        cgen: Number(s.root.otransid),
        readOnly: (s.root.flags & ROOT_SUBVOL_RDONLY) !== 0n,
        flags: Number(s.root.flags),
        uuid: formatUuid(s.root.uuid),
        parentUuid: formatUuid(s.root.parentUuid),
        receivedUuid: formatUuid(s.root.receivedUuid),
        otime: Number(s.root.otimeSec),
        path,
      });
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

/**
 * The id of the default subvolume of the filesystem holding absPathOnFs (5 unless `btrfs subvolume
 * set-default` ran; the kernel refuses to delete it with EPERM). ioctl path: a tree search for the
 * "default" entry of the root tree directory, as libbtrfsutil does. Process path: `btrfs subvolume
 * get-default`, whose output starts "ID <id>" (only that number is read).
 */
export function defaultSubvolumeId(absPathOnFs: BtrfsPath): number {
  const bytes = checkPath(absPathOnFs, 'list');
  const fd = openDirectory(bytes, 'list', absPathOnFs);
  try {
    const c = choose();
    if (c.backend === 'process') return viaProcess.defaultId(fd, bytes, absPathOnFs);
    const r = searchDefaultSubvolume(c.libc, fd);
    check(r.errno, 'list', absPathOnFs);
    return Number(r.id);
  } finally {
    closeSync(fd);
  }
}

/** An entry of a directory as readDirectory gives it; kind null: not known without a lookup (lstat it). */
export interface KindedEntry {
  name: Buffer;
  kind: EntryKind | null;
}

/**
 * The entries of the directory at dirAbs (a symlink as its last component is refused) with their
 * kinds, decided without looking each entry up. A subvolume's root is read from disk the first time
 * it is looked up (lstat: about 0.1 ms each after a fresh mount), and an archive directory holds
 * hundreds; here the whole directory costs one getdents64 pass and one tree search.
 *
 * ioctl path only. getdents64 gives each entry's name bytes, d_type and d_ino. An entry is a
 * 'subvolume' when it is a directory (DT_DIR) and the root tree holds the ROOT_REF that names it
 * there: key (the subvolume holding this directory — BTRFS_IOC_INO_LOOKUP —, ROOT_REF, its d_ino,
 * which btrfs sets to a subvolume's id), with dirid = this directory's inode number and the same
 * name bytes. Neither a name nor a directory whose inode number equals some subvolume's id can pass
 * for one, and an empty directory a snapshot left where a nested subvolume was (its d_ino is that
 * subvolume's id too) stays a 'directory'. Other DT_DIR entries are 'directory', DT_LNK 'symlink',
 * DT_REG 'file', DT_UNKNOWN (btrfs never writes it) null, anything else 'other': the answers of an
 * lstat of each entry (src/fs/entry-kind.ts), entry by entry (test/btrfs/ioctl-native.test.ts,
 * attack-many.test.ts) — except for an entry something is mounted on, where getdents64 still reads
 * the directory below the mount and lstat sees the mount: the caller looks those up itself
 * (listDirectory in src/boot/observe.ts).
 *
 * Returns null, for the caller to lstat each entry, on the process path, when libc has no
 * getdents64, or when a call fails (ENOENT, ENOTDIR, ELOOP for a symlink, EACCES; EPERM: the tree
 * search needs CAP_SYS_ADMIN; ENOTTY: not btrfs). Never throws.
 */
export function readDirectory(dirAbs: BtrfsPath): KindedEntry[] | null {
  const c = choose();
  if (c.backend !== 'ioctl' || !c.libc.getdents64) return null;
  let fd: number;
  try {
    fd = openSync(typeof dirAbs === 'string' ? dirAbs : Buffer.from(dirAbs), constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch {
    return null;
  }
  try {
    const read = readDirents(c.libc, fd);
    if (read.errno !== 0) return null;
    let children: ReturnType<typeof searchChildRefs>['children'] | undefined;
    let dirId = 0n;
    if (read.entries.some((e) => e.type === DT.DIR)) {
      dirId = BigInt(fstatSync(fd).ino);
      const tree = containingSubvolume(c.libc, fd);
      if (tree.errno !== 0) return null;
      const refs = searchChildRefs(c.libc, fd, tree.id);
      if (refs.errno !== 0) return null;
      children = refs.children;
    }
    return read.entries.map((e) => {
      const name = Buffer.from(e.name.buffer, e.name.byteOffset, e.name.byteLength);
      if (e.type !== DT.DIR) return { name, kind: e.type === DT.LNK ? 'symlink' : e.type === DT.REG ? 'file' : e.type === DT.UNKNOWN ? null : 'other' };
      const ref = children!.get(e.ino);
      return { name, kind: ref !== undefined && ref.dirId === dirId && name.equals(ref.name) ? 'subvolume' : 'directory' };
    });
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

/**
 * Makes the subvolume at absPath writable (clears its read-only flag; `-f` also for one made by `btrfs receive`).
 * Only for subvolumes about to be deleted, so a nested one can be unlinked from it. Through the `btrfs` process on
 * both paths (rare: only when a subvolume to delete holds another), the subvolume passed as /proc/self/fd/3.
 * Errors (BtrfsError.code): ENOENT, EINVAL (not a subvolume), EPERM.
 */
export function setWritable(absPath: BtrfsPath): void {
  viaProcess.setWritable(absPath);
}

/**
 * Waits until the subvolumes deleted so far are cleaned up and their space is free again (`btrfs subvolume sync`),
 * for at most `timeoutSeconds` (none: as long as it takes; 0: not at all), then commits: a full filesystem gets the
 * room a delete made only after this. Returns false when the time ran out first (the `btrfs` process is killed; the
 * cleaner goes on in the kernel). Through the `btrfs` process. Errors (BtrfsError.code): ENOENT, EPERM, and those of
 * syncFilesystem.
 */
export function waitForCleaner(absPathOnFs: BtrfsPath, timeoutSeconds?: number): boolean {
  const finished = timeoutSeconds === 0 ? false : viaProcess.waitForCleaner(absPathOnFs, timeoutSeconds);
  syncFilesystem(absPathOnFs);
  return finished;
}
