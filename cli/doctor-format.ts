// The readable checklist `gangway doctor` prints from the daemon's diagnostics.
import type { DiagnosticCheck, Diagnostics } from '../common/api';

const MARK: Record<DiagnosticCheck['status'], string> = { ok: '✔', fail: '✖', warn: '!', skip: '-' };

/** The readable checklist `gangway doctor` prints. */
export function formatDiagnostics(d: Diagnostics): string {
  const lines: string[] = [];
  d.checks.forEach((c, i) => {
    lines.push(`${MARK[c.status]} ${String(i + 1).padStart(2)}. ${c.title}: ${c.detail}`);
    if (c.fix && (c.status === 'fail' || c.status === 'warn')) lines.push(`       fix: ${c.fix}`);
  });
  const first = d.checks.find((c) => c.status === 'fail');
  lines.push('', first ? `First failing hop: ${first.title}.` : 'All checks passed.');
  return lines.join('\n');
}
