// Data generators: the pantheros subvolume layout, dated archives (named for the tool, mtimed for
// the baseline's `find -mtime +30`), nested container-style subvolumes, and large file trees.
import { closeSync, mkdirSync, openSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { sh } from './sh.mjs';

export const OLD_ROOTS = '@btrfs_tmp/old_roots';
/** Where the nested subvolumes live inside an archived root (container storage kept in the root). */
export const NESTED_DIR = 'var/lib/containers/storage/btrfs/subvolumes';
const DAY = 86_400_000;

/**
 * The tool ages an archive from the time in its name but never from before its btrfs creation time (otime:
 * names are forgeable), and the archives here are all created now. So the bench's "now" runs this far ahead of
 * the real clock: archives are named relative to benchNow() (made before their names, as on a real machine) and
 * the tool runs with `--now benchNow()`; their mtimes (what the snippet's `find -mtime +30` reads, against the real
 * clock) carry the same ages relative to the real clock.
 */
export const BENCH_AHEAD_MS = 400 * DAY;

/** "Now" for the tool and the archive names: the real clock plus BENCH_AHEAD_MS. */
export const benchNow = () => new Date(Date.now() + BENCH_AHEAD_MS);

/** The archive name the tool parses and writes: YYYYMMDDTHHMMSSZ (UTC). */
export function archiveName(date) {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
}

function createSubvolume(path) {
  sh('btrfs', ['subvolume', 'create', path]);
}

/** The layout the tool manages: @root (with a marker), read-only @root-blank, @nix, @persistent, @snapshots, old_roots. */
export function layOut(top) {
  createSubvolume(join(top, '@root'));
  mkdirSync(join(top, '@root/etc'), { recursive: true });
  writeFileSync(join(top, '@root/etc/marker'), 'root-before-boot\n');
  createSubvolume(join(top, '@root-blank'));
  sh('btrfs', ['property', 'set', '-ts', join(top, '@root-blank'), 'ro', 'true']);
  createSubvolume(join(top, '@nix'));
  createSubvolume(join(top, '@persistent'));
  createSubvolume(join(top, '@snapshots'));
  mkdirSync(join(top, OLD_ROOTS), { recursive: true });
}

/**
 * Adds one archived root dated `date`, named for the tool and made as every root the tool makes (so
 * every archive it keeps): a writable snapshot of @root-blank. It holds `nested` plain subvolumes
 * under NESTED_DIR, and its mtime is set to `date` so the baseline's `find -mtime` ages it the same way.
 */
export function addArchive(top, date, nested = 0) {
  const path = join(top, OLD_ROOTS, archiveName(date));
  sh('btrfs', ['subvolume', 'snapshot', join(top, '@root-blank'), path]);
  mkdirSync(join(path, 'etc'));
  writeFileSync(join(path, 'etc/marker'), `archived ${date.toISOString()}\n`);
  if (nested > 0) {
    mkdirSync(join(path, NESTED_DIR), { recursive: true });
    for (let i = 0; i < nested; i++) createSubvolume(join(path, NESTED_DIR, `c${String(i).padStart(3, '0')}`));
  }
  // The snippet reads mtimes against the real clock: the same age as the name has against benchNow().
  const aged = new Date(date.getTime() - BENCH_AHEAD_MS);
  utimesSync(path, aged, aged);
  return path;
}

/**
 * Archive dates, oldest first: `expired` ones 40+ days old, then `recent` ones spread over the last
 * `spanDays` (all younger than 30 d). Create them in this order: the tool ranks "newest" by creation
 * generation (cgen), as real archives are created in time order.
 */
export function archiveDates(now, { recent, expired, spanDays = 29 }) {
  const dates = [];
  for (let i = 0; i < recent; i++) dates.push(new Date(now.getTime() - 3_600_000 - Math.floor((i * spanDays * DAY) / Math.max(recent, 1))));
  for (let i = 0; i < expired; i++) dates.push(new Date(now.getTime() - (40 + i) * DAY - 3_600_000));
  return dates.map((d) => new Date(Math.floor(d.getTime() / 1000) * 1000)).sort((a, b) => a.getTime() - b.getTime());
}

/** Writes `count` small files under dir, 1 000 per subdirectory, in a tight loop (about 20 µs a file). */
export function fillFiles(dir, count, startAt = 0, content = 'x\n') {
  const payload = Buffer.from(content);
  for (let d = Math.floor(startAt / 1000); d * 1000 < startAt + count; d++) {
    const sub = join(dir, `d${String(d).padStart(4, '0')}`);
    mkdirSync(sub, { recursive: true });
    for (let i = Math.max(d * 1000, startAt); i < Math.min((d + 1) * 1000, startAt + count); i++) {
      const fd = openSync(join(sub, `f${i}`), 'w');
      writeSync(fd, payload);
      closeSync(fd);
    }
  }
}
