// Real btrfs, Node and Bun (a README walk-through, 2026-12-01): a state rollback the boot does not carry out (the
// subvolume is mounted) while the root's part goes well. Before, the journal had no line about it and `status` said
// only "Last boot: OK"; the refusal was in the report alone.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { describeRun, useBootCase } from '../helpers/boot-case.js';
import { showRun } from '../helpers/ops.js';
import { requirePrerequisites, RUNTIMES } from '../helpers/prereq.js';
import { mountPg, PG, runState, seedState, STATE_CONFIG } from '../helpers/state-case.js';

beforeAll(() => requirePrerequisites(['btrfs', 'mkfs.btrfs', 'losetup', 'mount', 'umount'], 'apt-get install -y btrfs-progs util-linux'));

describe.each(RUNTIMES)('a state rollback the boot refuses, under $name', (runtime) => {
  it('the journal says it was not carried out, and status\' headline says REFUSED beside the root\'s OK', () => {
    const c = useBootCase(runtime);
    seedState(c);
    const mp = mountPg(c);
    try {
      const r = c.boot('2026-11-26T11:00:00Z', { config: STATE_CONFIG, cmdline: 'pantheros.rollback.state=/var/lib/pg=hourly' });
      expect(r.code, describeRun(r)).toBe(0);
      expect(r.report?.result).toBe('ok');
      expect(r.report?.state?.result).toBe('refused');
      expect(r.stderr, describeRun(r)).toMatch(/state: the state rollback was not carried out: .*mounted/);
      expect(c.read(`${PG}/data`)).toBe('v2\n');
      const status = runState(c, ['status', '--report', join(c.image.dir, 'report.json-1')]);
      expect(status.stdout.split('\n')[0], showRun(status, 'status')).toMatch(/^Last boot: OK — .*; state rollback REFUSED: not carried out: .*mounted/);
    } finally {
      spawnSync('umount', [mp]);
    }
  }, 120_000);
});
