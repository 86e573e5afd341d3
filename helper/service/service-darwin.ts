// launchd implementation of `gangway service`: /Library/LaunchDaemons/dev.gangway.helper.plist.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { writeFileAtomic } from '../../shared/atomic-file';
import { CommandError, runCommand, type Runner } from '../../shared/exec';
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

// launchctl bootout returns before launchd has let go of the label; a bootstrap meanwhile fails with
// "Bootstrap failed: 5: Input/output error". Measured at about 5 s on macOS 26 (headroomlabs-ai/headroom#1289),
// so the install waits for the label to go, then retries the bootstrap, each for a bounded time.
export const UNLOAD_WAIT_MS = 10_000;
export const UNLOAD_POLL_MS = 250;
export const BOOTSTRAP_RETRY_MS = 15_000;
export const BOOTSTRAP_RETRY_INTERVAL_MS = 500;

export interface DarwinServiceDeps {
  runner?: Runner;
  /** Where the plist goes; /Library/LaunchDaemons. */
  plistDir?: string;
  /** The clock and the pause between launchctl polls (tests: a fake clock, so no test waits for real). */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Says what install() is waiting for; only printed when launchd makes it wait. Default: stderr. */
  progress?: (line: string) => void;
}

/** "exit 5: Bootstrap failed: 5: Input/output error": launchctl's exit status and its own words. */
function launchctlFailure(err: Error): string {
  if (!(err instanceof CommandError)) return err.message;
  const said = err.stderr.trim().replace(/\s*\n\s*/g, '; ');
  return `exit ${String(err.exitCode)}${said ? `: ${said}` : ''}`;
}

export class LaunchdServiceManager implements ServiceManager {
  readonly kind = 'launchd' as const;
  readonly path: string;
  private readonly run: Runner;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly progress: (line: string) => void;

  constructor(deps: DarwinServiceDeps = {}) {
    this.run = deps.runner ?? runCommand;
    this.path = join(deps.plistDir ?? '/Library/LaunchDaemons', `${LAUNCHD_LABEL}.plist`);
    this.now = deps.now ?? Date.now;
    this.sleep = deps.sleep ?? ((ms) => delay(ms));
    this.progress = deps.progress ?? ((line) => void process.stderr.write(`${line}\n`));
  }

  private async tryRun(cmd: string, args: string[]): Promise<Error | undefined> {
    try {
      await this.run(cmd, args);
      return undefined;
    } catch (err) {
      return err as Error;
    }
  }

  /** Whether launchd still has the job: `launchctl print` fails once it does not. */
  private async loaded(): Promise<boolean> {
    return (await this.tryRun('launchctl', ['print', TARGET])) === undefined;
  }

  /** Polls until launchd has dropped the label; false when it still has it after UNLOAD_WAIT_MS. */
  private async waitUntilUnloaded(): Promise<boolean> {
    const deadline = this.now() + UNLOAD_WAIT_MS;
    for (let polls = 0; ; polls++) {
      if (!(await this.loaded())) return true;
      if (this.now() >= deadline) return false;
      if (polls === 0) this.progress(`waiting for launchd to finish removing ${TARGET}…`);
      await this.sleep(UNLOAD_POLL_MS);
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
    const unloaded = await this.waitUntilUnloaded();
    if (!unloaded)
      this.progress(
        `launchd still has ${TARGET} ${UNLOAD_WAIT_MS / 1000} s after launchctl bootout; trying anyway`,
      );
    await this.tryRun('launchctl', ['enable', TARGET]);
    // No `launchctl load -w` fallback: load is the legacy form of the same request (its failure says "Try
    // running `launchctl bootstrap`"), so it fails whenever bootstrap does, and it exits 0 after printing
    // "Load failed" (danielmiessler/LifeOS#2068), which would report a helper that never loaded as started.
    const bootstrap = ['bootstrap', 'system', this.path];
    const deadline = this.now() + BOOTSTRAP_RETRY_MS;
    for (let attempt = 1; ; attempt++) {
      const err = await this.tryRun('launchctl', bootstrap);
      if (!err) break;
      if (this.now() + BOOTSTRAP_RETRY_INTERVAL_MS > deadline) {
        const still = unloaded ? '' : `; launchd still had ${TARGET} after launchctl bootout`;
        throw new Error(
          `launchctl ${bootstrap.join(' ')} failed (${launchctlFailure(err)}), ${attempt} attempts in ${BOOTSTRAP_RETRY_MS / 1000} s${still}`,
        );
      }
      if (attempt === 1)
        this.progress(
          `launchctl bootstrap failed (${launchctlFailure(err)}); retrying for up to ${BOOTSTRAP_RETRY_MS / 1000} s…`,
        );
      await this.sleep(BOOTSTRAP_RETRY_INTERVAL_MS);
    }
    return { path: this.path, started: true, warnings };
  }

  async uninstall(): Promise<UninstallResult> {
    const existed = existsSync(this.path);
    const warnings: string[] = [];
    // No `launchctl unload -w` fallback, for the reasons install() has none; -w would also leave the label
    // disabled in launchd's overrides.
    const err = await this.tryRun('launchctl', ['bootout', TARGET]);
    const stopped = err === undefined;
    if (stopped) {
      // The caller next removes what a stopped daemon leaves behind: wait until it really is gone.
      if (!(await this.waitUntilUnloaded()))
        warnings.push(`launchd still has ${TARGET} ${UNLOAD_WAIT_MS / 1000} s after launchctl bootout`);
    } else if (await this.loaded()) {
      warnings.push(
        `launchctl bootout ${TARGET} failed (${launchctlFailure(err)}); the helper may still run`,
      );
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
