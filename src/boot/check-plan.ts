// The safety filter every plan passes before its first change (snapper's filter_undeletables, made total).
import type { Config } from '../config/load-config.js';
import { InternalError } from '../errors.js';
import { cgenByPath } from '../btrfs/list.js';
import { orderNewestFirst } from '../retention/age-out.js';
import { isLeftoverName, NEXT_BOOT_FILE, type Observed } from './observe.js';
import type { Plan } from './plan.js';

const inside = (path: string, dir: string) => path.startsWith(`${dir}/`) && !path.slice(dir.length + 1).split('/').some((c) => c === '' || c === '.' || c === '..');

/** Every violated invariant, as text; empty when the plan is safe. */
export function findViolations(plan: Plan, observed: Observed, config: Config): string[] {
  const { root, oldRoots } = config.subvolumes;
  const v: string[] = [];
  const archiveNames = observed.entries.filter((e) => e.kind === 'subvolume' && !e.name.startsWith('.')).map((e) => e.name);
  const cgens = cgenByPath(observed.listing);
  const cgen = (name: string) => cgens.get(`${oldRoots}/${name}`);
  const newestExisting = orderNewestFirst(archiveNames.map((name) => ({ name, cgen: cgen(name) })))[0]?.name;
  const protectedArchives = new Set<string>();
  if (newestExisting) protectedArchives.add(`${oldRoots}/${newestExisting}`);
  if (plan.archive) protectedArchives.add(plan.archive.path);
  if (plan.target.source) protectedArchives.add(plan.target.source);
  const archiveOf = (p: string) => `${oldRoots}/${p.slice(oldRoots.length + 1).split('/')[0]}`;

  let deletedArchives = 0;
  for (const step of plan.steps) {
    switch (step.action) {
      case 'delete':
      case 'delete-leftover':
        for (const p of step.paths) {
          if (!inside(p, oldRoots)) v.push(`step ${step.n} deletes ${p}, which is not strictly inside ${oldRoots}`);
          if (!cgens.has(p)) v.push(`step ${step.n} deletes ${p}, which is not a subvolume in the listing`);
          if (protectedArchives.has(archiveOf(p))) v.push(`step ${step.n} deletes ${p} inside protected archive ${archiveOf(p)} (newest, archived this boot, or the source of this boot)`);
          if (step.action === 'delete-leftover' && !isLeftoverName(archiveOf(p).slice(oldRoots.length + 1))) v.push(`step ${step.n} deletes ${p} as a leftover, but it is not one of this tool's temporary subvolumes`);
          if (step.action === 'delete' && archiveOf(p).slice(oldRoots.length + 1).startsWith('.')) v.push(`step ${step.n} ages out ${p}, which is not an archive`);
        }
        // Deepest first: nothing may be deleted before a subvolume below it.
        step.paths.forEach((p, i) => {
          if (step.paths.slice(i + 1).some((q) => q.startsWith(`${p}/`))) v.push(`step ${step.n} deletes ${p} before a subvolume inside it`);
        });
        if (step.action === 'delete') deletedArchives += step.archives.length;
        break;
      case 'rename': {
        const archiving = step.from === root && plan.archive !== null && step.to === plan.archive.path;
        const placing = step.to === root && step.from === plan.newRoot;
        if (!archiving && !placing) v.push(`step ${step.n} renames ${step.from} to ${step.to}: only ${root} → a new archive and the new root → ${root} are allowed`);
        if (archiving && observed.entries.some((e) => `${oldRoots}/${e.name}` === step.to)) v.push(`step ${step.n} would overwrite ${step.to}`);
        break;
      }
      case 'snapshot':
      case 'create-subvolume':
        if (step.dest !== plan.newRoot || !inside(step.dest, oldRoots)) v.push(`step ${step.n} creates ${step.dest}, not the new root's temporary name inside ${oldRoots}`);
        break;
      case 'consume-request':
        if (step.path !== `${oldRoots}/${NEXT_BOOT_FILE}`) v.push(`step ${step.n} removes ${step.path}, which is not the next-boot request`);
        break;
      case 'ensure-dir':
        if (step.path !== oldRoots) v.push(`step ${step.n} creates directory ${step.path}, not ${oldRoots}`);
        break;
    }
  }
  if (archiveNames.length > 0 && deletedArchives >= archiveNames.length + (plan.archive ? 1 : 0)) v.push('the plan deletes every archive');
  if (plan.result !== 'kept') {
    const placesRoot = plan.steps.some((s) => s.action === 'rename' && s.to === root);
    if (!placesRoot) v.push(`the plan ends without a ${root}`);
  }
  return v;
}

/** Throws (a bug, never a user error) when the plan breaks an invariant; runs before the first change. */
export function checkPlan(plan: Plan, observed: Observed, config: Config): void {
  const violations = findViolations(plan, observed, config);
  if (violations.length) throw new InternalError(`refusing an unsafe plan (nothing was changed): ${violations.join('; ')}`);
}
