// A throwaway loop-mounted btrfs image with the server layout, for real-disk tests.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Subvolume {
  id: number;
  gen: number;
  cgen: number;
  parent: number;
  path: string;
}

export interface Image {
  dir: string;
  file: string;
  /** The top level (subvolid=5) mount point. */
  top: string;
  /** The loop device backing the mount. */
  loop: string;
  /** `btrfs subvolume list` of the whole filesystem, sorted by path. */
  subvolumes(): Subvolume[];
  paths(): string[];
  isReadOnly(path: string): boolean;
  unmount(): void;
  mount(): void;
  /** Unmounts and removes everything; a failed test's (keep) is kept, with how to remove it printed, when PANTHEROS_KEEP_FAILED=1. */
  destroy(keep?: boolean): void;
}

export function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
}

export interface LayoutOptions {
  /** Size of the sparse image; 1 GiB by default (btrfs needs ~110 MiB minimum). */
  size?: string;
  /** Create the default layout (@root with a marker, read-only @root-blank, @nix, @persistent, @snapshots, @btrfs_tmp/old_roots). */
  layout?: boolean;
}

/** Creates a sparse btrfs image, mounts its top level through a loop device and lays out the subvolumes. */
export function createImage(options: LayoutOptions = {}): Image {
  const dir = mkdtempSync(join(tmpdir(), 'pantheros-test-'));
  const file = join(dir, 'disk.img');
  const top = join(dir, 'top');
  mkdirSync(top);
  sh('truncate', ['-s', options.size ?? '1G', file]);
  sh('mkfs.btrfs', ['-q', '-f', file]);
  const loop = sh('losetup', ['--find', '--show', file]).trim();
  const image: Image = {
    dir,
    file,
    top,
    loop,
    subvolumes: () => listSubvolumes(top),
    paths: () => listSubvolumes(top).map((s) => s.path),
    isReadOnly: (path) => sh('btrfs', ['property', 'get', '-ts', join(top, path), 'ro']).trim() === 'ro=true',
    unmount: () => sh('umount', [top]),
    mount: () => sh('mount', ['-o', 'subvolid=5', loop, top]),
    destroy: (keep = false) => {
      // Kept for a look only when asked: kept images of failed tests would pile up loop devices run after run.
      if (keep && process.env.PANTHEROS_KEEP_FAILED === '1') {
        process.stderr.write(`kept test image ${file} (loop ${loop}, mounted at ${top}); remove with: umount ${top}; losetup -d ${loop}; rm -r ${dir}\n`);
        return;
      }
      spawnSync('umount', ['-R', top]);
      // Mounts of its subvolumes elsewhere (a test's bind of @persistent/…): every mount of this loop device goes.
      for (const m of mountsOf(loop).reverse()) spawnSync('umount', [m]);
      spawnSync('losetup', ['-d', loop]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  image.mount();
  if (options.layout !== false) layOut(top);
  return image;
}

/** The server layout the tool manages, with marker files. */
export function layOut(top: string): void {
  const sv = (p: string) => sh('btrfs', ['subvolume', 'create', join(top, p)]);
  sv('@root');
  writeFileSync(join(top, '@root/marker'), 'root-before-boot\n');
  sv('@root-blank');
  sh('btrfs', ['property', 'set', '-ts', join(top, '@root-blank'), 'ro', 'true']);
  sv('@nix');
  sv('@persistent');
  writeFileSync(join(top, '@persistent/marker'), 'persistent\n');
  sv('@snapshots');
  for (const c of ['hourly', 'daily', 'weekly', 'monthly']) mkdirSync(join(top, '@snapshots', c));
  mkdirSync(join(top, '@btrfs_tmp/old_roots'), { recursive: true });
}

/** Mount points (mountinfo field 5, octal escapes undone) whose source is device, in mount order. */
function mountsOf(device: string): string[] {
  const unescape = (p: string) => p.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').flatMap((line) => {
    const [before, after] = line.split(' - ');
    if (!before || !after) return [];
    return after.split(' ')[1] === device ? [unescape(before.split(' ')[4]!)] : [];
  });
}

export function listSubvolumes(top: string): Subvolume[] {
  const out = sh('btrfs', ['subvolume', 'list', '-c', '-g', '-p', top]);
  const subs: Subvolume[] = [];
  for (const line of out.split('\n')) {
    const m = /^ID (\d+) gen (\d+) cgen (\d+) parent (\d+) top level \d+ path (.*)$/.exec(line);
    if (m) subs.push({ id: Number(m[1]), gen: Number(m[2]), cgen: Number(m[3]), parent: Number(m[4]), path: m[5]! });
  }
  return subs.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
