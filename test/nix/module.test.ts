// module.nix evaluated here through nix/tests/module-eval.nix (stand-ins for nixpkgs' lib, pkgs and
// the module system): the wiring, the stage-1 unit ordering, assertions and warnings.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/load-config.js';
import { evalModule, evalNix, requireNix, toNix } from '../helpers/nix.js';

beforeAll(requireNix);

interface Unit {
  after?: string[];
  before?: string[];
  requires?: string[];
  wantedBy?: string[];
  requiredBy?: string[];
  conflicts?: string[];
  unitConfig?: Record<string, unknown>;
  serviceConfig: Record<string, unknown>;
  script?: string;
}
interface FileSystem {
  device: string;
  fsType: string;
  options: string[];
  neededForBoot: boolean;
}
interface Output {
  failedAssertions: string[];
  warnings: string[];
  packageScripts: (string | null)[];
  fileSystems: Record<string, FileSystem>;
  boot: {
    initrd: {
      supportedFilesystems: string[];
      systemd: { contents: Record<string, { source: string }>; storePaths: string[]; services: Record<string, Unit> };
    };
  };
  systemd: { services: Record<string, Unit>; timers: Record<string, { timerConfig: Record<string, unknown>; wantedBy: string[] }> };
  services: Record<string, unknown> & {
    btrfs: { autoScrub: { enable: boolean; interval: string; fileSystems: string[] } };
    openssh: { hostKeys: { path: string }[] };
    prometheus: { exporters: { node?: { enabledCollectors: string[]; extraFlags: string[] } } };
  };
  environment: { etc: Record<string, { source: string }>; persistence?: Record<string, { directories: string[]; files: string[] }> };
  preservation: { preserveAt?: Record<string, { directories: { directory: string; inInitrd: boolean }[]; files: { file: string; inInitrd: boolean }[] }> } | null;
}

const DEVICE = '/dev/disk/by-label/nixos';
const BASE = { enable: true, device: DEVICE };
const STAGE1 = { boot: { initrd: { systemd: { enable: true } } } };
const run = (host: object = {}, hostConfig: object = {}, imported: object = {}): Output =>
  evalModule<Output>({ ...BASE, ...host }, { ...STAGE1, ...hostConfig }, imported);

