// For diff tests: fill the (normally read-only) blank, then make @root a fresh writable snapshot of it.
import { sh } from './btrfs-image.js';
import type { BootCase } from './boot-case.js';

/** Runs fill with a path maker inside the blank, then re-creates @root from the blank; returns a path maker inside @root. */
export function rootFromFilledBlank(c: BootCase, fill: (inBlank: (rel: string) => string) => void): (rel: string) => string {
  sh('btrfs', ['property', 'set', '-ts', c.abs('@root-blank'), 'ro', 'false']);
  fill((rel) => c.abs(`@root-blank/${rel}`));
  sh('btrfs', ['property', 'set', '-ts', c.abs('@root-blank'), 'ro', 'true']);
  sh('btrfs', ['subvolume', 'delete', '--commit-after', c.abs('@root')]);
  sh('btrfs', ['subvolume', 'snapshot', c.abs('@root-blank'), c.abs('@root')]);
  return (rel) => c.abs(`@root/${rel}`);
}
