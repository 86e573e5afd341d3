// What the app does on the SMAppService path, from the helper's status, so it is tested without Electron.
// macOS will not run a registered daemon until the user allows it in Login Items, and registering it again
// meanwhile changes nothing (SMAppService's register() even fails then, nghialuong/Lidless#5): while it
// waits for approval the app says once what to do, instead of registering and showing an error at every
// launch.
import type { DaemonServiceStatus } from './daemon-service-electron';

/** System Settings › General › Login Items; Electron has no call that opens it. */
export const LOGIN_ITEMS_SETTINGS_URL = 'x-apple.systempreferences:com.apple.LoginItems-Settings.extension';

export interface SmFacts {
  /** The helper's status: before registering, or what registering returned. */
  status: DaemonServiceStatus;
  registered: boolean;
  /** The app asking at its start, or the user choosing Install / Update in the menu. */
  trigger: 'launch' | 'menu';
  /** The app already told the user to allow the helper (kept across launches). */
  told: boolean;
}

export type SmAction =
  /** Register the daemon (setLoginItemSettings), then decide again on what it returns. */
  | 'register'
  /** Say where to allow the helper and offer to open Login Items. */
  | 'ask-approval'
  /** It waits for approval and the user was told already: the menu still offers Install. */
  | 'wait-for-approval'
  /** Registered and allowed: ask the helper for its version. */
  | 'check';

export function smNextStep(f: SmFacts): { action: SmAction; told: boolean } {
  if (f.status === 'requires-approval') {
    if (f.registered || f.trigger === 'menu' || !f.told) return { action: 'ask-approval', told: true };
    return { action: 'wait-for-approval', told: true };
  }
  if (!f.registered) return { action: 'register', told: f.told };
  // Allowed now (main.ts also forgets once the helper answers): a later switch-off is told again.
  return { action: 'check', told: f.status === 'enabled' ? false : f.told };
}
