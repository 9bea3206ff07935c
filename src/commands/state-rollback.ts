// `state-rollback`: rolls persistent subvolumes back to one of their snapshots (issue 14) — online (stop the units,
// unmount, swap, mount, start) or at the next boot (a one-shot request file). Every change is a checked plan run by
// the one executor; --dry-run prints the plan with its reasons.
import { join } from 'node:path';
import type { Command } from '../cli/command.js';
import { parseFlags, stringFlag } from '../cli/args.js';
import { output, withTopLevel } from '../cli/context.js';
import { formatSteps, stepsJson } from '../cli/plan-text.js';
import type { Config } from '../config/load-config.js';
import { checkPlan } from '../engine/check.js';
import { executePlan, parseFailpoint, type Execution, type StepStatus } from '../engine/execute.js';
import { formatNotice, numberSteps, type StepSpec } from '../engine/plan.js';
import { UsageError } from '../errors.js';
import { isDirectoryKind, walkPath } from '../fs/entry-kind.js';
import { parseNow } from '../list/clock.js';
import { createLogger } from '../log/logger.js';
import { describeHolders } from '../state/holders.js';
import { readStateRequestFile, STATE_REQUEST_FILE } from '../state/request.js';
import { runOnline, type OnlineResult } from '../state/online.js';
import type { StatePlan } from '../state/plan.js';
import { makeStatePlan } from '../state/run.js';
import { oneLine, showName } from '../cli/show-text.js';

const USAGE = `Usage: pantheros-rollback state-rollback SPEC... [--dry-run] [--next-boot] [--now ISO-8601]
                                         [--device DEV | --top-level DIR] [--config FILE] [--json]
       pantheros-rollback state-rollback --cancel | (no SPEC: show the pending next-boot request)

Rolls persistent subvolumes (e.g. a service's database) back to one of their snapshots. The current
subvolume is archived under <subvolumes.oldState>/<encoded subvolume>/<YYYYMMDDTHHMMSSZ> (kept, aged out
with oldRoots.keepDays / keepAtLeast), and a writable snapshot of the snapshot takes its place under its
name: made under a temporary name first, then renamed into place, one commit. Subvolumes nested inside it
are moved over into the new one unchanged (never rolled back or lost) unless named too.

SPEC (several are carried out together, or none is):
  <mount point or subvolume>=<class>         the newest snapshot of that class, e.g. /var/lib/postgresql=hourly
  <mount point or subvolume>=<class>/<name>  that snapshot, which must be of it
  <class>/<name>                             that snapshot; the subvolume is the one its name encodes
A snapshot must be read-only, named for the subvolume, and (btrfs parent uuid) made from it or from an
earlier state of it; anything else is refused with the reason, and nothing is changed.

Online (the default): for subvolumes the running system can do without (not /, /nix, /persistent,
/var/log or a neededForBoot path): stops the systemd units that use the mount (the config's
persistentTree units, and the units that require the mount unit), refuses while any process still holds
files open there (and says which, from /proc/*/fd, maps, cwd, root), unmounts, swaps, mounts again and
starts the units again. Mount points are reached without following a symlink and mounted on by descriptor; a
nested subvolume mounted by itself comes back by its id. A bind that would not come back as it is (of a
deleted directory, with ro/nosuid/nodev/noexec/nosymfollow, or reached through a directory someone other
than root may change) is refused before anything is changed: take it off first, or use --next-boot. A mount
of it left in another mount namespace once the unmounts are done (one a user made with unshare -Urm; the
copies in systemd's service namespaces go with the unmount) would keep serving the archived state, writable:
refused, everything mounted and started again. Not every way a local user can keep hold of it is visible
(docs/safety.md): where local users are not trusted, use --next-boot. A step that fails puts everything back as it was;
SIGINT/SIGTERM/SIGHUP mount and start again what was taken down.

  --dry-run      print the plan (each step with its reason), the units, the mounts and who holds files
                 open; change nothing
  --next-boot    do it at the next boot instead, in stage 1 before anything mounts the subvolume: writes
                 the one-shot request <top>/<oldState>/${STATE_REQUEST_FILE} (each SPEC pinned to
                 <subvolume>=<class>/<name>); the boot removes it after the swaps, in its final commit.
                 The same at the boot menu: pantheros.rollback.state=SPEC[,SPEC…] on the kernel command line
  --cancel       withdraw the pending next-boot request
  --now ISO      the clock for the archive names (default: the system clock)
  --device DEV | --top-level DIR | --config FILE | --json   as for every command

Exit: 0 done (or planned), 1 a step failed (everything was put back, or the message says what is not),
      2 usage (a refused SPEC), 3 precondition (files are open there, a mount or unit could not be taken
      down: nothing was changed), 77 not root.`;

