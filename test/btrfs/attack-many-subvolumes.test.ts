// Adversarial, real btrfs, bundled file, Node and Bun: a local user's subvolumes by the thousand in the root's /tmp
// (anyone may create subvolumes where they may write, thousands a second). A review (2026-12-02, findings H1 and H2)
// made 70 000 of them: the age-out of the archive holding them ran before the swap, and `previous` brought each one
// back with its own snapshot (a commit each), both without a bound; past TimeoutStartSec systemd killed the boot
// before the swap, and every boot after tried again. Now the age-out has oldRoots.ageOutSeconds and a target may
// bring back at most targetMaxNested nested subvolumes. The tests use small numbers and a tiny time (no timing is
// asserted: only what the budget and the bound decide).
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { describeRun, OLD_ROOTS, seedArchives, useBootCase } from '../helpers/boot-case.js';
import { showRun } from '../helpers/ops.js';
import { listSubvolumes, sh } from '../helpers/btrfs-image.js';
import { chainOfSubvolumesAsNobody, manySubvolumesAsNobody, requirePython, userArea } from '../helpers/attack.js';
import { requirePrerequisites, RUNTIMES, type Runtime } from '../helpers/prereq.js';
import { PG, PG_DIR, runState, seedState, STATE_CONFIG, stateArchives } from '../helpers/state-case.js';

beforeAll(() => requirePrerequisites(['btrfs', 'mkfs.btrfs', 'losetup', 'mount', 'umount', 'setpriv'], 'apt-get install -y btrfs-progs util-linux'));
beforeAll(() => requirePython());

const DAY = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const stamp = (ms: number) => new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');

