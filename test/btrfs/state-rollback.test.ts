// Real btrfs, bundled file, Node and Bun (issue 14): the state rollback online (a real process holding files open,
// a mounted subvolume, something mounted inside it) and at boot (kernel command line, several subvolumes, not
// repeated), hostile names (newline, leading dash, non-UTF-8, a subvolume an unprivileged user made), and snapshots
// of the wrong subvolume.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { sh } from '../helpers/btrfs-image.js';
import { describeRun, fullState, useBootCase } from '../helpers/boot-case.js';
import { requirePrerequisites, RUNTIMES } from '../helpers/prereq.js';
import { asNobody, showRun, startBundle, waitFor } from '../helpers/ops.js';
import { writeFileSync } from 'node:fs';
import { DEEP_LEVEL } from '../helpers/deep-tree.js';
import { pythonAsNobody, requirePython, userArea } from '../helpers/attack.js';
import { ids, mountPg, PG, PG_DIR, PG_ENC, PG_SNAP, readText, runState, seedState, STATE_CONFIG, STATE_REQUEST, stateArchives } from '../helpers/state-case.js';

beforeAll(() => requirePrerequisites(['btrfs', 'mkfs.btrfs', 'losetup', 'mount', 'umount', 'setpriv', 'chattr'], 'apt-get install -y btrfs-progs util-linux e2fsprogs'));

const NOW = '2026-11-26T11:00:00Z';
const mountedAt = (mp: string) => readText('/proc/self/mountinfo').split('\n').filter((l) => l.split(' ')[4] === mp);

