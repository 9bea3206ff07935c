// The module's option values → lib.nix toolConfig → the engine's own validateConfig: the Nix and
// TypeScript sides of the config cannot drift apart.
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULTS, validateConfig } from '../../src/config/load-config.js';
import { UsageError } from '../../src/errors.js';
import { evalNix, requireNix, toNix } from '../helpers/nix.js';

beforeAll(requireNix);

interface ToolConfig {
  device?: string;
  deviceTimeoutSeconds: number;
  targetMaxNested: number;
  subvolumes: { root: string; blank: string; oldRoots: string; snapshots: string };
  oldRoots: { keepDays: number; keepAtLeast: number; minFreePercent: number; ageOutSeconds: number };
  snapshotRetention: { hourly: number; daily: number; weekly: number; monthly: number };
  snapshotSubvolumes: string[];
  persistentPaths: string[];
}

const toolConfig = (options: object): ToolConfig => evalNix<ToolConfig>(`lib.toolConfig (${toNix(options)})`);
const modes = evalNix<string[]>('lib.performanceModes');

const OPTION_SETS: Record<string, object> = {
  'defaults + device': { device: '/dev/disk/by-label/nixos' },
  'hetzner-vps (io-optimized database host)': {
    device: '/dev/disk/by-label/nixos',
    performanceMode: 'io-optimized',
    runtime: 'bun',
    persistentTree: { '/var/lib/postgresql': { options: ['nodev', 'nosuid'] }, '/var/lib/caddy': { enable: false } },
    snapshotRetention: { hourly: 48, daily: 14 },
  },
  'renamed subvolumes, short retention': {
    device: '/dev/mapper/cryptroot',
    deviceTimeoutSeconds: 90,
    subvolumes: { root: 'root', blank: 'root-blank', oldRoots: 'old/roots', snapshots: 'snaps', persistent: 'persist', nix: 'nix' },
    oldRoots: { keepDays: 0, keepAtLeast: 1, ageOutSeconds: 20.5 },
    targetMaxNested: 0,
    snapshotRetention: { hourly: 0, daily: 3, weekly: 0, monthly: 12 },
    snapshotSubvolumes: ['persist', 'persist/var/log'],
  },
  'system state off, extra homes': {
    device: '/dev/vda2',
    systemState: { enable: false },
    persistentTree: { '/home/alice': {}, '/srv/www': { options: ['noexec'] } },
  },
};

describe('toolConfig → validateConfig', () => {
  it.each(modes)('performanceMode %s renders a config the engine accepts', (mode) => {
    const raw = toolConfig({ device: '/dev/disk/by-label/nixos', performanceMode: mode });
    const config = validateConfig(raw, `toolConfig(${mode})`);
    expect(config.device).toBe('/dev/disk/by-label/nixos');
    expect(config.subvolumes).toEqual(DEFAULTS.subvolumes);
    expect(config.oldRoots).toEqual(DEFAULTS.oldRoots);
    expect(config.snapshotRetention).toEqual(DEFAULTS.snapshotRetention);
  });

  it.each(Object.entries(OPTION_SETS))('%s: accepted and every value round-trips', (name, options) => {
    const raw = toolConfig(options);
    const config = validateConfig(raw, name);
    // Every key the module emits comes back unchanged (no key silently dropped or defaulted).
    expect(config.device).toBe(raw.device);
    expect(config.deviceTimeoutSeconds).toBe(raw.deviceTimeoutSeconds);
    expect(config.targetMaxNested).toBe(raw.targetMaxNested);
    expect(config.subvolumes).toEqual(raw.subvolumes);
    expect(config.oldRoots).toEqual(raw.oldRoots);
    expect(config.snapshotRetention).toEqual(raw.snapshotRetention);
    expect(config.snapshotSubvolumes).toEqual(raw.snapshotSubvolumes);
    expect(config.persistentPaths).toEqual(raw.persistentPaths);
  });

  it('the Nix defaults equal the engine defaults', () => {
    const raw = toolConfig({});
    expect(raw.device).toBeUndefined();
    expect(raw.deviceTimeoutSeconds).toBe(DEFAULTS.deviceTimeoutSeconds);
    expect(raw.targetMaxNested).toBe(DEFAULTS.targetMaxNested);
    expect(raw.subvolumes).toEqual(DEFAULTS.subvolumes);
    expect(raw.oldRoots).toEqual(DEFAULTS.oldRoots);
    expect(raw.snapshotRetention).toEqual(DEFAULTS.snapshotRetention);
  });

  it('module option values reach the config', () => {
    const raw = toolConfig(OPTION_SETS['renamed subvolumes, short retention']!);
    expect(raw).toMatchObject({
      device: '/dev/mapper/cryptroot',
      deviceTimeoutSeconds: 90,
      subvolumes: { root: 'root', blank: 'root-blank', oldRoots: 'old/roots', snapshots: 'snaps' },
      oldRoots: { keepDays: 0, keepAtLeast: 1, minFreePercent: 10, ageOutSeconds: 20.5 },
      targetMaxNested: 0,
      snapshotRetention: { hourly: 0, daily: 3, weekly: 0, monthly: 12 },
      snapshotSubvolumes: ['persist', 'persist/var/log'],
    });
  });

  it('snapshots every persistent subvolume by default (btrfs snapshots do not recurse)', () => {
    const raw = toolConfig(OPTION_SETS['hetzner-vps (io-optimized database host)']!);
    expect(raw.snapshotSubvolumes).toEqual([
      '@persistent',
      '@persistent/home',
      '@persistent/var/backup',
      '@persistent/var/lib/containers',
      '@persistent/var/lib/postgresql',
      '@persistent/var/lib/services',
      '@persistent/var/log',
    ]);
  });

  it('persistentPaths lists the tree and the kept system state, and drops disabled entries', () => {
    expect(toolConfig(OPTION_SETS['hetzner-vps (io-optimized database host)']!).persistentPaths).toEqual([
      '/etc/machine-id',
      '/home',
      '/persistent',
      '/var/backup',
      '/var/lib/containers',
      '/var/lib/nixos',
      '/var/lib/postgresql',
      '/var/lib/services',
      '/var/lib/systemd',
      '/var/log',
    ]);
    const noState = toolConfig(OPTION_SETS['system state off, extra homes']!).persistentPaths;
    expect(noState).not.toContain('/var/lib/nixos');
    expect(noState).toContain('/home/alice');
  });
});

describe('toolConfig → validateConfig rejects bad option values (the check can fail)', () => {
  it.each<[string, object, RegExp]>([
    ['absolute subvolume name', { subvolumes: { root: '/@root' } }, /key "subvolumes\.root"/],
    ['keepAtLeast 0', { oldRoots: { keepAtLeast: 0 } }, /key "oldRoots\.keepAtLeast"/],
    ['relative device', { device: 'sda2' }, /key "device"/],
    ['blank inside root', { subvolumes: { root: '@root', blank: '@root/blank' } }, /overlap/],
    ['negative retention', { snapshotRetention: { hourly: -1 } }, /key "snapshotRetention\.hourly"/],
  ])('%s', (_name, options, message) => {
    const raw = toolConfig(options);
    expect(() => validateConfig(raw, 'toolConfig')).toThrow(UsageError);
    expect(() => validateConfig(raw, 'toolConfig')).toThrow(message);
  });
});
