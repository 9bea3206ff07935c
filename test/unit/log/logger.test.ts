// Where log lines go: the journal when systemd connected our stderr to it, /dev/kmsg only in an initrd without systemd.
import { describe, expect, it } from 'vitest';
import { chooseLogTarget, type LogFacts } from '../../../src/log/logger.js';

const facts = (change: Partial<LogFacts>): LogFacts => ({ journalStream: undefined, stderr: { dev: 21, ino: 4242 }, inInitrd: false, systemdRunning: false, ...change });

describe('chooseLogTarget', () => {
  it.each<[string, Partial<LogFacts>, string]>([
    ['an operator terminal', {}, 'stderr'],
    ['systemd connected stderr to the journal', { journalStream: '21:4242', systemdRunning: true }, 'journal'],
    ['systemd stage 1: the unit logs to the journal', { journalStream: '21:4242', inInitrd: true, systemdRunning: true }, 'journal'],
    ['JOURNAL_STREAM inherited, but stderr goes elsewhere', { journalStream: '21:9999', systemdRunning: true }, 'stderr'],
    ['JOURNAL_STREAM set, stderr closed', { journalStream: '21:4242', stderr: undefined }, 'stderr'],
    ['JOURNAL_STREAM malformed', { journalStream: 'garbage' }, 'stderr'],
    ['an initrd without systemd (busybox /init)', { inInitrd: true }, 'kmsg'],
    ['an initrd with systemd, run from the emergency shell', { inInitrd: true, systemdRunning: true }, 'stderr'],
    ['JOURNAL_STREAM wins over kmsg', { inInitrd: true, journalStream: '21:4242' }, 'journal'],
  ])('%s', (_name, change, expected) => {
    expect(chooseLogTarget(facts(change))).toBe(expected);
  });
});
