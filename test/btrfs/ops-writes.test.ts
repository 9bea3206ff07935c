// Real btrfs, bundled file, Node and Bun (issue 11): where root writes. `metrics --output` goes through the shared
// atomic writer (the owner of the textfile directory cannot make root overwrite another file), and
// /run/pantheros-rollback gets the same modes whichever command creates it first, refusing a symlink or a
// directory of another owner. The /run tests run in a private mount namespace with a fresh tmpfs on /run, so the
// machine's own /run/pantheros-rollback is never touched.
import { spawnSync } from 'node:child_process';
import { chownSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CMDLINE_BASE, OLD_ROOTS, useBootCase, type BootCase } from '../helpers/boot-case.js';
import { BUNDLE, requirePrerequisites, RUNTIMES, type Runtime } from '../helpers/prereq.js';
import { runBundle, type RunResult } from '../helpers/run-bundle.js';
import { asNobody, mountsOf, NOBODY, scratchArea, showRun } from '../helpers/ops.js';

beforeAll(() => requirePrerequisites(['btrfs', 'mkfs.btrfs', 'losetup', 'mount', 'umount', 'unshare', 'setpriv', 'stat'], 'apt-get install -y btrfs-progs util-linux coreutils'));


function configFile(c: BootCase, config: unknown = {}): string {
  const file = join(c.image.dir, 'writes-config.json');
  writeFileSync(file, JSON.stringify(config));
  return file;
}

