// The shape every change this tool makes takes: a plan of numbered steps, each with its reason, built by a pure
// planner, checked by src/engine/check.ts and applied by src/engine/execute.ts (changesets' assemble/apply split).

/** One subvolume to delete: its path relative to the top level, and its exact bytes when the name is not valid UTF-8. */
export interface SubvolumeRef {
  path: string;
  bytes?: Buffer;
}

/** Something the operator sees going (an archive, a snapshot, a temporary subvolume) with everything deleted for it. */
export interface DeleteItem {
  /** The item, relative to the top level. */
  path: string;
  reason: string;
  /** Every subvolume deleted for it, deepest first, the item itself last. */
  subvolumes: SubvolumeRef[];
  /**
   * Nested subvolumes that hold others, made writable first: btrfs cannot unlink a subvolume from a read-only parent,
   * and anyone may make their own subvolume read-only; the item is going, so its contents may not pin it.
   */
  unlock?: SubvolumeRef[];
}

/** A nested subvolume as a reference: the path, and its exact bytes when the name is not valid UTF-8. */
export const refOf = (n: { path: string; bytes: Buffer }): SubvolumeRef => (n.bytes.equals(Buffer.from(n.path)) ? { path: n.path } : { path: n.path, bytes: n.bytes });

/**
 * The nearest ancestor of each path among `paths` (a path's own index → the index of the longest other path in the list
 * that is a directory above it, or -1). Sorted once, in tree order ('/' before every other character), and walked with
 * a stack: O(n log n) comparisons, where comparing every pair took minutes for the tens of thousands of subvolumes a
 * local user can make in a root's /tmp in seconds.
 */
export function nearestAncestors(paths: readonly string[]): number[] {
  const key = paths.map((p) => p.replaceAll('/', '\0'));
  const order = paths.map((_, i) => i).sort((a, b) => (key[a]! < key[b]! ? -1 : key[a]! > key[b]! ? 1 : a - b));
  const nearest = new Array<number>(paths.length).fill(-1);
  const stack: number[] = [];
  for (const i of order) {
    while (stack.length && !paths[i]!.startsWith(`${paths[stack.at(-1)!]}/`)) stack.pop();
    if (stack.length) nearest[i] = stack.at(-1)!;
    stack.push(i);
  }
  return nearest;
}

/** Start of the name the executor gives a nested subvolume it moves to the top of an item before deleting it there. */
export const SET_ASIDE_PREFIX = '.pantheros-delete-';

/**
 * True for a name the executor gave a subvolume it set aside to delete (`.pantheros-delete-<pid>-<n>` at the top of
 * the item, a directory only root may change). One left means the item's delete was cut short (its time ran out).
 */
export function isSetAsideName(name: string): boolean {
  return name.startsWith(SET_ASIDE_PREFIX) && /^\d+-\d+$/.test(name.slice(SET_ASIDE_PREFIX.length));
}

/**
 * The delete item for `path` with the subvolumes below it (deepest first, as src/btrfs/inventory.ts gives them): all
 * of them, then the item; every one that holds another and is read-only, or not known to be writable (`readOnly`
 * true, null or absent), is made writable first. One known writable is left as it is: a flag change is a transaction
 * commit of its own (about 10 ms), and a user's tens of thousands of holders took a boot's whole age-out before
 * anything was deleted (review finding H1 of 2026-12-02, second round). Made read-only after the plan, its nested
 * subvolume's delete fails (EROFS) and the item stays for the next run, which sees it read-only.
 */
export function deleteItem(path: string, reason: string, nested: readonly { path: string; bytes: Buffer; readOnly?: boolean | null }[]): DeleteItem {
  const holds = new Set(nearestAncestors(nested.map((n) => n.path)));
  const unlock = nested.filter((n, i) => holds.has(i) && n.readOnly !== false).map(refOf);
  return { path, reason, subvolumes: [...nested.map(refOf), { path }], ...(unlock.length ? { unlock } : {}) };
}

export type Step =
  | { n: number; action: 'ensure-dir'; path: string; reason: string }
  /**
   * `budgetSeconds`: the most time the executor spends on the step (a monotonic clock); the subvolumes it has not reached
   * by then stay, each item they belong to reported as staying, and the next run goes on (a boot's age-out).
   */
  | { n: number; action: 'delete'; purpose: 'leftover' | 'age-out' | 'prune' | 'temporary'; items: DeleteItem[]; reason: string; budgetSeconds?: number }
  /** `sourceBytes`/`destBytes`: the exact paths when a name is not valid UTF-8 (`source`/`dest` then show it with U+FFFD). */
  | { n: number; action: 'snapshot'; source: string; dest: string; readOnly: boolean; reason: string; sourceBytes?: Buffer; destBytes?: Buffer }
  | { n: number; action: 'create-subvolume'; dest: string; reason: string }
  /** Removes the empty directory a snapshot leaves where a nested subvolume was (inode 2), so a snapshot can take its place. */
  | { n: number; action: 'remove-stub'; path: string; reason: string; bytes?: Buffer }
  | { n: number; action: 'rename'; from: string; to: string; reason: string }
  | { n: number; action: 'remove-file'; path: string; reason: string }
  | { n: number; action: 'write-file'; path: string; content: string; reason: string }
  /** One transaction commit of the filesystem: everything before it is on disk when it is done. */
  | { n: number; action: 'commit'; reason: string };

export type StepSpec = Step extends infer S ? (S extends Step ? Omit<S, 'n'> : never) : never;

/** Something a planner noticed: how bad, about what, what, why it matters, what to do (check prints these). */
export interface Notice {
  severity: 'error' | 'warning' | 'info';
  /** The path it is about (relative to the top level), or null. */
  subject: string | null;
  what: string;
  why: string;
  fix: string;
}

/** Numbers step specs 1, 2, 3… in order. */
export function numberSteps(specs: readonly StepSpec[]): Step[] {
  return specs.map((s, i) => ({ ...s, n: i + 1 }) as Step);
}

/** A one-line description of a step's operands, for reports and --dry-run. */
export function stepDetail(step: Step): string {
  switch (step.action) {
    case 'ensure-dir':
    case 'remove-stub':
    case 'remove-file':
      return step.path;
    case 'write-file':
      return `${step.path} ← ${JSON.stringify(step.content.trimEnd())}`;
    case 'delete':
      return step.items.map((i) => (i.subvolumes.length > 1 ? `${i.path} (+${i.subvolumes.length - 1} nested)` : i.path)).join(', ');
    case 'snapshot':
      return `${step.source} → ${step.dest}${step.readOnly ? ' (read-only)' : ''}`;
    case 'create-subvolume':
      return step.dest;
    case 'rename':
      return `${step.from} → ${step.to}`;
    case 'commit':
      return 'filesystem';
  }
}

/** A notice as one line of text (for reports and logs). */
export function formatNotice(n: Notice): string {
  return `${n.subject ? `${n.subject}: ` : ''}${n.what}${n.fix && n.fix !== 'nothing' ? ` (${n.fix})` : ''}`;
}
