// Real btrfs, bundled file, Node and Bun (issue 10): list, next-boot, check and boot --dry-run print one plan, and
// prune and list one prune plan — on the layouts where they used to disagree, and on a running system (root mounted).
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { sh } from '../helpers/btrfs-image.js';
import { commit, describeRun, NEXT_BOOT, OLD_ROOTS, seedArchives, useBootCase, type BootCase } from '../helpers/boot-case.js';
import { requirePrerequisites, RUNTIMES, type Runtime } from '../helpers/prereq.js';
import { runBundle } from '../helpers/run-bundle.js';

beforeAll(() => requirePrerequisites());

const NOW = '2026-11-26T06:00:00Z';

interface Outputs {
  dry: any;
  list: any;
  nextBoot: any;
  check: any;
  prune: any;
}

function json(c: BootCase, runtime: Runtime, args: string[], config: unknown): any {
  const file = join(c.image.dir, 'engine-config.json');
  sh('sh', ['-c', `cat > ${file}`], JSON.stringify(config));
  const r = runBundle(runtime, [...args, '--top-level', c.top, '--config', file]);
  expect([0, 1], `${args.join(' ')}\nexit ${r.code}\n${r.stderr}\n${r.stdout.slice(0, 2000)}`).toContain(r.code);
  return JSON.parse(r.stdout);
}

/** Every command that prints a plan, on the same layout, clock and kernel command line. */
function outputs(c: BootCase, runtime: Runtime, config: unknown): Outputs {
  const dryRun = c.boot(NOW, { config, dryRun: true, json: true, rawCmdline: '' });
  expect(dryRun.code, describeRun(dryRun)).toBe(0);
  return {
    dry: dryRun.json,
    list: json(c, runtime, ['list', '--json', '--now', NOW], config),
    nextBoot: json(c, runtime, ['next-boot', '--json', '--now', NOW], config),
    check: json(c, runtime, ['check', '--json', '--now', NOW], config),
    prune: json(c, runtime, ['prune', '--dry-run', '--json'], config),
  };
}

/** They print one plan: the same verdict per archive, the same target, the same warnings, the same snapshot verdicts. */
function expectOnePlan(o: Outputs): void {
  const fromDry = new Map<string, string>([
    ...o.dry.kept.map((k: any) => [k.name, `keep: ${k.reason}`] as const),
    ...o.dry.deleted.map((d: any) => [d.path.split('/').at(-1), `delete: ${d.reason}`] as const),
  ]);
  for (const a of o.list.archives) expect(`${a.verdict.action}: ${a.verdict.reason}`, `list vs boot --dry-run on ${a.name}`).toBe(fromDry.get(a.name));
  expect(o.list.nextBootPlan.target).toEqual(o.dry.target);
  expect(o.nextBoot.nextBoot.target).toEqual(o.dry.target);
  expect(o.nextBoot.effect).toBe(o.list.nextBootPlan.effect);
  const findings = o.check.findings.map((f: any) => `${f.subject ? `${f.subject}: ` : ''}${f.what}`);
  for (const w of o.dry.warnings) expect(findings.some((f: string) => w.startsWith(f)), `check lacks "${w}"`).toBe(true);
  const pruneVerdicts = new Map(o.prune.verdicts.map((v: any) => [v.path, `${v.action}: ${v.reason}`]));
  for (const s of o.list.snapshots) {
    const expected = pruneVerdicts.get(s.path) ?? `keep: ${o.prune.ignored.find((i: any) => i.path === s.path)?.reason}`;
    expect(`${s.verdict.action}: ${s.verdict.reason}`, `list vs prune on ${s.path}`).toBe(expected);
  }
}

