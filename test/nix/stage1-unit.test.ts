// initrd/pantheros-rollback.service (the unit for initrds other than NixOS', and the one the VM test
// boots) and the stage-1 unit the NixOS module generates must be the same unit: they are compared
// directive by directive — ordering and dependencies, Type, RemainAfterExit, TimeoutStartSec, the
// ExecStart arguments, WantedBy — and the file is verified by systemd-analyze in an initrd root.
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evalHosts, impermanenceModule, requireNix, type NixosSummary } from '../helpers/nix.js';
import { REPO } from '../helpers/prereq.js';
import { directive, execArgv, parseUnit, type UnitDirectives } from './unit-file.js';
import { installUnits, makeRoot, NIXOS_INITRD_UPSTREAM_UNITS, requireSystemd, SYSTEM_UNIT_DIR, verifyUnits } from './unit-root.js';

beforeAll(() => {
  requireNix();
  requireSystemd();
});

const FILE = join(REPO, 'initrd/pantheros-rollback.service');
const ENTRY = join(REPO, 'initrd/pantheros-rollback-entry.sh');
const DEVICE = '/dev/disk/by-label/nixos';

const out = evalHosts<NixosSummary>({
  default: { modules: [impermanenceModule({ enable: true, device: DEVICE })] },
  slowDevice: { modules: [impermanenceModule({ enable: true, device: DEVICE, deviceTimeoutSeconds: 600.5 })] },
  longAgeOut: { modules: [impermanenceModule({ enable: true, device: DEVICE, oldRoots: { ageOutSeconds: 120.5 } })] },
});
const generated = out['default']!.initrd.units['pantheros-rollback.service']!;

/**
 * ExecStart's arguments: what follows the program, which ends before the command word `boot` (the module runs
 * "<node> --snapshot-blob <blob>", "<bun executable>" or "<runtime> <bundle>", the file the entry script).
 */
const commandArgs = (argv: string[]): string[] => argv.slice(argv.indexOf('boot'));

/**
 * Every way the file differs from the generated unit. Equal: every [Unit] and [Service] directive
 * (list directives as sets), except Environment= (the module names btrfs by store path) and the
 * program of ExecStart (runtime + bundle vs the entry script); [Install] WantedBy/RequiredBy equal to
 * the module's wantedBy/requiredBy.
 */
function differences(file: UnitDirectives, module: UnitDirectives, install: { wantedBy: string[]; requiredBy: string[] }): string[] {
  const found: string[] = [];
  const norm = (values: string[]): string => JSON.stringify([...values].sort());
  for (const section of ['Unit', 'Service']) {
    const keys = new Set([...(file.get(section)?.keys() ?? []), ...(module.get(section)?.keys() ?? [])]);
    for (const key of [...keys].sort()) {
      if (section === 'Service' && key === 'Environment') continue;
      const f = directive(file, section, key);
      const m = directive(module, section, key);
      if (section === 'Service' && key === 'ExecStart') {
        const fa = f.map((v) => commandArgs(execArgv(v)));
        const ma = m.map((v) => commandArgs(execArgv(v)));
        if (JSON.stringify(fa) !== JSON.stringify(ma)) found.push(`[Service] ExecStart arguments: file ${JSON.stringify(fa)}, module ${JSON.stringify(ma)}`);
      } else if (norm(f) !== norm(m)) {
        found.push(`[${section}] ${key}: file ${JSON.stringify(f)}, module ${JSON.stringify(m)}`);
      }
    }
  }
  for (const [key, values] of [
    ['WantedBy', install.wantedBy],
    ['RequiredBy', install.requiredBy],
  ] as const) {
    if (norm(directive(file, 'Install', key)) !== norm(values)) found.push(`[Install] ${key}: file ${JSON.stringify(directive(file, 'Install', key))}, module ${JSON.stringify(values)}`);
  }
  return found;
}

const fileText = readFileSync(FILE, 'utf8');
const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

