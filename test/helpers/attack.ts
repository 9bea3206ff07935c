// For the adversarial tests (test/btrfs/attack-*.test.ts): what an unprivileged local user can do to the layout —
// world-writable directories as /tmp of a live root is, subvolumes and directories with exact-byte names made
// through btrfs itself as nobody — and the `btrfs subvolume list -c -g -p -u -q -R` line shape a name can forge.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { expect } from 'vitest';
import type { BootCase } from './boot-case.js';
import { NOBODY } from './ops.js';

/** Debian's python3 (python3-minimal, which .ci/run installs), which any user may run. */
export const PYTHON = '/usr/bin/python3';

/** Throws with the install hint unless PYTHON is there. */
export function requirePython(): void {
  expect(existsSync(PYTHON), `${PYTHON} is missing — run: apt-get install -y python3-minimal`).toBe(true);
}

/** Makes `rel` (below the top level) a sticky world-writable directory, reachable by anyone, as /tmp is. */
export function userArea(c: BootCase, rel: string): void {
  chmodSync(c.image.dir, 0o755);
  mkdirSync(c.abs(rel), { recursive: true });
  chmodSync(c.abs(rel), 0o1777);
}

/** The shortest text the listing parser takes for an entry: `ID 1 gen 1 top level 5 path <path>`. */
export const entryShapedLine = (path = 'a') => `ID 1 gen 1 top level 5 path ${path}`;

/** Runs a python3 script as nobody (real and effective ids, no groups); argv after the script; throws on failure. */
export function pythonAsNobody(script: string, args: string[]): void {
  const r = spawnSync('setpriv', [`--reuid=${NOBODY.uid}`, `--regid=${NOBODY.gid}`, '--clear-groups', PYTHON, '-c', script, ...args], { encoding: 'utf8' });
  expect(r.status, `python3 as nobody: ${r.stderr}`).toBe(0);
}

/**
 * As nobody: below `rel` (a user area), `components` nested directories whose names each hold `linesPer` newlines
 * followed by listing-shaped text, then a subvolume `leaf` at the bottom with a file `marker`. Returns the subvolume's
 * path (relative to the top level) as exact bytes.
 */
export function subvolumeBelowForgedDirectories(c: BootCase, rel: string, components: number, linesPer: number, leaf = 'sub'): Buffer {
  const names: string[] = [];
  for (let i = 0; i < components; i++) names.push(`${String(i).padStart(2, '0')}${Array.from({ length: linesPer }, () => `\n${entryShapedLine()}`).join('')}`);
  const script = [
    'import os,sys,subprocess',
    'os.chdir(sys.argv[1])',
    'for n in sys.argv[3:]:',
    '    os.mkdir(n); os.chdir(n)',
    'subprocess.run(["btrfs","-q","subvolume","create",sys.argv[2]],check=True)',
    'open(os.path.join(sys.argv[2],"marker"),"w").write("user data\\n")',
  ].join('\n');
  pythonAsNobody(script, [c.abs(rel), leaf, ...names]);
  return Buffer.from(`${rel}/${[...names, leaf].join('/')}`);
}

/** python3 lines defining mk(dir_fd, name_bytes): BTRFS_IOC_SUBVOL_CREATE of `name` in the directory held by dir_fd. */
const CREATE_SUBVOLUME_PY = ['import fcntl,os,struct,sys', 'mk=lambda d,n: fcntl.ioctl(d,0x5000940e,bytearray(struct.pack("q4088s",0,n)))'];

/**
 * As nobody, `count` subvolumes `sv0`, `sv1`, … directly in `rel` (a user area) — with `readOnlyHolders`, each holding
 * a subvolume `c` and then made read-only by its owner — made by BTRFS_IOC_SUBVOL_CREATE
 * (`_IOW(0x94, 14, struct btrfs_ioctl_vol_args)`: an s64 fd and a 4088-byte name; include/uapi/linux/btrfs.h) in one
 * python3 process: thousands a second, as fast as a local user can make them (no btrfs process each).
 */
export function manySubvolumesAsNobody(c: BootCase, rel: string, count: number, options: { readOnlyHolders?: boolean } = {}): void {
  const script = [
    ...CREATE_SUBVOLUME_PY,
    'fd=os.open(sys.argv[1],os.O_RDONLY|os.O_DIRECTORY)',
    'for i in range(int(sys.argv[2])):',
    '    mk(fd,b"sv%d"%i)',
    '    if sys.argv[3]=="1":',
    '        h=os.open(b"%s/sv%d"%(sys.argv[1].encode(),i),os.O_RDONLY|os.O_DIRECTORY)',
    '        mk(h,b"c")',
    // BTRFS_IOC_SUBVOL_SETFLAGS (_IOW(0x94, 26, __u64)) with BTRFS_SUBVOL_RDONLY: its owner may set it.
    '        fcntl.ioctl(h,0x4008941a,bytearray(struct.pack("Q",2)))',
    '        os.close(h)',
  ].join('\n');
  pythonAsNobody(script, [c.abs(rel), String(count), options.readOnlyHolders ? '1' : '0']);
}

/** As nobody, a chain of `depth` subvolumes `d`, one inside the next, in `rel` (a user area): `rel/d/d/…/d`. */
export function chainOfSubvolumesAsNobody(c: BootCase, rel: string, depth: number): void {
  const script = [
    ...CREATE_SUBVOLUME_PY,
    'os.chdir(sys.argv[1])',
    'for i in range(int(sys.argv[2])):',
    '    fd=os.open(".",os.O_RDONLY|os.O_DIRECTORY)',
    '    mk(fd,b"d")',
    '    os.close(fd)',
    '    os.chdir("d")',
  ].join('\n');
  pythonAsNobody(script, [c.abs(rel), String(depth)]);
}
