// Installing (or updating) the root helper: the one moment the app asks for an administrator password. First
// a dialog says why; then root runs the packaged `gangway service install` (install-run.ts). A refusal is not
// an error: the app keeps running and its menu says what does not work without the helper.
import { dialog } from 'electron';
import { whyAdmin, type MacInstallPlan } from './install-command';
import { installOnMac, installWithSudoPrompt, type InstallOutcome } from './install-run';

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
