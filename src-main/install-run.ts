// Running the install as root once the user said yes (helper-install.ts asks): on macOS through osascript's
// `do shell script … with administrator privileges`, the script passed in its argv, on Linux through
// @vscode/sudo-prompt (pkexec). On macOS sudo-prompt would write the command into an applet in the user's
// temporary folder and have root run that file, which a program of the user's could rewrite while the
// password dialog is up. No Electron here, so the runners are tested directly.
import { execFile } from 'node:child_process';
import { exec as sudoExec } from '@vscode/sudo-prompt';
import {
  MAC_TOOLS,
  installCommand,
  macInstallScript,
  macUninstallInstalledScript,
  type InstallPlan,
  type MacInstallPlan,
  type ServiceCommand,
} from './install-command';
import type { InstalledHelper } from './installed-helper';

export type InstallOutcome =
  { kind: 'installed'; notes?: string[] } | { kind: 'declined' } | { kind: 'failed'; message: string };

/** What `gangway service uninstall --json` could not do, for the user: its warnings, and the disconnect's
 *  words unless it disconnected. Output it cannot read says so rather than nothing. */
export function uninstallNotes(stdout: string): string[] {
  const line = stdout
    .split(/[\r\n]+/)
    .reverse()
    .find((l) => l.trim().startsWith('{'));
  try {
    const r = JSON.parse(line ?? '') as { warnings?: unknown; disconnected?: unknown };
    const warnings = Array.isArray(r.warnings)
      ? r.warnings.filter((w): w is string => typeof w === 'string')
      : [];
    const d =
      typeof r.disconnected === 'string' && !r.disconnected.startsWith('disconnected')
        ? [r.disconnected]
        : [];
    return [...d, ...warnings];
  } catch {
    return [`the uninstall's report could not be read: ${stdout.trim().slice(0, 200) || '(none)'}`];
  }
}

const withNotes = (o: InstallOutcome, sub: ServiceCommand, stdout: string): InstallOutcome =>
  o.kind === 'installed' && sub === 'uninstall' ? { kind: 'installed', notes: uninstallNotes(stdout) } : o;

/** osascript's exit: a cancelled password dialog is error -128 ("User canceled."); any other failure
 *  carries the script's own error output in "execution error: … (N)". */
export function osascriptOutcome(err: Error | null, stderr: string): InstallOutcome {
  if (!err) return { kind: 'installed' };
  if (/\(-128\)\s*$/.test(stderr.trim()) || /User cancel+ed/i.test(stderr)) return { kind: 'declined' };
  const said = /execution error: ([\s\S]*?)(?: \(-?\d+\))?\s*$/.exec(stderr.trim())?.[1];
  return { kind: 'failed', message: (said ?? stderr.trim()) || err.message };
}

/** The AppleScript: the shell script and the prompt arrive as arguments, never inside the script's text. */
const APPLESCRIPT = [
  'on run argv',
  'do shell script (item 1 of argv) with prompt (item 2 of argv) with administrator privileges',
  'end run',
];

export function installOnMac(plan: MacInstallPlan, sub: ServiceCommand = 'install'): Promise<InstallOutcome> {
  return asRootOnMac(macInstallScript(plan, MAC_TOOLS, sub), sub);
}

/** The copy method's uninstall by the installed copy's own CLI (installed-helper.ts). */
export function uninstallInstalledOnMac(h: InstalledHelper): Promise<InstallOutcome> {
  return asRootOnMac(macUninstallInstalledScript(h), 'uninstall');
}

function asRootOnMac(script: string, sub: ServiceCommand): Promise<InstallOutcome> {
  const prompt =
    sub === 'install'
      ? 'Gangway wants to install its helper, which runs as a system service.'
      : 'Gangway wants to remove its helper, the system service.';
  const args = [...APPLESCRIPT.flatMap((l) => ['-e', l]), script, prompt];
  return new Promise((resolve) => {
    // Nothing of the app's environment but what osascript needs: the script's shell, ditto and codesign run
    // before the script's own `env -i`, and a shell reads variables of its own (bash: SHELLOPTS, PS4).
    const env = Object.fromEntries(
      ['HOME', 'USER', 'LOGNAME', 'LANG']
        .filter((k) => process.env[k] !== undefined)
        .map((k) => [k, process.env[k]]),
    );
    env.PATH = '/usr/bin:/bin:/usr/sbin:/sbin';
    execFile('/usr/bin/osascript', args, { cwd: '/', env }, (err, stdout, stderr) =>
      resolve(withNotes(osascriptOutcome(err, String(stderr)), sub, String(stdout))),
    );
  });
}

export function installWithSudoPrompt(
  plan: InstallPlan,
  sub: ServiceCommand = 'install',
): Promise<InstallOutcome> {
  const command = installCommand(plan, process.platform, sub);
  // sudo-prompt starts its line with `cd "<current directory>"`, escaping only `"`: a directory named with
  // $(…) would run, and one ending in a backslash breaks the line. The app needs no current directory.
  process.chdir('/');
  return new Promise((resolve) => {
    sudoExec(command, { name: 'Gangway' }, (err, stdout, stderr) => {
      if (!err) return resolve(withNotes({ kind: 'installed' }, sub, String(stdout ?? '')));
      // sudo-prompt reports a cancelled password prompt as "User did not grant permission."
      if (/did not grant permission/i.test(err.message)) return resolve({ kind: 'declined' });
      resolve({ kind: 'failed', message: `${err.message}${stderr ? `\n${String(stderr)}` : ''}` });
    });
  });
}
