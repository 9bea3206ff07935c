// `list`: archived roots and snapshots with creation time, age, read-only flag, size and retention verdict.
import { join } from 'node:path';
import type { Command } from '../cli/command.js';
import { parseFlags, stringFlag } from '../cli/args.js';
import { output, withTopLevel } from '../cli/context.js';
import { UsageError } from '../errors.js';
import { kindOf } from '../boot/observe.js';
import { parseTarget } from '../boot/target.js';
import { listReadOnlyIds, listSubvolumes } from '../btrfs/list.js';
import { readCreationTime, readQgroups, type QgroupSize } from '../list/btrfs-info.js';
import { parseNow } from '../list/clock.js';
import { formatAge, formatBytes, formatTable, formatUtc } from '../list/format.js';
import { browseHint, locateTopLevel, type TopLocation } from '../list/location.js';
import { readRequest } from '../list/request.js';
import { readInventory, type StoredItem } from '../list/stored.js';
import { decideArchiveVerdicts, decideSnapshotVerdicts, timeFromName, type Verdict } from '../list/verdicts.js';

const USAGE = `Usage: pantheros-rollback list [--device DEV | --top-level DIR] [--config FILE] [--now ISO-8601] [--json]

Lists the archived roots (under the archive directory, subvolumes.oldRoots) and the snapshots
(under <subvolumes.snapshots>/<class>/) with their creation time, age, read-only flag, size (when
btrfs quotas are enabled: exclusive bytes, i.e. what deleting it frees) and the retention verdict
with its reason:
  archives   as the next boot would decide if it ran now: it archives the current root first (which
             then counts among the newest), then keeps the newest oldRoots.keepAtLeast and everything
             within oldRoots.keepDays
  snapshots  as \`prune\` decides: the newest snapshotRetention.<class> of each class per subvolume

Also says where the top level is and how to mount it: archives live at the btrfs top level
(subvolid=5), which the running system usually does not mount.

  --device DEV      the btrfs device (default: "device" in the config); its top level is mounted
                    read-only and privately for the run
  --top-level DIR   an already-mounted top level instead
  --config FILE     JSON config (default /etc/pantheros/rollback.json)
  --now ISO-8601    the clock for ages and verdicts (default: the system clock)
  --json            machine-readable output

Exit: 0 listed, 2 usage or config error, 3 the top level cannot be mounted.`;

export interface ListedItem {
  kind: 'archive' | 'snapshot';
  name: string;
  class: string | null;
  path: string;
  id: number | null;
  /** The subvolume's creation time from btrfs ("Creation time"): for an archive, when that root was made (the boot it served). */
  created: string | null;
  /** The time in the name: when it was archived or snapshotted; retention ages count from it. */
  named: string | null;
  /** Age from the name's time, else from the creation time. */
  ageSeconds: number | null;
  readOnly: boolean | null;
  sizeBytes: QgroupSize | null;
  verdict: Verdict;
}

export interface Listing {
  now: string;
  topLevel: TopLocation & { archiveDir: string; snapshotDir: string; hint: string };
  quotas: boolean;
  archives: ListedItem[];
  snapshots: ListedItem[];
  nextBoot: string | null;
  notes: string[];
}

function describeItems(items: readonly ListedItem[], showClass: boolean, quotas: boolean): string {
  const rows = items.map((i) => [
    ...(showClass ? [i.class ?? ''] : []),
    showClass ? i.name.slice(i.name.indexOf('/') + 1) : i.name,
    i.created ? formatUtc(new Date(i.created)) : '-',
    i.ageSeconds === null ? '-' : formatAge(i.ageSeconds),
    i.readOnly === null ? '?' : i.readOnly ? 'ro' : 'rw',
    quotas && i.sizeBytes ? formatBytes(i.sizeBytes.exclusive) : '-',
    `${i.verdict.action === 'keep' ? 'keep' : 'WOULD DELETE'}: ${i.verdict.reason}`,
  ]);
  return formatTable([...(showClass ? ['CLASS'] : []), 'NAME', showClass ? 'CREATED (UTC)' : 'ROOT CREATED (UTC)', 'AGE', 'RO', 'EXCL', 'VERDICT'], rows);
}

