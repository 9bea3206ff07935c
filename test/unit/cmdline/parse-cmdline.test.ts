import { describe, expect, it } from 'vitest';
import { lastValue, rollbackParameter, splitCmdline } from '../../../src/cmdline/parse-cmdline.js';

describe('splitCmdline', () => {
  it.each([
    ['a b  c', ['a', 'b', 'c']],
    ['  leading and trailing  \n', ['leading', 'and', 'trailing']],
    ['x="a b" y', ['x=a b', 'y']],
    ["x='a \"b\" c'", ['x=a "b" c']],
    ['"x=a b"', ['x=a b']],
    ['x="unterminated y', ['x=unterminated y']],
    ['x="" y', ['x=', 'y']],
    ['tab\tsep\nnl', ['tab', 'sep', 'nl']],
    ['', []],
  ])('%j → %j', (text, words) => {
    expect(splitCmdline(text)).toEqual(words);
  });
});

describe('rollbackParameter', () => {
  it.each([
    ['quiet', undefined],
    ['pantheros.rollback=previous', 'previous'],
    ['pantheros.rollback=previous pantheros.rollback=keep', 'keep'],
    ['rd.pantheros.rollback=keep pantheros.rollback=blank', 'blank'],
    ['pantheros.rollback=blank rd.pantheros.rollback=keep', 'keep'],
    ['pantheros.rollback="daily/@root.20261126T000000Z"', 'daily/@root.20261126T000000Z'],
    ['pantheros.rollback=', ''],
    ['pantheros.rollback', null],
    ['pantheros.rollback=a=b', 'a=b'],
    ['xpantheros.rollback=previous', undefined],
    ['pantheros.rollbackx=previous', undefined],
  ])('%j → %j', (text, value) => {
    expect(rollbackParameter(text)?.value).toEqual(value);
  });

  it('treats - and _ in keys as equal', () => {
    expect(lastValue('foo-bar=1 foo_bar=2', ['foo_bar'])?.value).toBe('2');
    expect(lastValue('foo_bar=3', ['foo-bar'])?.value).toBe('3');
  });

  it('keeps the key as written', () => {
    expect(rollbackParameter('rd.pantheros.rollback=keep')?.key).toBe('rd.pantheros.rollback');
  });
});
