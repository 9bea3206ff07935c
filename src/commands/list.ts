// `list`: archived roots and snapshots with creation time, age, read-only flag, size and retention verdict —
// the verdicts are the next boot's plan and prune's plan, never rules of its own.
import { join } from 'node:path';
import type { Command } from '../cli/command.js';
import { parseFlags, stringFlag } from '../cli/args.js';
import { output, withTopLevel } from '../cli/context.js';
import { PreconditionError, UsageError } from '../errors.js';
import { parseArchiveName } from '../archive/naming.js';
import { takeInventory } from '../btrfs/inventory.js';
import { listDirectory } from '../boot/observe.js';
import { describeBootPlan } from '../boot/describe.js';
import type { TargetReport } from '../boot/plan.js';
import { makeBootPlan } from '../boot/run-boot.js';
import { readCmdlineText } from '../cmdline/parse-cmdline.js';
import { formatNotice } from '../engine/plan.js';
import { readCreationTime, readQgroups, type QgroupSize } from '../list/btrfs-info.js';
import { parseNow } from '../list/clock.js';
import { formatAge, formatBytes, formatTable, formatUtc } from '../list/format.js';
import { oneLine, showName } from '../cli/show-text.js';
import { browseHint, locateTopLevel, type TopLocation } from '../list/location.js';
import { parseSnapshotName } from '../retention/snapshots.js';
import { observeSnapshots } from '../snapshots/observe.js';
import { planPrune } from '../snapshots/plan-prune.js';
import { formatPersistent, groupBySubvolume, pendingStateRequest, readArchivedStates, type PersistentListing } from '../state/list.js';

const USAGE = `Usage: pantheros-rollback list [--device DEV | --top-level DIR] [--config FILE] [--now ISO-8601] [--json]

Lists the archived roots (under the archive directory, subvolumes.oldRoots) and the snapshots
(under <subvolumes.snapshots>/<class>/) with their creation time, age, read-only flag, size (when
btrfs quotas are enabled: exclusive bytes, i.e. what deleting it frees) and the retention verdict
with its reason:
  archives   the next boot's plan (what boot --dry-run prints, with this kernel command line and a
             pending next-boot request): it archives the current root first (which then counts as the
             newest), then keeps the newest oldRoots.keepAtLeast and everything within oldRoots.keepDays,
             unless free space is below oldRoots.minFreePercent
  snapshots  prune's plan: the newest snapshotRetention.<class> of each class per subvolume

Also says where the top level is and how to mount it: archives live at the btrfs top level
(subvolid=5), which the running system usually does not mount.

  --device DEV      the btrfs device (default: "device" in the config); its top level is mounted
                    read-only and privately for the run
  --top-level DIR   an already-mounted top level instead
  --config FILE     JSON config (default /etc/pantheros/rollback.json)
  --now ISO-8601    the clock for ages and verdicts (default: the system clock)
  --json            machine-readable output

Exit: 0 listed, 2 usage or config error, 3 the top level cannot be mounted, 77 not run as root.`;

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
  verdict: { action: 'keep' | 'delete'; reason: string };
}

export interface Listing {
  now: string;
  topLevel: TopLocation & { archiveDir: string; snapshotDir: string; hint: string };
  quotas: boolean;
  archives: ListedItem[];
  snapshots: ListedItem[];
  /** The pending next-boot request, when the next boot will act on it. */
  nextBoot: string | null;
  /** What the next boot will do (the plan boot --dry-run prints); null when it refuses to run. */
  nextBootPlan: { target: TargetReport; effect: string; deletions: string[] } | null;
  notes: string[];
  /** State rollback (src/state/list.ts): per persistent subvolume, its snapshots by class and its archived states. */
  persistent: PersistentListing[];
  /** The pending state request for the next boot, if any. */
  stateRequest: string | null;
}

