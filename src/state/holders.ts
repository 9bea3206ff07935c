// Who holds files open in a subvolume (fuser/lsof-like): every process's open files (/proc/PID/fd), mapped files
// (/proc/PID/maps), working directory and root, compared by device number. Every btrfs subvolume has a device number
// of its own (its anonymous st_dev), so a file belongs to a subvolume exactly when its st_dev is the subvolume's.
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { oneLine } from '../cli/show-text.js';
import { parseMountinfo, type MountEntry } from '../fs/mountinfo.js';

export interface Holder {
  pid: number;
  /** The process's name (/proc/PID/comm). */
  command: string;
  /** What it holds: `fd 5 → /var/lib/x/file`, `cwd → /var/lib/x`, `root → …`, `mapped /var/lib/x/lib.so`. */
  what: string;
}

/** makedev(3) of Linux: the st_dev number of a major:minor pair. */
export function makeDev(major: number, minor: number): number {
  return (minor & 0xff) + (major & 0xfff) * 0x100 + (minor & ~0xff) * 0x1000 + Math.floor(major / 0x1000) * 0x100000000;
}

/** Parses the device field of /proc/PID/maps lines ("00:2f", hex) into st_dev numbers, with the path. */
export function parseMaps(text: string): { dev: number; inode: number; path: string }[] {
  const out: { dev: number; inode: number; path: string }[] = [];
  for (const line of text.split('\n')) {
    const m = /^\S+\s+\S+\s+\S+\s+([0-9a-f]+):([0-9a-f]+)\s+(\d+)\s*(.*)$/.exec(line);
    if (m && m[3] !== '0') out.push({ dev: makeDev(parseInt(m[1]!, 16), parseInt(m[2]!, 16)), inode: Number(m[3]), path: m[4]! });
  }
  return out;
}

const safeLink = (p: string) => {
  try {
    return readlinkSync(p);
  } catch {
    return '?';
  }
};

/**
 * Every process (but `exclude`) holding something whose device number is in `devs`. Processes that vanish while
 * they are read are skipped. Source of the facts: /proc (proc(5)); needs root to see other users' processes.
 */
export function findHolders(devs: ReadonlySet<number>, options: { proc?: string; exclude?: readonly number[] } = {}): Holder[] {
  const proc = options.proc ?? '/proc';
  const exclude = new Set(options.exclude ?? [process.pid]);
  const holders: Holder[] = [];
  let pids: number[];
  try {
    pids = readdirSync(proc).filter((n) => /^\d+$/.test(n)).map(Number);
  } catch {
    return [];
  }
  for (const pid of pids) {
    if (exclude.has(pid)) continue;
    const base = `${proc}/${pid}`;
    let command = '?';
    try {
      command = readFileSync(`${base}/comm`, 'utf8').trim();
    } catch {
      continue;
    }
    const add = (what: string) => holders.push({ pid, command, what });
    // A leader that exited while its other threads live on (a zombie) shows no files of its own: its threads do.
    for (const at of taskBases(proc, pid)) scanTask(at, devs, add);
  }
  return holders;
}

/** What /proc shows a process's files through: the process itself, and each of its threads when its leader is a zombie. */
function taskBases(proc: string, pid: number): string[] {
  const base = `${proc}/${pid}`;
  let zombie = false;
  try {
    const stat = readFileSync(`${base}/stat`, 'utf8');
    zombie = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return [base];
  }
  if (!zombie) return [base];
  try {
    return readdirSync(`${base}/task`).filter((t) => /^\d+$/.test(t)).map((t) => `${base}/task/${t}`);
  } catch {
    return [base];
  }
}

