// `check`: validates the config and the layout, and lints btrfs mount options; each finding says why and what to do.
import { existsSync } from 'node:fs';
import { readRegularFile } from '../fs/read-regular.js';
import type { Command } from '../cli/command.js';
import { parseFlags, stringFlag } from '../cli/args.js';
import { output, withTopLevel } from '../cli/context.js';
import { CONFIG_MAX_BYTES, DEFAULT_CONFIG_PATH, loadConfig } from '../config/load-config.js';
import { EXIT, UsageError } from '../errors.js';
import { readMountinfo, type MountEntry } from '../fs/mountinfo.js';
import { formatFinding, type Finding } from '../check/finding.js';
import { oneLine } from '../cli/show-text.js';
import { layoutFindings } from '../check/layout.js';
import { parseNow } from '../list/clock.js';
import { persistedMountFindings } from '../check/persisted-mounts.js';
import { readCmdlineText } from '../cmdline/parse-cmdline.js';
import { parseFstab } from '../check/fstab.js';
import { lintMountOptions, parseMountOptionsFlag, type MountOptions } from '../check/lint-mount-options.js';
import { locateTopLevel } from '../list/location.js';

const USAGE = `Usage: pantheros-rollback check [--mount-options MOUNTPOINT=OPT,OPT ... | --fstab FILE]
                                [--now ISO-8601] [--device DEV | --top-level DIR] [--config FILE] [--json]

Validates the config (a bad key is a usage error naming it, exit 2) and the layout at the top level:
the findings are what the next boot's plan, a prune and a snapshot of each configured subvolume say
about it (the same plans boot --dry-run, list and next-boot print): the root is a subvolume and not
the default subvolume; the blank exists, is read-only and empty; the archive and snapshot directories
are real directories; stray entries; subvolume listing lines a name forged; the subvolumes to snapshot.

Then lints btrfs mount options: contradictions (ssd+nossd, nodatacow+compress, nodatasum+compress),
commit over 300 s, autodefrag with snapshots, nodatacow/nodatasum for a whole filesystem,
synchronous discard, space_cache=v1, nobarrier, and btrfs options set differently on different
mounts of one filesystem (they are filesystem-wide: the first mount's win).
  default            every btrfs mount of the same filesystem in /proc/self/mountinfo; note that the
                     kernel shows the options in effect, so per-mount differences in your fstab or
                     NixOS fileSystems only show up with --mount-options
  --mount-options V  lint these instead, one per mount point in mount order, given once per mount:
                     --mount-options /=noatime,compress=zstd --mount-options /nix=noatime,compress=zstd
  --fstab FILE       lint the btrfs entries of an fstab instead (e.g. /etc/fstab, which NixOS writes
                     from fileSystems), grouped by device, parents first

Each finding has a severity, what, why, and what to do.

  --device DEV      the btrfs device (default: "device" in the config); mounted read-only, privately;
                    without any device the layout is not checked (a warning says so)
  --top-level DIR   an already-mounted top level instead
  --config FILE     JSON config (default ${DEFAULT_CONFIG_PATH})
  --now ISO-8601    the clock the plans are made with (default: the system clock)
  --json            machine-readable output

Exit: 0 no errors (warnings allowed), 1 errors found, 2 usage or invalid config, 3 the top level cannot be mounted.`;

/** Pulls every "--mount-options V" / "--mount-options=V" out of argv (parseFlags allows a flag only once). */
export function takeMountOptions(argv: readonly string[]): { values: string[]; rest: string[] } {
  const values: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--mount-options') {
      const v = argv[i + 1];
      if (v === undefined || v === '') throw new UsageError('check: --mount-options needs a value such as /=noatime,compress=zstd');
      values.push(v);
      i += 1;
    } else if (a.startsWith('--mount-options=')) {
      values.push(a.slice('--mount-options='.length));
    } else rest.push(a);
  }
  return { values, rest };
}

/** Btrfs mounts grouped by filesystem (major:minor), in mount order; this tool's own private and browse mounts left out. */
export function btrfsMountGroups(mounts: readonly MountEntry[], majorMinor?: string | null): { majorMinor: string; source: string; mounts: MountOptions[] }[] {
  const groups = new Map<string, { majorMinor: string; source: string; mounts: MountOptions[] }>();
  for (const e of mounts) {
    if (e.fsType !== 'btrfs' || e.mountPoint.startsWith('/run/pantheros-rollback/')) continue;
    if (majorMinor && e.majorMinor !== majorMinor) continue;
    const g = groups.get(e.majorMinor) ?? { majorMinor: e.majorMinor, source: e.source, mounts: [] };
    g.mounts.push({ mountPoint: e.mountPoint, options: `${e.options},${e.superOptions}` });
    groups.set(e.majorMinor, g);
  }
  return [...groups.values()];
}

