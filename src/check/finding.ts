// One problem `check` reports: how bad, what, why it matters, what to do.

export interface Finding {
  severity: 'error' | 'warning';
  /** The mount point or layout path it is about; null for findings about several mounts. */
  subject: string | null;
  what: string;
  why: string;
  fix: string;
}

/** A finding as indented text. */
export function formatFinding(f: Finding): string {
  return [`${f.severity.padEnd(7)} ${f.subject ? `${f.subject}: ` : ''}${f.what}`, `        why: ${f.why}`, `        fix: ${f.fix}`].join('\n');
}
