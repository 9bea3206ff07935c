// Real btrfs, both runtimes (Node: btrfs-progs; Bun: the ioctls): an archive the kernel will not let go. Root may make
// an archive immutable (chattr +i, e.g. to keep it) or the archives' directory append-only (+a); btrfs refuses the
// delete of such a subvolume (EPERM) only once the subvolumes nested in it, which go first, are gone. Before the
// executor asked first (src/engine/execute.ts assertUnlinkable), the age-out deleted everything nested in the archive
// and then reported only that the archive stays. Since 2026-12-02 the plan keeps an immutable archive itself (it asks
// access(2), which answers EPERM for one); the executor's question stays for what that cannot see (append-only). And when a delete stops part-way for a reason that cannot be asked
// in advance (a nested subvolume's own directory immutable), the report now says what of the archive went.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sh } from '../helpers/btrfs-image.js';
import { commit, describeRun, OLD_ROOTS, seedArchives, useBootCase, type BootCase } from '../helpers/boot-case.js';
import { requirePrerequisites, RUNTIMES } from '../helpers/prereq.js';

beforeAll(() => requirePrerequisites(['btrfs', 'mkfs.btrfs', 'losetup', 'mount', 'umount', 'chattr'], 'apt-get install -y btrfs-progs util-linux e2fsprogs'));

const NOW = '2026-11-26T06:00:00Z';
const CONFIG = { deviceTimeoutSeconds: 1, oldRoots: { keepDays: 30, keepAtLeast: 3 } };
const EXPIRED = ['20250101T000000Z', '20250102T000000Z'];
const RECENT = ['20261120T000000Z', '20261121T000000Z', '20261122T000000Z'];

/** Attributes set by a test, taken off again after it (an immutable directory would outlive the image's clean-up). */
let attributed: string[] = [];
function chattr(flag: '+i' | '+a', abs: string): void {
  sh('chattr', [flag, abs]);
  attributed.push(abs);
}
afterEach(() => {
  for (const abs of attributed) sh('chattr', ['-i', '-a', abs]);
  attributed = [];
});

/** The expired archives, each with a subvolume nested below root-owned directories (no move needed: deleted in place). */
function seedWithNested(c: BootCase): void {
  seedArchives(c, [...EXPIRED, ...RECENT]);
  for (const name of EXPIRED) c.createSubvolume(`${OLD_ROOTS}/${name}/var/lib/machines`, { keep: 'nested data\n' });
  commit(c);
}

describe.each(RUNTIMES)('an archive the kernel will not let go, under $name', (runtime) => {
  it('chattr +i on an expired archive: nothing nested in it is deleted, and the report says why it stays (before: its nested subvolume was deleted, then the archive stayed); since 2026-12-02 the plan keeps it, so the dry run says so too', () => {
    const c = useBootCase(runtime);
    seedWithNested(c);
    const [kept, gone] = EXPIRED.map((n) => `${OLD_ROOTS}/${n}`) as [string, string];
    chattr('+i', c.abs(kept));
    const why = /^immutable \(chattr \+i\), so protected: btrfs refuses to delete it \(to let it age out: chattr -i <top>\/@btrfs_tmp\/old_roots\/20250101T000000Z\)$/;
    const dry = c.boot(NOW, { config: CONFIG, dryRun: true, json: true });
    expect(dry.json?.kept.find((k) => k.name === EXPIRED[0])?.reason, describeRun(dry)).toMatch(why);
    const r = c.boot(NOW, { config: CONFIG });
    expect(r.code, describeRun(r)).toBe(0);
    expect(c.kind(`${kept}/var/lib/machines`), 'the nested subvolume of the immutable archive').toBe('subvolume');
    expect(c.read(`${kept}/var/lib/machines/keep`)).toBe('nested data\n');
    expect(r.report?.kept.find((k) => k.name === EXPIRED[0])?.reason).toMatch(why);
    // The other expired archive is not held back by it.
    expect(c.kind(gone)).toBe('missing');
    expect(r.report?.deleted.map((d) => d.path)).toEqual([gone]);
  }, 120_000);

  it('chattr +a on the archives\' directory: every expired archive stays whole, each with the reason', () => {
    const c = useBootCase(runtime);
    seedWithNested(c);
    chattr('+a', c.abs(OLD_ROOTS));
    const r = c.boot(NOW, { config: CONFIG });
    expect(r.code, describeRun(r)).toBe(0);
    for (const name of EXPIRED) {
      expect(c.kind(`${OLD_ROOTS}/${name}/var/lib/machines`), name).toBe('subvolume');
      expect(r.report?.kept.find((k) => k.name === name)?.reason, name).toMatch(/its directory @btrfs_tmp\/old_roots is immutable or append-only/);
    }
    // The rollback itself went ahead: an append-only directory takes new entries.
    expect(r.report?.archived?.name).toBe('20261126T060000Z');
    expect(r.report?.deleted).toEqual([]);
  }, 120_000);

  it('a nested subvolume whose own directory is immutable: the archive stays, and the report names what of it went (before: only that it stays)', () => {
    const c = useBootCase(runtime);
    seedArchives(c, [EXPIRED[0]!, ...RECENT]);
    const x = `${OLD_ROOTS}/${EXPIRED[0]}`;
    c.createSubvolume(`${x}/etc/goes`);
    c.createSubvolume(`${x}/data/held`);
    commit(c);
    chattr('+i', c.abs(`${x}/data`));
    const r = c.boot(NOW, { config: CONFIG });
    expect(r.code, describeRun(r)).toBe(0);
    expect(c.kind(x)).toBe('subvolume');
    expect(c.kind(`${x}/data/held`)).toBe('subvolume');
    expect(c.kind(`${x}/etc/goes`)).toBe('missing');
    const reason = r.report?.kept.find((k) => k.name === EXPIRED[0])?.reason ?? '';
    expect(reason, describeRun(r)).toContain(`before that, 1 nested subvolume in it was deleted: ${x}/etc/goes`);
    expect(r.report?.warnings.join('\n')).toContain(`${x}/etc/goes`);
  }, 120_000);
});