function rollbackLines(plan: StatePlan, verb: string): string[] {
  const lines: string[] = [];
  for (const r of plan.rollbacks) {
    lines.push(`${verb} ${r.subvolume} to ${r.from}`);
    lines.push(`  the state it had is archived as ${r.archive.path}`);
    if (r.nested.length) lines.push(`  nested subvolumes moved over unchanged: ${r.nested.map(showName).join(', ')}`);
  }
  for (const a of plan.already) lines.push(`already rolled back: ${a.subvolume} was made from ${a.from}`);
  for (const r of plan.recovered) lines.push(`recovered: ${oneLine(r)}`);
  return lines;
}

function planJson(plan: StatePlan, status: (n: number) => StepStatus) {
  return {
    origin: plan.origin,
    requested: plan.requested,
    result: plan.result,
    rollbacks: plan.rollbacks.map((r) => ({ subvolume: r.subvolume, from: r.from, archived: r.archive, nested: r.nested, mountedAt: r.mountedAt })),
    refused: plan.refused,
    recovered: plan.recovered,
    deleted: plan.deletions.map((d) => d.path),
    steps: stepsJson(plan.steps, status),
    warnings: plan.notices.filter((n) => n.severity !== 'info').map(formatNotice),
  };
}

/** Writes or removes the request file through a plan (checked, executed by the one executor). */
function applyRequest(top: string, config: Config, change: { write: string } | { remove: true }): void {
  const { oldState } = config.subvolumes;
  const path = `${oldState}/${STATE_REQUEST_FILE}`;
  const specs: StepSpec[] = [];
  if (!isDirectoryKind(walkPath(top, oldState))) specs.push({ action: 'ensure-dir', path: oldState, reason: `${oldState} does not exist yet` });
  if ('write' in change) specs.push({ action: 'write-file', path, content: `${change.write}\n`, reason: `ask the next boot to roll back ${change.write}` });
  else specs.push({ action: 'remove-file', path, reason: 'withdraw the pending state request' });
  const steps = numberSteps(specs);
  checkPlan(steps, { owned: [oldState], swapped: [], files: [path] }, { kinds: {}, present: new Map(), records: new Map(), nested: new Map(), protected: new Map(), defaultId: undefined, mountedPaths: [] });
  executePlan(steps, { top, log: createLogger({ quiet: true }) });
}

function onlineText(r: OnlineResult, dryRun: boolean, status: (n: number) => StepStatus): string {
  const lines: string[] = [];
  if (dryRun) lines.push('dry run — nothing is changed');
  lines.push(...rollbackLines(r.plan, dryRun ? 'would roll back' : 'rolled back'));
  lines.push(`units: ${r.units.length ? `${dryRun ? 'would stop and start again' : 'stopped and started again'}: ${r.units.join(' ')}` : 'none active that use it'}`);
  lines.push(`mounts: ${r.mounts.length ? `${dryRun ? 'would unmount and mount again' : 'unmounted and mounted again'}: ${r.mounts.map((m) => m.mountPoint).join(' ')}` : 'none'}`);
  if (dryRun && r.holders.length) lines.push(`files open there now (the real run refuses while they are): ${describeHolders(r.holders)}`);
  for (const e of r.log) if (!dryRun && /could not|not running/.test(e)) lines.push(`note: ${e}`);
  lines.push('steps:', ...formatSteps(r.plan.steps, status));
  for (const n of r.plan.notices) if (n.severity !== 'info') lines.push(`${n.severity}: ${formatNotice(n)}`);
  if (!dryRun) lines.push(`took ${Object.values(r.timings).reduce((a, b) => a + b, 0).toFixed(2)} s (${Object.entries(r.timings).map(([k, v]) => `${k} ${v.toFixed(3)} s`).join(', ')})`);
  return lines.join('\n');
}

