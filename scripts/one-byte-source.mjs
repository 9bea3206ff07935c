// The bundles' text must be Latin-1 (no character above U+00FF). JavaScriptCore (Bun) and V8 (Node) keep a
// source whose characters all fit in one byte as one byte per character; a single wider character anywhere —
// a "→" in a comment esbuild keeps — makes the whole source two bytes per character. For the boot bundle under
// Bun that cost about 3 ms on every boot (measured with its executable, `--version`, 81 alternated runs, on
// 2026-12-02: 39.8 ms against 36.5 ms). esbuild escapes such characters in strings and identifiers
// (charset ascii, its default) but cannot in comments.

/**
 * The first character of `text` above U+00FF, with its 1-based line and column (in UTF-16 code units), or null
 * when there is none.
 */
export function firstWideCharacter(text) {
  const match = /[^\u0000-\u00ff]/u.exec(text);
  if (!match) return null;
  const before = text.slice(0, match.index);
  const line = before.split('\n').length;
  const column = match.index - before.lastIndexOf('\n');
  return { line, column, character: match[0], text: text.split('\n')[line - 1] };
}

/**
 * Throws when the file's text holds a character above U+00FF, naming where and why (the source line is
 * usually a comment in src/ that esbuild kept).
 */
export function assertOneByteSource(file, text) {
  const wide = firstWideCharacter(text);
  if (!wide) return;
  const code = wide.character.codePointAt(0).toString(16).toUpperCase().padStart(4, '0');
  throw new Error(
    `${file}:${wide.line}:${wide.column}: U+${code} ${JSON.stringify(wide.character)} in the bundle (${wide.text.trim().slice(0, 120)}): ` +
      'a character above U+00FF makes Bun and Node hold the whole bundle as two bytes per character, slower to start on every boot ' +
      '(scripts/one-byte-source.mjs); write it in ASCII in the source, e.g. -> for an arrow',
  );
}
