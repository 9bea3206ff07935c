// A stage 2 with systemd as PID 1 for the VM test (test/vm/state.test.ts): the tree of the
// dracut-built stage-1 initrd (systemd 252, udev, util-linux, btrfs-progs, the runtime, the tool and
// its config) unpacked into @nix/vmtest-system, and test/vm/stage1/stage2-systemd.sh as the init that
// switch-root starts (init=/nix/vmtest/init-systemd): it makes the fresh root a system from that tree,
// without /etc/initrd-release, and execs systemd. Nothing is installed on this machine.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { BUNDLE, REPO } from '../helpers/prereq.js';
import type { Stage1Initrd } from './stage1-initrd.js';

const STAGE1 = join(REPO, 'test/vm/stage1');
/** The init= of a boot whose stage 2 is systemd. */
export const SYSTEMD_STAGE2_INIT = '/nix/vmtest/init-systemd';

/**
 * Installs the systemd stage 2 into the disk whose top level is mounted at `top` (@nix must exist, with the
 * busybox of installStage2 in @nix/vmtest). The tree is the initrd's: its dracut part (zstd cpio, basePath) and
 * then the small cpio at the head of the initrd file (GNU cpio stops at the first archive's trailer), so it
 * carries the same runtime, bundle and /etc/pantheros/rollback.json as stage 1, plus the whole bundle (every command)
 * for the running system. Throws when a step fails.
 */
export function installSystemdStage2(top: string, initrd: Stage1Initrd): void {
  const vmtest = join(top, '@nix/vmtest');
  if (!existsSync(join(vmtest, 'busybox'))) throw new Error(`${vmtest}/busybox is missing: create the disk with stage2: true`);
  const tree = join(top, '@nix/vmtest-system');
  mkdirSync(tree, { recursive: true });
  execFileSync('sh', ['-c', 'zstd -dc "$1" | cpio -idmu --quiet --no-absolute-filenames', '_', initrd.basePath], { cwd: tree, stdio: ['ignore', 'ignore', 'pipe'] });
  execFileSync('sh', ['-c', 'cpio -idmu --quiet --no-absolute-filenames <"$1"', '_', initrd.path], { cwd: tree, stdio: ['ignore', 'ignore', 'pipe'] });
  if (!existsSync(join(tree, 'usr/lib/systemd/systemd')) || !existsSync(join(tree, 'etc/pantheros/rollback.json'))) {
    throw new Error(`${initrd.path}: the unpacked tree has no systemd or no tool config`);
  }
  // The running system's command is the whole bundle (every command; stage 1 carries only `boot`), as the
  // NixOS package installs both: test/vm/stage1/stage2-online.sh runs it.
  copyFileSync(BUNDLE, join(tree, 'usr/lib/pantheros-rollback/pantheros-rollback.mjs'));
  const put = (from: string, to: string, mode: number) => {
    copyFileSync(join(STAGE1, from), join(vmtest, to));
    chmodSync(join(vmtest, to), mode);
  };
  put('stage2-systemd.sh', 'init-systemd', 0o755);
  put('stage2-online.sh', 'online', 0o755);
  mkdirSync(join(vmtest, 'units'), { recursive: true });
  for (const f of readdirSync(join(STAGE1, 'stage2-units'))) put(join('stage2-units', f), join('units', f), 0o644);
}
