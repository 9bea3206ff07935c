// A btrfs disk image for the VM test: prepared and inspected on the host through `mount -o loop`
// (the loop device is released on every unmount, so no stale host cache survives while QEMU writes
// the file), handed to QEMU as a raw virtio disk while unmounted.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { layOut, listSubvolumes, sh, type Subvolume } from './btrfs-image.js';
import { REPO } from './prereq.js';

/** The label of the shipped unit's device (/dev/disk/by-label/nixos): a disk with it runs the unit verbatim. */
export const NIXOS_LABEL = 'nixos';
/** Where the stage-1 VM test's stage 2 lives on the disk (init=/nix/vmtest/init, @nix mounted at /nix). */
export const STAGE2_INIT = '/nix/vmtest/init';

export interface DiskOptions {
  /** Size of the sparse image (default 1G). */
  size?: string;
  /** Filesystem label (mkfs.btrfs -L). */
  label?: string;
  /** Put the stage-1 test's stage 2 (static busybox, its applet links, test/vm/stage1/stage2-init.sh) into @nix/vmtest. */
  stage2?: boolean;
}

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

/** Installs the stage-1 VM test's stage 2 into <top>/@nix/vmtest: static busybox, its applets as links in bin/, and init. */
export function installStage2(top: string): void {
  const dir = join(top, '@nix/vmtest');
  mkdirSync(join(dir, 'bin'), { recursive: true });
  copyFileSync('/bin/busybox', join(dir, 'busybox'));
  chmodSync(join(dir, 'busybox'), 0o755);
  const applets = execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a && a !== 'busybox');
  for (const applet of applets) symlinkSync('../busybox', join(dir, 'bin', applet));
  copyFileSync(join(REPO, 'test/vm/stage1/stage2-init.sh'), join(dir, 'init'));
  chmodSync(join(dir, 'init'), 0o755);
}

/** Creates a sparse btrfs image with the server layout (see layOut), left unmounted. */
export function createDiskImage(options: DiskOptions | string = {}): DiskImage {
  const { size = '1G', label, stage2 = false } = typeof options === 'string' ? { size: options } : options;
  const dir = mkdtempSync(join(tmpdir(), 'pantheros-vm-'));
  const file = join(dir, 'disk.img');
  const top = join(dir, 'top');
  mkdirSync(top);
  sh('truncate', ['-s', size, file]);
  sh('mkfs.btrfs', ['-q', '-f', ...(label ? ['-L', label] : []), file]);
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
      // Kept for a look only when asked (PANTHEROS_KEEP_FAILED=1): a 1-2 GB image per failed test otherwise piles up.
      if (keep && process.env.PANTHEROS_KEEP_FAILED === '1') {
        process.stderr.write(`kept VM disk ${file}${mounted ? ` (mounted at ${top})` : ''}; remove with: ${mounted ? `umount ${top}; ` : ''}rm -r ${dir}\n`);
        return;
      }
      if (mounted) spawnSync('umount', [top]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  disk.inspect((t) => {
    layOut(t);
    if (stage2) installStage2(t);
  });
  return disk;
}
