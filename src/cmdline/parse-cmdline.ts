import { readFileSync } from 'node:fs';
// Kernel command line parsing with systemd's rules (proc-cmdline.c): quotes, last one wins, - equals _.

/** Splits a command line into words: whitespace separates, ' and " quote (and are removed), an unterminated quote runs to the end. */
export function splitCmdline(text: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: string | null = null;
  for (const ch of text) {
    if (quote) {
      if (ch === quote) quote = null;
      else word += ch;
      continue;
    }
    if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** Normalises a key for comparison: systemd treats - and _ as equal. */
export function normalizeKey(key: string): string {
  return key.replaceAll('-', '_');
}

export interface CmdlineValue {
  /** The key as written, e.g. rd.pantheros.rollback. */
  key: string;
  /** The value after the first =, or null for a bare key (which systemd reads as "1"). */
  value: string | null;
}

/** The last occurrence of any of the keys (compared with - equal to _), or undefined when none occurs. */
export function lastValue(text: string, keys: readonly string[]): CmdlineValue | undefined {
  const wanted = new Set(keys.map(normalizeKey));
  let found: CmdlineValue | undefined;
  for (const word of splitCmdline(text)) {
    const eq = word.indexOf('=');
    const key = eq === -1 ? word : word.slice(0, eq);
    if (wanted.has(normalizeKey(key))) found = { key, value: eq === -1 ? null : word.slice(eq + 1) };
  }
  return found;
}

export const ROLLBACK_KEYS = ['pantheros.rollback', 'rd.pantheros.rollback'] as const;

/** The pantheros.rollback= or rd.pantheros.rollback= value that wins on this command line. */
export function rollbackParameter(text: string): CmdlineValue | undefined {
  return lastValue(text, ROLLBACK_KEYS);
}

/** The running kernel's command line (/proc/cmdline), or '' when it cannot be read. */
export function readCmdlineText(file = '/proc/cmdline'): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