/** Runs a shell script as root in a private mount namespace whose /run is a fresh tmpfs (mode 0755, as systemd makes it). */
function inFreshRun(script: string): RunResult {
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs -o mode=0755 tmpfs /run && ${script}`], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

describe.each(RUNTIMES)('where root writes, under $name', (runtime: Runtime) => {
  const tool = `${runtime.bin} ${BUNDLE}`;

  it('metrics --output: the owner of the textfile directory can make root overwrite nothing but the output file', () => {
    const c = useBootCase(runtime);
    const dir = scratchArea('ops-writes-');
    const textfile = join(dir, 'textfile');
    mkdirSync(textfile);
    chownSync(textfile, NOBODY.uid, NOBODY.gid);
    const victim = join(dir, 'victim');
    writeFileSync(victim, 'precious\n', { mode: 0o600 });
    // Run as PID 1 of a new PID namespace, so today's temporary name (.pantheros.prom.tmp-<pid>) is predictable; the
    // directory's owner plants a symlink there and at the output name.
    for (const name of ['.pantheros.prom.tmp-1', 'pantheros.prom']) expect(asNobody(['ln', '-s', victim, join(textfile, name)]).code).toBe(0);
    const out = join(textfile, 'pantheros.prom');
    const r = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', runtime.bin, BUNDLE, 'metrics', '--output', out, '--top-level', c.top, '--config', configFile(c)], { encoding: 'utf8' });
    expect(readFileSync(victim, 'utf8'), 'the file the symlinks point to').toBe('precious\n');
    expect(r.status, `${r.stderr}\n${r.stdout}`).toBe(0);
    expect(lstatSync(out).isFile()).toBe(true);
    expect(lstatSync(out).mode & 0o777).toBe(0o644);
    expect(readFileSync(out, 'utf8')).toMatch(/^pantheros_archives 0$/m);
    // Only the output name was replaced; the planted temporary-name symlink is left alone, nothing else is added.
    expect(readdirSync(textfile).sort()).toEqual(['.pantheros.prom.tmp-1', 'pantheros.prom']);

    // An output directory reached through a symlink is refused, naming it; nothing is written where it points.
    const rootDir = join(dir, 'root-only');
    mkdirSync(rootDir);
    expect(asNobody(['ln', '-s', rootDir, join(textfile, 'sub')]).code).toBe(0);
    const refused = runBundle(runtime, ['metrics', '--output', join(textfile, 'sub/pantheros.prom'), '--top-level', c.top, '--config', configFile(c)]);
    expect(refused.code, showRun(refused, 'metrics through a symlink')).toBe(3);
    expect(refused.stderr).toContain(`cannot write ${textfile}/sub/pantheros.prom: ${textfile}/sub is a symlink (→ ${rootDir}); refusing to follow it`);
    expect(readdirSync(rootDir)).toEqual([]);
  });

  it('/run/pantheros-rollback: report and metrics readable by node exporter, private mounts and browse mounts root-only, whoever creates it first', () => {
    const c = useBootCase(runtime);
    c.createSubvolume(`${OLD_ROOTS}/20261125T060000Z`);
    const cfg = configFile(c, { deviceTimeoutSeconds: 1 });
    const cmdline = join(c.image.dir, 'cmdline');
    writeFileSync(cmdline, `${CMDLINE_BASE}\n`);
    const stat = (paths: string[]) => `stat -c '%n %a %U' ${paths.join(' ')}`;
    const R = '/run/pantheros-rollback';
    // The boot first (it creates the directory and writes the report — by default only in an initrd, so here the
    // report is named), then an operator command, then metrics.
    const boot = inFreshRun(
      [
        `${tool} boot --device ${c.image.loop} --config ${cfg} --cmdline ${cmdline} --now 2026-11-26T06:00:00Z --report ${R}/report.json >/dev/null`,
        `echo boot=$?`,
        stat([R, `${R}/mnt`, `${R}/report.json`]),
        `${tool} list --device ${c.image.loop} --config ${cfg} >/dev/null; echo list=$?`,
        `${tool} metrics --device ${c.image.loop} --config ${cfg} --output ${R}/metrics/pantheros_rollback.prom >/dev/null; echo metrics=$?`,
        stat([`${R}/metrics`, `${R}/metrics/pantheros_rollback.prom`]),
        `${tool} mount 20261125T060000Z --device ${c.image.loop} --config ${cfg} >/dev/null; echo mount=$?`,
        stat([`${R}/browse`]),
        `${tool} umount --config ${cfg} >/dev/null; echo umount=$?`,
        `ls ${R}/mnt | wc -l`,
      ].join('; '),
    );
    expect(boot.stdout.split('\n').filter(Boolean), showRun(boot, 'in a fresh /run')).toEqual([
      'boot=0',
      `${R} 755 root`,
      `${R}/mnt 700 root`,
      `${R}/report.json 644 root`,
      'list=0',
      'metrics=0',
      `${R}/metrics 755 root`,
      `${R}/metrics/pantheros_rollback.prom 644 root`,
      'mount=0',
      `${R}/browse 700 root`,
      'umount=0',
      '0',
    ]);
    // An operator command first: the same modes.
    const list = inFreshRun([`${tool} list --device ${c.image.loop} --config ${cfg} >/dev/null`, 'echo list=$?', stat([R, `${R}/mnt`])].join('; '));
    expect(list.stdout.split('\n').filter(Boolean), showRun(list, 'list first')).toEqual(['list=0', `${R} 755 root`, `${R}/mnt 700 root`]);
    // A mode changed by hand is put back.
    const fixed = inFreshRun([`mkdir -m 0777 ${R}`, `${tool} list --device ${c.image.loop} --config ${cfg} >/dev/null`, stat([R])].join('; '));
    expect(fixed.stdout.trim(), showRun(fixed, 'mode fixed')).toBe(`${R} 755 root`);
    expect(mountsOf(c.image.loop, c.top)).toEqual([]);
  });

  it('/run/pantheros-rollback as a symlink, or owned by another user, is refused with a clear message; nothing is mounted there', () => {
    const c = useBootCase(runtime);
    const cfg = configFile(c, { deviceTimeoutSeconds: 1 });
    const elsewhere = scratchArea('ops-writes-');
    for (const [setup, message] of [
      [`ln -s ${elsewhere} /run/pantheros-rollback`, `refusing to use /run/pantheros-rollback (the report and the directories below): it is a symlink (→ ${elsewhere}), not a directory; remove it (rm /run/pantheros-rollback) and run again`],
      [`mkdir -m 0755 /run/pantheros-rollback && chown ${NOBODY.uid} /run/pantheros-rollback`, `refusing to use /run/pantheros-rollback (the report and the directories below): it is owned by uid ${NOBODY.uid}, not root`],
      [`mkdir -p /run/pantheros-rollback && ln -s ${elsewhere} /run/pantheros-rollback/mnt`, 'refusing to use /run/pantheros-rollback/mnt (private mounts of the btrfs top level): it is a symlink'],
    ] as const) {
      const r = inFreshRun(`${setup} && ${tool} list --device ${c.image.loop} --config ${cfg}; echo "exit=$?"; grep -c ' /run/pantheros-rollback' /proc/self/mountinfo`);
      expect(r.stdout.trim().split('\n'), showRun(r, setup)).toEqual(['exit=3', '0']);
      expect(r.stderr, setup).toContain(message);
      expect(readdirSync(elsewhere), setup).toEqual([]);
    }
  });
});