describe.each(RUNTIMES)('attack: a local user\'s subvolumes by the thousand under $name', (runtime: Runtime) => {
  it('the age-out of an archive holding 3 000 of them stops when oldRoots.ageOutSeconds is spent: the swap happens, the archive stays with a reason, and a later boot finishes it (today: an unknown config key; before the bound, a boot killed before its swap)', () => {
    const c = useBootCase(runtime);
    userArea(c, '@root/tmp');
    manySubvolumesAsNobody(c, '@root/tmp', 3000);
    const real = Date.now();
    // Boots dated after the real clock (btrfs's creation times are real): the root holding them is archived at day 1.
    const tight = { deviceTimeoutSeconds: 1, oldRoots: { keepDays: 30, keepAtLeast: 1, ageOutSeconds: 0.05 } };
    for (const day of [1, 2]) expect(c.boot(iso(real + day * DAY), { config: tight }).code).toBe(0);
    const held = stamp(real + DAY);
    expect(listSubvolumes(c.top).filter((s) => s.path.startsWith(`${OLD_ROOTS}/${held}/tmp/`))).toHaveLength(3000);

    // Day 40: the archive of day 1 is due. The one engine's dry run says the step's time.
    const dry = c.boot(iso(real + 40 * DAY), { config: tight, dryRun: true, json: true });
    expect(dry.code, describeRun(dry)).toBe(0);
    expect(dry.json?.steps[0]).toMatchObject({ action: 'delete', reason: expect.stringMatching(/for at most 0\.05 s this boot \(oldRoots\.ageOutSeconds\)/) });
    const r = c.boot(iso(real + 40 * DAY), { config: tight });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.result).toBe('ok');
    expect(r.report?.archived?.name).toBe(stamp(real + 40 * DAY));
    expect(c.kind('@root')).toBe('subvolume');
    expect(r.report?.created?.from).toBe('@root-blank');
    expect(c.kind('@root/tmp')).toBe('missing');
    // The archive is still there, said to stay because the time ran out, not reported deleted.
    expect(c.archives()).toContain(held);
    expect(r.report?.deleted.map((d) => d.path)).not.toContain(`${OLD_ROOTS}/${held}`);
    expect(r.report?.warnings.join('\n')).toMatch(new RegExp(`${OLD_ROOTS}/${held} stays \\(the time given to this step \\(0\\.05 s\\) ran out first`));

    // Day 80, with the default time (60 s): it goes, every subvolume in it.
    const later = c.boot(iso(real + 80 * DAY), { config: { deviceTimeoutSeconds: 1, oldRoots: { keepDays: 30, keepAtLeast: 1 } } });
    expect(later.code, describeRun(later)).toBe(0);
    expect(later.report?.deleted.map((d) => d.path)).toContain(`${OLD_ROOTS}/${held}`);
    expect(c.archives()).not.toContain(held);
    expect(listSubvolumes(c.top).filter((s) => s.path.startsWith(`${OLD_ROOTS}/${held}`))).toEqual([]);
  });

  it('read-only holders (each a commit to make writable) are unlocked within the same time, and what was unlocked stays so: a later boot goes on from there instead of starting over (review finding H1, second round: the unlocking had no bound, then nothing was deleted, every boot)', () => {
    const c = useBootCase(runtime);
    userArea(c, '@root/tmp');
    manySubvolumesAsNobody(c, '@root/tmp', 300, { readOnlyHolders: true });
    const real = Date.now();
    const tight = { deviceTimeoutSeconds: 1, oldRoots: { keepDays: 30, keepAtLeast: 1, ageOutSeconds: 0.05 } };
    for (const day of [1, 2]) expect(c.boot(iso(real + day * DAY), { config: tight }).code).toBe(0);
    const held = stamp(real + DAY);
    const readOnlyHolders = () => Number(sh('bash', ['-c', `n=0; for d in "${c.abs(`${OLD_ROOTS}/${held}/tmp`)}"/sv*; do btrfs property get -ts "$d" ro | grep -q true && n=$((n+1)); done; echo $n`]).trim());
    expect(readOnlyHolders()).toBe(300);
    const r = c.boot(iso(real + 40 * DAY), { config: tight });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.result).toBe('ok');
    expect(c.archives()).toContain(held);
    expect(r.report?.warnings.join('\n')).toMatch(new RegExp(`${OLD_ROOTS}/${held} stays \\(the time given to this step \\(0\\.05 s\\) ran out first, while holders in it were made writable`));
    const left = readOnlyHolders();
    expect(left).toBeLessThan(300);
    // The next boot, with the default time, finishes it.
    const later = c.boot(iso(real + 80 * DAY), { config: { deviceTimeoutSeconds: 1, oldRoots: { keepDays: 30, keepAtLeast: 1 } } });
    expect(later.code, describeRun(later)).toBe(0);
    expect(c.archives()).not.toContain(held);
  });

  it('the state rollback\'s age-out gets only what the root\'s age-out left of oldRoots.ageOutSeconds: with 3 000 of a user\'s subvolumes in each, both stay, each saying so, and a later boot finishes the root\'s (before: each age-out had the whole time, so a boot could run past the unit\'s TimeoutStartSec, which counts it once)', () => {
    const c = useBootCase(runtime);
    seedState(c);
    // Two archived states from before: the newer is kept as the newest; the older is due and holds 3 000 subvolumes
    // (a persisted /var/tmp is anyone's).
    c.createSubvolume(`${PG_DIR}/20250101T000000Z`, { data: 'v0\n' });
    c.createSubvolume(`${PG_DIR}/20250102T000000Z`, { data: 'v0\n' });
    userArea(c, `${PG_DIR}/20250101T000000Z/tmp`);
    manySubvolumesAsNobody(c, `${PG_DIR}/20250101T000000Z/tmp`, 3000);
    userArea(c, '@root/tmp');
    manySubvolumesAsNobody(c, '@root/tmp', 3000);
    const real = Date.now();
    const tight = { ...STATE_CONFIG, oldRoots: { keepDays: 30, keepAtLeast: 1, ageOutSeconds: 0.05 } };
    for (const day of [1, 2]) expect(c.boot(iso(real + day * DAY), { config: tight }).code).toBe(0);
    const held = stamp(real + DAY);
    const r = c.boot(iso(real + 40 * DAY), { config: tight, cmdline: 'pantheros.rollback.state=/var/lib/pg=hourly' });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.result).toBe('ok');
    expect(c.archives()).toContain(held);
    expect(r.report?.warnings.join('\n')).toMatch(new RegExp(`${OLD_ROOTS}/${held} stays \\(the time given to this step \\(0\\.05 s\\) ran out first`));
    expect(r.report?.state, describeRun(r)).toMatchObject({ result: 'ok', rolledBack: [{ subvolume: PG }] });
    expect(c.read(`${PG}/data`)).toBe('v1\n');
    // The state's age-out had only what the root's left of the boot's 0.05 s, and says so.
    expect(stateArchives(c)).toContain('20250101T000000Z');
    expect(JSON.stringify(r.report?.state?.warnings)).toMatch(/20250101T000000Z stays \(the time given to this step \([\d.]+ s: what was left of the 0\.05 s this run's deletes share\) ran out first/);
    // The next boot, with the default time, ages out the root's.
    const later = c.boot(iso(real + 80 * DAY), { config: { ...STATE_CONFIG, oldRoots: { keepDays: 30, keepAtLeast: 1 } } });
    expect(later.code, describeRun(later)).toBe(0);
    expect(c.archives()).not.toContain(held);
  });

  it('an expired archive whose age-out stopped after its user\'s subvolumes were set aside at its top (.pantheros-delete-*) and before they were deleted: booted as the target, they are not brought back into the new root, and the report says so (before: they came back at the root\'s top)', () => {
    const c = useBootCase(runtime);
    userArea(c, '@root/tmp');
    manySubvolumesAsNobody(c, '@root/tmp', 5);
    const real = Date.now();
    const config = { deviceTimeoutSeconds: 1, oldRoots: { keepDays: 30, keepAtLeast: 1 } };
    for (const day of [1, 2]) expect(c.boot(iso(real + day * DAY), { config }).code).toBe(0);
    const held = stamp(real + DAY);
    // The deletes fail (btrfs's answer, from a wrapper), as if the time ran out right after the moves.
    const failing = join(c.image.dir, 'no-delete-btrfs');
    writeFileSync(failing, '#!/bin/sh\ncase "$1 $2" in "subvolume delete") echo "ERROR: Could not destroy subvolume: Operation not permitted" >&2; exit 1;; esac\nexec btrfs "$@"\n', { mode: 0o755 });
    expect(c.boot(iso(real + 40 * DAY), { config, env: { PANTHEROS_BTRFS: failing } }).code).toBe(0);
    const setAside = readdirSync(c.abs(`${OLD_ROOTS}/${held}`)).filter((n) => n.startsWith('.pantheros-delete-'));
    expect(setAside).toHaveLength(5);
    const r = c.boot(iso(real + 41 * DAY), { config, cmdline: `pantheros.rollback=${held}` });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.result).toBe('ok');
    expect(r.report?.created?.from).toBe(`${OLD_ROOTS}/${held}`);
    expect(readdirSync(c.abs('@root')).filter((n) => n.startsWith('.pantheros-delete-'))).toEqual([]);
    expect(r.report?.warnings.join('\n')).toMatch(/5 nested subvolume\(s\) an age-out cut short had set aside at the top of .* are not brought back/);
    // Still in the archive, for its age-out.
    expect(readdirSync(c.abs(`${OLD_ROOTS}/${held}`)).filter((n) => n.startsWith('.pantheros-delete-'))).toHaveLength(5);
  });

  it('a chain of 1 500 subvolumes one inside the next: previous\'s dry run finds every one, and its archive ages out whole (each path is judged from its parent\'s verdict: judged prefix by prefix, 1 000 deep took 4.8 s to observe and 5 000 deep minutes, a review 2026-12-02)', () => {
    const c = useBootCase(runtime);
    userArea(c, '@root/tmp');
    chainOfSubvolumesAsNobody(c, '@root/tmp', 1500);
    const real = Date.now();
    const config = { deviceTimeoutSeconds: 1, targetMaxNested: 2000, oldRoots: { keepDays: 30, keepAtLeast: 1 } };
    const dry = c.boot(iso(real + DAY), { config, cmdline: 'pantheros.rollback=previous', dryRun: true, json: true });
    expect(dry.code, describeRun(dry)).toBe(0);
    expect(dry.json?.target?.refused).toBeNull();
    expect(dry.json?.nested).toHaveLength(1500);
    expect(dry.json?.nested.at(-1)?.path).toBe(`tmp/${Array.from({ length: 1500 }, () => 'd').join('/')}`);
    for (const day of [1, 2]) expect(c.boot(iso(real + day * DAY), { config }).code).toBe(0);
    const held = stamp(real + DAY);
    const r = c.boot(iso(real + 40 * DAY), { config });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.deleted.map((d) => d.path)).toContain(`${OLD_ROOTS}/${held}`);
    expect(listSubvolumes(c.top).filter((s) => s.path.startsWith(`${OLD_ROOTS}/${held}`))).toEqual([]);
  });

  it('previous whose root holds more nested subvolumes than targetMaxNested is refused: a fresh root from the blank, the previous root archived whole, and the dry run says the same (today: an unknown config key; before the bound, one snapshot and commit each before the swap)', () => {
    const c = useBootCase(runtime);
    userArea(c, '@root/tmp');
    manySubvolumesAsNobody(c, '@root/tmp', 5);
    const config = { deviceTimeoutSeconds: 1, targetMaxNested: 4 };
    const now = iso(Date.now() + DAY);
    const dry = c.boot(now, { config, cmdline: 'pantheros.rollback=previous', dryRun: true, json: true });
    const r = c.boot(now, { config, cmdline: 'pantheros.rollback=previous' });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.result).toBe('fell-back');
    // Named as the archive it is after this boot, with the target that boots it then (review finding M1).
    const name = r.report?.archived?.name;
    const why = new RegExp(`^${OLD_ROOTS}/${name} \\(@root of the previous boot, archived by this boot\\) holds 5 nested subvolumes, more than targetMaxNested \\(4\\) a boot brings back.*pantheros\\.rollback=${name}$`);
    expect(r.report?.target?.refused).toMatch(why);
    expect(dry.json?.target?.refused).toMatch(why);
    expect(r.report?.created?.from).toBe('@root-blank');
    expect(r.report?.nested).toEqual([]);
    expect(c.kind('@root/tmp')).toBe('missing');
    const archived = `${OLD_ROOTS}/${r.report?.archived?.name}`;
    expect(listSubvolumes(c.top).filter((s) => s.path.startsWith(`${archived}/tmp/`))).toHaveLength(5);

    // At the bound it comes back whole.
    const again = c.boot(iso(Date.now() + 2 * DAY), { config: { deviceTimeoutSeconds: 1, targetMaxNested: 5 }, cmdline: `pantheros.rollback=${r.report?.archived?.name}` });
    expect(again.code, describeRun(again)).toBe(0);
    expect(again.report?.result).toBe('ok');
    expect(again.report?.nested).toHaveLength(5);
    expect(listSubvolumes(c.top).filter((s) => s.path.startsWith('@root/tmp/'))).toHaveLength(5);
  });

  it('a next-boot request for previous, then the user fills /tmp past targetMaxNested: next-boot, list and check all show the request refused with the count, as the boot then does (one planner); next-boot refuses such a target when asked', () => {
    const c = useBootCase(runtime);
    seedArchives(c, ['20261120T000000Z']);
    userArea(c, '@root/tmp');
    const config = { deviceTimeoutSeconds: 1, targetMaxNested: 4 };
    const now = iso(Date.now() + DAY);
    const asked = runState(c, ['next-boot', 'previous', '--now', now], {}, config);
    expect(asked.code, showRun(asked, 'next-boot previous')).toBe(0);
    manySubvolumesAsNobody(c, '@root/tmp', 5);
    const why = /holds 5 nested subvolumes, more than targetMaxNested \(4\) a boot brings back/;
    const shown = runState(c, ['next-boot', '--now', now, '--json'], {}, config);
    expect(shown.code, showRun(shown, 'next-boot')).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ pending: 'previous', problem: expect.stringMatching(why) });
    const list = runState(c, ['list', '--now', now], {}, config);
    expect(list.stdout, showRun(list, 'list')).toMatch(new RegExp(`the request "previous" is refused: .*${why.source}`));
    const check = runState(c, ['check', '--now', now, '--json'], {}, config);
    expect(JSON.stringify(JSON.parse(check.stdout)), showRun(check, 'check')).toMatch(new RegExp(`pantheros\\.rollback=\\\\"previous\\\\" \\(from next-boot\\) refused: .*${why.source}`));
    const again = runState(c, ['next-boot', 'previous', '--now', now], {}, config);
    expect(again.code, showRun(again, 'next-boot previous, filled')).toBe(2);
    expect(again.stderr).toMatch(why);
    const r = c.boot(now, { config });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.result).toBe('fell-back');
    expect(r.report?.target?.refused).toMatch(why);
  });
});
