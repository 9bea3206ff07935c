// The module's option types and the engine's config validation (src/config/schema.ts via
// validateConfig) must accept exactly the same values: a value the option accepts but the engine
// rejects stops the rollback at boot. One table of good and bad values per kind of value; every
// option of that kind is given every value, through the real module system (nix/options.nix with
// nixpkgs' lib.evalModules), and the engine is given the same value under the key the module renders.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/load-config.js';
import { evalNixOS, requireNix, toNix } from '../helpers/nix.js';
import { REPO } from '../helpers/prereq.js';

beforeAll(requireNix);

type Value = string | number | boolean | null;
interface OptionRow {
  /** Option path below pantherOS.filesystems.impermanence. */
  option: string[];
  /** The option takes a list of these (the value is wrapped in one). */
  list?: boolean;
  /** The engine key its values end up in (src/config/schema.ts). */
  engine: string[];
  engineList?: boolean;
}

// Values a subvolume path may be given: the engine's rule is "relative to the top level, no empty,
// . or .. component, no leading -, no NUL or newline". Names the engine might also refuse for
// overlapping each other are not here (that is the assertion's and checkDistinct's business).
const SUBVOLUME_VALUES: Value[] = [
  '@root2',
  'a/b',
  'x..y',
  '...',
  '.hidden',
  '..hidden/x',
  'a/-b',
  'a b',
  'a,b',
  'ünïcödé',
  'tab\there',
  'cr\rhere',
  '',
  '/',
  '/a',
  'a/',
  'a//b',
  '.',
  '..',
  './a',
  '../a',
  'a/./b',
  'a/../b',
  '@btrfs_tmp/../x',
  '-x',
  '-',
  'a\nb',
  '\n',
  7,
  true,
];
const SUBVOLUME_OPTIONS: OptionRow[] = [
  ...['root', 'blank', 'oldRoots', 'snapshots', 'oldState'].map((k) => ({ option: ['subvolumes', k], engine: ['subvolumes', k] })),
  // These reach the engine as snapshot sources (lib.snapshotSubvolumesOf).
  { option: ['subvolumes', 'persistent'], engine: ['snapshotSubvolumes'], engineList: true },
  { option: ['subvolumes', 'nix'], engine: ['snapshotSubvolumes'], engineList: true },
  { option: ['persistentTree', '/srv/x', 'subvolume'], engine: ['snapshotSubvolumes'], engineList: true },
  { option: ['snapshotSubvolumes'], list: true, engine: ['snapshotSubvolumes'], engineList: true },
];

const ABSOLUTE_PATH_VALUES: Value[] = ['/', '/dev/sda2', '/dev/disk/by-label/my disk', '/a/../b', '//x', '/new\nline', '', 'sda2', 'dev/sda2', './x', ' /x', 1];
const ABSOLUTE_PATH_OPTIONS: OptionRow[] = [
  { option: ['device'], engine: ['device'] },
  { option: ['systemState', 'directories'], list: true, engine: ['persistentPaths'], engineList: true },
  { option: ['systemState', 'files'], list: true, engine: ['persistentPaths'], engineList: true },
];

const NUMBER_VALUES: Value[] = [0, 1, 5, 30, 1.5, 0.25, 90, 90.5, 3600, 3600.5, 3601, 1e6, -1, -0.5, '30', true];
const NUMBER_OPTIONS: OptionRow[] = [
  { option: ['deviceTimeoutSeconds'], engine: ['deviceTimeoutSeconds'] },
  { option: ['oldRoots', 'keepDays'], engine: ['oldRoots', 'keepDays'] },
  { option: ['oldRoots', 'keepAtLeast'], engine: ['oldRoots', 'keepAtLeast'] },
  { option: ['oldRoots', 'minFreePercent'], engine: ['oldRoots', 'minFreePercent'] },
  ...['hourly', 'daily', 'weekly', 'monthly', 'activation'].map((c) => ({ option: ['snapshotRetention', c], engine: ['snapshotRetention', c] })),
];

