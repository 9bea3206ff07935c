// A boot plan in one sentence, for `next-boot` and `list`: what the next boot will do.
import type { BootPlan } from './plan.js';

/** What the plan does, in words (the target, where the root goes, what the new one is made from, what ages out). */
export function describeBootPlan(plan: BootPlan, root: string): string {
  if (plan.result === 'kept') return `${root} is left as it is: nothing is archived or deleted`;
  const parts: string[] = [];
  parts.push(plan.archive ? `${root} is archived as ${plan.archive.path}` : `there is no ${root} to archive`);
  const from = plan.created?.from ?? '?';
  parts.push(`the new ${root} is ${from === 'an empty subvolume' ? 'an empty subvolume' : `a writable snapshot of ${from}`}${plan.nested.length ? ` with its ${plan.nested.length} nested subvolume(s)` : ''}`);
  if (plan.deletions.length) parts.push(`${plan.deletions.length} archive(s) age out (${plan.deletions.map((d) => d.path.split('/').at(-1)).join(', ')})`);
  if (plan.target.refused) parts.push(`the request "${plan.target.requested}" is refused: ${plan.target.refused}`);
  for (const r of plan.refusals) parts.push(`but the boot refuses, changing nothing: ${r}`);
  return parts.join('; ');
}
