// flake.nix's outputs evaluated with nixpkgs' real lib and module system, the real disko module, and
// nixpkgs' packages and NixOS test framework stood in (nix/tests/nixos/eval.nix): what `nix flake
// check` builds — the package, both example hosts, the runNixOSTest — evaluates, the hosts pass
// every assertion, and the VM test's node really mounts the module's layout.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { evalNix, evalNixOS, requireNix, storeFileText, toNix, type NixosSummary } from '../helpers/nix.js';
import { REPO } from '../helpers/prereq.js';
import { directive, execArgv, parseUnit } from './unit-file.js';

beforeAll(requireNix);

interface Mount {
  subvolume: string;
  options: string[];
}
type HostSummary = NixosSummary & {
  toplevel: string;
  initrdSystemd: boolean;
  mutableUsers: boolean;
  diskoSubvolumes: Record<string, { mountpoint: string | null; mountOptions: string[] }>;
  diskoEnableConfig: boolean;
  impermanence: Record<string, unknown>;
};
interface FlakeEval {
  outputNames: string[];
  nixosModuleTypes: Record<string, string>;
  packages: Record<string, string[]>;
  checks: Record<string, string[]>;
  checkOutPaths: Record<string, string>;
  package: { name: string };
  hosts: Record<string, HostSummary>;
  toolConfigEntries: string[];
  libModes: string[];
  vmTest: {
    name: string;
    testScript: string;
    node: NixosSummary & {
      toplevel: string;
      impermanence: Record<string, unknown>;
      formatScript: string;
      useDefaultFilesystems: boolean;
      emptyDiskImages: number[];
    };
  };
}

const flake = evalNixOS<FlakeEval>('e.flake');

/** Python's own parser on a script; returns the error text or null. */
function pythonSyntaxError(script: string): string | null {
  const r = spawnSync('python3', ['-c', 'import ast, sys; ast.parse(sys.stdin.read())'], { input: script, encoding: 'utf8' });
  if (r.error) throw new Error(`python3 is missing — run: apt-get install -y --no-install-recommends python3-minimal (${r.error.message})`);
  return r.status === 0 ? null : r.stderr;
}

describe('flake outputs', () => {
  it('exports the module as a module value, not a path (Nix 2.8\'s flake check rejects a path)', () => {
    expect(flake.nixosModuleTypes).toEqual({ default: 'set', 'pantheros-rollback': 'set' });
  });

  it('has the package for both systems, both hosts and the checks', () => {
    expect(flake.outputNames).toEqual(expect.arrayContaining(['nixosModules', 'packages', 'nixosConfigurations', 'checks', 'lib', 'diskoLayout', 'formatter']));
    expect(flake.packages).toEqual({ 'aarch64-linux': ['default', 'pantheros-rollback'], 'x86_64-linux': ['default', 'pantheros-rollback'] });
    expect(Object.keys(flake.hosts).sort()).toEqual(['hetzner-vps', 'ovh-vps']);
    expect(flake.toolConfigEntries).toEqual(flake.libModes.map((m) => `${m}.json`));
  });

  it('`nix flake check` builds the package, both example hosts and the NixOS VM test', () => {
    expect(flake.checks['x86_64-linux']).toEqual(['hetzner-vps', 'ovh-vps', 'package', 'rollback', 'tool-config']);
    expect(flake.checks['aarch64-linux']).toEqual(['package', 'rollback', 'tool-config']);
    // The checks are those very things, not stand-ins of them.
    expect(flake.checkOutPaths['hetzner-vps']).toBe(flake.hosts['hetzner-vps']!.toplevel);
    expect(flake.checkOutPaths['ovh-vps']).toBe(flake.hosts['ovh-vps']!.toplevel);
    expect(flake.checkOutPaths['package']).toMatch(new RegExp(`-${flake.package.name}$`));
    expect(flake.checkOutPaths['rollback']).toMatch(/-vm-test-run-pantheros-rollback$/);
  });

  it('docs/nixos.md names `nix flake check` and says how to create flake.lock', () => {
    const section = readFileSync(join(REPO, 'docs/nixos.md'), 'utf8');
    expect(section).toContain('nix flake check');
    expect(section).toMatch(/flake\.lock/);
    expect(section).toMatch(/nix flake lock/);
  });
});