describe.each(RUNTIMES)('state rollback online under $name', (runtime) => {
  it('refuses while a process holds a file open there (naming it), changes nothing; once it is gone: unmounts, swaps, mounts again', async () => {
    const c = useBootCase(runtime);
    seedState(c);
    const mp = mountPg(c);
    const before = fullState(c);
    // A real process with a file open in the mounted subvolume (the stand-in for a database server).
    const holder = spawn('sh', ['-c', `exec 3<"${mp}/data"; echo ready; exec sleep 60`], { stdio: ['ignore', 'pipe', 'ignore'] });
    let ready = false;
    holder.stdout!.on('data', () => (ready = true));
    await waitFor('the holder', () => ready);
    try {
      const dry = runState(c, ['state-rollback', `${mp}=hourly`, '--dry-run', '--now', NOW], {}, { ...STATE_CONFIG, persistentTree: [] });
      expect(dry.code, showRun(dry, 'dry run')).toBe(0);
      expect(dry.stdout).toMatch(/would roll back @persistent\/var\/lib\/pg to @snapshots\/hourly\//);
      expect(dry.stdout).toContain(`would unmount and mount again: ${mp}`);
      expect(dry.stdout).toMatch(new RegExp(`files open there now .*pid ${holder.pid} \\(sleep\\): fd 3 → ${mp}/data`));
      const r = runState(c, ['state-rollback', `${mp}=hourly`, '--now', NOW], {}, { ...STATE_CONFIG, persistentTree: [] });
      expect(r.code, showRun(r, 'busy')).toBe(3);
      expect(r.stderr).toContain(`pid ${holder.pid} (sleep): fd 3 → ${mp}/data`);
      expect(fullState(c)).toEqual(before);
      expect(mountedAt(mp)).toHaveLength(1);
    } finally {
      holder.kill('SIGKILL');
      await new Promise((res) => holder.once('close', res));
    }
    const before2 = ids(c);
    const r = runState(c, ['state-rollback', `${mp}=hourly`, '--now', NOW, '--json'], {}, { ...STATE_CONFIG, persistentTree: [] });
    expect(r.code, showRun(r, 'after the holder ended')).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ action: 'online', result: 'ok', rollbacks: [{ subvolume: PG, from: `@snapshots/${PG_SNAP}`, nested: ['nested'] }], mounts: [{ mountPoint: mp }] });
    // Mounted again, now showing the snapshot's state, with the nested subvolume (same one) kept as it was.
    expect(mountedAt(mp)).toHaveLength(1);
    expect(readText(`${mp}/data`)).toBe('v1\n');
    expect(readText(`${mp}/nested/f`)).toBe('n2\n');
    expect(ids(c).get(`${PG}/nested`)).toBe(before2.get(`${PG}/nested`));
    // The state it had is archived, whole.
    const [archive] = stateArchives(c);
    expect(ids(c).get(`${PG_DIR}/${archive}`)).toBe(before2.get(PG));
    expect(c.read(`${PG_DIR}/${archive}/data`)).toBe('v2\n');
    sh('umount', [mp]);
  });

  it('SIGTERM while the subvolume is unmounted: the mount comes back, nothing was swapped, exit 143', async () => {
    const c = useBootCase(runtime);
    seedState(c);
    const mp = mountPg(c);
    const before = ids(c);
    // umount takes 1.5 s, so the signal arrives while the tool holds the subvolume unmounted.
    const bin = join(c.image.dir, 'slow-bin');
    mkdirSync(bin);
    const mark = join(c.image.dir, 'umount-started');
    writeFileSync(join(bin, 'umount'), `#!/bin/sh\ntouch ${mark}\nsleep 1.5\nexec /usr/bin/umount "$@"\n`, { mode: 0o755 });
    const config = join(c.image.dir, 'signal-config.json');
    writeFileSync(config, JSON.stringify({ ...STATE_CONFIG, persistentTree: [] }));
    const run = startBundle(runtime, ['state-rollback', `${mp}=hourly`, '--now', NOW, '--top-level', c.top, '--config', config], { PATH: `${bin}:${process.env.PATH}` });
    await waitFor('umount to start', () => existsSync(mark));
    run.child.kill('SIGTERM');
    const r = await run.done;
    expect(r.code, showRun(r, 'SIGTERM')).toBe(143);
    expect(r.stderr).toContain('mounted what was unmounted again');
    expect(mountedAt(mp)).toHaveLength(1);
    expect(readText(`${mp}/data`)).toBe('v2\n');
    // The same subvolumes (ids) at the same paths: nothing made, moved or archived.
    expect(ids(c)).toEqual(before);
    sh('umount', [mp]);
  });

  it('a step that fails (the commit) puts everything back: the old state and its nested subvolume in place, mounted, no archive, no temporary', () => {
    const c = useBootCase(runtime);
    seedState(c);
    const mp = mountPg(c);
    const before = ids(c);
    const failing = join(c.image.dir, 'failing-btrfs');
    writeFileSync(failing, '#!/bin/sh\nif [ "$1 $2" = "filesystem sync" ]; then echo "ERROR: simulated I/O error" >&2; exit 1; fi\nexec btrfs "$@"\n', { mode: 0o755 });
    const r = runState(c, ['state-rollback', `${mp}=hourly`, '--now', NOW], { PANTHEROS_BTRFS: failing }, { ...STATE_CONFIG, persistentTree: [] });
    expect(r.code, showRun(r, 'failed commit')).toBe(1);
    expect(r.stderr).toMatch(/step \d+ commit failed: .*simulated I\/O error.*@persistent\/var\/lib\/pg is back as it was/);
    expect(mountedAt(mp)).toHaveLength(1);
    expect(readText(`${mp}/data`)).toBe('v2\n');
    expect(ids(c)).toEqual(before);
    sh('umount', [mp]);
  });

  it('refuses a subvolume with something of another filesystem mounted inside it, changing nothing', () => {
    const c = useBootCase(runtime);
    seedState(c);
    const mp = mountPg(c);
    const inner = join(mp, 'run');
    mkdirSync(inner);
    sh('mount', ['-t', 'tmpfs', 'tmpfs', inner]);
    try {
      const before = fullState(c);
      const r = runState(c, ['state-rollback', `${PG}=hourly`, '--now', NOW]);
      expect(r.code, showRun(r, 'tmpfs inside')).toBe(3);
      expect(r.stderr).toContain(`tmpfs tmpfs is mounted at ${inner}, inside what is rolled back`);
      expect(fullState(c)).toEqual(before);
      expect(mountedAt(mp)).toHaveLength(1);
    } finally {
      sh('umount', [inner]);
      sh('umount', [mp]);
    }
  });

  it('refuses a snapshot of the wrong subvolume: named for another, or named for this one but made from another (btrfs parent uuid)', () => {
    const c = useBootCase(runtime);
    seedState(c);
    c.createSubvolume('@persistent/home', { h: 'home\n' });
    expect(runState(c, ['snapshot', '--class', 'hourly', '@persistent/home', '--now', '2026-11-26T10:00:00Z']).code).toBe(0);
    // A snapshot of @persistent/home under pg's name (a rename by someone with access to the snapshots directory).
    const forged = `@snapshots/hourly/${PG_ENC}.20261126T103000Z`;
    sh('mv', [c.abs('@snapshots/hourly/@persistent~2fhome.20261126T100000Z'), c.abs(forged)]);
    const before = fullState(c);
    for (const [spec, why] of [
      [`${PG}=hourly/${forged.split('/').at(-1)}`, /btrfs says it is a snapshot of another subvolume/],
      [`@persistent/home=${PG_SNAP}`, /its name says it is a snapshot of @persistent\/var\/lib\/pg, not of @persistent\/home/],
    ] as const) {
      const r = runState(c, ['state-rollback', spec, '--now', NOW]);
      expect(r.code, showRun(r, spec)).toBe(2);
      expect(r.stderr).toMatch(why);
      expect(fullState(c)).toEqual(before);
    }
    // By class, the forged one (newest by creation) is passed over for the real one.
    const r = runState(c, ['state-rollback', `${PG}=hourly`, '--now', NOW, '--json']);
    expect(r.code, showRun(r, 'by class')).toBe(0);
    expect(JSON.parse(r.stdout).rollbacks[0].from).toBe(`@snapshots/${PG_SNAP}`);
  });

  it('hostile nested names (newline, leading dash, made by an unprivileged user) are moved over unchanged; a non-UTF-8 one refuses the rollback', () => {
    const c = useBootCase(runtime);
    seedState(c);
    chmodSync(c.image.dir, 0o755);
    chmodSync(c.abs(PG), 0o1777);
    const hostile = '-x\nID 999 gen 1 top level 5 path @root';
    const made = asNobody(['btrfs', 'subvolume', 'create', join(c.abs(PG), hostile)]);
    expect(made.code, made.stderr).toBe(0);
    sh('btrfs', ['filesystem', 'sync', c.top]);
    const before = ids(c);
    // The text of the plan: the name stays on its line, escaped (before: its newline started a line of its own, "ID 999 …").
    const dry = runState(c, ['state-rollback', `${PG}=hourly`, '--now', NOW, '--dry-run']);
    expect(dry.code, showRun(dry, 'hostile, dry run')).toBe(0);
    expect(dry.stdout).toContain('"-x\\nID 999 gen 1 top level 5 path @root"');
    expect(dry.stdout.split('\n').filter((l) => l.startsWith('ID 999'))).toEqual([]);
    const r = runState(c, ['state-rollback', `${PG}=hourly`, '--now', NOW, '--json']);
    expect(r.code, showRun(r, 'hostile')).toBe(0);
    expect(JSON.parse(r.stdout).rollbacks[0].nested.sort()).toEqual([hostile, 'nested'].sort());
    expect(readdirSync(c.abs(PG)).sort()).toEqual([hostile, 'data', 'nested'].sort());
    const after = ids(c);
    expect(after.get(`${PG}/${hostile}`)).toBe(before.get(`${PG}/${hostile}`));
    expect(after.get('@root')).toBe(before.get('@root'));
    expect(c.read(`${PG}/data`)).toBe('v1\n');

    // A name that is not UTF-8: nothing is changed, and the message says why.
    // The name's bytes f, 0xff, o reach btrfs through printf (a JavaScript string argument would be encoded as UTF-8).
    const nb = spawnSync('bash', ['-c', 'btrfs subvolume create "$(printf "%s/f\\377o" "$1")"', '_', c.abs(PG)], { encoding: 'utf8' });
    expect(nb.status, nb.stderr).toBe(0);
    const state = fullState(c);
    const refused = runState(c, ['state-rollback', `${PG}=hourly`, '--now', '2026-11-26T12:00:00Z']);
    expect(refused.code, showRun(refused, 'non-UTF-8')).toBe(2);
    expect(refused.stderr).toMatch(/not valid UTF-8/);
    expect(fullState(c)).toEqual(state);
  });

  it('refuses a subvolume the running system needs (mounted at /persistent) and the root itself', () => {
    const c = useBootCase(runtime);
    seedState(c);
    expect(runState(c, ['snapshot', '--class', 'hourly', '@persistent', '--now', '2026-11-26T10:00:00Z']).code).toBe(0);
    const r = runState(c, ['state-rollback', '@root=hourly', '--now', NOW]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/root subvolume: roll it back with pantheros.rollback=/);
    const mp = join(c.image.dir, 'persistent');
    mkdirSync(mp);
    sh('mount', ['-o', 'subvol=/@persistent', c.image.loop, mp]);
    try {
      const before = fullState(c);
      const needed = runState(c, ['state-rollback', '@persistent=hourly', '--now', NOW], {}, { ...STATE_CONFIG, persistentTree: [{ path: mp, subvolume: '@persistent', neededForBoot: true }] });
      expect(needed.code, showRun(needed, '@persistent')).toBe(2);
      expect(needed.stderr).toContain(`@persistent is mounted at ${mp}, which the running system needs (neededForBoot): roll it back at the next boot instead`);
      expect(fullState(c)).toEqual(before);
      expect(mountedAt(mp)).toHaveLength(1);
    } finally {
      sh('umount', [mp]);
    }
  });
});

