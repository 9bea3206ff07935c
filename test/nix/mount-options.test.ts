// Mount options per performance mode must be correct for btrfs: no contradictions, and the
// filesystem-wide btrfs options identical on every subvolume mount the layout generator makes.
import { beforeAll, describe, expect, it } from 'vitest';
import { evalNix, evalNixError, requireNix, toNix } from '../helpers/nix.js';

beforeAll(requireNix);

interface Mount {
  subvolume: string;
  neededForBoot: boolean;
  options: string[];
}

const modes = evalNix<string[]>('lib.performanceModes');
const mountOptionsFor = (mode: string): string[] => evalNix<string[]>(`lib.mountOptionsFor ${JSON.stringify(mode)}`);
const layout = (options: object): Record<string, Mount> => evalNix<Record<string, Mount>>(`lib.layout (${toNix(options)})`);
const btrfsSpecific = evalNix<string[]>('lib.btrfsSpecificOptionNames');

const nameOf = (option: string): string => option.split('=')[0]!;
const isBtrfsSpecific = (option: string): boolean => btrfsSpecific.includes(nameOf(option));

/** Contradictions btrfs would resolve silently (last one wins) or that defeat each other. */
function findContradictions(options: string[]): string[] {
  const names = options.map(nameOf);
  const has = (n: string): boolean => names.includes(n);
  const found: string[] = [];
  if (has('ssd') && has('nossd')) found.push('ssd with nossd');
  if (has('ssd_spread') && has('nossd')) found.push('ssd_spread with nossd');
  const compress = has('compress') || has('compress-force');
  if (compress && has('nodatacow')) found.push('nodatacow with compress (nodatacow disables compression)');
  if (compress && has('nodatasum')) found.push('nodatasum with compress (nodatasum disables compression)');
  if (has('datacow') && has('nodatacow')) found.push('datacow with nodatacow');
  if (has('autodefrag')) found.push('autodefrag (unshares extents from snapshots)');
  if (has('space_cache') && has('nospace_cache')) found.push('space_cache with nospace_cache');
  if (has('discard') && has('nodiscard')) found.push('discard with nodiscard');
  for (const o of options.filter((x) => nameOf(x) === 'commit')) {
    const seconds = Number(o.split('=')[1]);
    if (!(seconds > 0 && seconds <= 300)) found.push(`${o} (must be 1..300 s)`);
  }
  const byName = new Map<string, string[]>();
  for (const o of options) byName.set(nameOf(o), [...(byName.get(nameOf(o)) ?? []), o]);
  for (const [n, values] of byName) if (values.length > 1) found.push(`${n} given ${values.length} times`);
  return found;
}

describe('findContradictions (the check can fail)', () => {
  it.each<[string[], RegExp]>([
    [['ssd', 'nossd'], /ssd with nossd/],
    [['compress=zstd', 'nodatacow'], /nodatacow with compress/],
    [['compress-force=zstd:3', 'nodatasum'], /nodatasum with compress/],
    [['commit=600'], /commit=600/],
    [['autodefrag'], /autodefrag/],
    [['compress=zstd:1', 'compress=lzo'], /compress given 2 times/],
  ])('%j', (options, message) => {
    expect(findContradictions(options).join('; ')).toMatch(message);
  });
});

describe('mountOptionsFor', () => {
  it('knows exactly the three modes of the design', () => {
    expect(modes).toEqual(['balanced', 'io-optimized', 'space-optimized']);
  });

  it.each(modes)('%s has no contradictory or harmful options', (mode) => {
    const options = mountOptionsFor(mode);
    expect(options.length).toBeGreaterThan(0);
    expect(findContradictions(options)).toEqual([]);
    expect(options).toContain('noatime');
    expect(options.some((o) => o.startsWith('subvol'))).toBe(false);
  });

  it('modes differ in what btrfs really does', () => {
    expect(mountOptionsFor('balanced')).toContain('compress=zstd:1');
    expect(mountOptionsFor('io-optimized').some((o) => o.startsWith('compress'))).toBe(false);
    expect(mountOptionsFor('space-optimized')).toContain('compress-force=zstd:3');
  });

  it('rejects an unknown mode naming the option', () => {
    expect(evalNixError('lib.mountOptionsFor "fast"')).toMatch(/performanceMode: unknown mode "fast"/);
  });
});

