// Reads systemd unit files the way systemd.syntax(5) and systemd.service(5) define them, so a unit
// NixOS renders and a hand-written one can be compared by meaning, not by layout.

/** Directives whose values are whitespace-separated unit lists (an empty assignment resets them). */
const LIST_DIRECTIVES = new Set([
  'Requires',
  'Requisite',
  'Wants',
  'BindsTo',
  'PartOf',
  'Upholds',
  'Conflicts',
  'Before',
  'After',
  'OnFailure',
  'OnSuccess',
  'WantedBy',
  'RequiredBy',
  'UpheldBy',
  'Also',
  'Alias',
]);
const TRUE = new Set(['1', 'yes', 'y', 'true', 't', 'on']);
const FALSE = new Set(['0', 'no', 'n', 'false', 'f', 'off']);
/** Directives that take a boolean (compared as true/false). */
const BOOLEAN_DIRECTIVES = new Set(['DefaultDependencies', 'RemainAfterExit', 'Persistent', 'RefuseManualStart', 'IgnoreOnIsolate']);

/** section -> directive -> values, in file order (comments, blank lines and line layout dropped). */
export type UnitDirectives = Map<string, Map<string, string[]>>;

/** Parses a unit file: list directives split and reset by an empty value, booleans normalized. */
export function parseUnit(text: string): UnitDirectives {
  const sections: UnitDirectives = new Map();
  let current: Map<string, string[]> | undefined;
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  for (const raw of lines) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      current = sections.get(section[1]!) ?? new Map();
      sections.set(section[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0 || !current) throw new Error(`not a directive: ${line}`);
    const key = line.slice(0, eq).trim();
    let value = line.slice(eq + 1).trim();
    if (BOOLEAN_DIRECTIVES.has(key)) {
      const lower = value.toLowerCase();
      value = TRUE.has(lower) ? 'true' : FALSE.has(lower) ? 'false' : value;
    }
    if (LIST_DIRECTIVES.has(key)) {
      if (value === '') current.set(key, []);
      else current.set(key, [...(current.get(key) ?? []), ...value.split(/\s+/)]);
    } else if (value === '' && key.startsWith('Exec')) {
      current.set(key, []);
    } else {
      current.set(key, [...(current.get(key) ?? []), value]);
    }
  }
  return sections;
}

const C_ESCAPES: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', '"': '"', "'": "'", s: ' ' };

/**
 * The argv of one Exec*= value (systemd.service(5) "Command lines"): prefixes (-@:+!) dropped,
 * words split on whitespace, "…" and '…' quoting, C escapes (\n, \xNN, …), %% as %, $$ as $.
 */
export function execArgv(value: string): string[] {
  const words: string[] = [];
  const s = value.replace(/^[-@:+!]+/, '');
  let i = 0;
  while (i < s.length) {
    while (i < s.length && /\s/.test(s[i]!)) i++;
    if (i >= s.length) break;
    let word = '';
    let quote: string | null = null;
    while (i < s.length && (quote !== null || !/\s/.test(s[i]!))) {
      const c = s[i]!;
      if (quote === null && (c === '"' || c === "'")) {
        quote = c;
        i++;
      } else if (quote !== null && c === quote) {
        quote = null;
        i++;
      } else if (c === '\\') {
        const next = s[i + 1] ?? '';
        if (next === 'x') {
          word += String.fromCharCode(parseInt(s.slice(i + 2, i + 4), 16));
          i += 4;
        } else if (next in C_ESCAPES) {
          word += C_ESCAPES[next];
          i += 2;
        } else {
          throw new Error(`unsupported escape \\${next} in: ${value}`);
        }
      } else {
        word += c;
        i++;
      }
    }
    if (quote !== null) throw new Error(`unterminated quote in: ${value}`);
    words.push(word.replace(/%%/g, '%').replace(/\$\$/g, '$'));
  }
  return words;
}

/** One directive's values (empty when absent). */
export function directive(unit: UnitDirectives, section: string, key: string): string[] {
  return unit.get(section)?.get(key) ?? [];
}
