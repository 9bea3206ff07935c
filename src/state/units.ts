// The systemd units that use a persistent mount, and stopping/starting them (systemctl, argv without a shell).
// Sources: the config's persistentTree units (the NixOS module records them), and systemd's own dependency graph —
// a unit with RequiresMountsFor=PATH has Requires= and After= on the mount unit, so the mount unit's RequiredBy=,
// BoundBy= and WantedBy= name it (systemd.unit(5)).
import { existsSync } from 'node:fs';
import { runCommand } from '../btrfs/run.js';

const SYSTEMCTL = process.env.PANTHEROS_SYSTEMCTL ?? 'systemctl';

/** systemd is the init system (sd_booted(3): /run/systemd/system exists). */
export function systemdRunning(): boolean {
  return existsSync('/run/systemd/system');
}

/** The mount unit name of a mount point (systemd-escape --path --suffix=mount). Pure. */
export function mountUnitName(mountPoint: string): string {
  const trimmed = mountPoint.replace(/^\/+|\/+$/g, '');
  if (trimmed === '') return '-.mount';
  const escaped = [...Buffer.from(trimmed.replace(/\/+/g, '/'))]
    .map((b, i) => {
      const ch = String.fromCharCode(b);
      if (ch === '/') return '-';
      if (/[A-Za-z0-9:_]/.test(ch) || (ch === '.' && i > 0)) return ch;
      return `\\x${b.toString(16).padStart(2, '0')}`;
    })
    .join('');
  return `${escaped}.mount`;
}

/** Units worth stopping: services and sockets (never targets, mounts, slices or the init's own units). Pure. */
export function stoppable(unit: string): boolean {
  return /\.(service|socket)$/.test(unit) && !unit.startsWith('-');
}

/** Parses `systemctl show -p RequiredBy -p BoundBy -p WantedBy` output into unit names. Pure. */
export function parseDependents(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^(RequiredBy|BoundBy|WantedBy)=(.*)$/.exec(line.trim());
    if (m) out.push(...m[2]!.split(/\s+/).filter(Boolean));
  }
  return out;
}

/** Units that depend on the mount units of `mountPoints`, as systemd says; [] without systemd. */
export function dependentsOf(mountPoints: readonly string[]): string[] {
  if (!systemdRunning() || !mountPoints.length) return [];
  const units = mountPoints.map(mountUnitName);
  const r = runCommand([SYSTEMCTL, 'show', '-p', 'RequiredBy', '-p', 'BoundBy', '-p', 'WantedBy', '--', ...units]);
  return r.code === 0 ? parseDependents(r.stdout) : [];
}

/** The units among `units` that are active now (systemctl is-active, one answer per line). */
export function activeUnits(units: readonly string[]): string[] {
  if (!units.length || !systemdRunning()) return [];
  const r = runCommand([SYSTEMCTL, 'is-active', '--', ...units]);
  const states = r.stdout.split('\n');
  return units.filter((_, i) => states[i]?.trim() === 'active' || states[i]?.trim() === 'reloading');
}

/** Stops (or starts) the units; returns the error text, or undefined. */
export function changeUnits(verb: 'stop' | 'start', units: readonly string[]): string | undefined {
  if (!units.length) return undefined;
  const r = runCommand([SYSTEMCTL, verb, '--', ...units]);
  return r.code === 0 ? undefined : `systemctl ${verb} ${units.join(' ')} failed: ${r.stderr.trim() || `exit ${r.code}`}`;
}
