// The stage-1 unit's ordering (field notes), checked on the file itself; test/vm/stage1.test.ts
// shows systemd honours it (the unit verbatim in a real systemd stage 1).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/prereq.js';

/** Every `Key=value` of the unit, by key, in file order (comments and sections dropped). */
function directives(text: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) map.set(m[1]!, [...(map.get(m[1]!) ?? []), m[2]!]);
  }
  return map;
}

/** systemd-escape --path --suffix=device, for the characters a device path uses. */
function deviceUnit(path: string): string {
  const escaped = path
    .replace(/^\/+|\/+$/g, '')
    .split('/')
    .map((part) => part.replace(/[^A-Za-z0-9:_.]|^\./g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`))
    .join('-');
  return `${escaped}.device`;
}

describe('initrd/pantheros-rollback.service', () => {
  const unit = directives(readFileSync(join(REPO, 'initrd/pantheros-rollback.service'), 'utf8'));
  const all = (key: string) => unit.get(key) ?? [];

  it('runs once per boot, outside the default dependencies', () => {
    expect(all('DefaultDependencies')).toEqual(['no']);
    expect(all('Type')).toEqual(['oneshot']);
    expect(all('RemainAfterExit')).toEqual(['yes']);
  });

  it('waits for its own device, cryptsetup and hibernation resume, and runs before sysroot.mount', () => {
    const execStart = all('ExecStart');
    expect(execStart).toHaveLength(1);
    const device = /--device (\S+)/.exec(execStart[0]!)?.[1];
    expect(device).toBe('/dev/disk/by-label/nixos');
    expect(deviceUnit(device!)).toBe('dev-disk-by\\x2dlabel-nixos.device');
    expect(all('Requires')).toContain(deviceUnit(device!));
    expect(all('After')).toEqual(expect.arrayContaining([deviceUnit(device!), 'cryptsetup.target', 'local-fs-pre.target']));
    expect(all('Before')).toContain('sysroot.mount');
  });

  it('does not stop the boot when it fails (WantedBy, not RequiredBy)', () => {
    expect(all('WantedBy')).toEqual(['initrd.target']);
    expect(all('RequiredBy')).toEqual([]);
  });
});