describe.each(RUNTIMES)('state rollback at boot under $name', (runtime) => {
  it('pantheros.rollback.state= rolls several subvolumes back in the same boot, the report says what, from where, archived where; not repeated next boot', () => {
    const c = useBootCase(runtime);
    seedState(c);
    c.createSubvolume('@persistent/srv', { s: 's1\n' });
    expect(runState(c, ['snapshot', '--class', 'daily', '@persistent/srv', '--now', '2026-11-26T00:00:00Z']).code).toBe(0);
    c.write('@persistent/srv/s', 's2\n');
    const before = ids(c);
    const cmdline = `pantheros.rollback.state="/var/lib/pg=hourly,@persistent/srv=daily"`;
    const r = c.boot(NOW, { config: STATE_CONFIG, cmdline });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.version).toBe(3);
    expect(r.report?.state).toMatchObject({ origin: 'cmdline', result: 'ok', rolledBack: [{ subvolume: PG, from: `@snapshots/${PG_SNAP}`, nested: ['nested'] }, { subvolume: '@persistent/srv' }] });
    expect(r.report?.state?.rolledBack[0]?.archived.path).toMatch(new RegExp(`^${PG_DIR}/20261126T110000Z$`));
    expect(c.read(`${PG}/data`)).toBe('v1\n');
    expect(c.read('@persistent/srv/s')).toBe('s1\n');
    expect(ids(c).get(`${PG}/nested`)).toBe(before.get(`${PG}/nested`));
    // The root's own rollback happened as usual.
    expect(r.report?.result).toBe('ok');
    // status says it.
    const status = runState(c, ['status', '--report', join(c.image.dir, 'report.json-1')]);
    expect(status.code, showRun(status, 'status')).toBe(0);
    expect(status.stdout).toMatch(new RegExp(`state rollback: ok .*\\n.*rolled back ${PG} to @snapshots/${PG_SNAP}; the state it had is archived as ${PG_DIR}/20261126T110000Z; nested moved over: nested`));
    // The same command line at the next boot does not roll back again (it would discard what was written since).
    c.write(`${PG}/data`, 'v3\n');
    const again = c.boot('2026-11-26T12:00:00Z', { config: STATE_CONFIG, cmdline });
    expect(again.code, describeRun(again)).toBe(0);
    expect(again.report?.state?.already.map((a) => a.subvolume).sort()).toEqual(['@persistent/srv', PG]);
    expect(again.report?.state?.rolledBack).toEqual([]);
    expect(c.read(`${PG}/data`)).toBe('v3\n');
  });

  it('an immutable persistent subvolume (chattr +i) refuses the request with chattr -i named, the root\'s rollback goes on, nothing of the state changes (before: the swap failed with EPERM and the boot exited 1)', () => {
    const c = useBootCase(runtime);
    seedState(c);
    const before = ids(c);
    sh('chattr', ['+i', c.abs(PG)]);
    try {
      const cmdline = 'pantheros.rollback.state=/var/lib/pg=hourly';
      const dry = c.boot(NOW, { config: STATE_CONFIG, cmdline, dryRun: true });
      expect(dry.report?.state, describeRun(dry)).toMatchObject({ result: 'refused' });
      const r = c.boot(NOW, { config: STATE_CONFIG, cmdline });
      expect(r.code, describeRun(r)).toBe(0);
      expect(r.report?.result).toBe('ok');
      expect(r.report?.state).toMatchObject({ result: 'refused', rolledBack: [] });
      expect(JSON.stringify(r.report?.state)).toMatch(new RegExp(`${PG} is immutable \\(chattr \\+i\\), so ${PG} cannot be swapped; lift it with chattr -i <top>/${PG}`));
      expect(c.read(`${PG}/data`)).toBe('v2\n');
      expect(ids(c).get(PG)).toBe(before.get(PG));
    } finally {
      sh('chattr', ['-i', c.abs(PG)]);
    }
  });

  it('an immutable snapshot as the source is refused: a snapshot of it would be immutable too, and the service could write nothing (review revL)', () => {
    const c = useBootCase(runtime);
    seedState(c);
    const snap = c.abs(`@snapshots/${PG_SNAP}`);
    sh('btrfs', ['property', 'set', '-ts', snap, 'ro', 'false']);
    sh('chattr', ['+i', snap]);
    sh('btrfs', ['property', 'set', '-ts', snap, 'ro', 'true']);
    try {
      const r = c.boot(NOW, { config: STATE_CONFIG, cmdline: 'pantheros.rollback.state=/var/lib/pg=hourly' });
      expect(r.code, describeRun(r)).toBe(0);
      expect(r.report?.state).toMatchObject({ result: 'refused', rolledBack: [] });
      expect(JSON.stringify(r.report?.state)).toMatch(/is immutable \(chattr \+i\), and a snapshot of it would be too/);
      expect(c.read(`${PG}/data`)).toBe('v2\n');
    } finally {
      sh('btrfs', ['property', 'set', '-ts', snap, 'ro', 'false']);
      sh('chattr', ['-i', snap]);
    }
  });

  it('a refused request rolls nothing back, says why, and the boot goes on; the request file is consumed', () => {
    const c = useBootCase(runtime);
    seedState(c);
    mkdirSync(c.abs('@btrfs_tmp/old_state'), { recursive: true });
    c.write(STATE_REQUEST, `${PG}=hourly,@persistent/nope=hourly\n`);
    const before = ids(c);
    // The dry run says refused too (before: "dry-run"), and leaves the request.
    const dry = c.boot(NOW, { config: STATE_CONFIG, dryRun: true });
    expect(dry.report?.state, describeRun(dry)).toMatchObject({ origin: 'next-boot', result: 'refused', rolledBack: [] });
    expect(c.kind(STATE_REQUEST)).toBe('file');
    const r = c.boot(NOW, { config: STATE_CONFIG });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.state).toMatchObject({ origin: 'next-boot', result: 'refused', rolledBack: [] });
    expect(r.report?.state?.refused.map((x) => x.reason).join()).toMatch(/@persistent\/nope does not exist/);
    expect(ids(c).get(PG)).toBe(before.get(PG));
    expect(c.kind(STATE_REQUEST)).toBe('missing');
  });

  it('a nested subvolume a user made below a tree deeper than PATH_MAX: refused with its reason by the dry run and by the boot, which exits 0 and consumes the request (before: exit 4, and every boot after the request exited 1)', () => {
    requirePython();
    const c = useBootCase(runtime);
    seedState(c);
    const request = runState(c, ['state-rollback', '--next-boot', `${PG}=hourly`, '--now', NOW]);
    expect(request.code, showRun(request, 'state-rollback --next-boot')).toBe(0);
    // The user's move, after the request: u is theirs (as /tmp), the deep tree and the subvolume at its bottom too.
    userArea(c, `${PG}/u`);
    pythonAsNobody(`import os, subprocess, sys\nos.chdir(sys.argv[1]); os.mkdir('deep'); os.chdir('deep')\nfor i in range(30): os.mkdir('${DEEP_LEVEL}'); os.chdir('${DEEP_LEVEL}')\nsubprocess.run(['btrfs', '-q', 'subvolume', 'create', 'sub'], check=True)`, [c.abs(`${PG}/u`)]);
    sh('btrfs', ['filesystem', 'sync', c.top]);
    const reason = /the nested subvolume u\/deep\/(d+\/){30}sub of @persistent\/var\/lib\/pg cannot be moved over: its parent directory u\/deep\/(d+\/){29}d+ is not in @snapshots\//;
    const dry = runState(c, ['state-rollback', `${PG}=hourly`, '--now', NOW, '--dry-run']);
    expect(dry.stderr, showRun(dry, 'state-rollback --dry-run')).toMatch(reason);
    expect(dry.stderr).not.toMatch(/this is a bug/);
    const r = c.boot('2026-11-26T12:00:00Z', { config: STATE_CONFIG });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.state).toMatchObject({ origin: 'next-boot', result: 'refused', rolledBack: [] });
    expect(r.report?.state?.refused.map((x) => x.reason).join()).toMatch(reason);
    expect(c.kind(STATE_REQUEST)).toBe('missing');
    expect(c.read(`${PG}/data`)).toBe('v2\n');
  });

  it('a symlink the user had on the way to a nested subvolume\'s place when the snapshot was taken (u/a -> /): the plan refuses, the host\'s tree behind it is not taken for the snapshot\'s (before: the dry run said ok, the swap failed, and a --next-boot request failed every boot)', () => {
    const c = useBootCase(runtime);
    seedState(c);
    userArea(c, `${PG}/u`);
    const u = c.abs(`${PG}/u`);
    expect(asNobody(['ln', '-s', '/', join(u, 'a')]).code).toBe(0);
    const snap = runState(c, ['snapshot', '--class', 'hourly', PG, '--now', '2026-11-26T10:30:00Z']);
    expect(snap.code, showRun(snap, 'snapshot')).toBe(0);
    const made = asNobody(['sh', '-c', `rm '${u}/a' && mkdir -p '${u}/a/tmp' && btrfs -q subvolume create '${u}/a/tmp/sub'`]);
    expect(made.code, made.stderr).toBe(0);
    sh('btrfs', ['filesystem', 'sync', c.top]);
    const dry = runState(c, ['state-rollback', `${PG}=hourly`, '--now', NOW, '--dry-run']);
    expect(dry.code, showRun(dry, 'state-rollback --dry-run')).toBe(2);
    expect(dry.stderr).toMatch(/the nested subvolume u\/a\/tmp\/sub of @persistent\/var\/lib\/pg cannot be moved over: its parent directory u\/a\/tmp is not in @snapshots\/hourly\//);
    expect(c.read(`${PG}/data`)).toBe('v2\n');
  });

  it('pantheros.rollback=<snapshot of a persistent subvolume> is refused as a root, naming the state rollback', () => {
    const c = useBootCase(runtime);
    seedState(c);
    const r = c.boot(NOW, { config: STATE_CONFIG, cmdline: `pantheros.rollback=${PG_SNAP}` });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.result).toBe('fell-back');
    expect(r.report?.target?.refused).toContain(`pantheros.rollback.state=${PG_SNAP} at boot, or pantheros-rollback state-rollback ${PG_SNAP} online`);
    expect(c.read(`${PG}/data`)).toBe('v2\n');
  });
});