describe('a default host', () => {
  const out = run();
  const unit = out.boot.initrd.systemd.services['pantheros-rollback']!;

  it('passes every assertion without warnings', () => {
    expect(out.failedAssertions).toEqual([]);
    expect(out.warnings).toEqual([]);
  });

  it('orders the stage-1 unit as the field notes say', () => {
    const deviceUnit = 'dev-disk-by\\x2dlabel-nixos.device';
    expect(unit.unitConfig).toMatchObject({ DefaultDependencies: false });
    expect(unit.requires).toEqual([deviceUnit]);
    expect(unit.after).toEqual(expect.arrayContaining([deviceUnit, 'local-fs-pre.target', 'cryptsetup.target']));
    expect(unit.before).toContain('sysroot.mount');
    expect(unit.wantedBy).toEqual(['initrd.target']);
    expect(unit.requiredBy).toEqual([]);
    expect(unit.serviceConfig).toMatchObject({ Type: 'oneshot', RemainAfterExit: true });
    expect(unit.serviceConfig['ExecStart']).toMatch(
      /^\/nix\/store\/\S+-nodejs-slim\/bin\/node \/nix\/store\/\S+-pantheros-rollback\/lib\/pantheros-rollback\/pantheros-rollback\.mjs boot --device \/dev\/disk\/by-label\/nixos --config \/etc\/pantheros\/rollback\.json$/,
    );
  });

  it('puts the config, the runtime and the bundle into the initrd', () => {
    const initrd = out.boot.initrd.systemd;
    expect(Object.keys(initrd.contents)).toEqual(['/etc/pantheros/rollback.json']);
    expect(initrd.storePaths.some((p) => p.endsWith('-nodejs-slim/bin/node'))).toBe(true);
    expect(initrd.storePaths.some((p) => p.endsWith('/pantheros-rollback.mjs'))).toBe(true);
    expect(initrd.storePaths.some((p) => p.endsWith('-btrfs-progs/bin/btrfs'))).toBe(true);
    expect(unit.serviceConfig['Environment']).toEqual([expect.stringMatching(/^PANTHEROS_BTRFS=\/nix\/store\/\S+-btrfs-progs\/bin\/btrfs$/)]);
    expect(out.boot.initrd.supportedFilesystems).toContain('btrfs');
  });

  it('renders the same config for stage 1 and stage 2, and the engine accepts it', () => {
    const initrdJson = out.boot.initrd.systemd.contents['/etc/pantheros/rollback.json']!.source;
    expect(out.environment.etc['pantheros/rollback.json']!.source).toBe(initrdJson);
    const raw = JSON.parse(initrdJson.slice(initrdJson.indexOf('#') + 1)) as unknown;
    expect(raw).toEqual(evalNix(`lib.toolConfig ${toNix(BASE)}`));
    expect(validateConfig(raw, 'module').device).toBe(DEVICE);
  });

  it('mounts / from @root and the persistent tree from @persistent, all with the same btrfs options', () => {
    expect(out.fileSystems['/']).toMatchObject({ device: DEVICE, fsType: 'btrfs', neededForBoot: true });
    expect(out.fileSystems['/']!.options).toContain('subvol=@root');
    expect(out.fileSystems['/var/log']!.options).toContain('subvol=@persistent/var/log');
    expect(out.fileSystems['/var/log']!.neededForBoot).toBe(true);
    const btrfs = evalNix<string[]>('lib.btrfsOptionsFor "balanced"');
    for (const [path, fs] of Object.entries(out.fileSystems).filter(([, f]) => f.fsType === 'btrfs')) {
      expect(fs.options.filter((o) => btrfs.includes(o)), path).toEqual(btrfs);
    }
  });

  it('keeps /var/lib/nixos, /var/lib/systemd and /etc/machine-id with stage-1 bind mounts', () => {
    for (const path of ['/var/lib/nixos', '/var/lib/systemd', '/etc/machine-id']) {
      expect(out.fileSystems[path]).toMatchObject({ device: `/persistent${path}`, fsType: 'none', options: ['bind'], neededForBoot: true });
    }
    const prepare = out.boot.initrd.systemd.services['pantheros-rollback-state']!;
    expect(prepare.requiredBy).toEqual(['sysroot-var-lib-nixos.mount', 'sysroot-var-lib-systemd.mount', 'sysroot-etc-machine\\x2did.mount']);
    expect(out.services.openssh.hostKeys.map((k) => k.path)).toEqual([
      '/persistent/etc/ssh/ssh_host_ed25519_key',
      '/persistent/etc/ssh/ssh_host_rsa_key',
    ]);
  });

  it('the operator CLI wrapper runs the same runtime and bundle with btrfs and mount from the store', () => {
    const wrapper = out.packageScripts[0] ?? '';
    expect(wrapper).toMatch(/^export PATH=\/nix\/store\/\S+-btrfs-progs\/bin:\/nix\/store\/\S+-util-linux\/bin\$\{PATH:\+:\$PATH\}$/m);
    expect(wrapper).toMatch(/^export PANTHEROS_BTRFS=\$\{PANTHEROS_BTRFS:-\/nix\/store\/\S+-btrfs-progs\/bin\/btrfs\}$/m);
    expect(wrapper).toMatch(/^exec \/nix\/store\/\S+-nodejs-slim\/bin\/node \/nix\/store\/\S+\/pantheros-rollback\.mjs "\$@"$/m);
    expect(spawnSync('bash', ['-n'], { input: wrapper, encoding: 'utf8' }).status).toBe(0);
  });

  it('the stage-1 state script creates bind sources and targets and a stable machine id', () => {
    const script = out.boot.initrd.systemd.services['pantheros-rollback-state']!.script!;
    const sysroot = mkdtempSync(join(tmpdir(), 'pantheros-sysroot-'));
    try {
      const run = (): void => {
        const r = spawnSync('bash', ['-c', script.replaceAll('/sysroot', sysroot)], { encoding: 'utf8' });
        expect(r.status, r.stderr).toBe(0);
      };
      run();
      for (const dir of ['persistent/var/lib/nixos', 'persistent/var/lib/systemd', 'var/lib/nixos', 'var/lib/systemd']) {
        expect(statSync(join(sysroot, dir)).isDirectory(), dir).toBe(true);
      }
      expect(readFileSync(join(sysroot, 'etc/machine-id'), 'utf8')).toBe('');
      const id = readFileSync(join(sysroot, 'persistent/etc/machine-id'), 'utf8');
      expect(id).toMatch(/^[0-9a-f]{32}\n$/);
      run();
      expect(readFileSync(join(sysroot, 'persistent/etc/machine-id'), 'utf8')).toBe(id);
    } finally {
      rmSync(sysroot, { recursive: true, force: true });
    }
  });

  it('has snapshot timers per class, a monthly scrub and a metrics timer', () => {
    expect(Object.keys(out.systemd.timers).sort()).toEqual([
      'pantheros-rollback-metrics',
      'pantheros-snapshot-daily',
      'pantheros-snapshot-hourly',
      'pantheros-snapshot-monthly',
      'pantheros-snapshot-weekly',
    ]);
    expect(out.systemd.timers['pantheros-snapshot-weekly']!.timerConfig).toMatchObject({ OnCalendar: 'weekly', Persistent: true });
    const exec = out.systemd.services['pantheros-snapshot-hourly']!.serviceConfig['ExecStart'] as string[];
    expect(exec[0]).toMatch(/ snapshot --class hourly$/);
    expect(exec[1]).toMatch(/ prune$/);
    expect(out.services.btrfs.autoScrub).toEqual({ enable: true, interval: 'monthly', fileSystems: ['/'] });
    expect(out.systemd.services['pantheros-rollback-metrics']!.serviceConfig['ExecStart']).toMatch(
      / metrics --output \/run\/pantheros-rollback\/metrics\/pantheros_rollback\.prom$/,
    );
  });
});

