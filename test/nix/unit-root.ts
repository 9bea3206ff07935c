// Builds a directory tree that systemd-analyze verify --root= can load the units of an evaluated host
// from, for stage 1 (what the initrd holds) or stage 2 (the running system), and runs it.
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { NixosSummary, StoreFile, UnitFile } from '../helpers/nix.js';

/** systemd's own unit directory on this machine (systemd 252 on Debian 12). */
export const SYSTEM_UNIT_DIR = ['/lib/systemd/system', '/usr/lib/systemd/system'].find((d) => existsSync(join(d, 'initrd.target'))) ?? '/lib/systemd/system';
const FSTAB_GENERATOR = ['/lib/systemd/system-generators/systemd-fstab-generator', '/usr/lib/systemd/system-generators/systemd-fstab-generator'].find(existsSync);

const INSTALL_HINT = 'apt-get install -y systemd (or bash .ci/run)';

/** Throws with an install hint unless systemd-analyze and systemd-fstab-generator are here. */
export function requireSystemd(): void {
  const r = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`systemd-analyze is missing — run: ${INSTALL_HINT}`);
  if (!FSTAB_GENERATOR) throw new Error(`systemd-fstab-generator is missing — run: ${INSTALL_HINT}`);
}

/**
 * The units NixOS copies from systemd into every systemd stage 1 (the `upstreamUnits` of
 * nixos/modules/system/boot/systemd/initrd.nix); those systemd 252 ships are copied into the root.
 */
export const NIXOS_INITRD_UPSTREAM_UNITS = [
  'basic.target',
  'ctrl-alt-del.target',
  'debug-shell.service',
  'emergency.service',
  'emergency.target',
  'final.target',
  'halt.target',
  'initrd-cleanup.service',
  'initrd-fs.target',
  'initrd-parse-etc.service',
  'initrd-root-device.target',
  'initrd-root-fs.target',
  'initrd-switch-root.service',
  'initrd-switch-root.target',
  'initrd.target',
  'kexec.target',
  'kmod-static-nodes.service',
  'local-fs-pre.target',
  'local-fs.target',
  'modprobe@.service',
  'multi-user.target',
  'paths.target',
  'poweroff.target',
  'reboot.target',
  'rescue.service',
  'rescue.target',
  'rpcbind.target',
  'shutdown.target',
  'sigpwr.target',
  'slices.target',
  'sockets.target',
  'swap.target',
  'sysinit.target',
  'sys-kernel-config.mount',
  'syslog.socket',
  'systemd-ask-password-console.path',
  'systemd-ask-password-console.service',
  'systemd-fsck@.service',
  'systemd-halt.service',
  'systemd-journald-audit.socket',
  'systemd-journald-dev-log.socket',
  'systemd-journald.service',
  'systemd-journald.socket',
  'systemd-kexec.service',
  'systemd-modules-load.service',
  'systemd-poweroff.service',
  'systemd-reboot.service',
  'systemd-sysctl.service',
  'timers.target',
  'umount.target',
];

const STUB = '#!/bin/sh\n# stands in for a binary of the store\nexit 0\n';

function writeFile(root: string, path: string, file: StoreFile | undefined): void {
  const target = join(root, path);
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, file?.text ?? STUB);
  chmodSync(target, file === undefined || file.executable || file.text === null ? 0o755 : 0o644);
}

/**
 * Puts a store path into the root: its known files, or else an executable stub (a binary, or a
 * script whose contents are not known here) — or, for a whole package named as such, a directory.
 */
function materialize(root: string, path: string, files: Record<string, StoreFile>, packageRoot: boolean): void {
  const inside = Object.keys(files).filter((f) => f.startsWith(`${path}/`));
  if (files[path]) writeFile(root, path, files[path]);
  else if (inside.length) for (const f of inside) writeFile(root, f, files[f]);
  else if (packageRoot) mkdirSync(join(root, path), { recursive: true });
  else writeFile(root, path, undefined);
}

/**
 * Writes units and their .wants/.requires links into DIR (a unit directory of the root). A unit that
 * systemd already ships (UPSTREAM) becomes a drop-in, <name>.d/overrides.conf, as NixOS installs it
 * (overrideStrategy "asDropinIfExists").
 */
export function installUnits(dir: string, units: Record<string, UnitFile>, upstream: Set<string>): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, unit] of Object.entries(units)) {
    if (!unit.enable) {
      symlinkSync('/dev/null', join(dir, name));
      continue;
    }
    if (upstream.has(name)) {
      mkdirSync(join(dir, `${name}.d`), { recursive: true });
      writeFileSync(join(dir, `${name}.d/overrides.conf`), unit.text);
    } else {
      writeFileSync(join(dir, name), unit.text);
    }
    for (const [kind, targets] of [
      ['wants', unit.wantedBy],
      ['requires', unit.requiredBy],
    ] as const) {
      for (const target of targets) {
        mkdirSync(join(dir, `${target}.${kind}`), { recursive: true });
        symlinkSync(`../${name}`, join(dir, `${target}.${kind}`, name));
      }
    }
  }
}

