// Adversarial, real btrfs, bundled file, Node and Bun: names an unprivileged user chooses, against the promises of
// issue 9 ("no item ever holds back the others", "previous brings the whole root back") and issue 10 (list,
// next-boot and boot --dry-run print one plan). Each test states the promise it checks; today they fail.
import { lstatSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { sh } from '../helpers/btrfs-image.js';
import { commit, describeRun, OLD_ROOTS, seedArchives, useBootCase, type BootCase } from '../helpers/boot-case.js';
import { pythonAsNobody, requirePython, subvolumeBelowForgedDirectories, userArea } from '../helpers/attack.js';
import { showRun } from '../helpers/ops.js';
import { requirePrerequisites, RUNTIMES, type Runtime } from '../helpers/prereq.js';
import { runBundle } from '../helpers/run-bundle.js';

beforeAll(() => requirePrerequisites(['btrfs', 'mkfs.btrfs', 'losetup', 'mount', 'umount', 'setpriv'], 'apt-get install -y btrfs-progs util-linux'));
beforeAll(requirePython);

const NOW = '2026-11-26T06:00:00Z';
const CONFIG = { deviceTimeoutSeconds: 1, oldRoots: { keepDays: 30, keepAtLeast: 3 } };
const EXPIRED = '20250101T000000Z';
const RECENT = ['20261120T000000Z', '20261121T000000Z', '20261122T000000Z'];

/** 9 directories of 8 listing-shaped lines each: the subvolume's listing entry spans 73 lines (PATH_MAX is not reached). */
const COMPONENTS = 9;
const LINES_PER = 8;

function configFile(c: BootCase, config: unknown): string {
  const file = join(c.image.dir, 'attack-config.json');
  writeFileSync(file, JSON.stringify(config));
  return file;
}

describe.each(RUNTIMES)('attack: names under $name', (runtime: Runtime) => {
  it('a subvolume below directories whose names hold more than 64 listing-shaped lines: its expired archive still ages out (today: "Directory not empty", every boot)', () => {
    const c = useBootCase(runtime);
    seedArchives(c, [EXPIRED, ...RECENT]);
    const x = `${OLD_ROOTS}/${EXPIRED}`;
    userArea(c, `${x}/tmp`);
    const hidden = subvolumeBelowForgedDirectories(c, `${x}/tmp`, COMPONENTS, LINES_PER);
    commit(c);
    expect(Buffer.byteLength(c.top) + hidden.length + 1).toBeLessThan(4096);
    expect(sh('btrfs', ['subvolume', 'list', c.top]).split('\n').length).toBeGreaterThan(COMPONENTS * LINES_PER);
    for (const day of ['2026-11-26T06:00:00Z', '2026-11-27T06:00:00Z']) {
      const r = c.boot(day, { config: CONFIG });
      expect(r.code, describeRun(r)).toBe(0);
      // Issue 9: "that archive goes with its nested subvolume; no item ever holds back the others".
      expect(r.report?.kept.find((k) => k.name === EXPIRED)?.reason, `boot at ${day}`).toBeUndefined();
      expect(c.kind(x), `boot at ${day}`).toBe('missing');
    }
  });

  it('previous with a nested subvolume below such directories: the new root has it back with its data (today: an empty stub, result ok, not in "nested")', () => {
    const c = useBootCase(runtime);
    seedArchives(c, RECENT);
    userArea(c, '@root/tmp');
    const hidden = subvolumeBelowForgedDirectories(c, '@root/tmp', COMPONENTS, LINES_PER);
    commit(c);
    const r = c.boot(NOW, { config: CONFIG, cmdline: 'pantheros.rollback=previous' });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.result).toBe('ok');
    const inRoot = hidden.toString('utf8').slice('@root/'.length);
    // README: "every subvolume nested in the source … is brought back into the new root as a writable snapshot … the report lists them under nested".
    expect(r.report?.nested.map((n) => n.path)).toContain(inRoot);
    const st = lstatSync(c.abs(`@root/${inRoot}`));
    expect(st.ino, 'inode 256: a subvolume, not the empty stub (inode 2) a snapshot leaves').toBe(256);
    expect(readFileSync(c.abs(`@root/${inRoot}/marker`), 'utf8')).toBe('user data\n');
  });

  it('a forged duplicate line for a nested subvolume that holds another: list and next-boot (read-only mount) say "kept whole", boot --dry-run and the boot delete the archive', () => {
    const c = useBootCase(runtime);
    seedArchives(c, [EXPIRED, ...RECENT]);
    const x = `${OLD_ROOTS}/${EXPIRED}`;
    userArea(c, `${x}/tmp`);
    const make = 'import os,sys\np=sys.argv[1]\nos.makedirs(os.path.dirname(p), exist_ok=True)\nos.execvp("btrfs",["btrfs","-q","subvolume","create",p])';
    for (const rel of [`${x}/tmp/a`, `${x}/tmp/a/b`, `${x}/tmp/x\nID 1 gen 1 top level 5 path ${x}/tmp/a`]) pythonAsNobody(make, [c.abs(rel)]);
    commit(c);
    const cfg = configFile(c, CONFIG);
    const cfgDevice = configFile(c, { ...CONFIG, device: c.image.loop });

    const dry = c.boot(NOW, { config: CONFIG, dryRun: true, json: true, rawCmdline: '' });
    expect(dry.code, describeRun(dry)).toBe(0);
    const dryVerdict = dry.json!.deleted.some((d) => d.path === x) ? 'delete' : 'keep';

    const list = runBundle(runtime, ['list', '--json', '--now', NOW, '--top-level', c.top, '--config', cfg]);
    expect(list.code, showRun(list, 'list')).toBe(0);
    const listVerdict = (JSON.parse(list.stdout).archives as { name: string; verdict: { action: string; reason: string } }[]).find((a) => a.name === EXPIRED)!.verdict;

    const next = runBundle(runtime, ['next-boot', '--json', '--now', NOW, '--config', cfgDevice]);
    expect(next.code, showRun(next, 'next-boot --device')).toBe(0);
    const nextEffect = JSON.parse(next.stdout).effect as string;

    const real = c.boot(NOW, { config: CONFIG, rawCmdline: '' });
    expect(real.code, describeRun(real)).toBe(0);
    const realVerdict = c.kind(x) === 'missing' ? 'delete' : 'keep';

    // Issue 10: "list, next-boot, check and boot --dry-run can no longer disagree, because they print one plan".
    expect({ list: listVerdict.action, nextBootSaysAgesOut: nextEffect.includes(EXPIRED), dryRun: dryVerdict }, listVerdict.reason).toEqual({
      list: realVerdict,
      nextBootSaysAgesOut: realVerdict === 'delete',
      dryRun: realVerdict,
    });
  });

  it('a user makes their own subvolume read-only with one inside it (btrfs property set, no privilege): the expired archive holding it still ages out, also below the free-space floor (today: kept whole for ever)', () => {
    const c = useBootCase(runtime);
    seedArchives(c, [EXPIRED, ...RECENT]);
    const x = `${OLD_ROOTS}/${EXPIRED}`;
    userArea(c, `${x}/tmp`);
    const pin = 'import subprocess,sys\nr=sys.argv[1]\nfor a in (["subvolume","create",r],["subvolume","create",r+"/inner"],["property","set","-ts",r,"ro","true"]):\n    subprocess.run(["btrfs","-q",*a],check=True)';
    pythonAsNobody(pin, [c.abs(`${x}/tmp/r`)]);
    commit(c);
    // keepDays 30 ages it out; minFreePercent 90 (the most the config allows) puts the filesystem below the floor as well.
    for (const [day, config] of [
      ['2026-11-26T06:00:00Z', CONFIG],
      ['2026-11-27T06:00:00Z', { ...CONFIG, oldRoots: { ...CONFIG.oldRoots, minFreePercent: 90 } }],
    ] as const) {
      const r = c.boot(day, { config });
      expect(r.code, describeRun(r)).toBe(0);
      const kept = r.report?.kept.find((k) => k.name === EXPIRED);
      // Issue 9: nothing a user can make may "stop the machine from being cleaned up"; README: "the newest archive …, a
      // mounted one and the default subvolume are never deleted" — nothing else is promised to stay.
      expect(kept?.reason, `boot at ${day}`).toBeUndefined();
    }
    expect(c.kind(x)).toBe('missing');
  });

  it('a user subvolume deeper than PATH_MAX in a persistent home (the listing fails): list says "kept whole" for an expired archive holding docker-style nested subvolumes; the boot deletes it', () => {
    const c = useBootCase(runtime);
    seedArchives(c, [EXPIRED, ...RECENT]);
    const x = `${OLD_ROOTS}/${EXPIRED}`;
    c.createSubvolume(`${x}/var/lib/docker`);
    c.createSubvolume(`${x}/var/lib/docker/btrfs/subvolumes/layer`);
    userArea(c, '@persistent/home');
    const deep = 'import os,sys,subprocess\nos.chdir(sys.argv[1])\nfor i in range(18):\n    n="%02d"%i+"d"*230; os.mkdir(n); os.chdir(n)\nsubprocess.run(["btrfs","-q","subvolume","create","deepest"],check=True)';
    pythonAsNobody(deep, [c.abs('@persistent/home')]);
    commit(c);
    const list = runBundle(runtime, ['list', '--json', '--now', NOW, '--top-level', c.top, '--config', configFile(c, CONFIG)]);
    expect(list.code, showRun(list, 'list')).toBe(0);
    const listVerdict = (JSON.parse(list.stdout).archives as { name: string; verdict: { action: string; reason: string } }[]).find((a) => a.name === EXPIRED)!.verdict;
    const real = c.boot(NOW, { config: CONFIG, rawCmdline: '' });
    expect(real.code, describeRun(real)).toBe(0);
    expect(c.kind(x), 'the boot ages it out').toBe('missing');
    // README (list): "Archive verdicts are what the next boot would decide if it ran now".
    expect(listVerdict.action, listVerdict.reason).toBe('delete');
  });
});
