// nix/module.nix evaluated with the real nixpkgs module system (lib.evalModules of nixpkgs' lib,
// the real impermanence and preservation modules; NixOS' own option declarations stood in by
// nix/tests/nixos/): the wiring, the stage-1 unit, the hand-over to impermanence/preservation, and
// every mode, runtime and system-state backend passing the module's and the real modules' checks.
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/load-config.js';
import { evalHosts, evalNix, evalNixOS, hostExpr, impermanenceModule, requireNix, storeFileText, toNix, type Host, type NixosSummary } from '../helpers/nix.js';
import { directive, execArgv, parseUnit } from './unit-file.js';
import { BOOT_BUNDLE, BUN, BUN_LAUNCH, BUNDLE, REPO } from '../helpers/prereq.js';

beforeAll(requireNix);

const DEVICE = '/dev/disk/by-label/nixos';
const host = (values: object = {}, extra?: string, imports: Host['imports'] = []): Host => ({
  modules: [impermanenceModule({ enable: true, device: DEVICE, ...values }, extra)],
  imports,
});

const HOSTS = {
  default: host(),
  bun: host({ runtime: 'bun' }),
  bunNoSnapshot: host({ runtime: 'bun', initrd: { startupSnapshot: false } }),
  bunUnstripped: host({ runtime: 'bun' }, 'boot.initrd.systemd.enable = true; boot.initrd.systemd.strip = false;'),
  nodeNoSnapshot: host({ initrd: { startupSnapshot: false } }),
  nodeSnapshot: host({ initrd: { startupSnapshot: true } }),
  failBoot: host({ initrd: { failBootOnError: true } }),
  luks: host({ device: '/dev/mapper/cryptroot' }),
  ioDatabase: host({ performanceMode: 'io-optimized', persistentTree: { '/var/lib/postgresql': {} } }),
  noHourly: host({ snapshotRetention: { hourly: 0 } }),
  nodeExporter: host({}, 'boot.initrd.systemd.enable = true; services.prometheus.exporters.node.enable = true;'),
  preservation: host({}, 'boot.initrd.systemd.enable = true; preservation.enable = true;', ['preservation']),
  impermanence: host({}, undefined, ['impermanence']),
  moduleWithImpermanence: host({ systemState: { backend: 'module' } }, undefined, ['impermanence']),
};
const out = evalHosts<NixosSummary>(HOSTS);
const rollbackUnit = (s: NixosSummary) => parseUnit(s.initrd.units['pantheros-rollback.service']!.text);
/** The JSON the module renders for the tool (stage 1 and stage 2 share one store file). */
const toolConfig = (s: NixosSummary): unknown => JSON.parse(storeFileText(s, s.etc['pantheros/rollback.json']!));

