// Log lines go to /dev/kmsg inside an initrd (so they land in the journal) and to stderr otherwise.
import { closeSync, existsSync, openSync, writeSync } from 'node:fs';
import { writeErr } from '../cli/io.js';

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

export function createLogger(options: { kmsg?: boolean; quiet?: boolean } = {}): Logger {
  let fd: number | undefined;
  if (options.kmsg ?? inInitrd()) {
    try {
      fd = openSync('/dev/kmsg', 'w');
    } catch {
      fd = undefined;
    }
  }
  // kmsg priorities: 3 err, 4 warning, 6 info.
  const write = (priority: number, label: string, message: string) => {
    for (const line of message.split('\n')) {
      if (fd !== undefined) {
        try {
          writeSync(fd, `<${priority}>${TAG}: ${line}\n`);
          continue;
        } catch {
          fd = undefined;
        }
      }
      if (!options.quiet || priority <= 4) writeErr(`${TAG}: ${label}${line}\n`);
    }
  };
  return {
    info: (m) => write(6, '', m),
    warn: (m) => write(4, 'warning: ', m),
    error: (m) => write(3, 'error: ', m),
    close: () => {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}
