// macOS 13+: registers the helper's launchd daemon through SMAppService (Electron's login item settings of
// type daemonService). macOS asks the user to approve it in System Settings › Login Items the first time.
import { execFile } from 'node:child_process';
import { app } from 'electron';
import { teamIdentifier } from './codesign-team';

export type DaemonServiceStatus = 'not-registered' | 'enabled' | 'requires-approval' | 'not-found';

/** Registers the daemon (again, for an update: launchd then starts the new bundle's helper). */
export function registerDaemonService(serviceName: string, update: boolean): DaemonServiceStatus {
  if (update) app.setLoginItemSettings({ openAtLogin: false, type: 'daemonService', serviceName });
  app.setLoginItemSettings({ openAtLogin: true, type: 'daemonService', serviceName });
  return app.getLoginItemSettings({ type: 'daemonService', serviceName }).status;
}

/** Whether codesign accepts the bundle and a developer signed it (a development build is unsigned or ad hoc). */
export function bundleIsSigned(bundle: string): Promise<boolean> {
  return new Promise((resolve) => {
    execFile('/usr/bin/codesign', ['--verify', '--strict', bundle], (err) => {
      if (err) return resolve(false);
      execFile('/usr/bin/codesign', ['-dv', bundle], (err2, _stdout, stderr) =>
        resolve(!err2 && teamIdentifier(String(stderr)) !== undefined),
      );
    });
  });
}