describe.each(['hetzner-vps', 'ovh-vps'])('example host %s', (name) => {
  const host = flake.hosts[name]!;

  it('builds: every assertion of the module passes, without warnings', () => {
    expect(host.failedAssertions).toEqual([]);
    expect(host.warnings).toEqual([]);
    expect(host.toplevel).toMatch(new RegExp(`-nixos-system-${name}$`));
    expect(host.initrdSystemd).toBe(true);
    expect(host.mutableUsers).toBe(false);
  });

  it("gives disko (through disko's own option types) exactly the module's subvolumes and mounts", () => {
    expect(host.diskoEnableConfig).toBe(false);
    expect(Object.keys(host.diskoSubvolumes).sort()).toEqual(evalNix<string[]>(`lib.subvolumesToCreate (${toNix(host.impermanence)})`).sort());
    const layout = evalNix<Record<string, Mount>>(`lib.layout (${toNix(host.impermanence)})`);
    for (const [path, mount] of Object.entries(layout)) {
      expect(host.diskoSubvolumes[mount.subvolume], path).toEqual({ mountpoint: path, mountOptions: mount.options.filter((o) => !o.startsWith('subvol=')) });
      expect(host.fileSystems[path]!.options, path).toEqual(expect.arrayContaining(mount.options));
    }
  });
});

it('hetzner-vps is io-optimized with a nocow database subvolume', () => {
  const host = flake.hosts['hetzner-vps']!;
  expect(host.impermanence).toMatchObject({ performanceMode: 'io-optimized', runtime: 'bun' });
  const unit = parseUnit(host.units['pantheros-rollback-attributes.service']!.text);
  expect(storeFileText(host, execArgv(directive(unit, 'Service', 'ExecStart')[0]!)[0]!)).toContain('\nchattr +C /var/lib/postgresql ');
});

describe('the runNixOSTest (checks.<system>.rollback)', () => {
  const vm = flake.vmTest;

  it('its Python test script parses', () => {
    expect(pythonSyntaxError(vm.testScript)).toBeNull();
  });

  it('a broken script is reported (the check can fail)', () => {
    expect(pythonSyntaxError('machine.succeed("x"\n')).toMatch(/SyntaxError/);
  });

  it('boots three times and asserts the wipe, the archive and pantheros.rollback=previous', () => {
    expect(vm.testScript.match(/machine\.start\(\)/g)).toHaveLength(3);
    expect(vm.testScript).toContain('machine.fail("test -e /etc/volatile-marker")');
    expect(vm.testScript).toContain('@btrfs_tmp/old_roots/{archive}/etc/volatile-marker');
    expect(vm.testScript).toContain('QEMU_KERNEL_PARAMS"] = "pantheros.rollback=previous"');
    expect(vm.testScript).toContain('r["target"]["kind"] == "previous"');
  });

  it('its node builds, and inside the VM mounts the module\'s layout (qemu-vm.nix replaces fileSystems)', () => {
    const node = vm.node;
    expect(node.failedAssertions).toEqual([]);
    expect(node.warnings).toEqual([]);
    expect(node.toplevel).toMatch(/-nixos-system-machine$/);
    expect(node.useDefaultFilesystems).toBe(false);
    expect(node.emptyDiskImages).toEqual([2048]);
    expect(node.fileSystems['/']).toMatchObject({ device: '/dev/vdb', fsType: 'btrfs' });
    expect(node.fileSystems['/']!.options).toContain('subvol=@root');
    for (const path of ['/persistent', '/var/log', '/var/lib/postgresql', '/var/lib/nixos', '/etc/machine-id', '/nix/store']) {
      expect(Object.keys(node.fileSystems), path).toContain(path);
    }
    // The VM's store comes from the host; the module leaves /nix alone (subvolumes.nix = null).
    expect(node.fileSystems['/nix']).toBeUndefined();
    expect(node.fileSystems['/nix/store']!.device).toBe('/nix/.ro-store');
  });

  it('formats the disk on first boot with the shared install script, before the rollback unit', () => {
    expect(vm.node.formatScript).toContain(evalNix<string>(`lib.installScript (${toNix(vm.node.impermanence)}) "$top"`).trim());
    expect(vm.node.initrd.units['pantheros-test-format.service']!.requiredBy).toEqual(['pantheros-rollback.service']);
  });
});
