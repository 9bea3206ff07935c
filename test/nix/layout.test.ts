// The layout generator on a real btrfs image: the install script (disko's postCreateHook and the
// VM test's first boot) creates every subvolume and the read-only blank, the kernel accepts every
// mount of the layout with its generated options, and the per-path attribute commands work.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createImage, listSubvolumes, sh, type Image } from '../helpers/btrfs-image.js';
import { evalHosts, evalNix, evalNixOS, impermanenceModule, requireNix, storeFileText, toNix, type NixosSummary } from '../helpers/nix.js';
import { directive, execArgv, parseUnit } from './unit-file.js';
import { requirePrerequisites } from '../helpers/prereq.js';

beforeAll(() => {
  requireNix();
  requirePrerequisites(['btrfs', 'mkfs.btrfs', 'losetup', 'mount', 'umount', 'chattr', 'lsattr', 'bash']);
});

interface Mount {
  subvolume: string;
  neededForBoot: boolean;
  options: string[];
}

const HOST = { performanceMode: 'io-optimized', persistentTree: { '/var/lib/postgresql': {} } };

let image: Image | undefined;
let failed = true;
afterEach((context) => {
  failed = context.task.result?.state === 'fail';
  image?.destroy(failed);
  image = undefined;
});

function install(img: Image, options: object): void {
  const script = evalNix<string>(`lib.installScript (${toNix(options)}) "$TOP"`);
  execFileSync('bash', ['-euc', script], { env: { ...process.env, TOP: img.top }, stdio: 'pipe' });
}

/** Super options (the filesystem-wide part) of every mount under `root`, from mountinfo. */
function superOptionsUnder(root: string): Map<string, string> {
  const result = new Map<string, string>();
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const mountPoint = left.split(' ')[4]!;
    if (mountPoint !== root && !mountPoint.startsWith(`${root}/`)) continue;
    // subvol=/subvolid= are per mount; everything else in the super options is filesystem-wide.
    const fsWide = right.split(' ')[2]!.split(',').filter((o) => !o.startsWith('subvol'));
    result.set(mountPoint, fsWide.join(','));
  }
  return result;
}

describe('installScript on real btrfs', () => {
  it('creates every subvolume, the archive directory and a read-only empty blank; idempotent', () => {
    image = createImage({ layout: false });
    install(image, HOST);
    const expected = [...evalNix<string[]>(`lib.subvolumesToCreate (${toNix(HOST)})`), '@root-blank'].sort();
    expect(image.paths()).toEqual(expected);
    expect(image.isReadOnly('@root-blank')).toBe(true);
    expect(image.isReadOnly('@root')).toBe(false);
    expect(readdirSync(join(image.top, '@root-blank'))).toEqual([]);
    expect(readdirSync(join(image.top, '@btrfs_tmp'))).toEqual(['old_roots']);

    install(image, HOST);
    expect(image.paths()).toEqual(expected);
  });

  it('handles renamed and nested subvolume names', () => {
    image = createImage({ layout: false });
    const options = { subvolumes: { root: 'sys/root', blank: 'sys/blank', oldRoots: 'old_roots', snapshots: 'snaps', persistent: 'persist', nix: null } };
    install(image, options);
    expect(image.paths()).toContain('sys/root');
    expect(image.paths()).toContain('old_roots');
    expect(image.paths()).toContain('persist/var/log');
    expect(image.isReadOnly('sys/blank')).toBe(true);
  });

  it('every mount of each mode is accepted with identical filesystem-wide options', () => {
    for (const mode of evalNix<string[]>('lib.performanceModes')) {
      image = createImage({ layout: false });
      const options = { ...HOST, performanceMode: mode };
      install(image, options);
      const mounts = evalNix<Record<string, Mount>>(`lib.layout (${toNix(options)})`);
      const root = join(image.dir, 'sysroot');
      mkdirSync(root);
      // The layout's mounts must be the first mounts of the filesystem: the first one decides.
      image.unmount();
      try {
        // Parents first, as systemd orders them.
        for (const path of Object.keys(mounts).sort()) {
          const where = join(root, path);
          mkdirSync(where, { recursive: true });
          sh('mount', ['-t', 'btrfs', '-o', mounts[path]!.options.join(','), image.loop, where]);
        }
        const supers = superOptionsUnder(root);
        expect(supers.size).toBe(Object.keys(mounts).length);
        const distinct = new Set(supers.values());
        expect([...distinct], `${mode}: super options of all mounts`).toHaveLength(1);
        const superOptions = [...distinct][0]!;
        if (mode === 'balanced') expect(superOptions).toMatch(/compress=zstd:1/);
        if (mode === 'space-optimized') expect(superOptions).toMatch(/compress-force=zstd:3/);
        if (mode === 'io-optimized') expect(superOptions).not.toMatch(/compress/);
        expect(superOptions).toMatch(/space_cache=v2/);
        expect(superOptions).toMatch(/discard=async/);
      } finally {
        spawnSync('umount', ['-R', root]);
      }
      image.destroy();
      image = undefined;
    }
  });
});

describe('why every mount carries the same btrfs options', () => {
  it('a later subvolume mount cannot change filesystem-wide options (the first mount wins)', () => {
    image = createImage({ layout: false });
    sh('btrfs', ['subvolume', 'create', join(image.top, 'sv')]);
    image.unmount();
    const first = join(image.dir, 'first');
    const second = join(image.dir, 'second');
    mkdirSync(first);
    mkdirSync(second);
    try {
      sh('mount', ['-t', 'btrfs', '-o', 'compress=zstd:1', image.loop, first]);
      sh('mount', ['-t', 'btrfs', '-o', 'subvol=sv,compress=lzo', image.loop, second]);
      const supers = superOptionsUnder(image.dir);
      expect(supers.get(second)).toMatch(/compress=zstd:1/);
      expect(supers.get(second)).not.toMatch(/lzo/);
    } finally {
      spawnSync('umount', [second]);
      spawnSync('umount', [first]);
    }
  });
});