describe('initrd/pantheros-rollback.service and the module\'s stage-1 unit', () => {
  it('agree directive by directive', () => {
    expect(differences(parseUnit(fileText), parseUnit(generated.text), generated)).toEqual([]);
  });

  it('the comparison covers ordering, type, RemainAfterExit, the timeout and ExecStart', () => {
    const unit = parseUnit(fileText);
    for (const [section, key] of [
      ['Unit', 'Requires'],
      ['Unit', 'After'],
      ['Unit', 'Before'],
      ['Unit', 'Conflicts'],
      ['Service', 'Type'],
      ['Service', 'RemainAfterExit'],
      ['Service', 'TimeoutStartSec'],
      ['Service', 'ExecStart'],
    ]) {
      expect(directive(unit, section!, key!), `${section}.${key}`).not.toEqual([]);
    }
    expect(directive(unit, 'Service', 'TimeoutStartSec')).toEqual(['300']);
    expect(execArgv(directive(unit, 'Service', 'ExecStart')[0]!)).toEqual(['/usr/bin/pantheros-rollback', 'boot', '--device', DEVICE]);
  });

  it.each<[string, (t: string) => string, RegExp]>([
    ['a missing timeout', (t) => t.replace(/^TimeoutStartSec=.*\n/m, ''), /TimeoutStartSec: file \[\], module \["300"\]/],
    ['another ordering', (t) => t.replace('Before=sysroot.mount', 'Before=initrd-fs.target'), /\[Unit\] Before/],
    ['a missing Requires=', (t) => t.replace(/^Requires=.*\n/m, ''), /\[Unit\] Requires/],
    ['Type=simple', (t) => t.replace('Type=oneshot', 'Type=simple'), /\[Service\] Type/],
    ['RemainAfterExit=no', (t) => t.replace('RemainAfterExit=yes', 'RemainAfterExit=no'), /RemainAfterExit/],
    ['another ExecStart argument', (t) => t.replace('boot --device', 'boot --dry-run --device'), /ExecStart arguments/],
    ['RequiredBy instead of WantedBy', (t) => t.replace('WantedBy=initrd.target', 'RequiredBy=initrd.target'), /\[Install\] WantedBy/],
  ])('a drift is reported (the check can fail): %s', (_name, edit, message) => {
    const drifted = edit(fileText);
    expect(drifted).not.toBe(fileText);
    expect(differences(parseUnit(drifted), parseUnit(generated.text), generated).join('\n')).toMatch(message);
  });

  it('the module derives TimeoutStartSec from deviceTimeoutSeconds and oldRoots.ageOutSeconds (whole seconds each, + 210)', () => {
    const unit = parseUnit(out['slowDevice']!.initrd.units['pantheros-rollback.service']!.text);
    expect(directive(unit, 'Service', 'TimeoutStartSec')).toEqual(['871']);
    // The age-out's time at boot (oldRoots.ageOutSeconds) is inside the unit's: 30 + 121 + 210.
    expect(directive(parseUnit(out['longAgeOut']!.initrd.units['pantheros-rollback.service']!.text), 'Service', 'TimeoutStartSec')).toEqual(['361']);
  });

  it('the file is a valid stage-1 unit: systemd-analyze verify in an initrd with the entry script', () => {
    const root = makeRoot('file-unit');
    roots.push(root);
    const units = join(root, 'etc/systemd/system');
    mkdirSync(units, { recursive: true });
    writeFileSync(join(root, 'etc/initrd-release'), 'NAME=initrd\n');
    for (const name of NIXOS_INITRD_UPSTREAM_UNITS.filter((n) => existsSync(join(SYSTEM_UNIT_DIR, n)))) {
      cpSync(join(SYSTEM_UNIT_DIR, name), join(units, name), { verbatimSymlinks: true });
    }
    installUnits(units, { 'pantheros-rollback.service': { text: fileText, wantedBy: ['initrd.target'], requiredBy: [], enable: true } }, new Set());
    mkdirSync(join(root, 'usr/bin'), { recursive: true });
    cpSync(ENTRY, join(root, 'usr/bin/pantheros-rollback'));
    chmodSync(join(root, 'usr/bin/pantheros-rollback'), 0o755);
    const result = verifyUnits(root, ['pantheros-rollback.service', 'initrd.target']);
    expect(result.output).toBe('');
    expect(result.status).toBe(0);
  });
});