export const stateRollbackCommand: Command = {
  name: 'state-rollback',
  usage: USAGE,
  async run(argv) {
    const args = parseFlags(argv, { string: ['now'], boolean: ['dry-run', 'next-boot', 'cancel'] }, 'state-rollback');
    const specs = args._.map(String);
    const dryRun = args['dry-run'] === true;
    const nextBoot = args['next-boot'] === true;
    const cancel = args.cancel === true;
    const now = parseNow(stringFlag(args, 'now'), 'state-rollback');
    if (cancel && (specs.length || nextBoot)) throw new UsageError('state-rollback: --cancel takes no SPEC');
    if (specs.some((s) => s.includes(',') || /\s/.test(s))) throw new UsageError('state-rollback: give each SPEC as its own argument (no commas or spaces)');
    const raw = specs.join(',');
    return withTopLevel(args, { readOnly: dryRun || (!specs.length && !cancel) }, async ({ config, top, json }) => {
      const { oldState } = config.subvolumes;
      const requestPath = `${oldState}/${STATE_REQUEST_FILE}`;
      if (!specs.length) {
        const pending = isDirectoryKind(walkPath(top.path, oldState)) ? readStateRequestFile(join(top.path, oldState)) : null;
        if (cancel && pending) applyRequest(top.path, config, { remove: true });
        const text = pending && 'text' in pending ? pending.text : null;
        const problem = pending && 'problem' in pending ? pending.problem : null;
        output(json, { action: cancel ? 'cancel' : 'show', pending: text, problem, file: requestPath }, () =>
          cancel ? (pending ? `cancelled the state request${text ? ` "${text}"` : ''}` : 'no state request was pending') : text ? `pending state request for the next boot: ${text}` : problem ? `state request: ${problem}` : 'no state request is pending',
        );
        return 0;
      }
      if (nextBoot) {
        // Judged as the boot will judge it (the snapshot pinned now), then written through a plan.
        const { plan } = makeStatePlan(top.path, config, { origin: 'next-boot', raw, useMountinfo: true, now });
        if (plan.result === 'refused') throw new UsageError(`state-rollback: refused (nothing was changed): ${plan.refused.map((r) => `${r.spec}: ${r.reason}`).join('; ')}`);
        const pinned = plan.rollbacks.map((r) => `${r.subvolume}=${r.from.slice(config.subvolumes.snapshots.length + 1)}`).join(',');
        if (!dryRun) applyRequest(top.path, config, { write: pinned });
        output(json, { action: 'next-boot', dryRun, request: pinned, file: requestPath, ...planJson(plan, () => 'planned') }, () =>
          [...(dryRun ? ['dry run — nothing is written'] : []), ...rollbackLines(plan, 'the next boot rolls back'), `request ${dryRun ? 'would be' : ''} written to <top level>/${requestPath}: ${pinned}`.replace('  ', ' '), 'withdraw it with: pantheros-rollback state-rollback --cancel'].join('\n'),
        );
        return 0;
      }
      const log = createLogger({ quiet: json });
      const result = await runOnline({ top: top.path, config, raw, now, dryRun, log, failpoint: parseFailpoint(process.env.PANTHEROS_FAILPOINT) });
      const execution: Execution | undefined = result.execution;
      const status = (n: number): StepStatus => (dryRun ? 'planned' : (execution?.status.get(n) ?? 'not-run'));
      output(json, { action: 'online', dryRun, ...planJson(result.plan, status), units: result.units, mounts: result.mounts, holders: result.holders, events: result.log, timings: result.timings }, () => onlineText(result, dryRun, status));
      return 0;
    });
  },
};