function describeItems(items: readonly ListedItem[], showClass: boolean, quotas: boolean): string {
  const rows = items.map((i) => [
    ...(showClass ? [showName(i.class ?? '')] : []),
    showName(showClass ? i.name.slice(i.name.indexOf('/') + 1) : i.name),
    i.created ? formatUtc(new Date(i.created)) : '-',
    i.ageSeconds === null ? '-' : formatAge(i.ageSeconds),
    i.readOnly === null ? '?' : i.readOnly ? 'ro' : 'rw',
    quotas && i.sizeBytes ? formatBytes(i.sizeBytes.exclusive) : '-',
    `${i.verdict.action === 'keep' ? 'keep' : 'WOULD DELETE'}: ${oneLine(i.verdict.reason)}`,
  ]);
  return formatTable([...(showClass ? ['CLASS'] : []), 'NAME', showClass ? 'CREATED (UTC)' : 'ROOT CREATED (UTC)', 'AGE', 'RO', 'EXCL', 'VERDICT'], rows);
}

export function formatListing(l: Listing): string {
  const lines: string[] = [];
  lines.push(`Top level: ${l.topLevel.device ? showName(l.topLevel.device) : '(unknown device)'}${l.topLevel.mountedAt.length ? `, mounted at ${l.topLevel.mountedAt.map(showName).join(', ')}` : ''}`);
  lines.push(`  ${oneLine(l.topLevel.hint)}`);
  lines.push('');
  lines.push(`Archived roots in ${showName(l.topLevel.archiveDir)} (${l.archives.length}); verdicts for a boot at ${formatUtc(new Date(l.now))} UTC:`);
  lines.push(l.archives.length ? describeItems(l.archives, false, l.quotas) : '  (none)');
  lines.push('');
  lines.push(`Snapshots in ${showName(l.topLevel.snapshotDir)} (${l.snapshots.length}); verdicts as prune decides:`);
  lines.push(l.snapshots.length ? describeItems(l.snapshots, true, l.quotas) : '  (none)');
  if (l.archives.length) lines.push('AGE is the age retention counts: from the time in the name (when it was archived or snapshotted), or from the btrfs creation time when the name is earlier (a clock that was behind)');
  if (!l.quotas) lines.push('EXCL: sizes need btrfs quotas (btrfs quota enable <top level>); they are off');
  if (l.nextBoot) lines.push(`Next boot: pantheros.rollback=${showName(l.nextBoot)} was requested (pantheros-rollback next-boot)`);
  if (l.nextBootPlan) lines.push(`Next boot: ${oneLine(l.nextBootPlan.effect)}`);
  lines.push('', formatPersistent(l.persistent, l.quotas, l.stateRequest));
  for (const n of l.notes) lines.push(`note: ${oneLine(n)}`);
  return lines.join('\n');
}

/** The verdict `list` shows for an archive when the next boot cannot be planned (a broken layout). */
const NO_PLAN = (why: string) => ({ action: 'keep' as const, reason: `no verdict: the next boot refuses to run (${why})` });

