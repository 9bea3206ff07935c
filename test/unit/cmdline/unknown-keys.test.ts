// Unknown pantheros.* / rd.pantheros.* keys on the kernel command line are named, with the key probably meant.
import { describe, expect, it } from 'vitest';
import { describeUnknownKeys, unknownKeys } from '../../../src/cmdline/unknown-keys.js';

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
});