describe('a default host', () => {
  const s = out['default']!;
  const unit = rollbackUnit(s);
  const wrapper = s.systemPackages.find((p) => p.endsWith('-pantheros-rollback'))!;

  it('passes every assertion without warnings', () => {
    expect(s.failedAssertions).toEqual([]);
    expect(s.warnings).toEqual([]);
  });

  it('orders the stage-1 unit as the field notes say', () => {
    const deviceUnit = 'dev-disk-by\\x2dlabel-nixos.device';
    expect(directive(unit, 'Unit', 'DefaultDependencies')).toEqual(['false']);
    expect(directive(unit, 'Unit', 'Requires')).toEqual([deviceUnit]);
    expect(directive(unit, 'Unit', 'After')).toEqual([deviceUnit, 'local-fs-pre.target', 'cryptsetup.target']);
    expect(directive(unit, 'Unit', 'Before')).toEqual(['sysroot.mount', 'initrd-root-fs.target', 'shutdown.target']);
    expect(s.initrd.units['pantheros-rollback.service']).toMatchObject({ wantedBy: ['initrd.target'], requiredBy: [] });
    expect(directive(unit, 'Service', 'Type')).toEqual(['oneshot']);
    expect(directive(unit, 'Service', 'RemainAfterExit')).toEqual(['true']);
    expect(directive(unit, 'Service', 'TimeoutStartSec')).toEqual(['300']);
    const argv = execArgv(directive(unit, 'Service', 'ExecStart')[0]!);
    expect(argv[0]).toMatch(/^\/nix\/store\/\w{32}-nodejs-slim-[^/]+\/bin\/node$/);
    // Under Node, stage 1 runs the boot-only bundle as CommonJS by default (initrd.startupSnapshot is off under Node).
    expect(argv[1]).toMatch(/^\/nix\/store\/\w{32}-pantheros-rollback-0\.1\.0\/lib\/pantheros-rollback\/pantheros-rollback-boot\.cjs$/);
    expect(argv.slice(2)).toEqual(['boot', '--device', DEVICE]);
    expect(evalNixOS<boolean>(`(e.host ${hostExpr(HOSTS.default)}).config.pantherOS.filesystems.impermanence.initrd.startupSnapshot`)).toBe(false);
    expect(evalNixOS<boolean>(`(e.host ${hostExpr(HOSTS.bun)}).config.pantherOS.filesystems.impermanence.initrd.startupSnapshot`)).toBe(true);
  });

  it('initrd.startupSnapshot = true under Node: stage 1 starts Node from the V8 start-up snapshot of the boot-only entry, made by that Node', () => {
    const argv = execArgv(directive(rollbackUnit(out['nodeSnapshot']!), 'Service', 'ExecStart')[0]!);
    expect(argv[0]).toMatch(/^\/nix\/store\/\w{32}-nodejs-slim-[^/]+\/bin\/node$/);
    expect(argv[1]).toBe('--snapshot-blob');
    expect(argv[2]).toMatch(/^\/nix\/store\/\w{32}-pantheros-rollback-boot-snapshot-[^/]+\/lib\/pantheros-rollback-boot\.blob$/);
    expect(argv.slice(3)).toEqual(['boot', '--device', DEVICE]);
    const blob = evalNixOS<{ path: string; nativeBuildInputs: string[]; buildCommand: string }>(
      `let c = (e.host ${hostExpr(HOSTS.nodeSnapshot)}).config.pantherOS.filesystems.impermanence; d = (e.pkgsFor "x86_64-linux").callPackage ${REPO}/nix/boot-snapshot.nix { nodejs = c.runtimePackage; pantheros-rollback = c.package; }; in { path = d.outPath; inherit (d) buildCommand; nativeBuildInputs = map (p: p.name) d.nativeBuildInputs; }`,
    );
    expect(argv[2]).toBe(`${blob.path}/lib/pantheros-rollback-boot.blob`);
    expect(blob.nativeBuildInputs).toEqual([expect.stringMatching(/^nodejs-slim-/)]);
    expect(blob.buildCommand).toMatch(/node --snapshot-blob "\$out\/lib\/pantheros-rollback-boot\.blob" \\\n\s+--build-snapshot \/nix\/store\/\w{32}-pantheros-rollback-0\.1\.0\/lib\/pantheros-rollback\/pantheros-rollback-boot-snapshot\.cjs/);
  });

  it('puts the config, the runtime, the CommonJS boot-only bundle and btrfs into the initrd (under Node, with the snapshot: the blob, no bundle)', () => {
    const sources = s.initrd.storePaths.map((p) => p.source);
    expect(s.initrd.contents['/etc/pantheros/rollback.json']).toBe(s.etc['pantheros/rollback.json']);
    const argv = execArgv(directive(unit, 'Service', 'ExecStart')[0]!);
    expect(sources).toEqual(expect.arrayContaining([argv[0], argv[1], expect.stringMatching(/-btrfs-progs-[^/]+\/bin\/btrfs$/)]));
    expect(sources.some((p) => p.endsWith('.mjs') || p.endsWith('.blob'))).toBe(false);
    const snap = out['nodeSnapshot']!;
    const snapArgv = execArgv(directive(rollbackUnit(snap), 'Service', 'ExecStart')[0]!);
    const snapSources = snap.initrd.storePaths.map((p) => p.source);
    expect(snapSources).toEqual(expect.arrayContaining([snapArgv[0], snapArgv[2]]));
    expect(snapSources.some((p) => p.endsWith('.mjs') || p.endsWith('.cjs'))).toBe(false);
    expect(directive(unit, 'Service', 'Environment')).toEqual([expect.stringMatching(/^PANTHEROS_BTRFS=\/nix\/store\/\w{32}-btrfs-progs-[^/]+\/bin\/btrfs$/)]);
    expect(s.initrd.supportedFilesystems).toContain('btrfs');
  });

  it('renders one config for both stages, and the engine accepts it', () => {
    const raw = toolConfig(s);
    expect(raw).toEqual(evalNix(`lib.toolConfig ${toNix({ device: DEVICE })}`));
    expect(validateConfig(raw, 'module').device).toBe(DEVICE);
  });

  it('mounts / from @root and the persistent tree from @persistent, all with the same btrfs options', () => {
    expect(s.fileSystems['/']).toMatchObject({ device: DEVICE, fsType: 'btrfs', neededForBoot: true });
    expect(s.fileSystems['/']!.options).toContain('subvol=@root');
    expect(s.fileSystems['/var/log']!.options).toEqual(expect.arrayContaining(['subvol=@persistent/var/log', 'x-initrd.mount']));
    const btrfs = evalNix<string[]>('lib.btrfsOptionsFor "balanced"');
    for (const [path, fs] of Object.entries(s.fileSystems).filter(([, f]) => f.fsType === 'btrfs')) {
      expect(fs.options.filter((o) => btrfs.includes(o)), path).toEqual(btrfs);
    }
  });

  it('keeps /var/lib/nixos, /var/lib/systemd and /etc/machine-id with stage-1 bind mounts', () => {
    for (const path of ['/var/lib/nixos', '/var/lib/systemd', '/etc/machine-id']) {
      expect(s.fileSystems[path]).toMatchObject({ device: `/persistent${path}`, fsType: 'none', neededForBoot: true, depends: ['/persistent'] });
      expect(s.fileSystems[path]!.options).toEqual(['x-initrd.mount', 'x-systemd.requires-mounts-for=/sysroot/persistent', 'bind']);
    }
    expect(s.initrd.units['pantheros-rollback-state.service']!.requiredBy).toEqual([
      'sysroot-var-lib-nixos.mount',
      'sysroot-var-lib-systemd.mount',
      'sysroot-etc-machine\\x2did.mount',
    ]);
    expect(s.sshHostKeys).toEqual(['/persistent/etc/ssh/ssh_host_ed25519_key', '/persistent/etc/ssh/ssh_host_rsa_key']);
  });

  it('the operator CLI wrapper runs the same runtime and bundle with btrfs and mount from the store', () => {
    const script = storeFileText(s, `${wrapper}/bin/pantheros-rollback`);
    expect(script).toMatch(/^export PATH=\/nix\/store\/\S+-btrfs-progs-\S+\/bin:\/nix\/store\/\S+-util-linux-\S+\/bin\$\{PATH:\+:\$PATH\}$/m);
    expect(script).toMatch(/^export PANTHEROS_BTRFS=\$\{PANTHEROS_BTRFS:-\/nix\/store\/\S+-btrfs-progs-\S+\/bin\/btrfs\}$/m);
    expect(script).toMatch(/^exec \/nix\/store\/\S+-nodejs-slim-\S+\/bin\/node \/nix\/store\/\S+\/pantheros-rollback\.mjs "\$@"$/m);
    expect(spawnSync('bash', ['-n'], { input: script, encoding: 'utf8' }).status).toBe(0);
  });

  it('the stage-1 state job script creates bind sources and targets and a stable machine id', () => {
    const exec = directive(parseUnit(s.initrd.units['pantheros-rollback-state.service']!.text), 'Service', 'ExecStart');
    const script = storeFileText(s, execArgv(exec[0]!)[0]!);
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

  it('has snapshot timers per class, one scrub of the whole filesystem and a metrics timer', () => {
    expect(Object.keys(s.units).filter((u) => u.endsWith('.timer')).sort()).toEqual([
      'btrfs-scrub--.timer',
      'pantheros-rollback-metrics.timer',
      'pantheros-snapshot-daily.timer',
      'pantheros-snapshot-hourly.timer',
      'pantheros-snapshot-monthly.timer',
      'pantheros-snapshot-weekly.timer',
    ]);
    expect(s.scrub).toEqual({ enable: true, interval: 'monthly', fileSystems: ['/'] });
    const weekly = parseUnit(s.units['pantheros-snapshot-weekly.timer']!.text);
    expect(directive(weekly, 'Timer', 'OnCalendar')).toEqual(['weekly']);
    expect(directive(weekly, 'Timer', 'Persistent')).toEqual(['true']);
    const hourly = parseUnit(s.units['pantheros-snapshot-hourly.service']!.text);
    const exec = directive(hourly, 'Service', 'ExecStart').map(execArgv);
    expect(exec).toHaveLength(2);
    expect(exec[0]!.slice(-3)).toEqual(['snapshot', '--class', 'hourly']);
    expect(exec[0]![0]).toMatch(/-util-linux-[^/]+\/bin\/flock$/);
    const metrics = parseUnit(s.units['pantheros-rollback-metrics.service']!.text);
    expect(execArgv(directive(metrics, 'Service', 'ExecStart')[0]!).slice(-3)).toEqual([
      'metrics',
      '--output',
      '/run/pantheros-rollback/metrics/pantheros_rollback.prom',
    ]);
  });
});

describe('option variants', () => {
  it('every variant passes the module assertions and those of impermanence/preservation, without warnings', () => {
    for (const [name, s] of Object.entries(out)) {
      expect(s.failedAssertions, name).toEqual([]);
      expect(s.warnings, name).toEqual([]);
    }
  });

  /** The derivation behind nix/boot-executable.nix for a host, as nixpkgs' runCommand would build it. */
  const bunBuild = (h: Host) =>
    evalNixOS<{ path: string; name: string; nativeBuildInputs: string[]; buildCommand: string; dontStrip: boolean; dontPatchELF: boolean }>(
      `let c = (e.host ${hostExpr(h)}).config.pantherOS.filesystems.impermanence; d = (e.pkgsFor "x86_64-linux").callPackage ${REPO}/nix/boot-executable.nix { bun = c.runtimePackage; pantheros-rollback = c.package; }; in { path = d.outPath; inherit (d) name buildCommand dontStrip dontPatchELF; nativeBuildInputs = map (p: p.name) d.nativeBuildInputs; }`,
    );

  it('runtime bun: the operator CLI wrapper runs Bun\'s executable of the full bundle, which opens nothing in the directory it is run from', () => {
    const s = out['bun']!;
    const build = bunBuild(HOSTS.bun);
    const wrapper = s.systemPackages.find((p) => p.endsWith('-pantheros-rollback'))!;
    const script = storeFileText(s, `${wrapper}/bin/pantheros-rollback`);
    expect(script.split('\n').find((l) => l.startsWith('exec '))).toBe(`exec ${build.path}/bin/pantheros-rollback "$@"`);
    expect(build.buildCommand).toContain(`full=${build.buildCommand.match(/bundle=(\S+)-boot\.mjs\n/)![1]}.mjs\n`);
    expect(build.buildCommand).toContain(`bun build "$full" --compile --bytecode ${BUN_LAUNCH.compile.join(' ')} --outfile "$out/bin/pantheros-rollback"`);
    // Run as root from a directory a user owns (below another that user owns), the executable built here as the
    // derivation builds it standing in for the store's; strace lists every file it opens.
    const above = mkdtempSync(join(tmpdir(), 'pantheros-hostile-'));
    const dir = join(above, 'cwd');
    try {
      const exe = join(above, 'exe');
      spawnSync(BUN, ['build', BUNDLE, '--compile', '--bytecode', ...BUN_LAUNCH.compile, '--outfile', exe], { stdio: 'ignore' });
      mkdirSync(dir);
      const ran = join(dir, 'ran');
      writeFileSync(join(dir, 'evil.cjs'), `require('node:fs').writeFileSync(${JSON.stringify(ran)}, 'ran');\n`);
      writeFileSync(join(dir, 'bunfig.toml'), 'preload = ["./evil.cjs"]\n');
      writeFileSync(join(dir, '.env'), 'PANTHEROS_TEST_FROM_DOTENV=1\n');
      writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { paths: { '*': ['./evil.cjs'] } } }));
      writeFileSync(join(above, 'jsconfig.json'), JSON.stringify({ compilerOptions: { paths: { '*': ['./cwd/evil.cjs'] } } }));
      for (const f of ['', 'evil.cjs', 'bunfig.toml', '.env', 'tsconfig.json']) chownSync(join(dir, f), 65534, 65534);
      chownSync(join(above, 'jsconfig.json'), 65534, 65534);
      const trace = join(above, 'trace');
      const local = script.replace(`${build.path}/bin/pantheros-rollback`, `strace -f -qq -e trace=%file -o ${trace} ${exe}`);
      const r = spawnSync('bash', ['-c', local, 'pantheros-rollback', '--version'], { encoding: 'utf8', cwd: dir });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^\d+\.\d+\.\d+/);
      expect(existsSync(ran), 'a file of the working directory ran').toBe(false);
      // getcwd(2) only names the directory; every other call with its path would look something up there.
      const opened = readFileSync(trace, 'utf8').split('\n').filter((l) => l.includes(above) && !l.includes(exe) && !/^\d+\s+getcwd\(/.test(l));
      expect(opened, 'files the executable looked at in or above the working directory').toEqual([]);
      // `bun FILE` with only the flags for bunfig.toml and .env would run the module tsconfig.json names.
      const bun = spawnSync(BUN, ['--config=/dev/null', '--no-env-file', BUNDLE, '--version'], { encoding: 'utf8', cwd: dir });
      expect(bun.status, bun.stderr).toBe(0);
      expect(readFileSync(ran, 'utf8')).toBe('ran');
    } finally {
      rmSync(above, { recursive: true, force: true });
    }
  });

  it('runtime bun, initrd stripped (NixOS default): bun runs the bytecode build of the boot bundle made by runtimePackage, never the executable strip would break', () => {
    const s = out['bun']!;
    const argv = execArgv(directive(rollbackUnit(s), 'Service', 'ExecStart')[0]!);
    const build = bunBuild(HOSTS.bun);
    expect(argv[0]).toMatch(/^\/nix\/store\/\w{32}-bun-[^/]+\/bin\/bun$/);
    expect(argv.slice(1, 1 + BUN_LAUNCH.run.length)).toEqual(BUN_LAUNCH.run);
    const script = argv[1 + BUN_LAUNCH.run.length]!;
    expect(script).toBe(`${build.path}/lib/pantheros-rollback-boot.js`);
    expect(argv.slice(2 + BUN_LAUNCH.run.length)).toEqual(['boot', '--device', DEVICE]);
    const sources = s.initrd.storePaths.map((p) => p.source);
    expect(sources).toEqual(expect.arrayContaining([argv[0], script, `${script}.jsc`]));
    expect(sources.some((p) => p.startsWith('--'))).toBe(false);
    expect(sources.some((p) => p.endsWith('/bin/pantheros-rollback-boot') || p.endsWith('.mjs'))).toBe(false);
    expect(build).toMatchObject({ name: 'pantheros-rollback-boot-bun-0.1.0', nativeBuildInputs: ['bun-1.3.0'], dontStrip: true, dontPatchELF: true });
    expect(build.buildCommand).toMatch(/bun build "\$bundle" --target=bun --format=cjs --bytecode --outdir "\$out\/lib"/);
    // The build's own check runs the bytecode build as stage 1 does.
    expect(build.buildCommand).toContain(`bun ${BUN_LAUNCH.run.map((f) => (f.includes('=') ? `'${f}'` : f)).join(' ')} "$out/lib/pantheros-rollback-boot.js" boot --help`);
    expect(build.buildCommand).toMatch(/bundle=\/nix\/store\/\w{32}-pantheros-rollback-0\.1\.0\/lib\/pantheros-rollback\/pantheros-rollback-boot\.mjs\n/);
  });

  it('runtime bun, initrd not stripped: stage 1 runs one Bun executable of the boot bundle (bytecode inside), not bun itself', () => {
    const s = out['bunUnstripped']!;
    const argv = execArgv(directive(rollbackUnit(s), 'Service', 'ExecStart')[0]!);
    const build = bunBuild(HOSTS.bunUnstripped);
    expect(argv[0]).toBe(`${build.path}/bin/pantheros-rollback-boot`);
    expect(argv.slice(1)).toEqual(['boot', '--device', DEVICE]);
    const sources = s.initrd.storePaths.map((p) => p.source);
    expect(sources).toContain(argv[0]);
    expect(sources.some((p) => /-bun-[^/]+\/bin\/bun$/.test(p) || p.endsWith('.mjs') || p.endsWith('.js'))).toBe(false);
    expect(build.buildCommand).toContain(`bun build "$bundle" --compile --bytecode ${BUN_LAUNCH.compile.join(' ')} --outfile "$out/bin/pantheros-rollback-boot"`);
  });

  it.each([
    ['bunNoSnapshot', /-bun-[^/]+\/bin\/bun$/],
    ['nodeNoSnapshot', /-nodejs-slim-[^/]+\/bin\/node$/],
  ])('%s: initrd.startupSnapshot = false runs the runtime and the boot-only bundle in stage 1 (CommonJS under Node)', (name, runtime) => {
    const s = out[name]!;
    const argv = execArgv(directive(rollbackUnit(s), 'Service', 'ExecStart')[0]!);
    expect(argv[0]).toMatch(runtime);
    const flags = name.startsWith('bun') ? BUN_LAUNCH.run : [];
    expect(argv.slice(1, 1 + flags.length)).toEqual(flags);
    const script = argv[1 + flags.length]!;
    expect(script).toMatch(new RegExp(`^/nix/store/\\w{32}-pantheros-rollback-[^/]+/lib/pantheros-rollback/pantheros-rollback-boot\\.${name.startsWith('bun') ? 'mjs' : 'cjs'}$`));
    expect(argv.slice(2 + flags.length)).toEqual(['boot', '--device', DEVICE]);
    expect(s.initrd.storePaths.map((p) => p.source)).toEqual(expect.arrayContaining([argv[0], script]));
  });

  it.each(['bun', 'bunUnstripped', 'bunNoSnapshot', 'default'])('%s: stage 1 runs with nix/bun-launch.json env under Bun, and only then', (name) => {
    const env = directive(rollbackUnit(out[name]!), 'Service', 'Environment');
    const bunEnv = Object.entries(BUN_LAUNCH.env).map(([k, v]) => `${k}=${v}`);
    expect(bunEnv).toEqual(['BUN_JSC_useConcurrentJIT=0']);
    expect(env[0]).toMatch(/^PANTHEROS_BTRFS=\/nix\/store\/\w{32}-btrfs-progs-[^/]+\/bin\/btrfs$/);
    expect(env.slice(1)).toEqual(name === 'default' ? [] : bunEnv);
  });

  it('runtime bun: the build starts each stage-1 form with that env, and a Bun refuses a BUN_JSC_ variable it does not know (so such a Bun fails the build, not the boot)', () => {
    const build = bunBuild(HOSTS.bun);
    expect(build.buildCommand).toContain(`env 'BUN_JSC_useConcurrentJIT=0' "$out/bin/pantheros-rollback-boot" boot --help > /dev/null`);
    expect(build.buildCommand).toContain(`env 'BUN_JSC_useConcurrentJIT=0' bun ${BUN_LAUNCH.run.map((f) => (f.includes('=') ? `'${f}'` : f)).join(' ')} "$out/lib/pantheros-rollback-boot.js" boot --help > /dev/null`);
    // This Bun: with the variable it runs; with one its JavaScriptCore does not have, it does not start at all.
    const ok = spawnSync(BUN, [...BUN_LAUNCH.run, BOOT_BUNDLE, 'boot', '--help'], { encoding: 'utf8', env: { ...process.env, ...BUN_LAUNCH.env } });
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^Usage: pantheros-rollback boot/m);
    const bad = spawnSync(BUN, [...BUN_LAUNCH.run, BOOT_BUNDLE, 'boot', '--help'], { encoding: 'utf8', env: { ...process.env, BUN_JSC_useConcurrentJITNoSuchOption: '0' } });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/invalid JSC environment variable/);
  });

  it('initrd.failBootOnError makes the unit requiredBy initrd.target', () => {
    expect(out['failBoot']!.initrd.units['pantheros-rollback.service']).toMatchObject({ requiredBy: ['initrd.target'], wantedBy: [] });
  });

  it('a LUKS device orders after its cryptsetup unit', () => {
    const unit = rollbackUnit(out['luks']!);
    expect(directive(unit, 'Unit', 'Requires')).toEqual(['dev-mapper-cryptroot.device']);
    expect(directive(unit, 'Unit', 'After')).toContain('systemd-cryptsetup@cryptroot.service');
  });

  it('io-optimized with a database subvolume applies nocow and log compression before sysinit', () => {
    const s = out['ioDatabase']!;
    const unit = parseUnit(s.units['pantheros-rollback-attributes.service']!.text);
    expect(s.units['pantheros-rollback-attributes.service']!.wantedBy).toEqual(['sysinit.target']);
    expect(directive(unit, 'Unit', 'Before')).toEqual(['sysinit.target']);
    const script = storeFileText(s, execArgv(directive(unit, 'Service', 'ExecStart')[0]!)[0]!);
    expect(script).toContain('\nchattr +C /var/lib/postgresql || ');
    expect(script).toContain('\nbtrfs property set /var/log compression zstd || ');
    expect(s.fileSystems['/var/lib/postgresql']!.options).toContain('subvol=@persistent/var/lib/postgresql');
    expect(s.fileSystems['/var/lib/postgresql']!.options.some((o) => o.startsWith('compress'))).toBe(false);
  });

  it('a retention of 0 removes that class timer', () => {
    expect(Object.keys(out['noHourly']!.units)).not.toContain('pantheros-snapshot-hourly.timer');
    expect(Object.keys(out['noHourly']!.units)).toContain('pantheros-snapshot-daily.timer');
  });

  it('feeds the node exporter textfile collector when the exporter is enabled', () => {
    expect(out['nodeExporter']!.nodeExporter).toEqual({
      enabledCollectors: ['textfile'],
      extraFlags: ['--collector.textfile.directory=/run/pantheros-rollback/metrics'],
    });
    expect(out['default']!.nodeExporter).toEqual({ enabledCollectors: [], extraFlags: [] });
  });

  it('hands system state to nix-community/preservation when it is enabled (stage-1 mounts by preservation)', () => {
    const s = out['preservation']!;
    expect(s.preservation?.preserveAt['/persistent']).toEqual({
      directories: [
        { directory: '/var/lib/nixos', inInitrd: true },
        { directory: '/var/lib/systemd', inInitrd: true },
      ],
      files: [{ file: '/etc/machine-id', inInitrd: true }],
    });
    expect(s.fileSystems['/var/lib/nixos']).toBeUndefined();
    expect(s.initrd.units['pantheros-rollback-state.service']).toBeUndefined();
    expect(Object.keys(s.initrd.units)).toEqual(expect.arrayContaining(['sysroot-var-lib-nixos.mount', 'sysroot-etc-machine\\x2did.mount']));
  });

  it('hands system state to nix-community/impermanence when it is imported (its own bind mounts)', () => {
    const s = out['impermanence']!;
    expect(s.persistence?.['/persistent']).toEqual({ directories: ['/var/lib/nixos', '/var/lib/systemd'], files: ['/etc/machine-id'] });
    expect(s.fileSystems['/etc/machine-id']).toBeUndefined();
    expect(Object.keys(s.units)).toEqual(expect.arrayContaining(['var-lib-nixos.mount', 'persist-persistent-etc-machine\\x2did.service']));
  });

  it('systemState.backend = "module" keeps the module backend even when impermanence is imported', () => {
    const s = out['moduleWithImpermanence']!;
    expect(s.persistence).toEqual({});
    expect(s.fileSystems['/etc/machine-id']).toMatchObject({ device: '/persistent/etc/machine-id', fsType: 'none' });
  });
});
