// The systemd units the module generates (stage 1: the rollback and system-state units; stage 2:
// snapshot, prune, metrics, attribute services and timers, scrub), rendered as NixOS renders them,
// written to a root that holds what that stage holds, and checked by systemd 252's own
// systemd-analyze verify: no diagnostic at all is allowed (systemd only warns about an unknown
// directive or a bad value, so any output is a failure), every executable must exist in that stage
// (in stage 1: only what the module put into the initrd), and every unit must start in a transaction
// with systemd's units and the mounts the fstab generator makes from NixOS' initrd fstab.
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evalHosts, impermanenceModule, requireNix, type Host, type NixosSummary } from '../helpers/nix.js';
import { makeRoot, requireSystemd, stage1Root, stage2Root, SYSTEM_UNIT_DIR, verifyUnits } from './unit-root.js';

beforeAll(() => {
  requireNix();
  requireSystemd();
});

const host = (values: object, extra?: string, imports: Host['imports'] = []): Host => ({
  modules: [impermanenceModule({ enable: true, device: '/dev/disk/by-label/nixos', ...values }, extra)],
  imports,
});

// Every mode, runtime and system-state backend, LUKS, fail-the-boot, metrics into node exporter.
const HOSTS: Record<string, Host> = {
  'balanced, node, module backend': host({}),
  'io-optimized, bun, database subvolume': host({ performanceMode: 'io-optimized', runtime: 'bun', persistentTree: { '/var/lib/postgresql': {} } }),
  'space-optimized, node, LUKS, failBootOnError': host({ performanceMode: 'space-optimized', device: '/dev/mapper/cryptroot', initrd: { failBootOnError: true } }),
  'impermanence backend': host({}, undefined, ['impermanence']),
  'preservation backend': host({}, 'boot.initrd.systemd.enable = true; preservation.enable = true;', ['preservation']),
  'no system state, no snapshots, no scrub': host({ systemState: { enable: false }, snapshots: { enable: false }, scrub: { enable: false } }),
};
const out = evalHosts<NixosSummary>(HOSTS);
const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

function root(prefix: string): string {
  const r = makeRoot(prefix);
  roots.push(r);
  return r;
}

describe.each(Object.keys(HOSTS))('%s', (name) => {
  const s = out[name]!;

  it('stage 1: every initrd unit verifies in an initrd root, and initrd.target starts with them', () => {
    const r = root('stage1');
    stage1Root(s, r);
    const ours = Object.keys(s.initrd.units);
    expect(ours).toContain('pantheros-rollback.service');
    const result = verifyUnits(r, [...ours, 'initrd.target']);
    expect(result.output).toBe('');
    expect(result.status).toBe(0);
  });

  it('stage 2: every unit verifies with systemd\'s units and the store paths it runs', () => {
    const r = root('stage2');
    stage2Root(s, r);
    // Drop-ins for systemd's own units (impermanence's systemd-machine-id-commit) are not ours to verify.
    const ours = Object.keys(s.units).filter((u) => !existsSync(join(SYSTEM_UNIT_DIR, u)));
    expect(ours.length).toBeGreaterThan(0);
    const result = verifyUnits(r, ours);
    expect(result.output).toBe('');
    expect(result.status).toBe(0);
  });
});

describe('the verification fails on a broken unit', () => {
  const s = out['balanced, node, module backend']!;
  const rollback = s.initrd.units['pantheros-rollback.service']!;
  const broken = (text: string): NixosSummary => ({
    ...s,
    initrd: { ...s.initrd, units: { ...s.initrd.units, 'pantheros-rollback.service': { ...rollback, text } } },
  });
  const verifyStage1 = (summary: NixosSummary, units = ['pantheros-rollback.service']): string => {
    const r = root('broken');
    stage1Root(summary, r);
    return verifyUnits(r, units).output;
  };

  it('a misspelt directive', () => {
    expect(verifyStage1(broken(rollback.text.replace('TimeoutStartSec=', 'TimeoutStartSecs=')))).toMatch(/Unknown key 'TimeoutStartSecs' in section \[Service\]/);
  });

  it('a value systemd cannot parse', () => {
    expect(verifyStage1(broken(rollback.text.replace('Type=oneshot', 'Type=one-shot')))).toMatch(/Failed to parse service type, ignoring: one-shot/);
    expect(verifyStage1(broken(rollback.text.replace('RemainAfterExit=true', 'RemainAfterExit=maybe')))).toMatch(/Failed to parse boolean value/);
  });

  it('a program the initrd does not have (the runtime left out of storePaths)', () => {
    const runtime = s.initrd.storePaths.find((p) => p.source.endsWith('/bin/node'))!.source;
    const without = { ...s, initrd: { ...s.initrd, storePaths: s.initrd.storePaths.filter((p) => p.source !== runtime) } };
    expect(verifyStage1(without)).toMatch(/Command .*\/bin\/node is not executable: No such file or directory/);
  });

  it('an ordering cycle with the mounts of stage 1', () => {
    const cyclic = broken(rollback.text.replace('[Unit]\n', '[Unit]\nAfter=initrd-fs.target\n'));
    expect(verifyStage1(cyclic, ['initrd.target'])).toMatch(/Found ordering cycle/);
  });

  it('a timer whose calendar expression systemd cannot parse', () => {
    const r = root('broken2');
    const timer = s.units['pantheros-snapshot-daily.timer']!;
    stage2Root({ ...s, units: { ...s.units, 'pantheros-snapshot-daily.timer': { ...timer, text: timer.text.replace('OnCalendar=daily', 'OnCalendar=every day') } } }, r);
    expect(verifyUnits(r, ['pantheros-snapshot-daily.timer']).output).toMatch(/Failed to parse calendar specification/);
  });

  it('a unit missing from the root is reported', () => {
    const r = root('broken3');
    stage1Root(s, r);
    writeFileSync(join(r, 'etc/systemd/system/extra.service'), '[Unit]\nDefaultDependencies=no\nRequires=nothere.service\n[Service]\nExecStart=/bin/mount\n');
    expect(verifyUnits(r, ['extra.service']).output).toMatch(/nothere\.service not found|Unit nothere\.service/);
  });
});
