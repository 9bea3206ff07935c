// Real btrfs, bundled file, Node and Bun (issue 11): `restore` cannot be redirected by a local user — not by a
// symlink on the way to DEST, not by one swapped in during the copy — and --force replaces DEST as a whole while
// keeping it beside it; --dry-run says what would be copied and replaced.
import { chownSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { OLD_ROOTS, useBootCase, type BootCase } from '../helpers/boot-case.js';
import { requirePrerequisites, RUNTIMES, type Runtime } from '../helpers/prereq.js';
import { runBundle } from '../helpers/run-bundle.js';
import { makeDeepTree } from '../helpers/deep-tree.js';
import { asNobody, NOBODY, scratchArea, showRun, startBundle, waitFor } from '../helpers/ops.js';

beforeAll(() => requirePrerequisites(['btrfs', 'mkfs.btrfs', 'losetup', 'mount', 'umount', 'cp', 'setpriv'], 'apt-get install -y btrfs-progs util-linux coreutils'));

const ARCHIVE = '20261125T060000Z';

/** An archive holding /srv/app with `files` files in 4 directories, and /srv/small/a.conf. */
function archiveWithTree(c: BootCase, files: number): void {
  c.createSubvolume(`${OLD_ROOTS}/${ARCHIVE}`);
  const at = (p: string) => c.abs(`${OLD_ROOTS}/${ARCHIVE}/${p}`);
  for (let d = 0; d < 4; d++) mkdirSync(at(`srv/app/d${d}`), { recursive: true });
  for (let i = 0; i < files; i++) writeFileSync(at(`srv/app/d${i % 4}/f${i}`), `${i}\n`);
  mkdirSync(at('srv/small'), { recursive: true });
  writeFileSync(at('srv/small/a.conf'), 'from the archive\n');
}

/**
 * A world-traversable scratch area outside the image: `home` (owned by nobody, who may rename and symlink in it)
 * and `victim`, a root-owned directory standing for /etc, with an empty `app` directory a redirected copy would fill.
 */
function scratch(): { area: string; home: string; victim: string } {
  const area = scratchArea('ops-restore-');
  const home = join(area, 'home');
  const victim = join(area, 'victim');
  mkdirSync(home);
  chownSync(home, NOBODY.uid, NOBODY.gid);
  mkdirSync(join(victim, 'app'), { recursive: true });
  return { area, home, victim };
}

function config(c: BootCase): string {
  const file = join(c.image.dir, 'restore-config.json');
  writeFileSync(file, '{}');
  return file;
}

describe.each(RUNTIMES)('restore under $name', (runtime: Runtime) => {
  it('a symlink swapped into the destination path during the copy, by the user who owns it, does not redirect root', async () => {
    const c = useBootCase(runtime);
    archiveWithTree(c, 20_000);
    const { home, victim } = scratch();
    expect(asNobody(['mkdir', join(home, 'drop')]).code).toBe(0);
    const run = startBundle(runtime, ['restore', '/srv/app', '--from', ARCHIVE, '--to', join(home, 'drop/app'), '--top-level', c.top, '--config', config(c)]);
    // As soon as the copy has started in drop/ (the staging directory, or drop/app itself), the owner of home swaps
    // drop for a symlink to the root-owned victim directory.
    await waitFor('the copy to start', () => readdirSync(join(home, 'drop')).length > 0);
    const swap = asNobody(['sh', '-c', `cd ${home} && mv drop drop.real && ln -s ../victim drop`]);
    expect(swap.code, swap.stderr).toBe(0);
    const r = await run.done;
    expect(readdirSync(join(victim, 'app')), 'nothing was written into the root-owned directory').toEqual([]);
    expect(r.code, showRun(r, 'restore')).toBe(0);
    // The copy went where the directory really is, complete; no staging directory is left; the symlink is untouched.
    expect(readdirSync(join(home, 'drop.real'))).toEqual(['app']);
    expect(readdirSync(join(home, 'drop.real/app/d3')).length).toBe(5000);
    expect(readlinkSync(join(home, 'drop'))).toBe('../victim');
  });

  it('a symlink anywhere on the way to DEST is refused (naming it), and a symlink at DEST is replaced with --force, never followed', () => {
    const c = useBootCase(runtime);
    archiveWithTree(c, 4);
    const { home, victim } = scratch();
    expect(asNobody(['ln', '-s', '../victim', join(home, 'link')]).code).toBe(0);
    const cfg = config(c);
    const refused = runBundle(runtime, ['restore', '/srv/app', '--from', ARCHIVE, '--to', join(home, 'link/app'), '--top-level', c.top, '--config', cfg]);
    expect(refused.code, showRun(refused, 'restore through a symlink')).toBe(2);
    expect(refused.stderr).toContain(`${home}/link is a symlink (→ ../victim); refusing to follow it on the way to ${home}/link/app — give the real path with --to`);
    expect(readdirSync(join(victim, 'app'))).toEqual([]);

    // DEST itself a symlink to the victim: with --force it is moved aside as it is, and a real directory takes its place.
    expect(asNobody(['sh', '-c', `mkdir ${home}/d2 && ln -s ../../victim/app ${home}/d2/app`]).code).toBe(0);
    const forced = runBundle(runtime, ['restore', '/srv/app', '--from', ARCHIVE, '--to', join(home, 'd2/app'), '--force', '--top-level', c.top, '--config', cfg]);
    expect(forced.code, showRun(forced, 'restore --force onto a symlink')).toBe(0);
    expect(readdirSync(join(victim, 'app'))).toEqual([]);
    expect(lstatSync(join(home, 'd2/app')).isDirectory()).toBe(true);
    const kept = readdirSync(join(home, 'd2')).filter((n) => n.startsWith('app.pantheros-replaced-'));
    expect(kept.map((n) => readlinkSync(join(home, 'd2', n)))).toEqual(['../../victim/app']);
  });

  it('--force replaces a directory as a whole and keeps the old one beside it, named in the output; --dry-run changes nothing', () => {
    const c = useBootCase(runtime);
    archiveWithTree(c, 4);
    const { home } = scratch();
    const dest = join(home, 'small');
    mkdirSync(dest);
    writeFileSync(join(dest, 'a.conf'), 'local edit\n');
    writeFileSync(join(dest, 'extra'), 'only here\n');
    const cfg = config(c);
    const args = ['restore', '/srv/small', '--from', ARCHIVE, '--to', dest, '--top-level', c.top, '--config', cfg];

    const dry = runBundle(runtime, [...args, '--force', '--dry-run']);
    expect(dry.code, showRun(dry, 'dry run')).toBe(0);
    expect(dry.stdout).toMatch(/^dry run — nothing is copied or replaced$/m);
    expect(dry.stdout).toContain(`would restore /srv/small from archive ${ARCHIVE} to ${dest}`);
    expect(dry.stdout).toMatch(new RegExp(`would replace the existing directory ${dest} as a whole, keeping it beside it as ${dest}\\.pantheros-replaced-\\d{8}T\\d{6}Z`));
    expect(readdirSync(home)).toEqual(['small']);
    expect(readdirSync(dest).sort()).toEqual(['a.conf', 'extra']);

    const noForce = runBundle(runtime, args);
    expect(noForce.code, showRun(noForce, 'without --force')).toBe(2);
    expect(noForce.stderr).toMatch(/exists \(directory\); refusing to overwrite it without --force \(which replaces it as a whole and keeps it beside it\)/);

    const r = runBundle(runtime, [...args, '--force', '--json']);
    expect(r.code, showRun(r, 'restore --force')).toBe(0);
    const out = JSON.parse(r.stdout) as { version: number; replaced: { kind: string; keptAs: string } };
    expect(out.version).toBe(1);
    expect(out.replaced.kind).toBe('directory');
    expect(out.replaced.keptAs).toMatch(new RegExp(`^${dest}\\.pantheros-replaced-\\d{8}T\\d{6}Z$`));
    // Replaced, not merged: only what the archive has; the old directory, whole, beside it.
    expect(readdirSync(dest)).toEqual(['a.conf']);
    expect(readFileSync(join(dest, 'a.conf'), 'utf8')).toBe('from the archive\n');
    expect(readdirSync(out.replaced.keptAs).sort()).toEqual(['a.conf', 'extra']);
    expect(readFileSync(join(out.replaced.keptAs, 'a.conf'), 'utf8')).toBe('local edit\n');

    // Again: the text output names the kept item and how to remove it; two replacements never collide.
    const again = runBundle(runtime, [...args, '--force']);
    expect(again.code, showRun(again, 'restore --force again')).toBe(0);
    expect(again.stdout).toMatch(new RegExp(`replaced the existing directory ${dest} as a whole; it is kept beside it as (${dest}\\.pantheros-replaced-\\S+)`));
    expect(again.stdout).toMatch(/remove it when it is no longer needed: rm -r -- \S+pantheros-replaced-\S+/);
    expect(readdirSync(home).filter((n) => n.startsWith('small.pantheros-replaced-')).length).toBe(2);
    expect(readdirSync(home).filter((n) => n.startsWith('.pantheros-restore-'))).toEqual([]);
  });

  it('a copy that fails part-way (a full destination) removes the partial copy and, with --json, says what ran and what is in place', () => {
    const c = useBootCase(runtime);
    archiveWithTree(c, 4);
    writeFileSync(c.abs(`${OLD_ROOTS}/${ARCHIVE}/srv/app/big`), Buffer.alloc(2 * 1024 * 1024, 1));
    const { area } = scratch();
    const small = join(area, 'small-fs');
    mkdirSync(small);
    expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', small]).status).toBe(0);
    onTestFinished(() => void spawnSync('umount', [small]));
    const dest = join(small, 'app');
    const r = runBundle(runtime, ['restore', '/srv/app', '--from', ARCHIVE, '--to', dest, '--top-level', c.top, '--config', config(c), '--json']);
    expect(r.code, showRun(r, 'restore onto a full filesystem')).toBe(1);
    const out = JSON.parse(r.stdout) as { version: number; error: { kind: string; exitCode: number; message: string; completed: string[]; state: string } };
    expect(out.version).toBe(1);
    expect(out.error.kind).toBe('step');
    expect(out.error.exitCode).toBe(1);
    expect(out.error.message).toMatch(/No space left on device/);
    expect(out.error.completed).toEqual([]);
    expect(out.error.state).toBe(`${dest} is as it was (the partial copy is removed); the archive is unchanged`);
    // The text on stderr says the same two things.
    expect(r.stderr).toContain('  completed: nothing');
    expect(r.stderr).toContain(`  now: ${out.error.state}`);
    expect(readdirSync(small), 'the partial copy is gone').toEqual([]);
  });

  it('a name that is not UTF-8 and a tree deeper than PATH_MAX, made by a local user in the archive: counted and copied, or refused with exit 1 and nothing changed (before: exit 4, the count looked up a mangled name or a too-long path)', () => {
    const c = useBootCase(runtime);
    archiveWithTree(c, 4);
    const app = c.abs(`${OLD_ROOTS}/${ARCHIVE}/srv/app`);
    writeFileSync(Buffer.from(`${app}/d0/\xff\xfe.conf`, 'latin1'), 'raw bytes\n');
    const { home } = scratch();
    const cfg = config(c);
    const r = runBundle(runtime, ['restore', '/srv/app', '--from', ARCHIVE, '--to', join(home, 'app'), '--top-level', c.top, '--config', cfg, '--json']);
    expect(r.code, showRun(r, 'restore of a tree with a name that is not UTF-8')).toBe(0);
    expect((JSON.parse(r.stdout) as { counts: { files: number; directories: number } }).counts).toMatchObject({ files: 5, directories: 5 });
    expect(readFileSync(Buffer.from(`${home}/app/d0/\xff\xfe.conf`, 'latin1'), 'utf8')).toBe('raw bytes\n');

    // 30 levels of 200-byte names: 6 000 bytes below srv/deep, beyond PATH_MAX (4 096).
    makeDeepTree(c.abs(`${OLD_ROOTS}/${ARCHIVE}/srv`), 'deep', 30, (bottom) => writeFileSync(`${bottom}/bottom`, 'at the bottom\n'));
    const deep = runBundle(runtime, ['restore', '/srv/deep', '--from', ARCHIVE, '--to', join(home, 'deep'), '--top-level', c.top, '--config', cfg]);
    // cp (coreutils) copies by path, so it stops at PATH_MAX: a failed step, the partial copy removed, nothing else changed.
    expect(deep.code, showRun(deep, 'restore of a tree deeper than PATH_MAX')).toBe(1);
    expect(deep.stderr).not.toMatch(/this is a bug/);
    expect(deep.stderr).toMatch(/is as it was \(the partial copy is removed\); the archive is unchanged/);
    expect(readdirSync(home).sort()).toEqual(['app']);
  });
});
