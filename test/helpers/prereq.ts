// Prerequisites of the real-disk tests. There is no skipping: a missing tool fails the test with
// the command that installs it (.ci/run installs all of them on a fresh machine).
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export const REPO = new URL('../../', import.meta.url).pathname.replace(/\/$/, '');
export const BUNDLE = join(REPO, 'dist/pantheros-rollback.mjs');
/** The boot-only bundle: what an initrd ships and runs (only `boot`). */
export const BOOT_BUNDLE = join(REPO, 'dist/pantheros-rollback-boot.mjs');
/** The same as CommonJS: what stage 1 runs under Node (it starts CommonJS without its ES module loader). */
export const NODE_BOOT_BUNDLE = join(REPO, 'dist/pantheros-rollback-boot.cjs');
export const BUN = join(REPO, 'node_modules/@oven/bun-linux-x64/bin/bun');
export const NODE = process.execPath;

/**
 * The flags every launch of Bun takes (nix/bun-launch.json, the module's list): `run` for `bun FILE` (no bunfig.toml,
 * no .env from the working directory), `compile` for `bun build --compile` (the executable reads neither).
 */
export const BUN_LAUNCH = JSON.parse(readFileSync(join(REPO, 'nix/bun-launch.json'), 'utf8')) as { run: string[]; compile: string[]; env: Record<string, string> };

/** The runtimes every real-disk test runs the bundle under, each with the flags it is launched with (`bin ...flags BUNDLE`). */
export const RUNTIMES = [
  { name: 'node', bin: NODE, flags: [] as readonly string[] },
  { name: 'bun', bin: BUN, flags: BUN_LAUNCH.run as readonly string[] },
] as const;
export type Runtime = (typeof RUNTIMES)[number];

function onPath(tool: string): boolean {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    try {
      accessSync(join(dir, tool), constants.X_OK);
      return true;
    } catch {
      // next
    }
  }
  return false;
}

/** Throws with an install hint unless every tool is on PATH, we are root and the bundle is built. */
export function requirePrerequisites(
  tools: string[] = ['btrfs', 'mkfs.btrfs', 'losetup', 'mount', 'umount'],
  installHint = 'apt-get install -y btrfs-progs util-linux',
): void {
  const missing = tools.filter((t) => !onPath(t));
  if (missing.length) {
    throw new Error(`missing prerequisites: ${missing.join(', ')} — run: ${installHint} (or bash .ci/run)`);
  }
  if (process.getuid?.() !== 0) throw new Error('real-disk tests need root (loop devices and mounts)');
  if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing — run: npm run build`);
  if (!existsSync(BUN)) throw new Error(`${BUN} is missing — run: npm ci`);
  execFileSync(BUN, ['--version']);
}
