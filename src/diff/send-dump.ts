// Runs `btrfs send --no-data -p PARENT CHILD | btrfs receive --dump` (no shell) and feeds the dump to the parser line by line.
import { spawn } from 'node:child_process';
import { assertSafePath, btrfsProgram } from '../btrfs/commands.js';
import { spawnCounter } from '../btrfs/run.js';
import { trackChild } from '../cli/signals.js';
import { createDumpParser, type DumpResult } from './parse-dump.js';

/** The metadata-only send stream that turns read-only PARENT into read-only CHILD. */
export function sendArgv(parent: string, child: string): string[] {
  return [btrfsProgram(), 'send', '--no-data', '-q', '-p', assertSafePath(parent), assertSafePath(child)];
}

/** Prints a send stream from stdin as one line per command, without applying it. */
export function receiveDumpArgv(): string[] {
  return [btrfsProgram(), 'receive', '--dump'];
}

export class SendDumpError extends Error {
  override name = 'SendDumpError';
}

/** Streams the dump of the difference between two read-only subvolumes into the parser. */
export function dumpDifference(parent: string, child: string): Promise<DumpResult> {
  const send = sendArgv(parent, child);
  const receive = receiveDumpArgv();
  spawnCounter.count += 2;
  return new Promise((resolve, reject) => {
    const sender = spawn(send[0]!, send.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    const receiver = spawn(receive[0]!, receive.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    // A signal stops both before the temporary snapshot they read is deleted.
    trackChild(sender, 'btrfs send');
    trackChild(receiver, 'btrfs receive');
    const parser = createDumpParser();
    const errors = { send: '', receive: '' };
    const codes: { send?: number | null; receive?: number | null } = {};
    let failed: Error | undefined;
    let rest = '';
    sender.stdout.pipe(receiver.stdin);
    // receive stops reading if it fails; the broken pipe is reported through its exit code instead.
    receiver.stdin.on('error', () => {});
    sender.stderr.setEncoding('utf8').on('data', (d: string) => (errors.send += d));
    receiver.stderr.setEncoding('utf8').on('data', (d: string) => (errors.receive += d));
    receiver.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const text = rest + chunk;
      let start = 0;
      for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
        parser.line(text.slice(start, nl));
        start = nl + 1;
      }
      rest = text.slice(start);
    });
    const settle = () => {
      if (!('send' in codes) || !('receive' in codes) || !receiver.stdout.readableEnded) return;
      if (failed) return reject(failed);
      if (codes.send !== 0) return reject(new SendDumpError(`${send.join(' ')} exited ${codes.send}: ${errors.send.trim() || '(no output)'}`));
      if (codes.receive !== 0) return reject(new SendDumpError(`${receive.join(' ')} exited ${codes.receive}: ${errors.receive.trim() || '(no output)'}`));
      if (rest !== '') parser.line(rest);
      resolve(parser.finish());
    };
    for (const [name, child] of [['send', sender], ['receive', receiver]] as const) {
      child.on('error', (error) => {
        failed ??= new SendDumpError(`cannot run ${name === 'send' ? send[0] : receive[0]}: ${error.message}`, { cause: error });
        codes[name] = -1;
        settle();
      });
      child.on('close', (code) => {
        codes[name] = code;
        settle();
      });
    }
    receiver.stdout.on('end', settle);
  });
}