export const checkCommand: Command = {
  name: 'check',
  usage: USAGE,
  async run(argv) {
    const { values, rest } = takeMountOptions(argv);
    const args = parseFlags(rest, { string: ['fstab', 'now'] }, 'check');
    if (args._.length) throw new UsageError(`check: unexpected argument ${String(args._[0])}`);
    const configPath = stringFlag(args, 'config') ?? DEFAULT_CONFIG_PATH;
    const config = loadConfig(stringFlag(args, 'config'));
    const configText = existsSync(configPath) ? `${configPath}: valid` : `${configPath} does not exist: all defaults`;
    const findings: Finding[] = [];
    const sources: string[] = [];
    const given = values.map(parseMountOptionsFlag);
    const fstab = stringFlag(args, 'fstab');
    if (fstab && given.length) throw new UsageError('check: give either --mount-options or --fstab, not both');
    let fstabText: string | undefined;
    if (fstab) {
      try {
        // A regular file of at most 1 MiB (as --config): a FIFO would hang the run in open(2).
        fstabText = readRegularFile(fstab, { maxBytes: CONFIG_MAX_BYTES }).toString('utf8');
      } catch (error) {
        throw new UsageError(`check: cannot read ${fstab}: ${(error as Error).message}`, { cause: error });
      }
    }
    const explicit = given.length > 0 || fstabText !== undefined;

    const lintGroups = (groups: ReturnType<typeof btrfsMountGroups>) => {
      for (const g of groups) {
        sources.push(`/proc/self/mountinfo: ${g.source} mounted at ${g.mounts.map((m) => m.mountPoint).join(', ')}`);
        findings.push(...lintMountOptions(g.mounts));
      }
    };
    let layout = 'not checked';
    if (stringFlag(args, 'device') || stringFlag(args, 'top-level') || config.device) {
      await withTopLevel(args, { readOnly: true }, ({ top }) => {
        findings.push(...layoutFindings(top.path, config, { now: parseNow(stringFlag(args, 'now'), 'check'), cmdline: readCmdlineText(), readOnlyMount: true }));
        const location = locateTopLevel(top);
        layout = `checked (${location.device ?? top.path})`;
        if (location.majorMinor) findings.push(...persistedMountFindings(config, readMountinfo(), location.majorMinor));
        if (!explicit) lintGroups(btrfsMountGroups(readMountinfo(), location.majorMinor));
      });
    } else {
      findings.push({ severity: 'warning', subject: null, what: 'the layout was not checked: no device', why: 'the top level must be mounted to look at the subvolumes', fix: 'give --device DEV (or --top-level DIR), or set "device" in the config' });
      if (!explicit) lintGroups(btrfsMountGroups(readMountinfo()));
    }
    if (given.length) {
      sources.push(`--mount-options: ${given.map((m) => m.mountPoint).join(', ')}`);
      findings.push(...lintMountOptions(given));
    }
    for (const g of fstabText === undefined ? [] : parseFstab(fstabText)) {
      sources.push(`${fstab}: ${g.source} at ${g.mounts.map((m) => m.mountPoint).join(', ')}`);
      findings.push(...lintMountOptions(g.mounts));
    }
    findings.sort((a, b) => (a.severity === b.severity ? 0 : a.severity === 'error' ? -1 : 1));
    const errors = findings.filter((f) => f.severity === 'error').length;
    const warnings = findings.length - errors;
    output(args.json === true, { config: configText, layout, mountOptions: sources, findings, errors, warnings }, () =>
      [
        // Mount points and devices are names anyone may choose (mountinfo unescapes \012): each part one line.
        `config: ${oneLine(configText)}`,
        `layout: ${oneLine(layout)}`,
        `mount options: ${sources.length ? oneLine(sources.join('; ')) : 'no btrfs mounts to lint'}`,
        ...(findings.length ? ['', ...findings.map(formatFinding), ''] : []),
        `${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}`,
      ].join('\n'),
    );
    return errors ? EXIT.step : EXIT.ok;
  },
};
