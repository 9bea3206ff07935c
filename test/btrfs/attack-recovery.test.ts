// Adversarial, real btrfs, bundled file, Node and Bun: a step that fails after a nested subvolume with a user-chosen
// name was brought into the new root (README exit codes: "1 a step failed; the report and the message say what
// completed and what is in place now (the executor puts a root back before exiting)", "4 internal error … nothing
// was changed"; issue 9: "Reports that tell the truth after a failure"). The failure is btrfs' own ENOSPC answer,
// given by a wrapper named in PANTHEROS_BTRFS for the snapshot of one nested subvolume. Today it fails.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { commit, describeRun, NEW_ROOT, seedArchives, useBootCase } from '../helpers/boot-case.js';
import { pythonAsNobody, requirePython, userArea } from '../helpers/attack.js';
import { requirePrerequisites, RUNTIMES, type Runtime } from '../helpers/prereq.js';

beforeAll(() => requirePrerequisites(['btrfs', 'mkfs.btrfs', 'losetup', 'mount', 'umount', 'setpriv'], 'apt-get install -y btrfs-progs util-linux'));
beforeAll(requirePython);

const CONFIG = { deviceTimeoutSeconds: 1, oldRoots: { keepDays: 30, keepAtLeast: 3 } };

describe.each(RUNTIMES)('attack: recovery under $name', (runtime: Runtime) => {
  it('previous, a nested subvolume named a<newline>b, then a later nested snapshot fails with ENOSPC: exit 1, steps as they ran, the old root in place, the unfinished root removed (today: exit 4 "unsafe path", every step "not-run")', () => {
    const c = useBootCase(runtime);
    seedArchives(c, ['20261120T000000Z']);
    userArea(c, '@root/tmp');
    const make = 'import subprocess,sys\nfor p in sys.argv[1:]: subprocess.run(["btrfs","-q","subvolume","create",p],check=True)';
    pythonAsNobody(make, [c.abs('@root/tmp/a\nb'), c.abs('@root/tmp/z')]);
    commit(c);
    const wrapper = join(c.image.dir, 'enospc-btrfs');
    writeFileSync(wrapper, `#!/bin/sh\ncase "$*" in "subvolume snapshot "*/z) echo "ERROR: cannot snapshot '$3': No space left on device" >&2; exit 1;; esac\nexec btrfs "$@"\n`, { mode: 0o755 });
    const r = c.boot('2026-11-26T06:00:00Z', { config: CONFIG, cmdline: 'pantheros.rollback=previous', env: { PANTHEROS_BTRFS: wrapper } });
    expect(c.read('@root/marker'), 'the old root is in place').toBe('live-root\n');
    expect(r.code, describeRun(r)).toBe(1);
    const status = Object.fromEntries(r.report!.steps.map((s) => [`${s.n} ${s.action}`, s.status]));
    expect(status['1 snapshot'], JSON.stringify(status)).toBe('done');
    expect(Object.values(status)).toContain('failed');
    expect(r.report?.warnings.join('\n')).toMatch(/after the failure: .*removed the unfinished/);
    expect(c.kind(NEW_ROOT)).toBe('missing');
  });
});
