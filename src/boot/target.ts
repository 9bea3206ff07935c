// What the operator asked this boot to start from, read strictly: anything doubtful is refused.

export type Target =
  | { kind: 'blank' }
  | { kind: 'keep' }
  | { kind: 'previous' }
  | { kind: 'archive'; name: string }
  | { kind: 'snapshot'; path: string }
  | { kind: 'refused'; reason: string };

const KEEP = new Set(['keep', '0', 'no', 'off', 'false']);
const NORMAL = new Set(['blank', '1', 'yes', 'on', 'true']);
const SAFE = /^[A-Za-z0-9._@:+~-]+$/;

/** Classifies a raw value (null = bare key, which systemd reads as "1"). Existence is checked later, against the disk. */
export function parseTarget(raw: string | null): Target {
  if (raw === null) return { kind: 'blank' };
  const value = raw;
  if (value === '') return { kind: 'refused', reason: 'empty value' };
  if (KEEP.has(value.toLowerCase())) return { kind: 'keep' };
  if (NORMAL.has(value.toLowerCase())) return { kind: 'blank' };
  if (value === 'previous') return { kind: 'previous' };
  if (value.length > 255) return { kind: 'refused', reason: 'longer than 255 characters' };
  if (value.startsWith('/')) return { kind: 'refused', reason: 'absolute paths are not allowed; name an archive or a snapshot as <class>/<name>' };
  const parts = value.split('/');
  if (parts.some((p) => p === '..')) return { kind: 'refused', reason: 'path contains ..' };
  if (parts.some((p) => p === '' || p === '.')) return { kind: 'refused', reason: 'path has an empty or . component' };
  const bad = parts.find((p) => !SAFE.test(p));
  if (bad !== undefined) return { kind: 'refused', reason: `"${bad}" has characters outside A-Z a-z 0-9 . _ @ : + ~ -` };
  if (parts.some((p) => p.startsWith('.'))) return { kind: 'refused', reason: 'hidden names (starting with .) are not archives or snapshots' };
  if (parts.length === 1) return { kind: 'archive', name: value };
  // A subvolume below a snapshot (a nested one, or one another tool made inside it) is not a snapshot of a root.
  if (parts.length > 2) return { kind: 'refused', reason: 'a snapshot is named <class>/<name>: a deeper path is something inside a snapshot, not a snapshot' };
  return { kind: 'snapshot', path: value };
}

/** A target as text, for the report and logs. */
export function describeTarget(t: Target): string {
  switch (t.kind) {
    case 'archive':
      return `archive ${t.name}`;
    case 'snapshot':
      return `snapshot ${t.path}`;
    case 'refused':
      return `refused (${t.reason})`;
    default:
      return t.kind;
  }
}

export interface ChosenTarget {
  /** The value asked for; null when nothing was asked (or a bare key). */
  raw: string | null;
  origin: 'cmdline' | 'next-boot' | 'default';
  target: Target;
  warnings: string[];
}

/**
 * What this boot was asked for: `pantheros.rollback=` on the kernel command line wins over a pending next-boot
 * request (which is still consumed); a request the boot cannot read is ignored with a warning.
 */
export function chooseTarget(param: { key: string; value: string | null } | undefined, request: { target: string } | { problem: string } | null): ChosenTarget {
  const warnings: string[] = [];
  if (request && 'problem' in request) warnings.push(`next-boot request ${request.problem}`);
  const requested = request && 'target' in request ? request.target : undefined;
  if (param) {
    if (requested !== undefined) warnings.push(`next-boot request "${requested}" ignored: ${param.key}= on the kernel command line wins`);
    return { raw: param.value, origin: 'cmdline', target: parseTarget(param.value), warnings };
  }
  if (requested !== undefined) return { raw: requested, origin: 'next-boot', target: parseTarget(requested), warnings };
  return { raw: null, origin: 'default', target: { kind: 'blank' }, warnings };
}
