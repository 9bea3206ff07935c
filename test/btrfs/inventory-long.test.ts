// Real btrfs, in this process (Node: the listing path): a `btrfs subvolume list -s` longer than the longest string
// the runtime holds is a listing that failed, so an archive's creation time comes from `btrfs subvolume show`
// instead of the boot failing on it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_LISTING_BYTES } from '../../src/btrfs/listing.js';
import { takeInventory } from '../../src/btrfs/inventory.js';
import { createImage, sh, type Image } from '../helpers/btrfs-image.js';
import { requirePrerequisites } from '../helpers/prereq.js';

let image: Image;
beforeAll(() => {
  requirePrerequisites(['btrfs', 'mkfs.btrfs', 'losetup', 'mount', 'umount'], 'apt-get install -y btrfs-progs util-linux');
  image = createImage();
});
afterAll(() => image?.destroy());

describe('Inventory.creationTimes with a snapshot listing too long to read', () => {
  it('reads the creation time with show, as when list -s fails', () => {
    const path = '@btrfs_tmp/old_roots/20240101T000000Z';
    sh('btrfs', ['subvolume', 'snapshot', `${image.top}/@root-blank`, `${image.top}/${path}`]);
    sh('btrfs', ['filesystem', 'sync', image.top]);
    const shown = /Creation time:\s*(\S+ \S+ \S+)/.exec(sh('btrfs', ['subvolume', 'show', `${image.top}/${path}`]))![1]!;
    const huge = Buffer.alloc(MAX_LISTING_BYTES + 1, 0x20);
    const inventory = takeInventory(image.top, { writableMount: true, listSnapshots: () => huge });
    const times = inventory.creationTimes([path]);
    const [day, time, zone] = shown.split(' ') as [string, string, string];
    const expected = new Date(`${day}T${time}${zone.slice(0, 3)}:${zone.slice(3)}`);
    expect(Number.isNaN(expected.getTime()), shown).toBe(false);
    expect(times.get(path)?.getTime()).toBe(expected.getTime());
  });
});