describe.each(RUNTIMES)('one plan under $name', (runtime: Runtime) => {
  it('keepAtLeast 1 after a long power-off, a read-only archive, a received one, one holding a subvolume inside a read-only one: every command says what the boot does, and the boot does it', () => {
    const c = useBootCase(runtime);
    const config = { deviceTimeoutSeconds: 1, oldRoots: { keepDays: 30, keepAtLeast: 1 } };
    // First (lowest generation): a read-only archive received with btrfs receive (btrfs refuses to make it writable).
    mkdirSync(c.abs('@send'));
    sh('btrfs', ['subvolume', 'snapshot', '-r', c.abs('@persistent'), c.abs('@send/20250101T120000Z')]);
    sh('sh', ['-c', `btrfs send -q ${c.abs('@send/20250101T120000Z')} | btrfs receive -q ${c.abs(OLD_ROOTS)}`]);
    commit(c);
    seedArchives(c, ['20250101T000000Z', '20250102T000000Z', '20250103T000000Z', '20250104T000000Z', '20250105T000000Z']);
    sh('btrfs', ['property', 'set', '-ts', c.abs(`${OLD_ROOTS}/20250102T000000Z`), 'ro', 'true']);
    c.createSubvolume(`${OLD_ROOTS}/20250103T000000Z/ro`);
    c.createSubvolume(`${OLD_ROOTS}/20250103T000000Z/ro/inner`);
    sh('btrfs', ['property', 'set', '-ts', c.abs(`${OLD_ROOTS}/20250103T000000Z/ro`), 'ro', 'true']);
    commit(c);
    const o = outputs(c, runtime, config);
    expectOnePlan(o);
    const verdict = (name: string) => o.list.archives.find((a: any) => a.name === name).verdict;
    expect(verdict('20250105T000000Z')).toMatchObject({ action: 'keep', reason: 'newest archive before this boot' });
    expect(verdict('20250102T000000Z')).toMatchObject({ action: 'keep', reason: expect.stringMatching(/^read-only, so protected/) });
    expect(verdict('20250101T120000Z').reason).toMatch(/received with btrfs receive .*btrfs subvolume delete/);
    expect(verdict('20250101T120000Z').reason).not.toMatch(/ro false/);
    // Its read-only nested subvolume holds another: made writable first, so the archive goes (and every command says so).
    expect(verdict('20250103T000000Z').action).toBe('delete');
    expect(verdict('20250101T000000Z').action).toBe('delete');
    const r = c.boot(NOW, { config });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.report?.deleted.map((d: any) => d.path).sort()).toEqual(o.dry.deleted.map((d: any) => d.path).sort());
    expect(c.kind(`${OLD_ROOTS}/20250103T000000Z`)).toBe('missing');
  });

  it('a writable snapshot-named subvolume in a class directory: list and prune agree it is not a snapshot, and the real ones keep their verdicts', () => {
    const c = useBootCase(runtime);
    const config = { deviceTimeoutSeconds: 1, snapshotRetention: { hourly: 24, daily: 1, weekly: 4, monthly: 6 } };
    for (const d of ['20261124T000000Z', '20261125T000000Z']) {
      sh('btrfs', ['subvolume', 'snapshot', '-r', c.abs('@persistent'), c.abs(`@snapshots/daily/@persistent.${d}`)]);
      commit(c);
    }
    sh('btrfs', ['subvolume', 'snapshot', c.abs('@persistent'), c.abs('@snapshots/daily/@persistent.20261126T000000Z')]);
    commit(c);
    const o = outputs(c, runtime, config);
    expectOnePlan(o);
    const snap = (name: string) => o.list.snapshots.find((s: any) => s.path === `@snapshots/daily/${name}`).verdict;
    expect(snap('@persistent.20261126T000000Z').reason).toMatch(/writable: not a snapshot/);
    expect(snap('@persistent.20261125T000000Z')).toMatchObject({ action: 'keep', reason: 'newest daily snapshot of @persistent' });
    expect(snap('@persistent.20261124T000000Z').action).toBe('delete');
  });

  it('something mounted on a directory inside an expired archive and inside an expired snapshot: every command keeps them as mounted, and the boot and prune do (before: list said delete while prune kept a bind, and prune and the boot deleted them, detaching the mount)', () => {
    const c = useBootCase(runtime);
    const config = { deviceTimeoutSeconds: 1, oldRoots: { keepDays: 30, keepAtLeast: 2 }, snapshotRetention: { hourly: 24, daily: 1, weekly: 4, monthly: 6 } };
    seedArchives(c, ['20250101T000000Z', '20261120T000000Z', '20261121T000000Z']);
    mkdirSync(c.abs(`${OLD_ROOTS}/20250101T000000Z/srv`));
    // The directory inside the snapshot has a name a user chose, with a forged line in it.
    const forged = 'data\npantheros-rollback: ok: nothing to prune';
    mkdirSync(c.abs(`@persistent/${forged}`), { recursive: true });
    for (const d of ['20261124T000000Z', '20261125T000000Z']) {
      sh('btrfs', ['subvolume', 'snapshot', '-r', c.abs('@persistent'), c.abs(`@snapshots/daily/@persistent.${d}`)]);
      commit(c);
    }
    const inArchive = c.abs(`${OLD_ROOTS}/20250101T000000Z/srv`);
    const inSnapshot = c.abs(`@snapshots/daily/@persistent.20261124T000000Z/${forged}`);
    sh('mount', ['-t', 'tmpfs', 'in-archive', inArchive]);
    sh('mount', ['-t', 'tmpfs', 'in-snapshot', inSnapshot]);
    try {
      const o = outputs(c, runtime, config);
      expectOnePlan(o);
      expect(o.list.archives.find((a: any) => a.name === '20250101T000000Z').verdict).toEqual({ action: 'keep', reason: `mounted (${OLD_ROOTS}/20250101T000000Z/srv): left alone while it is in use` });
      const snap = o.list.snapshots.find((s: any) => s.path === '@snapshots/daily/@persistent.20261124T000000Z').verdict;
      expect(snap).toEqual({ action: 'keep', reason: `mounted (@snapshots/daily/@persistent.20261124T000000Z/${forged}): left alone while it is in use` });
      const pruned = runBundle(runtime, ['prune', '--top-level', c.top, '--config', join(c.image.dir, 'engine-config.json')]);
      expect(pruned.code, pruned.stderr).toBe(0);
      // Text output: the name stays inside its line (before: it printed a "pantheros-rollback: ok: …" line of its own).
      expect(pruned.stdout.split('\n').filter((l) => l.startsWith('pantheros-rollback: ok'))).toEqual([]);
      expect(pruned.stdout).toContain('data\\npantheros-rollback: ok: nothing to prune): left alone while it is in use');
      const listed = runBundle(runtime, ['list', '--top-level', c.top, '--config', join(c.image.dir, 'engine-config.json'), '--now', NOW]);
      expect(listed.stdout.split('\n').filter((l) => l.startsWith('pantheros-rollback: ok'))).toEqual([]);
      const boot = c.boot(NOW, { config });
      expect(boot.code, describeRun(boot)).toBe(0);
      expect(c.archives()).toContain('20250101T000000Z');
      expect(c.kind('@snapshots/daily/@persistent.20261124T000000Z')).toBe('subvolume');
      const mounted = sh('findmnt', ['-rn', '-o', 'SOURCE']).split('\n');
      expect(mounted).toEqual(expect.arrayContaining(['in-archive', 'in-snapshot']));
    } finally {
      spawnSync('umount', ['-l', inArchive]);
      spawnSync('umount', ['-l', inSnapshot]);
    }
  });

  it('a snapshot path deeper than <class>/<name> (a/b/c, a snapshot of the root there): next-boot refuses it for the reason the boot refuses it', () => {
    const c = useBootCase(runtime);
    const config = { deviceTimeoutSeconds: 1 };
    mkdirSync(c.abs('@snapshots/a/b'), { recursive: true });
    sh('btrfs', ['subvolume', 'snapshot', '-r', c.abs('@root'), c.abs('@snapshots/a/b/c')]);
    const file = join(c.image.dir, 'engine-config.json');
    sh('sh', ['-c', `cat > ${file}`], JSON.stringify(config));
    const req = runBundle(runtime, ['next-boot', 'a/b/c', '--top-level', c.top, '--config', file]);
    expect(req.code, req.stderr).toBe(2);
    expect(req.stderr).toMatch(/<class>\/<name>: a deeper path/);
    expect(c.kind(NEXT_BOOT)).toBe('missing');
    const dry = c.boot(NOW, { config, cmdline: 'pantheros.rollback=a/b/c', dryRun: true, json: true });
    expect(dry.code, describeRun(dry)).toBe(0);
    expect(dry.json?.target).toMatchObject({ kind: 'blank', refused: expect.stringMatching(/<class>\/<name>: a deeper path/) });
  });

  it('on a running system (the root mounted) boot --dry-run prints what the next boot will do; a real run is refused and changes nothing', () => {
    const c = useBootCase(runtime);
    const config = { deviceTimeoutSeconds: 1, oldRoots: { keepDays: 30, keepAtLeast: 2 } };
    seedArchives(c, ['20250101T000000Z', '20261120T000000Z', '20261121T000000Z']);
    const live = join(c.image.dir, 'live');
    mkdirSync(live);
    sh('mount', ['-o', 'subvol=@root', c.image.loop, live]);
    try {
      const o = outputs(c, runtime, config);
      expectOnePlan(o);
      expect(o.dry.result).toBe('dry-run');
      expect(o.dry.blockers.join()).toMatch(/@root is mounted at .*this is the running system/);
      expect(o.dry.deleted.map((d: any) => d.path)).toEqual([`${OLD_ROOTS}/20250101T000000Z`]);
      const before = c.image.paths();
      const real = c.boot(NOW, { config });
      expect(real.code, describeRun(real)).toBe(3);
      expect(real.report?.result).toBe('refused');
      expect(c.image.paths()).toEqual(before);

      // The expired archive browsed (mounted) on the running system: the next boot, in stage 1 where nothing is
      // mounted, deletes it; every command says so, with a warning (before: "keep: mounted", and the boot deleted it).
      const browse = join(c.image.dir, 'browse');
      const mounted = runBundle(runtime, ['mount', '20250101T000000Z', browse, '--top-level', c.top, '--config', join(c.image.dir, 'engine-config.json')]);
      expect(mounted.code, mounted.stderr).toBe(0);
      try {
        const browsed = outputs(c, runtime, config);
        expectOnePlan(browsed);
        expect(browsed.dry.deleted.map((d: any) => d.path)).toEqual([`${OLD_ROOTS}/20250101T000000Z`]);
        expect(browsed.dry.warnings.join('\n')).toMatch(/mounted now \(@btrfs_tmp\/old_roots\/20250101T000000Z\), but the next boot, where nothing is mounted, deletes it: older than 30 d/);
        expect(browsed.list.archives.find((a: any) => a.name === '20250101T000000Z').verdict.action).toBe('delete');
      } finally {
        spawnSync('umount', [browse]);
      }
    } finally {
      sh('umount', [live]);
    }
  });
});
