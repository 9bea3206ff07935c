// A directory tree deeper than PATH_MAX (4 096 bytes), as any local user can make one: built through held
// directories (/proc/self/fd/N/NAME), since no path to its bottom fits in one system call.
import { closeSync, mkdirSync, openSync } from 'node:fs';

/** The name of every level below the top of a deep tree: 200 bytes. */
export const DEEP_LEVEL = 'd'.repeat(200);

/**
 * Makes `parent`/`name` (a directory) with `levels` levels of DEEP_LEVEL below it (30 levels: about 6 000 bytes), and
 * runs atBottom with a path to the deepest directory that works while it runs (/proc/self/fd/N). Returns the bottom's
 * path relative to `parent`. Throws the fs error of a step (EEXIST when `name` exists).
 */
export function makeDeepTree(parent: string, name: string, levels: number, atBottom: (dir: string) => void): string {
  let fd = openSync(parent, 'r');
  try {
    mkdirSync(`/proc/self/fd/${fd}/${name}`);
    for (let i = 0; i <= levels; i++) {
      const next = openSync(`/proc/self/fd/${fd}/${i ? DEEP_LEVEL : name}`, 'r');
      closeSync(fd);
      fd = next;
      if (i < levels) mkdirSync(`/proc/self/fd/${fd}/${DEEP_LEVEL}`);
    }
    atBottom(`/proc/self/fd/${fd}`);
  } finally {
    closeSync(fd);
  }
  return [name, ...Array<string>(levels).fill(DEEP_LEVEL)].join('/');
}
