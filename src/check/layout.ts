// The layout findings of `check`: exactly what the planners say about this layout (the next boot's plan, prune's
// and snapshot's), never a second set of rules.
import type { Config } from '../config/load-config.js';
import { SNAPSHOT_CLASSES } from '../config/load-config.js';
import { PreconditionError } from '../errors.js';
import { takeInventory } from '../btrfs/inventory.js';
import { makeBootPlan } from '../boot/run-boot.js';
import type { Notice } from '../engine/plan.js';
import { observeSnapshots } from '../snapshots/observe.js';
import { planPrune } from '../snapshots/plan-prune.js';
import { planSnapshot } from '../snapshots/plan-snapshot.js';
import type { Finding } from './finding.js';

const asFinding = (n: Notice): Finding => ({ severity: n.severity === 'error' ? 'error' : 'warning', subject: n.subject, what: n.what, why: n.why, fix: n.fix });

/**
 * Plans the next boot, a prune and a snapshot of every configured subvolume on the top level mounted at `top`
 * (changing nothing) and returns what those plans found: their notices, and their refusals as errors.
 */
export function layoutFindings(top: string, config: Config, options: { now: Date; cmdline: string; readOnlyMount: boolean }): Finding[] {
  const findings: Finding[] = [];
  const inventory = takeInventory(top, { writableMount: !options.readOnlyMount });
  try {
    const { plan } = makeBootPlan(top, config, { cmdline: options.cmdline, now: options.now, facts: 'full', inventory });
    findings.push(...plan.notices.filter((n) => n.severity !== 'info').map(asFinding));
    // On the running system the boot's own blocker (the root is mounted) hides these; the next boot stops at them.
    for (const r of plan.refusals) findings.push({ severity: 'error', subject: null, what: `the next boot refuses, changing nothing: ${r}`, why: 'the boot stops before its first step: the root is not rolled back', fix: 'as the message says; then run check again' });
  } catch (error) {
    if (!(error instanceof PreconditionError)) throw error;
    findings.push({ severity: 'error', subject: null, what: error.message, why: 'the boot refuses to run on this layout: the root is not rolled back', fix: 'fix the layout as the message says; then run check again' });
  }
  const snapshots = observeSnapshots(top, config, config.snapshotSubvolumes, { inventory });
  findings.push(...planPrune(snapshots, config, SNAPSHOT_CLASSES).notices.map(asFinding));
  for (const s of config.snapshotSubvolumes) {
    try {
      planSnapshot(snapshots, config, 'hourly', [s], options.now);
    } catch (error) {
      if (!(error instanceof PreconditionError)) throw error;
      findings.push({ severity: 'error', subject: s, what: error.message.replace(/ \(nothing was changed\)$/, ''), why: 'the snapshot timers fail for it', fix: `create it (btrfs subvolume create <top>/${s}) or fix snapshotSubvolumes in the config` });
    }
  }
  // The same notice can come from two plans (e.g. a listing note): say it once.
  return findings.filter((f, i) => findings.findIndex((g) => g.subject === f.subject && g.what === f.what) === i);
}
