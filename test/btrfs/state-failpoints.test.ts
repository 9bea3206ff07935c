// Real btrfs, bundled file, Node and Bun (issue 14): a state rollback killed after every step N of its plan
// (PANTHEROS_FAILPOINT / PANTHEROS_STATE_FAILPOINT = after-step:N → SIGKILL), online and at boot; the next boot
// must leave the subvolume in place — the old state or the rolled-back one, never neither — with its nested
// subvolumes (same ids, same content), no temporary left, and the old state archived when it was replaced.
import { beforeAll, describe, expect, it } from 'vitest';
import { describeRun, withBootCase, type BootCase } from '../helpers/boot-case.js';
import { requirePrerequisites, RUNTIMES } from '../helpers/prereq.js';
import { ids, PG, PG_DIR, PG_SNAP, runState, seedState, STATE_CONFIG, STATE_REQUEST, stateArchives } from '../helpers/state-case.js';

beforeAll(() => requirePrerequisites());

const NOW = '2026-11-26T11:00:00Z';
const LATER = '2026-11-26T11:10:00Z';

interface Path {
  name: string;
  /** Runs the rollback (with the failpoint in env). */
  run: (c: BootCase, env: Record<string, string>, json?: boolean) => ReturnType<BootCase['boot']> | ReturnType<typeof runState>;
  /** Steps of its plan, as a dry run prints them. */
  steps: (c: BootCase) => string[];
}

const PATHS: Path[] = [
  {
    name: 'online (state-rollback)',
    run: (c, env) => runState(c, ['state-rollback', `/var/lib/pg=${PG_SNAP}`, '--now', NOW], env),
    steps: (c) => {
      const r = runState(c, ['state-rollback', `/var/lib/pg=${PG_SNAP}`, '--now', NOW, '--dry-run', '--json']);
      expect(r.code, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { steps: { action: string }[] }).steps.map((s) => s.action);
    },
  },
  {
    name: 'at boot (request file)',
    run: (c, env) => {
      const w = runState(c, ['state-rollback', '--next-boot', `/var/lib/pg=${PG_SNAP}`]);
      expect(w.code, w.stderr).toBe(0);
      return c.boot(NOW, { config: STATE_CONFIG, env: { ...env, PANTHEROS_STATE_FAILPOINT: env.PANTHEROS_FAILPOINT ?? '' , PANTHEROS_FAILPOINT: '' } });
    },
    steps: (c) => {
      const w = runState(c, ['state-rollback', '--next-boot', `/var/lib/pg=${PG_SNAP}`]);
      expect(w.code, w.stderr).toBe(0);
      const r = c.boot(NOW, { config: STATE_CONFIG, dryRun: true, json: true });
      expect(r.code, describeRun(r)).toBe(0);
      return r.json!.state!.steps.map((s) => s.action);
    },
  },
];

describe.each(RUNTIMES)('state rollback killed after every step under $name', (runtime) => {
  it.each(PATHS)('$name: the next boot leaves the old or the new state in place, nested subvolumes kept, nothing lost', (path) => {
    const steps = withBootCase(runtime, (c) => {
      seedState(c);
      return path.steps(c);
    });
    expect(steps).toEqual(expect.arrayContaining(['snapshot', 'remove-stub', 'rename', 'commit']));
    for (let n = 1; n <= steps.length; n++) {
      const at = `${path.name}: after-step:${n} (${steps[n - 1]})`;
      withBootCase(runtime, (c) => {
        seedState(c);
        const before = ids(c);
        const killed = path.run(c, { PANTHEROS_FAILPOINT: `after-step:${n}` });
        expect(killed.signal, `${at}\n${killed.stderr}`).toBe('SIGKILL');
        // The request is removed last, once every swap is done: killed after a swap but before that, it is still there.
        const pendingAfterKill = c.kind(STATE_REQUEST) === 'file';
        const swappedByKill = ids(c).get(PG) !== before.get(PG);

        const r = c.boot(LATER, { config: STATE_CONFIG });
        expect(r.code, `${at}\n${describeRun(r)}`).toBe(0);
        const after = ids(c);
        // The subvolume is in place: the old state (never replaced) or the rolled-back one (the swap got through).
        expect(c.kind(PG), at).toBe('subvolume');
        const data = c.read(`${PG}/data`);
        expect(['v1\n', 'v2\n'], at).toContain(data);
        const replaced = after.get(PG) !== before.get(PG);
        expect(data, at).toBe(replaced ? 'v1\n' : 'v2\n');
        // The nested subvolumes are the same ones (same ids), with what was written into them since the snapshot.
        expect(after.get(`${PG}/nested`), at).toBe(before.get(`${PG}/nested`));
        expect(after.get(`${PG}/nested/deep`), at).toBe(before.get(`${PG}/nested/deep`));
        expect(c.read(`${PG}/nested/f`), at).toBe('n2\n');
        expect(c.read(`${PG}/nested/deep/g`), at).toBe('d1\n');
        // No temporary left; the old state archived exactly when it was replaced, with its content.
        expect(c.image.paths().filter((p) => p.includes('.pantheros-new-state')), at).toEqual([]);
        if (replaced) {
          const archives = stateArchives(c);
          const original = archives.filter((a) => after.get(`${PG_DIR}/${a}`) === before.get(PG));
          expect(original, at).toHaveLength(1);
          expect(c.read(`${PG_DIR}/${original[0]}/data`), at).toBe('v2\n');
          // A request still pending after a swap that got through is carried out again: the state the killed run made
          // (never used: the boot did not go on) is archived too, and nothing else.
          expect(archives.length, at).toBe(pendingAfterKill && swappedByKill ? 2 : 1);
          for (const a of archives.filter((x) => !original.includes(x))) expect(c.read(`${PG_DIR}/${a}/data`), at).toBe('v1\n');
        } else expect(stateArchives(c), at).toEqual([]);
        // The snapshot is untouched; the request (if any) is gone: one boot only.
        expect(after.get(`@snapshots/${PG_SNAP}`), at).toBe(before.get(`@snapshots/${PG_SNAP}`));
        expect(c.kind(STATE_REQUEST), at).toBe('missing');
        expect(c.read('@persistent/marker'), at).toBe('persistent\n');
        // And a rollback asked for again now goes through.
        const again = runState(c, ['state-rollback', `/var/lib/pg=${PG_SNAP}`, '--now', LATER]);
        expect(again.code, `${at}\n${again.stderr}`).toBe(0);
        expect(c.read(`${PG}/data`), at).toBe('v1\n');
        expect(ids(c).get(`${PG}/nested`), at).toBe(before.get(`${PG}/nested`));
      });
    }
  });
});