describe('layout: filesystem-wide options are the same on every mount', () => {
  const optionSets: Record<string, object> = {
    defaults: {},
    'hetzner-vps': { performanceMode: 'io-optimized', persistentTree: { '/var/lib/postgresql': { options: ['nodev', 'nosuid'] } } },
    'ovh-vps': { performanceMode: 'balanced', persistentTree: { '/srv/www': { options: ['nodev', 'nosuid', 'noexec'] } } },
    'space, no /nix': { performanceMode: 'space-optimized', subvolumes: { nix: null }, persistentTree: { '/home/alice': {} } },
  };

  it.each(Object.entries(optionSets))('%s', (_name, options) => {
    const mounts = layout(options);
    const mode = (options as { performanceMode?: string }).performanceMode ?? 'balanced';
    const expected = mountOptionsFor(mode).filter(isBtrfsSpecific).sort();
    expect(Object.keys(mounts)).toEqual(expect.arrayContaining(['/', '/persistent', '/var/log']));
    for (const [path, mount] of Object.entries(mounts)) {
      expect(mount.options.filter(isBtrfsSpecific).sort(), `btrfs options of ${path}`).toEqual(expected);
      expect(mount.options.filter((o) => o.startsWith('subvol')), `subvol of ${path}`).toEqual([`subvol=${mount.subvolume}`]);
      expect(findContradictions(mount.options), `options of ${path}`).toEqual([]);
    }
  });

  it('/ is @root, stage 1 mounts /, /persistent and /var/log', () => {
    const mounts = layout({});
    expect(mounts['/']).toMatchObject({ subvolume: '@root', neededForBoot: true });
    expect(mounts['/persistent']).toMatchObject({ subvolume: '@persistent', neededForBoot: true });
    expect(mounts['/var/log']).toMatchObject({ subvolume: '@persistent/var/log', neededForBoot: true });
    expect(mounts['/nix']).toMatchObject({ subvolume: '@nix', neededForBoot: true });
    expect(layout({ subvolumes: { nix: null } })['/nix']).toBeUndefined();
  });

  it('the design tree is there and entries can be disabled', () => {
    expect(Object.keys(layout({})).sort()).toEqual(
      ['/', '/home', '/nix', '/persistent', '/var/backup', '/var/lib/caddy', '/var/lib/containers', '/var/lib/services', '/var/log'].sort(),
    );
    expect(layout({ persistentTree: { '/var/lib/caddy': { enable: false } } })['/var/lib/caddy']).toBeUndefined();
  });
});

describe('perPathAttributes', () => {
  const kinds = evalNix<string[]>('lib.attributeKinds');

  it.each(modes)('%s uses only known attribute kinds on absolute paths', (mode) => {
    const attributes = evalNix<Record<string, string>>(`lib.perPathAttributes ${JSON.stringify(mode)}`);
    for (const [path, kind] of Object.entries(attributes)) {
      expect(path.startsWith('/')).toBe(true);
      expect(kinds).toContain(kind);
    }
  });

  it('io-optimized makes databases nocow and compresses logs per path', () => {
    expect(evalNix('lib.perPathAttributes "io-optimized"')).toMatchObject({
      '/var/lib/postgresql': 'nocow',
      '/var/log': 'compress-zstd',
    });
  });

  it('space-optimized keeps databases copy-on-write (compressed and checksummed)', () => {
    expect(evalNix<Record<string, string>>('lib.perPathAttributes "space-optimized"')['/var/lib/postgresql']).toBeUndefined();
  });

  it('applies only to paths on persistent storage', () => {
    const applied = evalNix<Record<string, string>>(
      `lib.applicableAttributes ${toNix({ persistentTree: { '/var/lib/postgresql': {} } })} (lib.perPathAttributes "io-optimized")`,
    );
    expect(applied).toEqual({ '/var/lib/postgresql': 'nocow', '/var/log': 'compress-zstd' });
  });

  it.each<[string, string, string[]]>([
    ['/var/lib/postgresql', 'nocow', ['chattr', '+C', '/var/lib/postgresql']],
    ['/var/log', 'compress-zstd', ['btrfs', 'property', 'set', '/var/log', 'compression', 'zstd']],
    ['/var/backup', 'no-compress', ['btrfs', 'property', 'set', '/var/backup', 'compression', 'none']],
  ])('%s %s → %j', (path, kind, argv) => {
    expect(evalNix(`lib.attributeCommand ${JSON.stringify(path)} ${JSON.stringify(kind)}`)).toEqual(argv);
  });
});
