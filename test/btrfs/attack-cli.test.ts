// Adversarial, real btrfs, bundled file, Node and Bun: what the CLI says with --json and on a signal (README
// "Exit codes and JSON": "With --json, an error is also printed on stdout as {version, error: {…}} with the same
// exit code"; "128+N stopped by signal N"). Today these fail.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBootCase } from '../helpers/boot-case.js';
import { mountsOf, scratchArea, showRun, startBundle, waitFor } from '../helpers/ops.js';
import { BUNDLE, requirePrerequisites, RUNTIMES, type Runtime } from '../helpers/prereq.js';
import { runBundle } from '../helpers/run-bundle.js';

beforeAll(() => requirePrerequisites());

describe.each(RUNTIMES)('attack: the CLI under $name', (runtime: Runtime) => {
  it('status --json with a missing or unreadable report prints the JSON error object on stdout, exit 3 (today: nothing on stdout)', () => {
    const c = useBootCase(runtime);
    const cfg = join(c.image.dir, 'cli-config.json');
    writeFileSync(cfg, '{}');
    const garbled = join(c.image.dir, 'garbled.json');
    writeFileSync(garbled, '{"result": ');
    for (const report of [join(c.image.dir, 'missing.json'), garbled]) {
      const r = runBundle(runtime, ['status', '--json', '--report', report, '--config', cfg]);
      expect(r.code, showRun(r, `status --json --report ${report}`)).toBe(3);
      expect(() => JSON.parse(r.stdout), showRun(r, 'stdout must be the JSON error')).not.toThrow();
      expect(JSON.parse(r.stdout)).toMatchObject({ version: 1, error: { kind: 'precondition', exitCode: 3 } });
    }
  });

  it('a FIFO where a report or the kernel command line is read: status and metrics say so, boot treats the command line as empty; none waits for a writer (before: each hung in a read that SIGTERM could not stop)', () => {
    const c = useBootCase(runtime);
    const cfg = join(c.image.dir, 'cli-config.json');
    writeFileSync(cfg, '{}');
    const fifo = join(c.image.dir, 'fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const timeout = { timeoutMs: 20_000 };
    const status = runBundle(runtime, ['status', '--report', fifo, '--config', cfg], {}, timeout);
    expect(status.code, showRun(status, 'status --report FIFO')).toBe(3);
    expect(status.stderr).toContain(`${fifo} is a fifo, not a regular file`);
    // The kept copy beside the archives, read by metrics when /run has none (--report names the one in /run).
    expect(spawnSync('mkfifo', [c.abs(`@btrfs_tmp/old_roots/.pantheros-last-report.json`)]).status).toBe(0);
    const metrics = runBundle(runtime, ['metrics', '--top-level', c.top, '--config', cfg, '--report', join(c.image.dir, 'none.json')], {}, timeout);
    expect(metrics.code, showRun(metrics, 'metrics')).toBe(0);
    const boot = runBundle(runtime, ['boot', '--top-level', c.top, '--config', cfg, '--cmdline', fifo, '--report', join(c.image.dir, 'report.json'), '--now', '2026-11-26T06:00:00Z'], {}, timeout);
    expect(boot.code, showRun(boot, 'boot --cmdline FIFO')).toBe(0);
    const report = JSON.parse(readFileSync(join(c.image.dir, 'report.json'), 'utf8')) as { warnings: string[] };
    expect(report.warnings).toContain(`cannot read the kernel command line from ${fifo} (${fifo} is a fifo, not a regular file): treating it as empty`);
  });

  it('stage 1 with a command line the bundle refuses (an unknown flag, a bad --now, an extra argument): a failed report is left in /run, as for a bad config (today: none)', () => {
    const c = useBootCase(runtime);
    const dir = scratchArea('attack-stage1-');
    for (const extra of [['--bogus'], ['--now', 'yesterday'], ['extra-argument']]) {
      const upper = join(dir, `upper-${extra[0]}`);
      const work = join(dir, `work-${extra[0]}`);
      mkdirSync(upper);
      mkdirSync(work);
      // A private mount namespace: /etc/initrd-release exists (an overlay on /etc), /run is a fresh tmpfs.
      const script = [
        `mount -t overlay overlay -o lowerdir=/etc,upperdir=${upper},workdir=${work} /etc`,
        'touch /etc/initrd-release',
        'mount -t tmpfs -o mode=0755 tmpfs /run',
        `${runtime.bin} ${BUNDLE} boot --device ${c.image.loop} ${extra.join(' ')} >/dev/null 2>&1; echo "exit=$?"`,
        'cat /run/pantheros-rollback/report.json 2>/dev/null || echo "no report"',
      ].join(' && ');
      const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], { encoding: 'utf8' });
      expect(r.stdout, `${extra.join(' ')}: ${r.stderr}`).toMatch(/^exit=2\n/);
      // Issue 11: "Every run started by stage 1 leaves a report, failed with the error, and the metrics show it."
      expect(r.stdout, extra.join(' ')).not.toContain('no report');
      expect(JSON.parse(r.stdout.replace(/^exit=2\n/, ''))).toMatchObject({ result: 'failed', stage1: true });
    }
  });

  it('diff | head (the reader closes the pipe, as quitting less does): not "this is a bug" with exit 4 (today: an EPIPE stack trace)', () => {
    const c = useBootCase(runtime);
    const cfg = join(c.image.dir, 'cli-config.json');
    writeFileSync(cfg, '{}');
    for (let i = 0; i < 20_000; i++) writeFileSync(c.abs(`@root/f${i}`), '');
    const piped = spawnSync('bash', ['-c', 'set -o pipefail; "$0" "$1" diff --top-level "$2" --config "$3" | head -c 10 >/dev/null; echo "${PIPESTATUS[0]}"', runtime.bin, BUNDLE, c.top, cfg], { encoding: 'utf8' });
    expect(piped.status).toBe(0);
    expect(piped.stderr, 'a closed pipe is not a bug').not.toContain('this is a bug');
    expect(piped.stdout.trim(), piped.stderr).not.toBe('4');
  });

  it('snapshot --json stopped by SIGTERM: stdout is one JSON document, and the exit code agrees with what is on disk (today: the snapshot is made, its JSON and an "interrupted" JSON are both printed, exit 143)', async () => {
    const c = useBootCase(runtime);
    const cfg = join(c.image.dir, 'cli-config.json');
    writeFileSync(cfg, JSON.stringify({ deviceTimeoutSeconds: 1 }));
    // The first btrfs call sleeps 1.5 s, so SIGTERM arrives while the tool waits in it (as systemctl stop of the timer's unit would).
    const slow = join(c.image.dir, 'slow-btrfs');
    writeFileSync(slow, '#!/bin/sh\nif mkdir "$SLOW_MARK" 2>/dev/null; then sleep 1.5; fi\nexec btrfs "$@"\n', { mode: 0o755 });
    const run = startBundle(runtime, ['snapshot', '--class', 'daily', '--json', '--device', c.image.loop, '--config', cfg], { PANTHEROS_BTRFS: slow, SLOW_MARK: join(c.image.dir, 'mark') });
    await waitFor('the private mount', () => mountsOf(c.image.loop, c.top).length > 0);
    await new Promise((r) => setTimeout(r, 200));
    run.child.kill('SIGTERM');
    const r = await run.done;
    expect(() => JSON.parse(r.stdout), showRun(r, 'stdout must be one JSON document')).not.toThrow();
    const made = readdirSync(c.abs('@snapshots/daily')).length > 0;
    expect({ made, code: r.code }, showRun(r, 'a 143 says the run was stopped')).toEqual(made ? { made, code: 0 } : { made, code: 143 });
  });
});
