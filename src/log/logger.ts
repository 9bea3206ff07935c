// Where log lines go: the journal when systemd runs the tool (stderr with syslog priority prefixes, which journald
// reads), /dev/kmsg in an initrd without systemd (so the lines reach the kernel log), stderr otherwise.
import { closeSync, existsSync, fstatSync, openSync, writeSync } from 'node:fs';
import { writeErr } from '../cli/io.js';
import { oneLine } from '../cli/show-text.js';

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  close(): void;
}

const TAG = 'pantheros-rollback';

/** True inside an initrd: systemd's stage 1 (and ours) ships /etc/initrd-release. */
export function inInitrd(): boolean {
  return existsSync('/etc/initrd-release');
}

export type LogTarget = 'journal' | 'kmsg' | 'stderr';

export interface LogFacts {
  /** $JOURNAL_STREAM: "DEV:INODE" of the stream systemd connected to the journal (systemd.exec(5)). */
  journalStream: string | undefined;
  /** Device and inode of fd 2, to compare with it; undefined when fd 2 is closed. */
  stderr: { dev: number; ino: number } | undefined;
  inInitrd: boolean;
  /** /run/systemd/system exists: systemd is the init system (sd_booted(3)). */
  systemdRunning: boolean;
}

/**
 * Decides where log lines go:
 * - journal: $JOURNAL_STREAM names fd 2 (systemd.exec(5): compare it with fstat of the fd, since the variable is
 *   inherited by children whose stderr may go elsewhere); every line is kept, with its priority from the `<N>`
 *   prefix (sd-daemon(3); journald's SyslogLevelPrefix= is on by default);
 * - kmsg: in an initrd that systemd does not run (a busybox /init): /dev/kmsg, where the kernel log keeps it. Its
 *   rate limit (10 lines per 5 s per open file, printk_devkmsg=ratelimit) drops more, so only there;
 * - stderr otherwise (an operator's terminal, or an initrd's emergency shell).
 */
export function chooseLogTarget(facts: LogFacts): LogTarget {
  if (facts.journalStream && facts.stderr) {
    const [dev, ino] = facts.journalStream.split(':');
    if (dev === String(facts.stderr.dev) && ino === String(facts.stderr.ino)) return 'journal';
  }
  if (facts.inInitrd && !facts.systemdRunning) return 'kmsg';
  return 'stderr';
}

/** The facts of this process (environment, fd 2, /etc/initrd-release, /run/systemd/system). */
export function observeLogFacts(): LogFacts {
  let stderr: LogFacts['stderr'];
  try {
    const st = fstatSync(2);
    stderr = { dev: st.dev, ino: st.ino };
  } catch {
    stderr = undefined;
  }
  return { journalStream: process.env.JOURNAL_STREAM, stderr, inInitrd: inInitrd(), systemdRunning: existsSync('/run/systemd/system') };
}

/** Syslog priorities (syslog(3)): 3 err, 4 warning, 6 info. */
const PRIORITY = { error: 3, warn: 4, info: 6 } as const;
const LABEL = { error: 'error: ', warn: 'warning: ', info: '' } as const;

/**
 * One log record as the one line written for it, ending in "\n": `<N>` (the syslog priority, for the journal and
 * /dev/kmsg, which read it), the tag, the level's label, then the message with every character a terminal or a log
 * reader would act on escaped (src/cli/show-text.ts oneLine: newlines as \n, C0/C1 controls, bidi overrides). A
 * message often embeds names any user chose, so a newline in one must never start a line that looks like the
 * tool's own.
 */
export function formatLogLine(level: keyof typeof PRIORITY, message: string, withPriority: boolean): string {
  return `${withPriority ? `<${PRIORITY[level]}>` : ''}${TAG}: ${LABEL[level]}${oneLine(message)}\n`;
}

/**
 * A logger writing to the target chooseLogTarget picks (or `target`). With `quiet`, info lines are left out on a
 * plain stderr only. A failed /dev/kmsg write falls back to stderr.
 */
export function createLogger(options: { target?: LogTarget; quiet?: boolean } = {}): Logger {
  const target = options.target ?? chooseLogTarget(observeLogFacts());
  let fd: number | undefined;
  if (target === 'kmsg') {
    try {
      fd = openSync('/dev/kmsg', 'w');
    } catch {
      fd = undefined;
    }
  }
  const write = (level: keyof typeof PRIORITY, message: string) => {
    if (fd !== undefined) {
      try {
        writeSync(fd, formatLogLine(level, message, true));
        return;
      } catch {
        fd = undefined;
      }
    }
    if (target === 'journal') writeErr(formatLogLine(level, message, true));
    else if (!options.quiet || PRIORITY[level] <= 4) writeErr(formatLogLine(level, message, false));
  };
  return {
    info: (m) => write('info', m),
    warn: (m) => write('warn', m),
    error: (m) => write('error', m),
    close: () => {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}
