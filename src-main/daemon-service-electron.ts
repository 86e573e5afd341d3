// macOS 13+: registers the helper's launchd daemon through SMAppService (Electron's login item settings of
// type daemonService). macOS asks the user to approve it in System Settings › Login Items the first time.
import { execFile } from 'node:child_process';
import { app } from 'electron';
import { signingIdentifier, teamIdentifier } from './codesign-team';
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

/** Who signed the running app, and whether its bundle on disk still matches that signature. */
export interface AppSignature {
  /** From the running process's own signature (`codesign -dv <pid>`): a program of the user's that changes
   *  files in the bundle does not change what this process was started as. Undefined: unsigned or ad hoc. */
  team?: string | undefined;
  identifier?: string | undefined;
  /** `codesign --verify --deep --strict` of the bundle on disk failed: its words. */
  broken?: string | undefined;
}

const run = (args: string[]) =>
  new Promise<{ ok: boolean; stderr: string }>((resolve) =>
    execFile('/usr/bin/codesign', args, (err, _stdout, stderr) =>
      resolve({ ok: !err, stderr: String(stderr) }),
    ),
  );

export async function appSignature(bundle: string): Promise<AppSignature> {
  const shown = await run(['-dv', String(process.pid)]);
  const team = shown.ok ? teamIdentifier(shown.stderr) : undefined;
  if (!team) return {};
  const verified = await run(['--verify', '--deep', '--strict', bundle]);
  return {
    team,
    identifier: signingIdentifier(shown.stderr),
    ...(verified.ok ? {} : { broken: verified.stderr.trim() || 'codesign --verify failed' }),
  };
}
