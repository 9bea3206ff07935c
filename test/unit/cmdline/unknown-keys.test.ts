// Unknown pantheros.* / rd.pantheros.* keys on the kernel command line are named, with the key probably meant.
import { describe, expect, it } from 'vitest';
import { describeUnknownKeys, KNOWN_KEYS, unknownKeys } from '../../../src/cmdline/unknown-keys.js';
import { editDistance } from '../../../src/cli/nearest.js';

const BASE = 'BOOT_IMAGE=/boot/bzImage init=/nix/store/x-nixos-system/init loglevel=4 quiet rd.systemd.show_status=auto';

describe('unknownKeys', () => {
  it.each<[string, { key: string; nearest: string | null }[]]>([
    ['', []],
    ['pantheros.rollback=previous rd.pantheros.rollback=keep', []],
    ['pantheros.rollback=x pantheros.rollback', []],
    ['pantheros-rollback=previous', [{ key: 'pantheros-rollback', nearest: 'pantheros.rollback' }]],
    ['pantheros.rollbak=previous', [{ key: 'pantheros.rollbak', nearest: 'pantheros.rollback' }]],
    ['rd.pantheros.rolback=keep', [{ key: 'rd.pantheros.rolback', nearest: 'rd.pantheros.rollback' }]],
    ['Pantheros.Rollback=keep', [{ key: 'Pantheros.Rollback', nearest: 'pantheros.rollback' }]],
    ['pantheros.debug', [{ key: 'pantheros.debug', nearest: null }]],
    ['panthros.rollback=previous', [{ key: 'panthros.rollback', nearest: 'pantheros.rollback' }]],
    ['pantheros_rollback=previous', [{ key: 'pantheros_rollback', nearest: 'pantheros.rollback' }]],
    ['pantheros.rollbak=a pantheros.rollbak=b pantheros.rollback=previous', [{ key: 'pantheros.rollbak', nearest: 'pantheros.rollback' }]],
    ['"pantheros.rollbak=a b"', [{ key: 'pantheros.rollbak', nearest: 'pantheros.rollback' }]],
  ])('%j', (extra, expected) => {
    expect(unknownKeys(`${BASE} ${extra}`)).toEqual(expected);
  });
  it('- and _ are equal in known keys, as systemd reads them', () => {
    expect(unknownKeys('pantheros.roll-back=x')).toEqual([{ key: 'pantheros.roll-back', nearest: 'pantheros.rollback' }]);
    expect(unknownKeys('rd.pantheros.rollback=x rd_pantheros.rollback=y').map((u) => u.key)).toEqual(['rd_pantheros.rollback']);
  });
  it('ignores the keys of everything else', () => {
    expect(unknownKeys(`${BASE} root=/dev/sda2 rollback=1 rd.luks.uuid=abc`)).toEqual([]);
  });
  it('says each in a warning line', () => {
    expect(describeUnknownKeys(unknownKeys('pantheros.rollbak=previous pantheros.debug'))).toEqual([
      'unknown kernel command line key "pantheros.rollbak" is ignored (did you mean pantheros.rollback?)',
      'unknown kernel command line key "pantheros.debug" is ignored',
    ]);
  });
  it('gives the answers of the plain rule (distance ≤ 2 to a known key) on generated command lines', () => {
    // The rule as first written, without the length bound: the oracle for the faster form.
    const oracle = (key: string) => {
      const lower = key.replaceAll('-', '_').toLowerCase();
      return /^(rd\.)?pantheros\./i.test(lower) || KNOWN_KEYS.some((k) => editDistance(lower, k.replaceAll('-', '_').toLowerCase()) <= 2);
    };
    // mulberry32: a small seeded generator, so a failure replays.
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return Math.floor((((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * n);
    };
    const alphabet = 'abcdehilmnoprstuy._-XR';
    const mutate = (k: string) => {
      let w = k;
      for (let edits = rand(5); edits > 0; edits--) {
        const at = rand(w.length + 1);
        const c = alphabet[rand(alphabet.length)]!;
        const op = rand(3);
        w = op === 0 ? w.slice(0, at) + c + w.slice(at) : op === 1 ? w.slice(0, at) + w.slice(at + 1) : w.slice(0, at) + c + w.slice(at + 1);
      }
      return w.replace(/[=\s"']/g, '') || 'x';
    };
    let flagged = 0;
    for (let i = 0; i < 3000; i++) {
      const key = rand(4) === 0 ? mutate('init') : mutate(KNOWN_KEYS[rand(KNOWN_KEYS.length)]!);
      const known = KNOWN_KEYS.some((k) => k.replaceAll('-', '_') === key.replaceAll('-', '_'));
      const named = unknownKeys(`${BASE} ${key}=1`).map((u) => u.key);
      expect(named, key).toEqual(!known && oracle(key) ? [key] : []);
      if (named.length) flagged++;
    }
    // Both answers occur often enough for the comparison to mean something.
    expect(flagged).toBeGreaterThan(300);
    expect(flagged).toBeLessThan(2700);
  });
});
