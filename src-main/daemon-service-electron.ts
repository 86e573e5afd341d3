// macOS 13+: registers the helper's launchd daemon through SMAppService (Electron's login item settings of
// type daemonService). macOS asks the user to approve it in System Settings › Login Items the first time.
import { execFile } from 'node:child_process';
import { app } from 'electron';
import { signingIdentifier, teamIdentifier } from './codesign-team';
import type { SignatureSeen } from './release-signer';
import { registerService, unregisterService, type DaemonServiceStatus, type SmCalls } from './sm-register';

export type { DaemonServiceStatus } from './sm-register';

function smCalls(serviceName: string): SmCalls {
  const set = (openAtLogin: boolean) =>
    app.setLoginItemSettings({ openAtLogin, type: 'daemonService', serviceName });
  return {
    register: () => set(true),
    unregister: () => set(false),
    status: () => app.getLoginItemSettings({ type: 'daemonService', serviceName }).status,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    now: Date.now,
  };
}

/** Registers the daemon (again, for an update: launchd then starts the new bundle's helper); sm-register.ts
 *  waits for an unregister to finish and retries a register that did not take. */
export function registerDaemonService(serviceName: string, update: boolean): Promise<DaemonServiceStatus> {
  return registerService(smCalls(serviceName), update);
}

/** The SMAppService helper's uninstall: no password; launchd stops it (its stop removes its DNS entry). */
export function unregisterDaemonService(serviceName: string): Promise<DaemonServiceStatus> {
  return unregisterService(smCalls(serviceName));
}

/** Whether the SMAppService job is registered (enabled, or waiting for the user's approval). */
export function daemonServiceRegistered(serviceName: string): boolean {
  const status = app.getLoginItemSettings({ type: 'daemonService', serviceName }).status;
  return status === 'enabled' || status === 'requires-approval';
}

const codesign = (args: string[]) =>
  new Promise<{ ok: boolean; stderr: string }>((resolve) =>
    execFile('/usr/bin/codesign', args, (err, _stdout, stderr) =>
      resolve({ ok: !err, stderr: String(stderr) }),
    ),
  );

/** What codesign says of the running app: the signer of the executable it was started from
 *  (`codesign -dv <pid>`), and whether the bundle on disk still verifies. Judged against the release's own
 *  expectation in release-signer.ts. */
export async function appSignature(bundle: string): Promise<SignatureSeen> {
  const shown = await codesign(['-dv', String(process.pid)]);
  const team = shown.ok ? teamIdentifier(shown.stderr) : undefined;
  const identifier = shown.ok ? signingIdentifier(shown.stderr) : undefined;
  // Nothing to verify against without a developer's signature (judgeSignature decides what that means).
  if (!team) return { team, identifier };
  const verified = await codesign(['--verify', '--deep', '--strict', bundle]);
  return {
    team,
    identifier,
    ...(verified.ok ? {} : { broken: verified.stderr.trim() || 'codesign --verify failed' }),
  };
}