export const listCommand: Command = {
  name: 'list',
  usage: USAGE,
  async run(argv) {
    const args = parseFlags(argv, { string: ['now'] }, 'list');
    if (args._.length) throw new UsageError(`list: unexpected argument ${String(args._[0])}`);
    const now = parseNow(stringFlag(args, 'now'), 'list');
    return withTopLevel(args, { readOnly: true }, ({ config, top, json }) => {
      const { oldRoots, snapshots } = config.subvolumes;
      const inventory = takeInventory(top.path, { writableMount: false });
      // The archive verdicts are the next boot's plan; the snapshot verdicts are prune's plan.
      let boot: ReturnType<typeof makeBootPlan> | undefined;
      let refused: string | undefined;
      try {
        boot = makeBootPlan(top.path, config, { cmdline: readCmdlineText(), now, facts: 'full', inventory });
      } catch (error) {
        if (!(error instanceof PreconditionError)) throw error;
        refused = error.message;
      }
      const snapshotsObserved = observeSnapshots(top.path, config, [], { inventory });
      const prune = planPrune(snapshotsObserved, config);
      const quotas = readQgroups(top.path);
      const archiveEntries = boot?.observed.entries ?? listDirectory(join(top.path, oldRoots));
      const archiveItems = archiveEntries.filter((e) => e.kind === 'subvolume' && e.validName && !e.name.startsWith('.'));
      const verdictOf = (name: string) => {
        if (refused) return NO_PLAN(refused);
        const v = boot!.plan.verdicts.find((x) => x.name === name);
        return v ? { action: v.action, reason: v.reason } : { action: 'keep' as const, reason: 'no verdict' };
      };
      const item = (kind: 'archive' | 'snapshot', name: string, cls: string | null, path: string, verdict: ListedItem['verdict']): ListedItem => {
        const record = inventory.record(path);
        const named = kind === 'archive' ? parseArchiveName(name)?.time : parseSnapshotName(name.slice(name.indexOf('/') + 1))?.time;
        const created = readCreationTime(join(top.path, path));
        const base = named ?? created;
        // An archive's age is the one its verdict counted (the planner's: from its creation time when its name is earlier).
        const counted = kind === 'archive' && !refused ? boot!.plan.verdicts.find((x) => x.name === name)?.ageDays : undefined;
        return {
          kind,
          name,
          class: cls,
          path,
          id: record?.id ?? null,
          created: created?.toISOString() ?? null,
          named: named?.toISOString() ?? null,
          ageSeconds: counted !== undefined ? Math.floor(counted * 86_400) : base ? Math.floor((now.getTime() - base.getTime()) / 1000) : null,
          readOnly: record ? record.readOnly : null,
          sizeBytes: record ? (quotas.sizes.get(record.id) ?? null) : null,
          verdict,
        };
      };
      const archives = archiveItems.map((e) => item('archive', e.name, null, `${oldRoots}/${e.name}`, verdictOf(e.name)));
      const snapshotItems: ListedItem[] = [];
      for (const v of prune.verdicts) snapshotItems.push(item('snapshot', `${v.class}/${v.name}`, v.class, v.path, { action: v.action, reason: v.reason }));
      for (const i of prune.ignored) {
        const [cls, ...rest] = i.path.slice(snapshots.length + 1).split('/');
        if (snapshotsObserved.kinds[i.path] === 'subvolume') snapshotItems.push(item('snapshot', `${cls}/${rest.join('/')}`, cls ?? null, i.path, { action: 'keep', reason: i.reason }));
      }
      const location = locateTopLevel(top);
      // Each note once: the boot plan and prune's plan share one inventory, and so its notes.
      const notes = [...new Set([...(boot?.plan.notices ?? []).filter((n) => n.severity !== 'info').map(formatNotice), ...prune.notices.map(formatNotice)])];
      if (refused) notes.unshift(`the next boot refuses to run: ${refused}`);
      if (quotas.note && quotas.enabled) notes.push(quotas.note);
      const plan = boot?.plan;
      if (plan?.archive) notes.push(`the next boot archives the current root as ${plan.archive.name} (it then counts as the newest archive)`);
      if (plan?.result === 'kept') notes.push('the next boot keeps the root (pantheros.rollback=keep): it archives and deletes nothing; verdicts apply to the boot after it');
      const result: Listing = {
        now: now.toISOString(),
        topLevel: { ...location, archiveDir: oldRoots, snapshotDir: snapshots, hint: browseHint(location, oldRoots) },
        quotas: quotas.enabled,
        archives: archives.sort((a, b) => (a.name < b.name ? -1 : 1)),
        snapshots: snapshotItems.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
        nextBoot: plan?.target.origin === 'next-boot' ? plan.target.requested : null,
        nextBootPlan: plan ? { target: plan.target, effect: describeBootPlan(plan, config.subvolumes.root), deletions: plan.deletions.map((d) => d.path) } : null,
        notes,
        persistent: [],
        stateRequest: pendingStateRequest(top.path, config),
      };
      const persistentNames = [...new Set([...config.persistentTree.map((m) => m.subvolume), ...config.snapshotSubvolumes])];
      result.persistent = groupBySubvolume(snapshotItems, config, readArchivedStates(top.path, config, persistentNames, now));
      output(json, result, () => formatListing(result));
      return 0;
    });
  },
};
