// The inventory's handling of listing text that no filesystem can vouch for, without a disk: the lookups it starts
// ahead (prefetchLookups) never leave the top level through ".." or a user's symlink, whatever a forged line says;
// and a listing too long to read as one string is a listing that failed (facts then come subvolume by subvolume).
// fs.lstat is watched, not replaced: every call still reaches the real filesystem.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';

const started = vi.hoisted(() => [] as string[]);
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  const lstat = ((path: unknown, ...rest: unknown[]) => {
    started.push(Buffer.isBuffer(path) ? path.toString('latin1') : String(path));
    return (real.lstat as (...a: unknown[]) => void)(path, ...rest);
  }) as typeof real.lstat;
  return { ...real, default: { ...real, lstat }, lstat };
});

const { Inventory } = await import('../../../src/btrfs/inventory.js');
const { MAX_LISTING_BYTES, parseListing } = await import('../../../src/btrfs/listing.js');

const top = mkdtempSync(join(tmpdir(), 'pantheros-inventory-text-'));
afterAll(() => rmSync(top, { recursive: true, force: true }));

describe('Inventory: text a user may forge', () => {
  it('starts lookups only below real directories: never through "..", an empty component or a symlink a user left', () => {
    // @root/tmp/link is a user's symlink; @root/tmp/real/c a real directory entry (a nested subvolume's place).
    mkdirSync(join(top, '@root/tmp/real/c'), { recursive: true });
    symlinkSync('/proc/self', join(top, '@root/tmp/link'));
    // Lines a user's subvolume names can add ("x⏎ID 900 … path …"), beside a real-looking one.
    const forged = ['@root/../../../../../../../../etc/probe', '@root/tmp/link/probe', '@root/tmp//probe', '@root/tmp/real/..', '@root/./tmp/probe', '@root/tmp/missing/probe'];
    const lines = ['ID 256 gen 10 top level 5 path @root', 'ID 300 gen 11 top level 256 path @root/tmp/real/c', ...forged.map((p, i) => `ID ${900 + i} gen 1 top level 5 path ${p}`), ''];
    const inventory = new Inventory(top, { full: Buffer.from(lines.join('\n')) }, { writableMount: true });
    started.length = 0;
    // Nothing here is a subvolume (not btrfs): the point is what was looked up on the way.
    expect(inventory.below('@root')).toEqual([]);
    expect(started).toContain(`${top}/@root/tmp/real/c`);
    for (const p of forged) expect(started, p).not.toContain(`${top}/${p}`);
    expect(started.filter((p) => !p.startsWith(`${top}/@root/`))).toEqual([]);
  });

  it('reads a listing longer than the longest string as a failed listing, and parseListing says why', () => {
    const huge = Buffer.alloc(MAX_LISTING_BYTES + 1, 0x20);
    expect(() => parseListing(huge)).toThrow(RangeError);
    const inventory = new Inventory(top, { full: huge }, { writableMount: true });
    expect(inventory.listingFailure).toMatch(/longer than the longest string/);
    expect(inventory.notes.join('\n')).toMatch(/facts were read subvolume by subvolume/);
    // A listing just within the limit is still parsed (a blank line: no entries).
    expect(parseListing(Buffer.from(' \n')).entries).toEqual([]);
  });
});
