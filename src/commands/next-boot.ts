// `next-boot`: asks the initrd to boot from a target once, like grub-reboot, without touching the kernel command
// line. A target is judged by the boot's own planner (as if the request were pending), and the request is written
// and withdrawn through a plan, the one check and the one executor.
import { join } from 'node:path';
import type { Command } from '../cli/command.js';
import { parseFlags, stringFlag } from '../cli/args.js';
import { parseNow } from '../list/clock.js';
import { output, withTopLevel } from '../cli/context.js';
import type { Config } from '../config/load-config.js';
import { PreconditionError, UsageError } from '../errors.js';
import { describeBootPlan } from '../boot/describe.js';
import type { BootPlan } from '../boot/plan.js';
import { NEXT_BOOT_FILE, requestFileContent } from '../boot/request-file.js';
import { makeBootPlan } from '../boot/run-boot.js';
import { parseTarget } from '../boot/target.js';
import { readCmdlineText, rollbackParameter } from '../cmdline/parse-cmdline.js';
import { checkPlan } from '../engine/check.js';
import { executePlan } from '../engine/execute.js';
import { numberSteps, type StepSpec } from '../engine/plan.js';
import { createLogger } from '../log/logger.js';
import { describeInventory, readInventory } from '../list/stored.js';
import { pendingStateRequest } from '../state/list.js';

const USAGE = `Usage: pantheros-rollback next-boot [TARGET | --cancel] [--now ISO-8601] [--device DEV | --top-level DIR] [--config FILE] [--json]

Asks the initrd to make the next boot's root from TARGET, once (like grub-reboot), by writing the
request file <top level>/<oldRoots>/${NEXT_BOOT_FILE} (atomically and durably). The boot removes the
request once the new root is in place, in its final commit, so a boot loop cannot repeat it and a power
cut cannot lose it before the boot it asked for; pantheros.rollback= on the kernel command line wins over it
(that boot uses the request up, and says so in a warning).

  next-boot TARGET    request TARGET for the next boot (replaces an earlier request)
  next-boot --cancel  withdraw the pending request
  next-boot           show the pending request and what the next boot will do (its plan)

TARGET is judged exactly as the boot judges pantheros.rollback= (the same planner, against what exists
now); what the boot would refuse is refused here with the same reason:
  blank                 a fresh root from the blank (what happens anyway without a request)
  keep                  leave the root as it is: nothing archived, nothing deleted
  previous              a writable copy of the current root (archived first): this boot's changes survive
  <archive name>        a writable copy of that archived root (see: pantheros-rollback list)
  <class>/<name>        a writable copy of a snapshot of the root, e.g. daily/@root.20261126T000000Z
The archive or snapshot itself is never changed: the new root is a snapshot of it, nested subvolumes too.

  --device DEV      the btrfs device (default: "device" in the config); its top level is mounted privately
  --top-level DIR   an already-mounted top level instead
  --config FILE     JSON config (default /etc/pantheros/rollback.json)
  --now ISO-8601    the clock the next boot's plan is made with (default: the system clock)
  --json            machine-readable output

Exit: 0 done (or shown), 2 usage (a target the boot would refuse), 3 the top level cannot be mounted,
      77 not run as root.`;

function cmdlineNote(): string | null {
  const param = rollbackParameter(readCmdlineText());
  return param ? `this boot's kernel command line has ${param.key}=${param.value}; if the next boot's has it too, it wins over the request` : null;
}

/** Writes or removes the request through a plan (checked, executed by the one executor). */
function applyRequest(top: string, config: Config, change: { write: string } | { remove: true }): void {
  const { oldRoots } = config.subvolumes;
  const path = `${oldRoots}/${NEXT_BOOT_FILE}`;
  const specs: StepSpec[] = [];
  if ('write' in change) {
    specs.push({ action: 'write-file', path, content: requestFileContent(change.write), reason: `ask the next boot for ${change.write}` });
  } else specs.push({ action: 'remove-file', path, reason: 'withdraw the pending request' });
  const steps = numberSteps(specs);
  checkPlan(steps, { owned: [oldRoots], swapped: [], files: [path] }, { kinds: {}, present: new Map(), records: new Map(), nested: new Map(), protected: new Map(), defaultId: undefined, mountedPaths: [] });
  executePlan(steps, { top, log: createLogger({ quiet: true }) });
}

/** The next boot's plan as `next-boot` shows it: its effect in words, and the target as the boot reports it. */
function shown(plan: BootPlan, config: Config) {
  return { effect: describeBootPlan(plan, config.subvolumes.root), nextBoot: { target: plan.target, blockers: plan.blockers } };
}