describe('per-path attribute commands on real btrfs', () => {
  it.each<[string, (img: Image, dir: string) => string, RegExp]>([
    ['nocow', (_img, dir) => sh('lsattr', ['-d', dir]).split(' ')[0]!, /C/],
    ['compress-zstd', (_img, dir) => sh('btrfs', ['property', 'get', dir, 'compression']), /compression=zstd/],
    // `none` sets the no-compress inode flag (lsattr shows `m`).
    ['no-compress', (_img, dir) => sh('lsattr', ['-d', dir]).split(' ')[0]!, /m/],
  ])('%s', (kind, read, expected) => {
    image = createImage({ layout: false });
    const dir = join(image.top, 'data');
    mkdirSync(dir);
    const argv = evalNix<string[]>(`lib.attributeCommand ${JSON.stringify(dir)} ${JSON.stringify(kind)}`);
    execFileSync(argv[0]!, argv.slice(1), { stdio: 'pipe' });
    expect(read(image, dir)).toMatch(expected);
  });
});

describe("the module's attribute unit on real btrfs", () => {
  it('io-optimized: nocow database directory, zstd-compressed logs', () => {
    image = createImage({ layout: false });
    const out = evalHosts<NixosSummary>({ host: { modules: [impermanenceModule({ enable: true, device: '/dev/disk/by-label/nixos', ...HOST })] } })['host']!;
    const unit = parseUnit(out.units['pantheros-rollback-attributes.service']!.text);
    // The unit's job script, with its absolute paths moved onto the image.
    const script = storeFileText(out, execArgv(directive(unit, 'Service', 'ExecStart')[0]!)[0]!)
      .replace(/^#!.*\n/, '')
      .replaceAll(' /var/', ` ${image.top}/var/`);
    const r = spawnSync('bash', ['-euc', script], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(sh('lsattr', ['-d', join(image.top, 'var/lib/postgresql')]).split(' ')[0]).toMatch(/C/);
    expect(sh('btrfs', ['property', 'get', join(image.top, 'var/log'), 'compression'])).toMatch(/compression=zstd/);
  });
});

describe("the VM test's first-boot format unit on a real loop device", () => {
  it('formats an empty disk with the layout once, and leaves a formatted one alone', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pantheros-vmformat-'));
    const file = join(dir, 'disk.img');
    sh('truncate', ['-s', '1G', file]);
    const loop = sh('losetup', ['--find', '--show', file]).trim();
    const top = join(dir, 'top');
    mkdirSync(top);
    let ok = false;
    try {
      const vm = evalNixOS<{ formatScript: string; impermanence: object }>('e.flake.vmTest.node');
      const script = vm.formatScript.replaceAll('/dev/vdb', loop).replaceAll('/run/pantheros-test-top', join(dir, 'mnt'));
      const format = (): void => {
        const r = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
        expect(r.status, r.stderr).toBe(0);
      };
      format();
      sh('mount', ['-o', 'subvolid=5', loop, top]);
      const paths = listSubvolumes(top).map((sv) => sv.path);
      expect(paths.sort()).toEqual([...evalNix<string[]>(`lib.subvolumesToCreate (${toNix(vm.impermanence)})`), '@root-blank'].sort());
      writeFileSync(join(top, '@persistent/marker'), 'kept\n');
      sh('umount', [top]);
      format();
      sh('mount', ['-o', 'subvolid=5', loop, top]);
      expect(readFileSync(join(top, '@persistent/marker'), 'utf8')).toBe('kept\n');
      ok = true;
    } finally {
      spawnSync('umount', [top]);
      spawnSync('losetup', ['-d', loop]);
      if (ok) rmSync(dir, { recursive: true, force: true });
      else process.stderr.write(`kept ${dir} (loop ${loop} detached)\n`);
    }
  });
});

describe('disko layout', () => {
  interface Disko {
    disko: {
      enableConfig: boolean;
      devices: { disk: Record<string, { device: string; content: { partitions: Record<string, { content?: Record<string, unknown> }> } }> };
    };
  }
  const disko = (options: object): Disko =>
    evalNix<Disko>(`import ./nix/disko.nix { device = "/dev/sda"; impermanence = ${toNix(options)}; }`);

  it('creates the layout subvolumes with the layout mount options (without subvol=)', () => {
    const d = disko(HOST);
    expect(d.disko.enableConfig).toBe(false);
    const root = d.disko.devices.disk['main']!.content.partitions['root']!.content as {
      extraArgs: string[];
      subvolumes: Record<string, { mountpoint?: string; mountOptions?: string[] }>;
      postCreateHook: string;
    };
    expect(root.extraArgs).toEqual(['-f', '-L', 'nixos']);
    expect(Object.keys(root.subvolumes).sort()).toEqual(evalNix<string[]>(`lib.subvolumesToCreate (${toNix(HOST)})`).sort());
    const mounts = evalNix<Record<string, Mount>>(`lib.layout (${toNix(HOST)})`);
    for (const [path, mount] of Object.entries(mounts)) {
      expect(root.subvolumes[mount.subvolume]).toEqual({
        mountpoint: path,
        mountOptions: mount.options.filter((o) => !o.startsWith('subvol=')),
      });
    }
    expect(root.postCreateHook).toMatch(/btrfs subvolume snapshot -r "\$top"\/'@root' "\$top"\/'@root-blank'/);
  });
});
