// Names in text output: a name comes from whoever made the file or subvolume, so a terminal must never act on it —
// no control sequence, no line it did not print, no right-to-left override that makes "gpj.exe" read "exe.jpg".

/**
 * What a terminal acts on or reorders instead of showing: every control character (\p{Cc}: C0 U+0000–U+001F, DEL
 * U+007F, C1 U+0080–U+009F), the bidirectional controls (\p{Bidi_C}: U+061C, U+200E, U+200F, U+202A–U+202E,
 * U+2066–U+2069), the line and paragraph separators U+2028 and U+2029, and lone surrogates (\p{Cs}).
 */
const UNSAFE = /[\p{Cc}\p{Bidi_C}\u2028\u2029\p{Cs}]/u;
const UNSAFE_ALL = new RegExp(UNSAFE.source, 'gu');
const SHORT: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f' };

/** One unsafe character as a JSON escape: \n, \t, \r, \b, \f, else \uXXXX. */
function escapeChar(c: string): string {
  return SHORT[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/** True when text holds a character a terminal would act on or reorder (see UNSAFE). */
export function hasUnsafeText(text: string): boolean {
  return UNSAFE.test(text);
}

/**
 * A name (path, file or subvolume name) as an operator can read and paste it: unchanged when it is plain; otherwise
 * double-quoted as a JSON string, with `"` and `\` escaped and every unsafe character written as an escape (\n,
 * \u202e, \u0085…). Quoted too: a leading or trailing blank, which would be invisible. The result is always one line
 * of printable text, and a quoted one is a valid JSON string (JSON.parse gives the name back).
 */
export function showName(name: string): string {
  if (!UNSAFE.test(name) && !/["\\]|^\s|\s$/.test(name)) return name;
  return `"${name.replace(/["\\]/g, '\\$&').replace(UNSAFE_ALL, escapeChar)}"`;
}

/**
 * Text (a message, a command's whole text output) with every unsafe character but the newline written as an escape,
 * for output that embeds names without quoting them: a safety net, so no name can act on the terminal. Printable
 * text, including the escapes showName already wrote, is unchanged.
 */
export function escapeUnsafeText(text: string): string {
  return text.replace(UNSAFE_ALL, (c) => (c === '\n' ? c : escapeChar(c)));
}

/** Text meant as one line (a note, a message embedding names) with every unsafe character, the newline too, escaped. */
export function oneLine(text: string): string {
  return text.replace(UNSAFE_ALL, escapeChar);
}