export function formatListing(l: Listing): string {
  const lines: string[] = [];
  lines.push(`Top level: ${l.topLevel.device ?? '(unknown device)'}${l.topLevel.mountedAt.length ? `, mounted at ${l.topLevel.mountedAt.join(', ')}` : ''}`);
  lines.push(`  ${l.topLevel.hint}`);
  lines.push('');
  lines.push(`Archived roots in ${l.topLevel.archiveDir} (${l.archives.length}); verdicts for a boot at ${formatUtc(new Date(l.now))} UTC:`);
  lines.push(l.archives.length ? describeItems(l.archives, false, l.quotas) : '  (none)');
  lines.push('');
  lines.push(`Snapshots in ${l.topLevel.snapshotDir} (${l.snapshots.length}); verdicts as prune decides:`);
  lines.push(l.snapshots.length ? describeItems(l.snapshots, true, l.quotas) : '  (none)');
  if (l.archives.length) lines.push('AGE counts from the time in the name (when it was archived or snapshotted), as retention does');
  if (!l.quotas) lines.push('EXCL: sizes need btrfs quotas (btrfs quota enable <top level>); they are off');
  if (l.nextBoot) lines.push(`Next boot: pantheros.rollback=${l.nextBoot} was requested (pantheros-rollback next-boot)`);
  for (const n of l.notes) lines.push(`note: ${n}`);
  return lines.join('\n');
}

export const listCommand: Command = {
  name: 'list',
  usage: USAGE,
  async run(argv) {
    const args = parseFlags(argv, { string: ['now'] }, 'list');
    if (args._.length) throw new UsageError(`list: unexpected argument ${String(args._[0])}`);
    const now = parseNow(stringFlag(args, 'now'), 'list');
    return withTopLevel(args, { readOnly: true }, ({ config, top, json }) => {
      const { root, oldRoots, snapshots } = config.subvolumes;
      const inv = readInventory(top.path, config);
      const listing = listSubvolumes(top.path);
      const readOnlyIds = listReadOnlyIds(top.path);
      const quotas = readQgroups(top.path);
      const request = readRequest(top.path, config);
      const requested = request && 'target' in request ? request.target : null;
      const requestedTarget = requested === null ? undefined : parseTarget(requested);

      const facts = (item: StoredItem) => {
        const info = listing.find((s) => s.path === item.path);
        return { ...item, info, created: readCreationTime(join(top.path, item.path)), named: timeFromName(item), cgen: info?.cgen };
      };
      const archiveFacts = inv.archives.map(facts);
      const snapshotFacts = inv.snapshots.map(facts);
      const archiveVerdicts = decideArchiveVerdicts(archiveFacts, config, {
        now,
        rootExists: kindOf(join(top.path, root)) === 'subvolume' && requestedTarget?.kind !== 'keep',
        nextBootArchive: requestedTarget?.kind === 'archive' ? requestedTarget.name : undefined,
      });
      const snapshotVerdicts = decideSnapshotVerdicts(snapshotFacts, config);
      const toListed = (f: (typeof archiveFacts)[number], verdict: Verdict | undefined): ListedItem => ({
        kind: f.kind,
        name: f.name,
        class: f.class ?? null,
        path: f.path,
        id: f.info?.id ?? null,
        created: f.created?.toISOString() ?? null,
        named: f.named?.toISOString() ?? null,
        ageSeconds: (f.named ?? f.created) ? Math.floor((now.getTime() - (f.named ?? f.created)!.getTime()) / 1000) : null,
        readOnly: f.info ? readOnlyIds.has(f.info.id) : null,
        sizeBytes: f.info ? (quotas.sizes.get(f.info.id) ?? null) : null,
        verdict: verdict ?? { action: 'keep', reason: 'no verdict (not in the subvolume listing)' },
      });
      const location = locateTopLevel(top);
      const notes = [...inv.warnings];
      if (quotas.note && quotas.enabled) notes.push(quotas.note);
      if (request && 'problem' in request) notes.push(`next-boot request: ${request.problem}`);
      if (requestedTarget?.kind === 'keep') notes.push('the next boot keeps the root (next-boot request): it archives and deletes nothing; verdicts apply to the boot after it');
      const result: Listing = {
        now: now.toISOString(),
        topLevel: { ...location, archiveDir: oldRoots, snapshotDir: snapshots, hint: browseHint(location, oldRoots) },
        quotas: quotas.enabled,
        archives: archiveFacts.map((f) => toListed(f, archiveVerdicts.get(f.name))).sort((a, b) => (a.name < b.name ? -1 : 1)),
        snapshots: snapshotFacts.map((f) => toListed(f, snapshotVerdicts.get(f.path))),
        nextBoot: requested,
        notes,
      };
      output(json, result, () => formatListing(result));
      return 0;
    });
  },
};
