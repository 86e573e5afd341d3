// launchd implementation of `gangway service`: /Library/LaunchDaemons/dev.gangway.helper.plist.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../../shared/atomic-file';
import { runCommand, type Runner } from '../../shared/exec';
import { HELPER_PROCESS_TYPE } from '../../common/launchd-process-type';
import { xmlEscape } from '../../common/xml-escape';
import {
  daemonArgv,
  serviceEnv,
  ensureLogDir,
  type InstallOptions,
  type InstallResult,
  type ServiceManager,
  type ServiceStatus,
  type UninstallResult,
} from './service-manager';

export const LAUNCHD_LABEL = 'dev.gangway.helper';
const TARGET = `system/${LAUNCHD_LABEL}`;

/** The text of /Library/LaunchDaemons/dev.gangway.helper.plist. Pure. */
export function launchdPlist(o: InstallOptions): string {
  const args = daemonArgv(o)
    .map((a) => `    <string>${xmlEscape(a)}</string>`)
    .join('\n');
  const log = xmlEscape(o.logFile);
  const env = serviceEnv(o);
  const envXml = env.length
    ? `  <key>EnvironmentVariables</key>
  <dict>
${env.map(([k, v]) => `    <key>${xmlEscape(k)}</key>\n    <string>${xmlEscape(v)}</string>`).join('\n')}
  </dict>
`
    : '';
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<!-- Written by gangway service install; gangway service uninstall removes it. -->
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>${LAUNCHD_LABEL}</string>
  <key>ProgramArguments</key>
  <array>
${args}
  </array>
${envXml}  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  <true/>
  <key>ThrottleInterval</key>
  <integer>1</integer>
  <key>ProcessType</key>
  <string>${HELPER_PROCESS_TYPE}</string>
  <key>StandardOutPath</key>
  <string>${log}</string>
  <key>StandardErrorPath</key>
  <string>${log}</string>
</dict>
</plist>
`;
}

export interface DarwinServiceDeps {
  runner?: Runner;
  /** Where the plist goes; /Library/LaunchDaemons. */
  plistDir?: string;
}

export class LaunchdServiceManager implements ServiceManager {
  readonly kind = 'launchd' as const;
  readonly path: string;
  private readonly run: Runner;

  constructor(deps: DarwinServiceDeps = {}) {
    this.run = deps.runner ?? runCommand;
    this.path = join(deps.plistDir ?? '/Library/LaunchDaemons', `${LAUNCHD_LABEL}.plist`);
  }

  private async tryRun(cmd: string, args: string[]): Promise<Error | undefined> {
    try {
      await this.run(cmd, args);
      return undefined;
    } catch (err) {
      return err as Error;
    }
  }

  render(o: InstallOptions): string {
    return launchdPlist(o);
  }

  async install(o: InstallOptions): Promise<InstallResult> {
    const text = launchdPlist(o);
    ensureLogDir(o.logFile);
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o755 });
    await writeFileAtomic(this.path, text, 0o644);
    const warnings: string[] = [];
    // A loaded job keeps its old arguments: unload it first (fails harmlessly when not loaded).
    await this.tryRun('launchctl', ['bootout', TARGET]);
    await this.tryRun('launchctl', ['enable', TARGET]);
    const err = await this.tryRun('launchctl', ['bootstrap', 'system', this.path]);
    if (err) {
      const legacy = await this.tryRun('launchctl', ['load', '-w', this.path]);
      if (legacy) {
        throw new Error(`launchctl could not load ${this.path}: ${err.message}; load -w: ${legacy.message}`);
      }
      warnings.push(`launchctl bootstrap failed (${err.message}); loaded with launchctl load -w instead`);
    }
    return { path: this.path, started: true, warnings };
  }

  async uninstall(): Promise<UninstallResult> {
    const existed = existsSync(this.path);
    const warnings: string[] = [];
    let stopped = (await this.tryRun('launchctl', ['bootout', TARGET])) === undefined;
    if (!stopped && existed) {
      stopped = (await this.tryRun('launchctl', ['unload', '-w', this.path])) === undefined;
    }
    rmSync(this.path, { force: true });
    return { removed: existed ? [this.path] : [], stopped, warnings };
  }

  async status(): Promise<ServiceStatus> {
    const installed = existsSync(this.path);
    const base = { manager: this.kind, path: this.path, installed, managerRunning: true };
    let out: string;
    try {
      out = await this.run('launchctl', ['print', TARGET]);
    } catch {
      return { ...base, running: false, detail: 'not loaded' };
    }
    return { ...base, ...parseLaunchctlPrint(out) };
  }
}

/** Reads `state = running` and `pid = 123` out of `launchctl print system/<label>`. */
export function parseLaunchctlPrint(out: string): { running: boolean; pid?: number; detail: string } {
  const state = /^\s*state = (.+)$/m.exec(out)?.[1]?.trim() ?? 'loaded';
  const pidMatch = /^\s*pid = (\d+)$/m.exec(out);
  const pid = pidMatch ? Number(pidMatch[1]) : undefined;
  return { running: state === 'running', pid, detail: state };
}