/** Reports (through add) what the process or thread at `base` holds on a device in `devs`: cwd, root, fds, mapped files. */
function scanTask(base: string, devs: ReadonlySet<number>, add: (what: string) => void): void {
  const devOf = (p: string) => {
    try {
      return statSync(p).dev;
    } catch {
      return undefined;
    }
  };
  for (const link of ['cwd', 'root'] as const) {
    const d = devOf(`${base}/${link}`);
    if (d !== undefined && devs.has(d)) add(`${link} → ${safeLink(`${base}/${link}`)}`);
  }
  let fds: string[] = [];
  try {
    fds = readdirSync(`${base}/fd`);
  } catch {
    // gone, or not ours to read
  }
  for (const fd of fds) {
    const d = devOf(`${base}/fd/${fd}`);
    if (d !== undefined && devs.has(d)) add(`fd ${fd} → ${safeLink(`${base}/fd/${fd}`)}`);
  }
  try {
    const seen = new Set<string>();
    for (const m of parseMaps(readFileSync(`${base}/maps`, 'utf8'))) {
      if (devs.has(m.dev) && !seen.has(m.path)) {
        seen.add(m.path);
        add(`mapped ${m.path}`);
      }
    }
  } catch {
    // gone
  }
}

/** Holders as lines for a message: `pid 123 (postgres): fd 5 → /var/lib/postgresql/x`, at most `max`. */
export function describeHolders(holders: readonly Holder[], max = 10): string {
  // A process name and a path are anyone's to choose: each holder stays one line of text.
  const lines = holders.slice(0, max).map((h) => oneLine(`pid ${h.pid} (${h.command}): ${h.what}`));
  if (holders.length > max) lines.push(`… and ${holders.length - max} more`);
  return lines.join('; ');
}

/**
 * Mounts of the given subvolumes (paths relative to the top level of the filesystem `majorMinor`, as mountinfo's
 * "major:minor" says it) or of anything inside them, in every mount namespace but this process's own: one holder per
 * such mount, named by a process in that namespace. A mount whose root is inside a subvolume keeps that very
 * subvolume, whatever is renamed into its place: after a swap it would go on serving, writable, what became the
 * archive. Namespaces made with unshare(1) by any user (a user namespace needs no privilege) are where such copies
 * stay, since an unmount here does not reach a private or locked copy. Copies that an unmount here reaches (systemd's
 * service namespaces are slaves of this one) are gone once it is done, so look after unmounting. A namespace with no
 * process left in it (kept by a bind of its nsfs file) cannot be read and is not seen. Source: proc(5) (/proc/PID/ns/mnt,
 * /proc/PID/mountinfo, the same per thread under /proc/PID/task/TID).
 */
export function findForeignMounts(majorMinor: string, subvolumes: readonly string[], options: { proc?: string } = {}): Holder[] {
  const proc = options.proc ?? '/proc';
  let own: string;
  let pids: number[];
  try {
    own = readlinkSync(`${proc}/self/ns/mnt`);
    pids = readdirSync(proc).filter((n) => /^\d+$/.test(n)).map(Number);
  } catch {
    return [];
  }
  const seen = new Set<string>([own]);
  const holders: Holder[] = [];
  for (const pid of pids) {
    // Every thread: one may be in a namespace of its own (unshare(CLONE_NEWNS) in one thread), or live on after its
    // leader, whose own entries are then gone (a zombie).
    let tasks: string[];
    try {
      tasks = readdirSync(`${proc}/${pid}/task`).filter((t) => /^\d+$/.test(t));
    } catch {
      continue;
    }
    for (const tid of tasks) {
      const base = `${proc}/${pid}/task/${tid}`;
      let ns: string;
      let entries: MountEntry[];
      let command = '?';
      try {
        ns = readlinkSync(`${base}/ns/mnt`);
        if (seen.has(ns)) continue;
        entries = parseMountinfo(readFileSync(`${base}/mountinfo`, 'utf8'));
        seen.add(ns);
        command = readFileSync(`${base}/comm`, 'utf8').trim();
      } catch {
        continue; // gone meanwhile, or a kernel thread
      }
      for (const m of entries) {
        if (m.majorMinor !== majorMinor || m.fsType !== 'btrfs') continue;
        const held = subvolumes.find((sv) => m.root === `/${sv}` || m.root.startsWith(`/${sv}/`));
        if (held) holders.push({ pid, command, what: `${tid === String(pid) ? '' : `its thread ${tid}: `}its mount namespace (${ns}) has ${m.root.slice(1)} mounted at ${m.mountPoint}` });
      }
    }
  }
  return holders;
}
