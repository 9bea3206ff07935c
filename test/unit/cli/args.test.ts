// Flags: one meaning for every boolean flag, typos rejected with the nearest known flag, values never swallowed.
import { describe, expect, it } from 'vitest';
import { parseFlags } from '../../../src/cli/args.js';
import { editDistance, nearest } from '../../../src/cli/nearest.js';
import { UsageError } from '../../../src/errors.js';

const spec = { string: ['from', 'to'], boolean: ['force', 'dry-run'], multiple: ['prefix'] };
const parse = (argv: string[]) => parseFlags(argv, spec, 'restore');

describe('parseFlags', () => {
  it('reads booleans, strings, repeated flags, positionals and --', () => {
    const a = parse(['/etc/x', '--from', 'A', '--to=/b', '--force', '--prefix', '/p', '--prefix=/q', '--json', '--', '--dry-run']);
    expect(a).toEqual({ _: ['/etc/x', '--dry-run'], from: 'A', to: '/b', force: true, prefix: ['/p', '/q'], json: true });
    expect(parse([])).toEqual({ _: [], prefix: [] });
    expect(parse(['-h']).help).toBe(true);
  });
  it.each([
    [['--dry-run=false'], /--dry-run takes no value, got "--dry-run=false"/],
    [['--dry-run=no'], /--dry-run takes no value/],
    [['--json=0'], /--json takes no value/],
    [['--force=yes'], /--force takes no value/],
    [['--forse'], /unknown option --forse \(did you mean --force\?\) \(see: pantheros-rollback restore --help\)/],
    [['--dryrun'], /did you mean --dry-run\?/],
    [['--top_level', 'x'], /did you mean --top-level\?/],
    [['-x'], /unknown option -x \(see/],
    [['--frobnicate'], /unknown option --frobnicate \(see/],
    [['--to'], /--to needs a value/],
    [['--to='], /--to needs a value/],
    [['--to', '--force'], /--to needs a value, got the option "--force" \(a value starting with - is written --to=VALUE\)/],
    [['--to', '/a', '--to', '/b'], /--to given more than once/],
    // Names every object inherits are unknown flags like any other (not "given more than once", not a crash).
    [['--constructor'], /unknown option --constructor \(see/],
    [['--__proto__'], /unknown option --__proto__ \(see/],
    [['--__proto__=x'], /unknown option --__proto__ \(see/],
    [['--toString', 'x'], /unknown option --toString \(see/],
    [['--hasOwnProperty'], /unknown option --hasOwnProperty \(see/],
    [['--valueOf=1'], /unknown option --valueOf \(see/],
  ])('%j is a usage error', (argv, message) => {
    expect(() => parse(argv)).toThrow(UsageError);
    expect(() => parse(argv)).toThrow(message);
  });
  it('a value starting with - is taken when written inline', () => {
    expect(parse(['--to=-odd']).to).toBe('-odd');
  });
});

describe('nearest', () => {
  it('edit distance', () => {
    expect([editDistance('', 'abc'), editDistance('force', 'forse'), editDistance('kitten', 'sitting')]).toEqual([3, 1, 3]);
  });
  it('names the nearest within a third of the length (at least 2 edits), else nothing', () => {
    expect(nearest('forse', ['from', 'force', 'to'])).toBe('force');
    expect(nearest('rollbak', ['rollback'])).toBe('rollback');
    expect(nearest('zzzzzz', ['force', 'json'])).toBeUndefined();
  });
});
