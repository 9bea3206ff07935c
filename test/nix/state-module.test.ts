// The NixOS module's part of the state rollback (issue 14), evaluated with the real nixpkgs module system: snapshots
// of every persistent subvolume before each activation (their own class and retention, no timer), the persistent
// tree with its units rendered for the engine, the units tied to their mounts, the archive location checked.
import { beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/load-config.js';
import { evalHosts, impermanenceModule, requireNix, storeFileText, type Host, type NixosSummary } from '../helpers/nix.js';
import { directive, parseUnit } from './unit-file.js';

beforeAll(requireNix);

const DEVICE = '/dev/disk/by-label/nixos';
const host = (values: object = {}, extra?: string): Host => ({ modules: [impermanenceModule({ enable: true, device: DEVICE, ...values }, extra)], imports: [] });
const out = evalHosts<NixosSummary>({
  default: host({ persistentTree: { '/var/lib/postgresql': { units: ['postgresql.service'] } } }, 'boot.initrd.systemd.enable = true; systemd.services.postgresql.description = "PostgreSQL";'),
  noActivation: host({ snapshotRetention: { activation: 0 } }),
  overlap: host({ subvolumes: { oldState: '@btrfs_tmp/old_roots/state' } }),
});
const toolConfig = (s: NixosSummary) => validateConfig(JSON.parse(storeFileText(s, s.etc['pantheros/rollback.json']!)), 'module');

describe('state rollback in the module', () => {
  const s = out['default']!;
  it('passes every assertion', () => expect(s.failedAssertions).toEqual([]));

  it('snapshots every persistent subvolume before each activation (class activation), prunes that class, and never stops activation', () => {
    const script = s.activationScripts['pantheros-snapshot-activation']!;
    expect(script).toMatch(/\/bin\/pantheros-rollback snapshot --class activation >\/dev\/null \|\| echo "pantheros-rollback: the pre-activation snapshot failed/);
    expect(script).toMatch(/\/bin\/pantheros-rollback prune --class activation >\/dev\/null \|\| echo/);
    expect(Object.keys(s.units).filter((u) => u.includes('activation'))).toEqual([]);
    expect(out['noActivation']!.activationScripts['pantheros-snapshot-activation']).toBeUndefined();
  });

  it('renders the persistent tree (mount point, subvolume, neededForBoot, units), the archive location and the retention for the engine', () => {
    const c = toolConfig(s);
    expect(c.subvolumes.oldState).toBe('@btrfs_tmp/old_state');
    expect(c.snapshotRetention.activation).toBe(10);
    expect(c.persistentTree).toContainEqual({ path: '/persistent', subvolume: '@persistent', neededForBoot: true, units: [] });
    expect(c.persistentTree).toContainEqual({ path: '/var/lib/postgresql', subvolume: '@persistent/var/lib/postgresql', neededForBoot: false, units: ['postgresql.service'] });
    expect(c.persistentTree).toContainEqual(expect.objectContaining({ path: '/var/log', neededForBoot: true }));
    expect(c.snapshotSubvolumes).toContain('@persistent/var/lib/postgresql');
  });

  it('ties each unit to its persistent mount (RequiresMountsFor=)', () => {
    const unit = parseUnit(s.units['postgresql.service']!.text);
    expect(directive(unit, 'Unit', 'RequiresMountsFor')).toEqual(['/var/lib/postgresql']);
  });

  it('refuses an archive location for states that overlaps the others', () => {
    expect(out['overlap']!.failedAssertions.join('\n')).toMatch(/subvolumes: the root, blank, archive and snapshot locations must not overlap: .*oldRoots .*oldState/);
  });
});
