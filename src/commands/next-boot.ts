// `next-boot`: asks the initrd to boot from a target once, like grub-reboot, without touching the kernel command line.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from '../cli/command.js';
import { parseFlags } from '../cli/args.js';
import { output, withTopLevel } from '../cli/context.js';
import type { Config } from '../config/load-config.js';
import { UsageError } from '../errors.js';
import { kindOf, NEXT_BOOT_FILE } from '../boot/observe.js';
import { parseTarget, type Target } from '../boot/target.js';
import { rollbackParameter } from '../cmdline/parse-cmdline.js';
import { readRequest, removeRequest, writeRequest, type Request } from '../list/request.js';
import { describeInventory, readInventory, resolveStored } from '../list/stored.js';

const USAGE = `Usage: pantheros-rollback next-boot [TARGET | --cancel] [--device DEV | --top-level DIR] [--config FILE] [--json]

Asks the initrd to make the next boot's root from TARGET, once (like grub-reboot), by writing the
request file <top level>/<oldRoots>/${NEXT_BOOT_FILE} (atomically: temporary file, fsync, rename).
The boot removes the request before acting on it, so a boot loop cannot repeat it, and an explicit
pantheros.rollback= on the kernel command line wins over it.

  next-boot TARGET    request TARGET for the next boot (replaces an earlier request)
  next-boot --cancel  withdraw the pending request
  next-boot           show the pending request and what the next boot will do

TARGET, checked against what exists now:
  blank                 a fresh root from the blank (what happens anyway without a request)
  keep                  leave the root as it is: nothing archived, nothing deleted
  previous              a writable copy of the current root (archived first): this boot's changes survive
  <archive name>        a writable copy of that archived root (see: pantheros-rollback list)
  <class>/<name>        a writable copy of that snapshot, e.g. daily/@persistent.20261126T000000Z
The archive or snapshot itself is never changed: the new root is a snapshot of it.

  --device DEV      the btrfs device (default: "device" in the config); its top level is mounted privately
  --top-level DIR   an already-mounted top level instead
  --config FILE     JSON config (default /etc/pantheros/rollback.json)
  --json            machine-readable output

Exit: 0 done (or shown), 2 usage (unknown target or archive), 3 the top level cannot be mounted.`;

/** What the next boot does for a (valid) target, in words. */
export function describeNextBoot(target: Target, config: Config): string {
  const { root, blank, oldRoots, snapshots } = config.subvolumes;
  const archiveFirst = `the current ${root} is archived under ${oldRoots}, then`;
  switch (target.kind) {
    case 'blank':
      return `${archiveFirst} a fresh ${root} is made from ${blank} (the normal boot)`;
    case 'keep':
      return `${root} is left as it is: nothing is archived or deleted`;
    case 'previous':
      return `${archiveFirst} the new ${root} is a writable copy of it: the changes made since this boot survive one more boot`;
    case 'archive':
      return `${archiveFirst} the new ${root} is a writable copy of the archived root ${oldRoots}/${target.name} (which stays as it is)`;
    case 'snapshot':
      return `${archiveFirst} the new ${root} is a writable copy of the snapshot ${snapshots}/${target.path} (which stays as it is)`;
    case 'refused':
      return `the request is refused (${target.reason}) and a fresh ${root} is made from ${blank}`;
  }
}

/** Checks a target against the disk; returns the parsed target or throws a usage error naming what exists. */
function validateTarget(top: string, config: Config, raw: string): Target {
  const target = parseTarget(raw);
  if (target.kind === 'refused') {
    throw new UsageError(`next-boot: "${raw}" is not a valid target: ${target.reason}; ${describeInventory(readInventory(top, config), config)}`);
  }
  if (target.kind === 'archive' || target.kind === 'snapshot') resolveStored(top, config, raw, 'next-boot');
  if (target.kind === 'previous' && kindOf(join(top, config.subvolumes.root)) !== 'subvolume' && readInventory(top, config).archives.length === 0) {
    throw new UsageError(`next-boot: "previous" needs a root or an archive, and there is neither`);
  }
  return target;
}

/** The pending request's target, re-checked now (an archive may have been deleted since). */
function judgeRequest(top: string, config: Config, request: Request): { target: string | null; effect: string; problem: string | null } {
  if (request === null) return { target: null, effect: describeNextBoot({ kind: 'blank' }, config), problem: null };
  if ('problem' in request) return { target: null, effect: describeNextBoot({ kind: 'blank' }, config), problem: request.problem };
  try {
    return { target: request.target, effect: describeNextBoot(validateTarget(top, config, request.target), config), problem: null };
  } catch (error) {
    return { target: request.target, effect: describeNextBoot({ kind: 'refused', reason: 'see problem' }, config), problem: (error as Error).message.replace(/^next-boot: /, '') };
  }
}

function cmdlineNote(): string | null {
  let text = '';
  try {
    text = readFileSync('/proc/cmdline', 'utf8');
  } catch {
    return null;
  }
  const param = rollbackParameter(text);
  return param ? `this boot's kernel command line has ${param.key}=${param.value}; if the next boot's has it too, it wins over the request` : null;
}

export const nextBootCommand: Command = {
  name: 'next-boot',
  usage: USAGE,
  async run(argv) {
    const args = parseFlags(argv, { boolean: ['cancel'] }, 'next-boot');
    const [raw, ...extra] = args._.map(String);
    if (extra.length) throw new UsageError(`next-boot: unexpected argument ${extra[0]}`);
    const cancel = args.cancel === true;
    if (cancel && raw !== undefined) throw new UsageError('next-boot: give either TARGET or --cancel, not both');
    const note = cmdlineNote();
    return withTopLevel(args, { readOnly: raw === undefined && !cancel }, ({ config, top, json }) => {
      if (cancel) {
        const removed = removeRequest(top.path, config);
        const what = removed === null ? null : 'target' in removed ? removed.target : null;
        output(json, { action: 'cancel', cancelled: what, problem: removed && 'problem' in removed ? removed.problem : null, effect: describeNextBoot({ kind: 'blank' }, config) }, () =>
          removed === null ? 'no next-boot request was pending' : `cancelled the next-boot request${what === null ? '' : ` "${what}"`}; next boot: ${describeNextBoot({ kind: 'blank' }, config)}`,
        );
        return 0;
      }
      if (raw !== undefined) {
        const target = validateTarget(top.path, config, raw);
        writeRequest(top.path, config, raw);
        const effect = describeNextBoot(target, config);
        output(json, { action: 'request', target: raw, kind: target.kind, file: join(config.subvolumes.oldRoots, NEXT_BOOT_FILE), effect, note }, () =>
          [`next boot (once): ${raw}`, `  ${effect}`, `  request written to <top level>/${config.subvolumes.oldRoots}/${NEXT_BOOT_FILE}; withdraw it with: pantheros-rollback next-boot --cancel`, ...(note ? [`  note: ${note}`] : [])].join('\n'),
        );
        return 0;
      }
      const judged = judgeRequest(top.path, config, readRequest(top.path, config));
      output(json, { action: 'show', pending: judged.target, problem: judged.problem, effect: judged.effect, note }, () =>
        [
          judged.target === null && judged.problem === null ? 'no next-boot request is pending' : `pending next-boot request: ${judged.target ?? '(unreadable)'}`,
          ...(judged.problem ? [`  problem: ${judged.problem}`] : []),
          `  next boot: ${judged.effect}`,
          ...(note ? [`  note: ${note}`] : []),
        ].join('\n'),
      );
      return 0;
    });
  },
};
