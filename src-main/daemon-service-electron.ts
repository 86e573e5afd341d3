// macOS 13+: registers the helper's launchd daemon through SMAppService (Electron's login item settings of
// type daemonService). macOS asks the user to approve it in System Settings › Login Items the first time.
import { execFile } from 'node:child_process';
import { app } from 'electron';
import { teamIdentifier } from './codesign-team';
import { registerService, type DaemonServiceStatus } from './sm-register';

export type { DaemonServiceStatus } from './sm-register';

/** Registers the daemon (again, for an update: launchd then starts the new bundle's helper); sm-register.ts
 *  waits for an unregister to finish and retries a register that did not take. */
export function registerDaemonService(serviceName: string, update: boolean): Promise<DaemonServiceStatus> {
  const set = (openAtLogin: boolean) =>
    app.setLoginItemSettings({ openAtLogin, type: 'daemonService', serviceName });
  return registerService(
    {
      register: () => set(true),
      unregister: () => set(false),
      status: () => app.getLoginItemSettings({ type: 'daemonService', serviceName }).status,
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      now: Date.now,
    },
    update,
  );
}

/** The Team ID of the developer who signed the bundle, when codesign accepts it (a development build is
 *  unsigned or ad hoc: undefined). */
export function bundleTeam(bundle: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile('/usr/bin/codesign', ['--verify', '--strict', bundle], (err) => {
      if (err) return resolve(undefined);
      execFile('/usr/bin/codesign', ['-dv', bundle], (err2, _stdout, stderr) =>
        resolve(err2 ? undefined : teamIdentifier(String(stderr))),
      );
    });
  });
}
