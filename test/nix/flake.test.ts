// flake.nix's outputs, the example hosts and the runNixOSTest, evaluated here with stand-ins for
// nixpkgs and disko (nix/tests/flake-eval.nix): structure, module assertions on the examples,
// disko agreeing with the module, and the VM test's Python script parsing.
import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { evalModule, evalNix, evalNixFile, requireNix, toNix } from '../helpers/nix.js';

beforeAll(requireNix);

interface FlakeEval {
  outputNames: string[];
  nixosModules: Record<string, string>;
  packages: Record<string, string[]>;
  checks: Record<string, string[]>;
  nixosConfigurations: Record<string, string[]>;
  toolConfigCheck: string[];
  libModes: string[];
  vmTest: { name: string; testScript: string; host: object; formatScript: string; useDefaultFilesystems: boolean };
  examples: Record<string, { host: object; initrdSystemd: boolean; mutableUsers: boolean; disko: Record<string, unknown> }>;
}

const flake = evalNixFile<FlakeEval>('nix/tests/flake-eval.nix');
const STAGE1 = { boot: { initrd: { systemd: { enable: true } } } };

/** Python's own parser on a script; returns the error text or null. */
function pythonSyntaxError(script: string): string | null {
  const r = spawnSync('python3', ['-c', 'import ast, sys; ast.parse(sys.stdin.read())'], { input: script, encoding: 'utf8' });
  if (r.error) throw new Error(`python3 is missing — run: apt-get install -y --no-install-recommends python3-minimal (${r.error.message})`);
  return r.status === 0 ? null : r.stderr;
}

describe('flake outputs', () => {
  it('has the module, the package, both hosts and the checks', () => {
    expect(flake.outputNames).toEqual(
      expect.arrayContaining(['nixosModules', 'packages', 'nixosConfigurations', 'checks', 'lib', 'diskoLayout']),
    );
    expect(flake.nixosModules['default']).toMatch(/\/nix\/module\.nix$/);
    expect(flake.packages['x86_64-linux']).toContain('default');
    expect(flake.checks['x86_64-linux']).toEqual(expect.arrayContaining(['rollback', 'package', 'tool-config', 'hetzner-vps', 'ovh-vps']));
    expect(flake.nixosConfigurations['hetzner-vps']!.some((m) => m.endsWith('/nix/examples/hetzner-vps'))).toBe(true);
    expect(flake.nixosConfigurations['ovh-vps']!.some((m) => m.endsWith('/nix/module.nix'))).toBe(true);
    expect(flake.toolConfigCheck).toEqual(flake.libModes.map((m) => `${m}.json`));
  });
});

describe.each(['hetzner-vps', 'ovh-vps'])('example host %s', (name) => {
  const example = flake.examples[name]!;

  it('passes every module assertion, without warnings', () => {
    const out = evalModule<{ failedAssertions: string[]; warnings: string[] }>(example.host, STAGE1);
    expect(out.failedAssertions).toEqual([]);
    expect(out.warnings).toEqual([]);
    expect(example.initrdSystemd).toBe(true);
    expect(example.mutableUsers).toBe(false);
  });

  it('gives disko exactly the module\'s subvolumes', () => {
    expect(Object.keys(example.disko).sort()).toEqual(evalNix<string[]>(`lib.subvolumesToCreate (${toNix(example.host)})`).sort());
  });
});

it('hetzner-vps is io-optimized with a nocow database subvolume', () => {
  const out = evalModule<{ systemd: { services: Record<string, { script?: string }> } }>(flake.examples['hetzner-vps']!.host, STAGE1);
  expect(flake.examples['hetzner-vps']!.host).toMatchObject({ performanceMode: 'io-optimized' });
  expect(out.systemd.services['pantheros-rollback-attributes']!.script).toContain("'chattr' '+C' '/var/lib/postgresql'");
});

describe('the runNixOSTest', () => {
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

  it('its node passes the module assertions and formats the disk with the shared install script', () => {
    const out = evalModule<{ failedAssertions: string[] }>(vm.host, STAGE1);
    expect(out.failedAssertions).toEqual([]);
    expect(vm.useDefaultFilesystems).toBe(false);
    expect(vm.formatScript).toContain(evalNix<string>(`lib.installScript (${toNix(vm.host)}) "$top"`).trim());
  });
});
