// Names in text output: plain names as they are; anything a terminal would act on or reorder, quoted and escaped.
import { describe, expect, it } from 'vitest';
import { escapeUnsafeText, hasUnsafeText, oneLine, showName } from '../../../src/cli/show-text.js';

describe('showName', () => {
  it.each([
    ['/etc/nixos/configuration.nix', '/etc/nixos/configuration.nix'],
    ['/srv/naïve café 😀', '/srv/naïve café 😀'],
    ['/a\nb', '"/a\\nb"'],
    ['/tab\there', '"/tab\\there"'],
    ['/esc\x1b[2J', '"/esc\\u001b[2J"'],
    ['/del\x7f', '"/del\\u007f"'],
    ['/nel\u0085', '"/nel\\u0085"'],
    ['/csi\u009b31m', '"/csi\\u009b31m"'],
    ['/invoice\u202egpj.exe', '"/invoice\\u202egpj.exe"'],
    ['/lre\u202a /rlo\u202e /pdf\u202c', '"/lre\\u202a /rlo\\u202e /pdf\\u202c"'],
    ['/iso\u2066\u2067\u2068\u2069', '"/iso\\u2066\\u2067\\u2068\\u2069"'],
    ['/marks\u200e\u200f\u061c', '"/marks\\u200e\\u200f\\u061c"'],
    ['/sep\u2028\u2029', '"/sep\\u2028\\u2029"'],
    ['/lone\ud800', '"/lone\\ud800"'],
    ['/quote"back\\slash', '"/quote\\"back\\\\slash"'],
    ['/trailing ', '"/trailing "'],
    [' leading', '" leading"'],
  ])('%j is shown as %s', (name, shown) => {
    expect(showName(name)).toBe(shown);
  });

  it('a quoted name is one printable line and a JSON string that gives the name back', () => {
    for (const name of ['/a\nb\u0085c\u202ed\u2066e"f\\g\x7f', '/x\ud800y', ' x ']) {
      const shown = showName(name);
      expect(hasUnsafeText(shown)).toBe(false);
      expect(JSON.parse(shown)).toBe(name);
    }
  });
});

describe('escapeUnsafeText and oneLine', () => {
  it('keep newlines (escapeUnsafeText) or not (oneLine); leave printable text and earlier escapes alone', () => {
    const text = 'line 1 \u202eevil\nline 2 "/a\\u0085b" \x1b[31m';
    expect(escapeUnsafeText(text)).toBe('line 1 \\u202eevil\nline 2 "/a\\u0085b" \\u001b[31m');
    expect(oneLine(text)).toBe('line 1 \\u202eevil\\nline 2 "/a\\u0085b" \\u001b[31m');
    expect(escapeUnsafeText('plain ü text')).toBe('plain ü text');
  });
});
