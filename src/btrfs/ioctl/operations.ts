// The btrfs ioctls that change a filesystem, one function each, on open file descriptors.
// Each returns 0 or the errno the kernel gave; the facade (../native.ts) turns errnos into errors.
// Source: linux/include/uapi/linux/btrfs.h; fs/btrfs/ioctl.c for the errors each one returns.
import { encodeVolArgs, encodeVolArgsV2, IOC, SUBVOL_RDONLY } from './abi.js';
import type { Libc } from './libc.js';

/**
 * BTRFS_IOC_SNAP_CREATE_V2 on the destination directory: a snapshot of the subvolume open as
 * sourceFd, named `name` (1–255 bytes, no "/"), read-only if asked. The kernel commits a
 * transaction before it returns. Errors: EEXIST, EROFS, ENOSPC, EXDEV (another filesystem),
 * ENAMETOOLONG, EPERM/EACCES, ETXTBSY (the source has an active swapfile).
 */
export function snapCreate(libc: Libc, parentFd: number, sourceFd: number, name: Uint8Array, readOnly: boolean): number {
  const r = libc.ioctl(parentFd, IOC.SNAP_CREATE_V2, encodeVolArgsV2(name, sourceFd, readOnly ? SUBVOL_RDONLY : 0n));
  return r.ret === -1 ? r.errno : 0;
}

/** BTRFS_IOC_SUBVOL_CREATE (the v1 call btrfs-progs makes without qgroup options): an empty subvolume. */
export function subvolCreate(libc: Libc, parentFd: number, name: Uint8Array): number {
  const r = libc.ioctl(parentFd, IOC.SUBVOL_CREATE, encodeVolArgs(name));
  return r.ret === -1 ? r.errno : 0;
}

/**
 * BTRFS_IOC_SNAP_DESTROY on the parent directory: unlinks the subvolume `name` at once; its space is
 * freed later by the cleaner. Not committed until the next transaction commit. Errors: ENOTEMPTY
 * (it holds other subvolumes), EPERM (the default subvolume, or a send in progress), EROFS, EBUSY
 * (mounted), EINVAL (not a subvolume), ENOENT, ETXTBSY (active swapfile).
 */
export function snapDestroy(libc: Libc, parentFd: number, name: Uint8Array): number {
  const r = libc.ioctl(parentFd, IOC.SNAP_DESTROY, encodeVolArgs(name));
  return r.ret === -1 ? r.errno : 0;
}

/** BTRFS_IOC_SYNC: writes out dirty data and commits the running transaction (as syncfs(2) and `btrfs filesystem sync`). */
export function syncFs(libc: Libc, fd: number): number {
  const r = libc.ioctl(fd, IOC.SYNC, null);
  return r.ret === -1 ? r.errno : 0;
}

/**
 * BTRFS_IOC_START_SYNC + BTRFS_IOC_WAIT_SYNC: commits the running transaction and waits for it,
 * without writing dirty file data first (what `btrfs subvolume delete --commit-after` does).
 */
export function commitTransaction(libc: Libc, fd: number): number {
  const transid = new Uint8Array(8);
  const started = libc.ioctl(fd, IOC.START_SYNC, transid);
  if (started.ret === -1) return started.errno;
  const waited = libc.ioctl(fd, IOC.WAIT_SYNC, transid);
  return waited.ret === -1 ? waited.errno : 0;
}