export const nextBootCommand: Command = {
  name: 'next-boot',
  usage: USAGE,
  async run(argv) {
    const args = parseFlags(argv, { string: ['now'], boolean: ['cancel'] }, 'next-boot');
    const [raw, ...extra] = args._.map(String);
    if (extra.length) throw new UsageError(`next-boot: unexpected argument ${extra[0]}`);
    const cancel = args.cancel === true;
    if (cancel && raw !== undefined) throw new UsageError('next-boot: give either TARGET or --cancel, not both');
    const note = cmdlineNote();
    const now = parseNow(stringFlag(args, 'now'), 'next-boot');
    return withTopLevel(args, { readOnly: raw === undefined && !cancel }, ({ config, top, json }) => {
      const { oldRoots } = config.subvolumes;
      if (cancel) {
        const { observed } = makeBootPlan(top.path, config, { cmdline: '', now, facts: 'auto' });
        const entry = observed.entries.find((e) => e.name === NEXT_BOOT_FILE);
        const pending = observed.request && 'target' in observed.request ? observed.request.target : null;
        if (entry?.kind === 'file') applyRequest(top.path, config, { remove: true });
        const after = makeBootPlan(top.path, config, { cmdline: readCmdlineText(), now, facts: 'full' }).plan;
        const problem = entry && entry.kind !== 'file' ? `${NEXT_BOOT_FILE} is a ${entry.kind}, not a regular file: left alone (the boot ignores it)` : null;
        output(json, { action: 'cancel', cancelled: entry?.kind === 'file' ? pending : null, problem, ...shown(after, config) }, () =>
          [entry?.kind === 'file' ? `cancelled the next-boot request${pending === null ? '' : ` "${pending}"`}` : problem ?? 'no next-boot request was pending', `  next boot: ${describeBootPlan(after, config.subvolumes.root)}`].join('\n'),
        );
        return 0;
      }
      if (raw !== undefined) {
        // Judged by the boot's planner as if the request were pending (and no kernel command line overrode it).
        if (parseTarget(raw).kind === 'refused' || raw.includes('\n')) {
          throw new UsageError(`next-boot: "${raw}" is not a valid target: ${parseTarget(raw).kind === 'refused' ? (parseTarget(raw) as { reason: string }).reason : 'it holds a newline'}; ${describeInventory(readInventory(top.path, config), config)}`);
        }
        let plan: BootPlan;
        try {
          plan = makeBootPlan(top.path, config, { cmdline: '', now, facts: 'full', request: { target: raw } }).plan;
        } catch (error) {
          if (error instanceof PreconditionError) throw new UsageError(`next-boot: the next boot would refuse to run: ${error.message}`, { cause: error });
          throw error;
        }
        if (plan.target.refused !== null) throw new UsageError(`next-boot: the boot would refuse "${raw}": ${plan.target.refused}; ${describeInventory(readInventory(top.path, config), config)}`);
        if (plan.steps.some((s) => s.action === 'ensure-dir')) throw new PreconditionError(`the archive directory ${oldRoots} does not exist yet (it is made by the first boot); boot once before asking for a target`);
        applyRequest(top.path, config, { write: raw });
        const effect = describeBootPlan(plan, config.subvolumes.root);
        output(json, { action: 'request', target: raw, kind: plan.target.kind, file: join(oldRoots, NEXT_BOOT_FILE), note, ...shown(plan, config) }, () =>
          [`next boot (once): ${raw}`, `  ${effect}`, `  request written to <top level>/${oldRoots}/${NEXT_BOOT_FILE}; withdraw it with: pantheros-rollback next-boot --cancel`, ...(note ? [`  note: ${note}`] : [])].join('\n'),
        );
        return 0;
      }
      const { plan, observed } = makeBootPlan(top.path, config, { cmdline: readCmdlineText(), now, facts: 'full' });
      const stateRequest = pendingStateRequest(top.path, config);
      const pending = observed.request && 'target' in observed.request ? observed.request.target : null;
      const problem = observed.request && 'problem' in observed.request ? observed.request.problem : plan.target.origin === 'next-boot' ? plan.target.refused : null;
      output(json, { action: 'show', pending, problem, note, stateRequest, ...shown(plan, config) }, () =>
        [
          pending === null && problem === null ? 'no next-boot request is pending' : `pending next-boot request: ${pending ?? '(unreadable)'}`,
          ...(problem ? [`  problem: ${problem}`] : []),
          `  next boot: ${describeBootPlan(plan, config.subvolumes.root)}`,
          ...(note ? [`  note: ${note}`] : []),
          // State rollback (src/state): the pending state request, which the same boot carries out.
          ...(stateRequest ? [`  state rollback requested for the next boot: ${stateRequest} (pantheros-rollback state-rollback shows it, --cancel withdraws it)`] : []),
        ].join('\n'),
      );
      return 0;
    });
  },
};
