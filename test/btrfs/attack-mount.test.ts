// Adversarial, real btrfs, bundled file, Node and Bun: `mount ARCHIVE DIR` and `umount DIR` in a directory a local
// user owns (README: "to let others browse, give a DIR"; security model: "no symlink is followed where root writes or
// reads for the operator"; issue 11: "A local user must not redirect root's writes"). The user swaps a symlink in
// (renameat2 RENAME_EXCHANGE in a loop) while root runs the command. Today both are redirected within a few tries.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { OLD_ROOTS, useBootCase } from '../helpers/boot-case.js';
import { PYTHON, requirePython } from '../helpers/attack.js';
import { NOBODY, scratchArea } from '../helpers/ops.js';
import { requirePrerequisites, RUNTIMES, type Runtime } from '../helpers/prereq.js';
import { runBundle } from '../helpers/run-bundle.js';
import { parseMountinfo } from '../../src/fs/mountinfo.js';

beforeAll(() => requirePrerequisites(['btrfs', 'mkfs.btrfs', 'losetup', 'mount', 'umount', 'setpriv'], 'apt-get install -y btrfs-progs util-linux'));
beforeAll(requirePython);

const TRIES = 40;
const ARCHIVE = '20261120T000000Z';

/** As nobody, until killed: exchanges the names a and b (absolute paths) with renameat2(RENAME_EXCHANGE), in a loop. */
function startSwapper(a: string, b: string): ChildProcess {
  const script = 'import ctypes,sys\nl=ctypes.CDLL(None)\na=sys.argv[1].encode(); b=sys.argv[2].encode()\nwhile True: l.renameat2(-100,a,-100,b,2)';
  return spawn('setpriv', [`--reuid=${NOBODY.uid}`, `--regid=${NOBODY.gid}`, '--clear-groups', PYTHON, '-c', script, a, b], { stdio: 'ignore' });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await done;
}

const mountPoints = () => parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')).map((m) => m.mountPoint);

/** Unmounts everything mounted at or below dir (deepest first). */
function unmountBelow(dir: string): void {
  for (const m of mountPoints().filter((p) => p === dir || p.startsWith(`${dir}/`)).sort((a, b) => b.length - a.length)) spawnSync('umount', [m]);
}

function asNobody(argv: string[]): void {
  expect(spawnSync('setpriv', [`--reuid=${NOBODY.uid}`, `--regid=${NOBODY.gid}`, '--clear-groups', ...argv]).status, argv.join(' ')).toBe(0);
}

describe.each(RUNTIMES)('attack: mount and umount in a user-owned DIR under $name', (runtime: Runtime) => {
  it('mount ARCHIVE DIR: a symlink swapped in at DIR never makes root mount the archive over another directory', async () => {
    const c = useBootCase(runtime);
    c.createSubvolume(`${OLD_ROOTS}/${ARCHIVE}`, { marker: 'archive\n' });
    const cfg = join(c.image.dir, 'mount-config.json');
    writeFileSync(cfg, JSON.stringify({ deviceTimeoutSeconds: 1 }));
    const scratch = scratchArea('attack-mount-');
    const victim = join(scratch, 'victim');
    mkdirSync(victim);
    writeFileSync(join(victim, 'precious'), 'root data\n');
    const home = join(scratch, 'home');
    mkdirSync(home);
    chownSync(home, NOBODY.uid, NOBODY.gid);
    const dir = join(home, 'view');
    let redirected = '';
    try {
      for (let i = 0; i < TRIES && !redirected; i++) {
        for (const n of readdirSync(home)) rmSync(join(home, n), { recursive: true, force: true });
        asNobody(['mkdir', dir]);
        asNobody(['ln', '-s', victim, join(home, 'swap')]);
        const swapper = startSwapper(dir, join(home, 'swap'));
        await new Promise((r) => setTimeout(r, 100));
        const r = runBundle(runtime, ['mount', ARCHIVE, dir, '--top-level', c.top, '--config', cfg]);
        await stop(swapper);
        if (mountPoints().includes(victim)) redirected = `try ${i + 1}: exit ${r.code}; the tool said: ${r.stdout.trim()}`;
        unmountBelow(scratch);
      }
    } finally {
      unmountBelow(scratch);
    }
    expect(redirected, 'the archive was mounted over a root-owned directory the user chose').toBe('');
  });

  it('umount DIR: a symlink swapped in on the way never makes root unmount another filesystem', async () => {
    const c = useBootCase(runtime);
    c.createSubvolume(`${OLD_ROOTS}/${ARCHIVE}`, { marker: 'archive\n' });
    const cfg = join(c.image.dir, 'mount-config.json');
    writeFileSync(cfg, JSON.stringify({ deviceTimeoutSeconds: 1 }));
    const scratch = scratchArea('attack-umount-');
    // Another filesystem mounted at <scratch>/other/view (standing in for /boot, /persistent, /home …).
    const other = join(scratch, 'other');
    mkdirSync(join(other, 'view'), { recursive: true });
    expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'attack-victim', join(other, 'view')]).status).toBe(0);
    const home = join(scratch, 'home');
    mkdirSync(home);
    chownSync(home, NOBODY.uid, NOBODY.gid);
    let redirected = '';
    try {
      for (let i = 0; i < TRIES && !redirected; i++) {
        unmountBelow(home);
        for (const n of readdirSync(home)) rmSync(join(home, n), { recursive: true, force: true });
        asNobody(['mkdir', '-p', join(home, 'd/view')]);
        asNobody(['ln', '-s', other, join(home, 'e')]);
        const m = runBundle(runtime, ['mount', ARCHIVE, join(home, 'd/view'), '--top-level', c.top, '--config', cfg]);
        expect(m.code, m.stderr).toBe(0);
        const swapper = startSwapper(join(home, 'd'), join(home, 'e'));
        await new Promise((r) => setTimeout(r, 100));
        const r = runBundle(runtime, ['umount', join(home, 'd/view'), '--config', cfg]);
        await stop(swapper);
        if (!mountPoints().includes(join(other, 'view'))) redirected = `try ${i + 1}: exit ${r.code}; the tool said: ${r.stdout.trim()}`;
      }
    } finally {
      unmountBelow(scratch);
    }
    expect(redirected, 'root unmounted a filesystem the user chose').toBe('');
  });
});
