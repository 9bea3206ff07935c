// Where `restore` copies to first: a root-only staging directory created exclusively inside DEST's directory and
// held by fd, then moved into place through the held directory — renaming or swapping names in a directory a user
// owns can neither redirect the copy nor make it replace anything but DEST, and nothing at DEST is ever lost.
import { closeSync, constants, fchmodSync, fstatSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, renameSync, rmdirSync, rmSync, unlinkSync } from 'node:fs';
import { StepError } from '../errors.js';
import { fdPath, sameObject } from '../fs/open-dir.js';
import type { SourceKind } from './source.js';

/** Names of staging directories; one left by a killed restore (SIGKILL) can be removed with rm -r. */
export const STAGING_PREFIX = '.pantheros-restore-';
/** What a replaced DEST is renamed to, beside it: DEST.pantheros-replaced-<UTC time>[_N]. */
export const REPLACED_INFIX = '.pantheros-replaced-';

export interface Staging {
  /** The directory it is in (DEST's directory), held by the caller. */
  parentFd: number;
  name: string;
  fd: number;
  /** For messages: where it is. */
  shown: string;
}

/**
 * Creates STAGING_PREFIX<pid>-<random> in the directory held by parentFd with mkdir (which never follows a
 * symlink and fails if the name exists), opens it with O_NOFOLLOW|O_DIRECTORY, and checks that what it opened is
 * the root-owned, empty directory it made (mode set to 0700 with fchmod). Throws StepError when it cannot.
 */
export function createStaging(parentFd: number, parentShown: string): Staging {
  let name = '';
  for (let attempt = 0; ; attempt++) {
    name = `${STAGING_PREFIX}${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
    try {
      mkdirSync(fdPath(parentFd, name), { mode: 0o700 });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 9) {
        throw new StepError(`restore: cannot create a staging directory in ${parentShown}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, [], 'nothing was copied or changed');
      }
    }
  }
  const shown = `${parentShown.replace(/\/$/, '')}/${name}`;
  let fd: number;
  try {
    fd = openSync(fdPath(parentFd, name), constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (error) {
    throw new StepError(`restore: the staging directory ${shown} was replaced before it could be opened (${(error as NodeJS.ErrnoException).code ?? String(error)})`, [], `nothing was copied; ${shown} may be left (remove it with rm -r)`);
  }
  const st = fstatSync(fd);
  if (!st.isDirectory() || st.uid !== 0 || readdirSync(fdPath(fd)).length !== 0) {
    closeSync(fd);
    throw new StepError(`restore: ${shown} is not the empty root-owned directory just created (someone swapped it)`, [], 'nothing was copied or changed');
  }
  fchmodSync(fd, 0o700);
  return { parentFd, name, fd, shown };
}

/**
 * Removes the staging directory: its contents through the held fd (no name outside it is resolved), then the
 * directory itself by name — only if that name is still the directory held (else it is left, and said so).
 * Closes the fd. Returns a problem as text, or undefined.
 */
export function removeStaging(s: Staging): string | undefined {
  let problem: string | undefined;
  try {
    for (const entry of readdirSync(fdPath(s.fd))) rmSync(fdPath(s.fd, entry), { recursive: true, force: true });
    if (sameObject(s.fd, fdPath(s.parentFd, s.name))) rmdirSync(fdPath(s.parentFd, s.name));
    else problem = `${s.shown} was renamed by someone else; it is left where it is now`;
  } catch (error) {
    problem = `cannot remove ${s.shown}: ${(error as NodeJS.ErrnoException).code ?? String(error)} (remove it with rm -r)`;
  } finally {
    closeSync(s.fd);
  }
  return problem;
}

/** YYYYMMDDTHHMMSSZ of a time, UTC. */
function stamp(now: Date): string {
  return now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

/** The name a replaced DEST gets beside it: NAME.pantheros-replaced-<UTC time>, with _N when taken. */
export function replacedName(name: string, now: Date, taken: (candidate: string) => boolean): string {
  const base = `${name}${REPLACED_INFIX}${stamp(now)}`;
  let candidate = base;
  for (let n = 1; taken(candidate); n++) candidate = `${base}_${String(n).padStart(2, '0')}`;
  return candidate;
}

const exists = (path: string) => {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
};

/**
 * Moves the copied item (NAME in the staging directory) to DEST (name in the staging's parent), both through held
 * fds. With `replace`, whatever is at DEST first gets renamed beside it (replacedName). The item is put in place
 * without replacing anything: a directory by rename onto a name checked to be free, anything else by link(2),
 * which fails if the name exists. If that fails, the replaced item is renamed back. Returns the name the replaced
 * item was kept under (null when nothing was there). Throws StepError saying what the system looks like.
 */
export function moveIntoPlace(s: Staging, itemName: string, destName: string, kind: SourceKind, replace: boolean, now: Date, destShown: string): string | null {
  const P = s.parentFd;
  let keptAs: string | null = null;
  if (replace && exists(fdPath(P, destName))) {
    keptAs = replacedName(destName, now, (c) => exists(fdPath(P, c)));
    try {
      renameSync(fdPath(P, destName), fdPath(P, keptAs));
    } catch (error) {
      throw new StepError(`restore: cannot move the existing ${destShown} aside: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, ['copied into the staging directory'], `${destShown} is unchanged; the copy is removed`);
    }
  }
  try {
    if (kind === 'directory') {
      if (exists(fdPath(P, destName))) throw Object.assign(new Error('exists'), { code: 'EEXIST' });
      renameSync(fdPath(s.fd, itemName), fdPath(P, destName));
    } else {
      linkSync(fdPath(s.fd, itemName), fdPath(P, destName));
      unlinkSync(fdPath(s.fd, itemName));
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    let state = `${destShown} was not restored`;
    if (keptAs !== null) {
      let back = false;
      try {
        if (!exists(fdPath(P, destName))) {
          renameSync(fdPath(P, keptAs), fdPath(P, destName));
          back = true;
        }
      } catch {
        back = false;
      }
      state += back ? '; the item that was there is back in place' : `; the item that was there is kept as ${keptAs} beside it`;
    }
    const why = code === 'EEXIST' ? `something appeared at ${destShown} during the copy` : (code ?? String(error));
    throw new StepError(`restore: cannot put the copy in place: ${why}`, ['copied into the staging directory'], state);
  }
  return keptAs;
}