describe('option variants', () => {
  it('runtime bun runs the bundle with bun in stage 1', () => {
    const out = run({ runtime: 'bun' });
    const unit = out.boot.initrd.systemd.services['pantheros-rollback']!;
    expect(unit.serviceConfig['ExecStart']).toMatch(/-bun\/bin\/bun .*pantheros-rollback\.mjs boot/);
    expect(out.boot.initrd.systemd.storePaths.some((p) => p.endsWith('-bun/bin/bun'))).toBe(true);
  });

  it('initrd.failBootOnError makes the unit requiredBy initrd.target', () => {
    const unit = run({ initrd: { failBootOnError: true } }).boot.initrd.systemd.services['pantheros-rollback']!;
    expect(unit.requiredBy).toEqual(['initrd.target']);
    expect(unit.wantedBy).toEqual([]);
  });

  it('a LUKS device orders after its cryptsetup unit', () => {
    const out = run({ device: '/dev/mapper/cryptroot' });
    const unit = out.boot.initrd.systemd.services['pantheros-rollback']!;
    expect(unit.requires).toEqual(['dev-mapper-cryptroot.device']);
    expect(unit.after).toContain('systemd-cryptsetup@cryptroot.service');
    expect(out.failedAssertions).toEqual([]);
  });

  it('io-optimized with a database subvolume applies nocow and log compression before sysinit', () => {
    const out = run({ performanceMode: 'io-optimized', persistentTree: { '/var/lib/postgresql': {} } });
    const unit = out.systemd.services['pantheros-rollback-attributes']!;
    expect(unit.wantedBy).toEqual(['sysinit.target']);
    expect(unit.before).toEqual(['sysinit.target']);
    expect(unit.script).toContain("'chattr' '+C' '/var/lib/postgresql'");
    expect(unit.script).toContain("'btrfs' 'property' 'set' '/var/log' 'compression' 'zstd'");
    expect(out.fileSystems['/var/lib/postgresql']!.options).toContain('subvol=@persistent/var/lib/postgresql');
    expect(out.fileSystems['/var/lib/postgresql']!.options.some((o) => o.startsWith('compress'))).toBe(false);
  });

  it('a retention of 0 removes that class timer', () => {
    expect(Object.keys(run({ snapshotRetention: { hourly: 0 } }).systemd.timers)).not.toContain('pantheros-snapshot-hourly');
  });

  it('feeds node exporter textfile collector when the exporter is enabled', () => {
    const out = run({}, { services: { prometheus: { exporters: { node: { enable: true } } } } });
    expect(out.services.prometheus.exporters.node).toMatchObject({
      enabledCollectors: ['textfile'],
      extraFlags: ['--collector.textfile.directory=/run/pantheros-rollback/metrics'],
    });
  });

  it('hands system state to nix-community/preservation when it is enabled', () => {
    const out = run({}, { preservation: { enable: true } }, { preservation: true });
    expect(out.preservation?.preserveAt?.['/persistent']?.directories).toEqual([
      { directory: '/var/lib/nixos', inInitrd: true },
      { directory: '/var/lib/systemd', inInitrd: true },
    ]);
    expect(out.preservation?.preserveAt?.['/persistent']?.files).toEqual([{ file: '/etc/machine-id', inInitrd: true }]);
    expect(out.fileSystems['/var/lib/nixos']).toBeUndefined();
    expect(out.boot.initrd.systemd.services['pantheros-rollback-state']).toBeUndefined();
  });

  it('hands system state to nix-community/impermanence when it is imported', () => {
    const out = run({}, {}, { impermanence: true });
    expect(out.environment.persistence?.['/persistent']).toMatchObject({
      directories: ['/var/lib/nixos', '/var/lib/systemd'],
      files: ['/etc/machine-id'],
    });
    expect(out.fileSystems['/etc/machine-id']).toBeUndefined();
  });
});

