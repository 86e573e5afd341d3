// Installing (or updating) the root helper: the one moment the app asks for an administrator password. First
// a dialog says why; then @vscode/sudo-prompt runs the packaged `gangway service install` as root. A refusal
// is not an error: the app keeps running and its menu says what does not work without the helper.
import { dialog } from 'electron';
import { exec as sudoExec } from '@vscode/sudo-prompt';
import { installCommand, whyAdmin, type InstallPlan } from './install-command';

export type InstallOutcome =
  { kind: 'installed' } | { kind: 'declined' } | { kind: 'failed'; message: string };

export async function installHelper(plan: InstallPlan, update: boolean): Promise<InstallOutcome> {
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
  const command = installCommand(plan);
  return new Promise((resolve) => {
    sudoExec(command, { name: 'Gangway' }, (err, _stdout, stderr) => {
      if (!err) return resolve({ kind: 'installed' });
      // sudo-prompt reports a cancelled password prompt as "User did not grant permission."
      if (/did not grant permission/i.test(err.message)) return resolve({ kind: 'declined' });
      resolve({ kind: 'failed', message: `${err.message}${stderr ? `\n${String(stderr)}` : ''}` });
    });
  });
}
