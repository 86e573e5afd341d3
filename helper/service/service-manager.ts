// `gangway service`: installs the helper daemon as a system service (systemd on Linux, launchd on macOS).
// This file holds the platform-neutral contract and the helpers both implementations share; the generators
// of the unit / plist text are pure functions in service-linux.ts and service-darwin.ts.
import { mkdirSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { BUNDLE_FILES, bundleDir } from '../bundle-dir';
import { defaultConfig } from '../config';

export interface ServiceOwner {
  uid: number;
  gid: number;
  user: string;
}

export interface InstallOptions {
  /** Absolute path of the node binary that runs the daemon (process.execPath's real path). */
  nodePath: string;
  /** Absolute path of the gangway.js the service runs: the root-owned copy (helper-copy.ts). */
  cliPath: string;
  /** The user who installed the service: the control socket is handed to them. */
  owner: ServiceOwner;
  socketPath: string;
  stateDir: string;
  logFile: string;
  /** Further `gangway daemon` arguments, appended as given. */
  extraArgs: string[];
  /**
   * Environment of the service. A packaged app runs the helper with its own Electron binary, which needs
   * ELECTRON_RUN_AS_NODE=1 to behave as Node instead of opening the app.
   */
  env?: Record<string, string>;
}

/** Checks the service's environment: names of letters, digits and _, values without control characters. */
export function serviceEnv(o: InstallOptions): [string, string][] {
  const entries = Object.entries(o.env ?? {});
  for (const [k, v] of entries) {
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(k))
      throw new Error(`invalid environment name ${JSON.stringify(k)}`);
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(v))
      throw new Error(`control characters are not allowed: ${JSON.stringify(v)}`);
  }
  return entries;
}

export interface InstallResult {
  /** The unit / plist file that was written. */
  path: string;
  /** True when the service manager was told to (re)start the service. */
  started: boolean;
  warnings: string[];
}

export interface UninstallResult {
  /** Files that were removed (empty when nothing was installed). */
  removed: string[];
  /** True when the service manager was reached to stop the service. */
  stopped: boolean;
  warnings: string[];
}

export interface ServiceStatus {
  manager: 'systemd' | 'launchd';
  path: string;
  installed: boolean;
  /** Whether the service manager itself is usable on this machine. */
  managerRunning: boolean;
  running: boolean;
  pid?: number;
  /** One-line explanation from the service manager (state, error). */
  detail?: string;
}

export interface ServiceManager {
  readonly kind: 'systemd' | 'launchd';
  /** The file install() writes. */
  readonly path: string;
  /** The text of that file for these options (what --dry-run prints). */
  render(o: InstallOptions): string;
  install(o: InstallOptions): Promise<InstallResult>;
  uninstall(): Promise<UninstallResult>;
  status(): Promise<ServiceStatus>;
}

/** The daemon command line the service runs: argv[0] is the node binary. */
export function daemonArgv(o: InstallOptions): string[] {
  for (const [name, v] of [
    ['nodePath', o.nodePath],
    ['cliPath', o.cliPath],
    ['socketPath', o.socketPath],
    ['stateDir', o.stateDir],
    ['logFile', o.logFile],
  ] as const) {
    if (!v.startsWith('/')) throw new Error(`${name} must be an absolute path: ${JSON.stringify(v)}`);
  }
  for (const a of [o.nodePath, o.cliPath, o.socketPath, o.stateDir, o.logFile, ...o.extraArgs]) {
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(a))
      throw new Error(`control characters are not allowed: ${JSON.stringify(a)}`);
  }
  if (
    !Number.isInteger(o.owner.uid) ||
    o.owner.uid < 0 ||
    !Number.isInteger(o.owner.gid) ||
    o.owner.gid < 0
  ) {
    throw new Error(`invalid owner ${o.owner.uid}:${o.owner.gid}`);
  }
  return [
    o.nodePath,
    o.cliPath,
    'daemon',
    '--socket',
    o.socketPath,
    '--state-dir',
    o.stateDir,
    '--socket-owner',
    `${o.owner.uid}:${o.owner.gid}`,
    // The daemon's own rotated JSON-lines log; the service manager's file (logFile) then only receives
    // what the runtime prints when it crashes, instead of an unrotated copy of every line.
    '--log-file',
    daemonLogFile(o.logFile),
    '--no-stderr-log',
    ...o.extraArgs,
  ];
}

/** The user on whose behalf the service is installed: the sudo caller if any, else the current user. */
export function resolveOwner(env: NodeJS.ProcessEnv = process.env): ServiceOwner {
  const uid = Number(env.SUDO_UID);
  const gid = Number(env.SUDO_GID);
  if (
    env.SUDO_UID &&
    env.SUDO_GID &&
    Number.isInteger(uid) &&
    Number.isInteger(gid) &&
    uid >= 0 &&
    gid >= 0
  ) {
    return { uid, gid, user: env.SUDO_USER || String(uid) };
  }
  const me = userInfo();
  return { uid: me.uid, gid: me.gid, user: me.username };
}

/** The daemon's rotated log, beside the service manager's output file. */
export function daemonLogFile(serviceLogFile: string): string {
  return join(dirname(serviceLogFile), 'gangway.log');
}

export function defaultLogFile(platform: NodeJS.Platform = process.platform): string {
  return platform === 'darwin' ? '/Library/Logs/Gangway/helper.log' : '/var/log/gangway/helper.log';
}

/** InstallOptions for this machine; `overrides` wins. cliPath is the running CLI until the install plan
 *  (install-plan.ts) points it at the root-owned copy. */
export function defaultInstallOptions(
  overrides: Partial<InstallOptions> = {},
  platform: NodeJS.Platform = process.platform,
  env: NodeJS.ProcessEnv = process.env,
): InstallOptions {
  const cfg = defaultConfig(platform);
  return {
    nodePath: process.execPath,
    cliPath: join(bundleDir(), BUNDLE_FILES.cli),
    owner: resolveOwner(env),
    socketPath: cfg.socket,
    stateDir: cfg.stateDir,
    logFile: defaultLogFile(platform),
    extraArgs: [],
    // Under Electron (the packaged app's binary running the CLI), the service must run it the same way.
    ...(process.versions.electron ? { env: { ELECTRON_RUN_AS_NODE: '1' } } : {}),
    ...overrides,
  };
}

/** Creates the log file's directory so systemd's append: / launchd's StandardOutPath can open it. */
export function ensureLogDir(logFile: string): void {
  mkdirSync(dirname(logFile), { recursive: true, mode: 0o755 });
}