/** The mount units systemd's fstab generator makes in stage 1 from NixOS' initrd fstab. */
function generateInitrdMounts(fstab: string, dir: string): void {
  const work = mkdtempSync(join(tmpdir(), 'pantheros-fstab-'));
  try {
    writeFileSync(join(work, 'fstab'), fstab);
    const out = join(work, 'out');
    mkdirSync(out);
    const r = spawnSync(FSTAB_GENERATOR!, [out, out, out], {
      encoding: 'utf8',
      env: { ...process.env, SYSTEMD_IN_INITRD: '1', SYSTEMD_SYSROOT_FSTAB: join(work, 'fstab'), SYSTEMD_FSTAB: '/dev/null', SYSTEMD_PROC_CMDLINE: '' },
    });
    if (r.status !== 0) throw new Error(`systemd-fstab-generator failed on:\n${fstab}\n${r.stderr}`);
    cpSync(out, dir, { recursive: true, verbatimSymlinks: true });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Stage 1 as NixOS builds it: /etc/initrd-release, systemd's upstream initrd units, the mount units
 * the fstab generator makes from the initrd fstab, the host's initrd units, and only the files the
 * initrd gets — storePaths, contents, extraBin, initrdBin — so a unit that runs anything else fails.
 */
export function stage1Root(s: NixosSummary, root: string): void {
  const units = join(root, 'etc/systemd/system');
  mkdirSync(units, { recursive: true });
  writeFileSync(join(root, 'etc/initrd-release'), 'NAME=NixOS\nID=nixos\nVARIANT_ID=initrd\n');
  const upstream = NIXOS_INITRD_UPSTREAM_UNITS.filter((name) => existsSync(join(SYSTEM_UNIT_DIR, name)));
  for (const name of upstream) cpSync(join(SYSTEM_UNIT_DIR, name), join(units, name), { verbatimSymlinks: true });
  generateInitrdMounts(s.initrdFstab, units);
  installUnits(units, s.initrd.units, new Set(upstream));
  for (const { source, target } of s.initrd.storePaths) {
    materialize(root, source, s.files, /^\/nix\/store\/[^/]+$/.test(source));
    if (target !== null) writeFile(root, target, s.files[source]);
  }
  for (const [target, source] of Object.entries(s.initrd.contents)) writeFile(root, target, s.files[source]);
  for (const name of Object.keys(s.initrd.extraBin)) writeFile(root, `/bin/${name}`, undefined);
  for (const pkg of s.initrd.initrdBin) {
    for (const file of Object.keys(s.files).filter((f) => f.startsWith(`${pkg}/bin/`))) writeFile(root, `/bin/${file.slice(pkg.length + 5)}`, s.files[file]);
  }
}

/** Stage 2: systemd's units of this machine, the host's units, and every store path they name. */
export function stage2Root(s: NixosSummary, root: string): void {
  cpSync(SYSTEM_UNIT_DIR, join(root, 'lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
  installUnits(join(root, 'etc/systemd/system'), s.units, new Set(readdirSync(SYSTEM_UNIT_DIR)));
  const paths = new Set<string>();
  for (const unit of Object.values(s.units)) for (const m of unit.text.matchAll(/\/nix\/store\/[^\s"':]+/g)) paths.add(m[0]);
  // Directories (PATH= entries such as …/bin) first, then the files in them.
  const isDirectory = (p: string): boolean => [...paths].some((q) => q.startsWith(`${p}/`)) || /\/s?bin$/.test(p);
  for (const path of [...paths].filter(isDirectory)) mkdirSync(join(root, path), { recursive: true });
  for (const path of [...paths].filter((p) => !isDirectory(p))) materialize(root, path, s.files, false);
}

/** systemd-analyze verify of UNITS inside ROOT; output is every diagnostic line systemd printed. */
export function verifyUnits(root: string, units: string[]): { status: number | null; output: string } {
  const r = spawnSync('systemd-analyze', ['verify', '--man=no', '--generators=no', '--recursive-errors=yes', `--root=${root}`, ...units], {
    encoding: 'utf8',
    env: { ...process.env, SYSTEMD_LOG_COLOR: '0', SYSTEMD_PAGER: '' },
  });
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

/** A fresh temporary root; the caller removes it. */
export function makeRoot(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `pantheros-${prefix}-`));
}

/** The unit files directly in a root's /etc/systemd/system (for listing what was installed). */
export function installedUnits(root: string): string[] {
  return readdirSync(join(root, 'etc/systemd/system')).filter((n) => !n.endsWith('.wants') && !n.endsWith('.requires'));
}