/** Every option whose values the engine validates, with the values of its kind. */
const TABLE: { rows: OptionRow[]; values: Value[] }[] = [
  { rows: SUBVOLUME_OPTIONS, values: SUBVOLUME_VALUES },
  { rows: ABSOLUTE_PATH_OPTIONS, values: ABSOLUTE_PATH_VALUES },
  { rows: NUMBER_OPTIONS, values: NUMBER_VALUES },
];

function engineAccepts(row: OptionRow, value: Value): boolean {
  const raw: Record<string, unknown> = {};
  let node = raw;
  row.engine.slice(0, -1).forEach((k) => {
    node[k] = {};
    node = node[k] as Record<string, unknown>;
  });
  node[row.engine.at(-1)!] = row.engineList ? [value] : value;
  try {
    validateConfig(raw, 'table');
    return true;
  } catch {
    return false;
  }
}

/** For every (value, row): does the option type accept it? One nix-instantiate run per kind. */
function optionAccepts(rows: OptionRow[], values: Value[]): boolean[][] {
  const perValue = values.map((value) => {
    const definitions = rows.map((row) => `{ path = ${toNix(row.option)}; value = ${toNix(row.list ? [value] : value)}; }`);
    return `(e.optionTypeAccepts [ ${definitions.join(' ')} ])`;
  });
  return evalNixOS<boolean[][]>(`[ ${perValue.join(' ')} ]`);
}

const show = (v: Value): string => JSON.stringify(v);

describe.each(TABLE.map((t) => [t.rows.map((r) => r.option.join('.')).join(', '), t] as const))('%s', (_name, { rows, values }) => {
  const nix = optionAccepts(rows, values);

  it('the option type and the engine accept exactly the same values', () => {
    const disagreements: string[] = [];
    values.forEach((value, i) => {
      rows.forEach((row, j) => {
        const n = nix[i]![j]!;
        const engine = engineAccepts(row, value);
        if (n !== engine) disagreements.push(`${row.option.join('.')} = ${show(value)}: option ${n ? 'accepts' : 'rejects'}, engine ${engine ? 'accepts' : 'rejects'}`);
      });
    });
    expect(disagreements).toEqual([]);
  });

  it('the table has values both accept and values both reject, for every option (it can fail)', () => {
    rows.forEach((row, j) => {
      const accepted = values.filter((_v, i) => nix[i]![j]!);
      expect(accepted.length, row.option.join('.')).toBeGreaterThan(0);
      expect(accepted.length, row.option.join('.')).toBeLessThan(values.length);
    });
  });
});

it('a disagreement is reported: the former subvolume type accepted "@btrfs_tmp/../x", which the engine rejects', () => {
  const former = '[^/-][^\n]*[^/]|[^/-]';
  const accepts = evalNixOS<boolean>(`builtins.match ${toNix(former)} "@btrfs_tmp/../x" != null`);
  expect(accepts).toBe(true);
  expect(engineAccepts({ option: ['subvolumes', 'oldRoots'], engine: ['subvolumes', 'oldRoots'] }, '@btrfs_tmp/../x')).toBe(false);
});

it('nix/tests/README.md lists every option checked here, with its engine key', () => {
  const note = readFileSync(join(REPO, 'nix/tests/README.md'), 'utf8');
  const table = note.slice(note.indexOf('## Option types checked against the engine'), note.indexOf('## Wrong configurations'));
  const lines = table.split('\n').filter((l) => l.startsWith('| `'));
  for (const row of TABLE.flatMap((t) => t.rows)) {
    // The note writes "`subvolumes.root`, `.blank`" and "`persistentTree.<path>.subvolume`".
    const option = row.option[0] === 'persistentTree' ? 'persistentTree.<path>.subvolume' : row.option.join('.');
    const mentions = (l: string): boolean => l.includes(`\`${option}\``) || (l.includes(`\`${row.option[0]}.`) && l.includes(`\`.${row.option.at(-1)}\``));
    const line = lines.find(mentions);
    expect(line, option).toBeDefined();
    // Its engine column names the key: `subvolumes.*`, `snapshotSubvolumes[]`, `persistentPaths[]`, …
    expect(line!.split(' | ').at(-1)!.startsWith(`\`${row.engine[0]}`), `${option} -> ${row.engine.join('.')}`).toBe(true);
  }
});
