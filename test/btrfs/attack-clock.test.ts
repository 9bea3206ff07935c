// Adversarial, real btrfs, bundled file, Node and Bun: a wrong clock at one boot (README "A wrong clock is forgiven";
// issue 9 "One wrong clock must not change later boots"). An archive named by a clock that was behind carries a name
// older than the moment btrfs made it (its otime, written by the kernel clock of an earlier boot); once the archives
// made before it are gone, nothing else tells its age. It is aged from when it was made, never from the name alone.
import { beforeAll, describe, expect, it } from 'vitest';
import { describeRun, OLD_ROOTS, seedArchives, useBootCase } from '../helpers/boot-case.js';
import { runBundle } from '../helpers/run-bundle.js';
import { sh } from '../helpers/btrfs-image.js';
import { requirePrerequisites, RUNTIMES, type Runtime } from '../helpers/prereq.js';

beforeAll(() => requirePrerequisites());

const CONFIG = { deviceTimeoutSeconds: 1, oldRoots: { keepDays: 30, keepAtLeast: 2 } };

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const DAY = 86_400_000;

describe.each(RUNTIMES)('attack: clocks under $name', (runtime: Runtime) => {
  // A review (2026-12-02): boots on four days, then a snapshot another tool (or an operator) put in the archive
  // directory under a name that reads as 2019 — made now, so btrfs's creation time is now — then a boot with the clock
  // behind (an RTC reset). Every real archive carried a name after that clock, so each counted as at least as old as
  // the 2019 name: all of them went, the previous boot's root among them, as 2 708 days old. Boots here are dated
  // after the real clock (btrfs's creation times are real), the clock-behind boot half a year before it.
  it.each([
    { what: 'the 2019 name newest before the boot with the clock behind', bootsAfter: 1, behindBoots: 1, readOnly: false },
    { what: 'the 2019 name older and read-only, two boots with the clock behind', bootsAfter: 2, behindBoots: 2, readOnly: true },
  ])('a name reading 2019 made now, then the clock behind: no real archive is aged out as years old ($what)', ({ bootsAfter, behindBoots, readOnly }) => {
    const c = useBootCase(runtime);
    const real = Date.now();
    const forged = '2019-1-1_00:00:00';
    let day = 1;
    for (let i = 0; i < 3; i++) expect(c.boot(iso(real + day++ * DAY), { config: CONFIG }).code).toBe(0);
    sh('btrfs', ['subvolume', 'snapshot', ...(readOnly ? ['-r'] : []), c.abs('@persistent'), c.abs(`${OLD_ROOTS}/${forged}`)]);
    for (let i = 0; i < bootsAfter; i++) expect(c.boot(iso(real + day++ * DAY), { config: CONFIG }).code).toBe(0);
    const real2026 = c.archives().filter((n) => n !== forged);
    for (let i = 0; i < behindBoots; i++) {
      const dry = c.boot(iso(real - (180 - i) * DAY), { config: CONFIG, dryRun: true, json: true });
      const r = c.boot(iso(real - (180 - i) * DAY), { config: CONFIG });
      expect(r.code, describeRun(r)).toBe(0);
      expect(r.report?.deleted.map((d) => d.path), describeRun(r)).toEqual([]);
      // The dry run said the same (one engine).
      expect(dry.code, describeRun(dry)).toBe(0);
      expect(dry.json?.deleted).toEqual([]);
    }
    for (const name of real2026) expect(c.archives()).toContain(name);
    expect(c.archives()).toContain(forged);
  });


  it('an archive named by a clock that was behind (20240101T000000Z, made minutes ago) is not aged out as 1 000 days old when no older archive is left to tell', () => {
    const c = useBootCase(runtime);
    // Made now (otime: the real clock), named in 2024 as an RTC reset would; two newer archives, made now too.
    const stamp = (ms: number) => new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
    seedArchives(c, ['20240101T000000Z', stamp(Date.now() - 86_400_000), stamp(Date.now() - 3_600_000)]);
    // The clock of this boot is right (the real one): the 2024 archive is beyond keepAtLeast and its name is 1 000 days old.
    const r = c.boot(new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'), { config: CONFIG });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.deleted.map((d) => d.path)).not.toContain(`${OLD_ROOTS}/20240101T000000Z`);
    expect(r.report?.kept.find((k) => k.name === '20240101T000000Z')?.reason).toMatch(/within keepDays .*counted from its creation time .*the clock was behind when it was archived/);
    expect(c.archives()).toContain('20240101T000000Z');
    // list shows the age retention counts, from the creation time (before: about 1 000 days, from the name, beside a
    // verdict that counted minutes).
    const listed = runBundle(runtime, ['list', '--top-level', c.top, '--json', '--now', new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')]);
    expect(listed.code, listed.stderr).toBe(0);
    const item = (JSON.parse(listed.stdout).archives as { name: string; ageSeconds: number }[]).find((a) => a.name === '20240101T000000Z');
    expect(item?.ageSeconds).toBeLessThan(86_400);
  });
});
