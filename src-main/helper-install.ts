// Installing (or updating) the root helper: the one moment the app asks for an administrator password. First
// a dialog says why; then root runs the packaged `gangway service install` (install-run.ts). A refusal is not
// an error: the app keeps running and its menu says what does not work without the helper.
import { dialog } from 'electron';
import { whyAdmin, type MacInstallPlan } from './install-command';
import {
  installOnMac,
  installWithSudoPrompt,
  uninstallInstalledOnMac,
  type InstallOutcome,
} from './install-run';
import type { InstalledHelper } from './installed-helper';

export type { InstallOutcome } from './install-run';

export async function installHelper(plan: MacInstallPlan, update: boolean): Promise<InstallOutcome> {
  const choice = await dialog.showMessageBox({
    type: 'info',
    title: update ? 'Update Gangway’s helper' : 'Install Gangway’s helper',
    message: update
      ? 'The installed helper is another version than this app. Update it now?'
      : 'Gangway needs to install its helper.',
    detail: `${whyAdmin()}\n\nYou will be asked for an administrator password.`,
    buttons: [update ? 'Update…' : 'Install…', 'Not Now'],
    defaultId: 0,
    cancelId: 1,
  });
  if (choice.response !== 0) return { kind: 'declined' };
  return process.platform === 'darwin' ? installOnMac(plan) : installWithSudoPrompt(plan);
}

/** Asks before removing the helper; `password`: the copy method's removal runs as root. */
export async function confirmUninstall(password: boolean): Promise<boolean> {
  const choice = await dialog.showMessageBox({
    type: 'warning',
    title: 'Uninstall Gangway’s helper',
    message: 'Remove Gangway’s helper?',
    detail:
      'Containers can then no longer be reached from this computer. The helper disconnects first (the ' +
      'agent container leaves Docker’s VM), then its network interface, routes, DNS entry and service are ' +
      'removed. Your settings are kept for a later install.' +
      (password ? '\n\nYou will be asked for an administrator password.' : ''),
    buttons: ['Uninstall…', 'Cancel'],
    defaultId: 1,
    cancelId: 1,
  });
  return choice.response === 0;
}

/** The copy method's removal as root: on macOS by the installed copy's own CLI when its plist names one
 *  (`installed`), else by the app's own (staged on macOS, through pkexec on Linux). */
export function uninstallHelper(
  target: { installed: InstalledHelper } | { plan: MacInstallPlan },
): Promise<InstallOutcome> {
  if ('installed' in target) return uninstallInstalledOnMac(target.installed);
  return process.platform === 'darwin'
    ? installOnMac(target.plan, 'uninstall')
    : installWithSudoPrompt(target.plan, 'uninstall');
}