describe('assertions name the option and the offending value', () => {
  it.each<[string, object, object, object, RegExp]>([
    ['scripted initrd', {}, { boot: { initrd: { systemd: { enable: false } } } }, {}, /^boot\.initrd\.systemd\.enable must be true .* it is false/],
    ['no device', { device: null }, {}, {}, /^pantherOS\.filesystems\.impermanence\.device must name .* it is null/],
    [
      '/ not on @root',
      {},
      { fileSystems: { '/': { options: ['subvol=@other'] } } },
      {},
      /^pantherOS\.filesystems\.impermanence\.subvolumes\.root: fileSystems."\/" must be the btrfs subvolume "@root".*options \[.*subvol=@other/,
    ],
    [
      'a mount with different btrfs options',
      {},
      { fileSystems: { '/var/log': { options: ['compress=lzo'] } } },
      {},
      /^pantherOS\.filesystems\.impermanence\.performanceMode: btrfs options are filesystem-wide.*\/var\/log \[compress=lzo, compress=zstd:1/,
    ],
    [
      'btrfs options in the persistent tree',
      { persistentTree: { '/srv/db': { options: ['nodatacow'] } } },
      {},
      {},
      /^pantherOS\.filesystems\.impermanence\.persistentTree\.<path>\.options .*"\/srv\/db" \[nodatacow\]/,
    ],
    [
      'a stage-1 path not neededForBoot',
      { persistentTree: { '/srv/state': {} }, systemState: { directories: ['/var/lib/nixos', '/var/lib/systemd', '/srv/state/keys'] } },
      {},
      {},
      /^pantherOS\.filesystems\.impermanence\.persistentTree: .*neededForBoot = true: \/srv\/state/,
    ],
    [
      'a persistent subvolume inside the archive',
      { persistentTree: { '/srv/x': { subvolume: '@btrfs_tmp/old_roots/x' } } },
      {},
      {},
      /^pantherOS\.filesystems\.impermanence\.persistentTree\.<path>\.subvolume .*"\/srv\/x" = "@btrfs_tmp\/old_roots\/x"/,
    ],
    [
      'overlapping subvolumes',
      { subvolumes: { blank: '@root/blank' } },
      {},
      {},
      /^pantherOS\.filesystems\.impermanence\.subvolumes: .*subvolumes\.blank \("@root\/blank"\) and \.root \("@root"\)/,
    ],
    ['preservation not imported', { systemState: { backend: 'preservation' } }, {}, {}, /^pantherOS\.filesystems\.impermanence\.systemState\.backend is "preservation"/],
  ])('%s', (_name, host, hostConfig, imported, message) => {
    const failed = run(host, hostConfig, imported).failedAssertions;
    expect(failed.filter((m) => message.test(m)), failed.join('\n')).toHaveLength(1);
  });
});

describe('warnings', () => {
  it('when system state is not kept', () => {
    expect(run({ systemState: { enable: false } }).warnings.join('\n')).toMatch(/systemState\.enable is false: \/var\/lib\/nixos \(uid\/gid allocation\)/);
  });

  it('when a default system-state path is dropped', () => {
    expect(run({ systemState: { directories: ['/var/lib/nixos'] } }).warnings).toEqual([
      'pantherOS.filesystems.impermanence.systemState: /var/lib/systemd is no longer kept and will be wiped at every boot.',
    ]);
  });

  it('when OpenSSH host keys are on the wiped root', () => {
    const warnings = run(
      { systemState: { sshHostKeys: false } },
      { services: { openssh: { enable: true, hostKeys: [{ path: '/etc/ssh/ssh_host_ed25519_key', type: 'ed25519' }] } } },
    ).warnings;
    expect(warnings.join('\n')).toMatch(/sshHostKeys: .*on the wiped root .*\/etc\/ssh\/ssh_host_ed25519_key/);
  });

  it('when a per-path attribute is not on persistent storage', () => {
    expect(run({ perPathAttributes: { '/opt/db': 'nocow' } }).warnings.join('\n')).toMatch(/perPathAttributes: not applied to \/opt\/db/);
  });
});
