// Adversarial, real btrfs, bundled file, Node and Bun: wrong clocks at one boot (README "A wrong clock is forgiven";
// issue 9 "One wrong clock must not change later boots"). Today it fails.
import { beforeAll, describe, expect, it } from 'vitest';
import { describeRun, OLD_ROOTS, seedArchives, useBootCase } from '../helpers/boot-case.js';
import { requirePrerequisites, RUNTIMES, type Runtime } from '../helpers/prereq.js';

beforeAll(() => requirePrerequisites());

const CONFIG = { deviceTimeoutSeconds: 1, oldRoots: { keepDays: 30, keepAtLeast: 5 } };

describe.each(RUNTIMES)('attack: clocks under $name', (runtime: Runtime) => {
  it('one boot with the clock behind (RTC reset to 2024) on 2026-11-19: its archive is not aged out as 1 000 days old five days later, within keepDays', () => {
    const c = useBootCase(runtime);
    seedArchives(c, ['20260901T000000Z', '20260910T000000Z', '20260920T000000Z', '20261001T000000Z']);
    // The machine comes back on 2026-11-19 with its RTC reset: the initrd's clock says 2024-01-01.
    const behind = c.boot('2024-01-01T00:00:00Z', { config: CONFIG });
    expect(behind.code, describeRun(behind)).toBe(0);
    expect(behind.report?.archived?.name).toBe('20240101T000000Z');
    // Then one boot a day with the right clock. The root archived on 2026-11-19 is at most 7 days old on 2026-11-26.
    for (const day of ['20', '21', '22', '23', '24', '25', '26']) {
      const r = c.boot(`2026-11-${day}T06:00:00Z`, { config: CONFIG });
      expect(r.code, describeRun(r)).toBe(0);
      const gone = r.report?.deleted.find((d) => d.path === `${OLD_ROOTS}/20240101T000000Z`);
      expect(gone?.reason, `boot on 2026-11-${day} deleted the archive made on 2026-11-19 (keepDays 30)`).toBeUndefined();
    }
    expect(c.archives()).toContain('20240101T000000Z');
  });
});
