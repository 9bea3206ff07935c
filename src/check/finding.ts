// One problem `check` reports: how bad, what, why it matters, what to do.
import { oneLine } from '../cli/show-text.js';

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
  // Each part names paths: one line each, whatever the names.
  return [`${f.severity.padEnd(7)} ${oneLine(`${f.subject ? `${f.subject}: ` : ''}${f.what}`)}`, `        why: ${oneLine(f.why)}`, `        fix: ${oneLine(f.fix)}`].join('\n');
}
