// For `gangway doctor`: what the installed service runs, and whether a user other than root could change
// it. Installs before the root-owned copy (helper-copy.ts) pointed the unit or plist at a checkout or an app
// bundle the user owns; any process of that user could then become root at the service's next start.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nonRootWritable, type OwnershipDeps } from './root-owned';
import { plistPrograms } from '../../common/plist-programs';

export interface ServiceAudit {
  installed: boolean;
  /** The unit or plist. */
  path: string;
  /** The runtime and the script it starts. */
  programs: string[];
  /** What a non-root user could change, one line each; empty when nothing. */
  problems: string[];
}

/** The words of ExecStart= as `systemdQuote` (service-linux.ts) writes them: "…" with \\ \" %% $$. */
export function unitPrograms(unit: string): string[] {
  const line = /^ExecStart=(.*)$/m.exec(unit)?.[1] ?? '';
  const words = [...line.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((m) =>
    m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1').replace(/%%/g, '%').replace(/\$\$/g, '$') : m[2]!,
  );
  return words.slice(0, 2);
}

export function serviceFilePath(platform: NodeJS.Platform): string {
  return platform === 'darwin'
    ? join('/Library/LaunchDaemons', 'dev.gangway.helper.plist')
    : join('/etc/systemd/system', 'gangway.service');
}

export function auditInstalledService(
  platform: NodeJS.Platform = process.platform,
  deps: { path?: string; ownership?: OwnershipDeps } = {},
): ServiceAudit {
  const path = deps.path ?? serviceFilePath(platform);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return { installed: false, path, programs: [], problems: [] };
  }
  const programs = platform === 'darwin' ? plistPrograms(text) : unitPrograms(text);
  if (programs.length === 0)
    return { installed: true, path, programs, problems: [`${path} names no program this check can read`] };
  return {
    installed: true,
    path,
    programs,
    problems: programs.flatMap((p) => nonRootWritable(p, deps.ownership)),
  };
}
