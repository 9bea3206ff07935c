// A btrfs disk image for the VM test: prepared and inspected on the host through `mount -o loop`
// (the loop device is released on every unmount, so no stale host cache survives while QEMU writes
// the file), handed to QEMU as a raw virtio disk while unmounted.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { layOut, listSubvolumes, sh, type Subvolume } from './btrfs-image.js';

export interface DiskImage {
  dir: string;
  file: string;
  /** Mount point of the top level (subvolid=5) while mounted. */
  top: string;
  mount(): void;
  unmount(): void;
  isMounted(): boolean;
  /** Mounts, runs fn on the top level, unmounts (also when fn throws). */
  inspect<T>(fn: (top: string) => T): T;
  subvolumes(): Subvolume[];
  /** Contents of a file relative to the top level, or null if absent. */
  read(path: string): string | null;
  write(path: string, text: string): void;
  destroy(keep?: boolean): void;
}

/** Creates a sparse btrfs image with the server layout (see layOut), left unmounted. */
export function createDiskImage(size = '1G'): DiskImage {
  const dir = mkdtempSync(join(tmpdir(), 'pantheros-vm-'));
  const file = join(dir, 'disk.img');
  const top = join(dir, 'top');
  mkdirSync(top);
  sh('truncate', ['-s', size, file]);
  sh('mkfs.btrfs', ['-q', '-f', file]);
  let mounted = false;
  const disk: DiskImage = {
    dir,
    file,
    top,
    mount: () => {
      sh('mount', ['-o', 'loop,subvolid=5', file, top]);
      mounted = true;
    },
    unmount: () => {
      sh('umount', [top]);
      mounted = false;
    },
    isMounted: () => mounted,
    inspect: (fn) => {
      const wasMounted = mounted;
      if (!wasMounted) disk.mount();
      try {
        return fn(top);
      } finally {
        if (!wasMounted) disk.unmount();
      }
    },
    subvolumes: () => disk.inspect(listSubvolumes),
    read: (path) => disk.inspect((t) => (existsSync(join(t, path)) ? readFileSync(join(t, path), 'utf8') : null)),
    write: (path, text) => disk.inspect((t) => writeFileSync(join(t, path), text)),
    destroy: (keep = false) => {
      if (keep) {
        process.stderr.write(`kept VM disk ${file}${mounted ? ` (mounted at ${top})` : ''}; remove with: ${mounted ? `umount ${top}; ` : ''}rm -r ${dir}\n`);
        return;
      }
      if (mounted) spawnSync('umount', [top]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  disk.inspect(layOut);
  return disk;
}
