// systemd implementation of `gangway service`: /etc/systemd/system/gangway.service.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../../shared/atomic-file';
import { runCommand, type Runner } from '../../shared/exec';
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

export const SYSTEMD_UNIT_NAME = 'gangway.service';

/**
 * Quotes one word of an ExecStart= line. systemd splits on whitespace, honours "..." with C-style escapes,
 * expands %-specifiers everywhere and $VAR / ${VAR} in arguments, so: wrap in double quotes, escape \ and ",
 * double % and $.
 */
export function systemdQuote(arg: string): string {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(arg))
    throw new Error(`control characters are not allowed: ${JSON.stringify(arg)}`);
  const body = arg.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/%/g, '%%').replace(/\$/g, '$$$$');
  return `"${body}"`;
}

/** A path in a setting that expands %-specifiers but does no unquoting (StandardOutput=append:...). */
export function systemdPathValue(path: string): string {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(path))
    throw new Error(`control characters are not allowed: ${JSON.stringify(path)}`);
  return path.replace(/%/g, '%%');
}

/** The text of /etc/systemd/system/gangway.service. Pure. */
export function systemdUnit(o: InstallOptions): string {
  const exec = daemonArgv(o).map(systemdQuote).join(' ');
  const log = systemdPathValue(o.logFile);
  return [
    '# Written by `gangway service install`; `gangway service uninstall` removes it.',
    '[Unit]',
    'Description=Gangway helper (reach Docker containers by IP and name)',
    'Documentation=https://github.com/gangway/gangway',
    'After=network-online.target docker.service',
    'Wants=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    ...serviceEnv(o).map(([k, v]) => `Environment=${systemdQuote(`${k}=${v}`)}`),
    `ExecStart=${exec}`,
    'Restart=always',
    'RestartSec=1',
    'TimeoutStopSec=15',
    `StandardOutput=append:${log}`,
    `StandardError=append:${log}`,
    // Runs as root: it needs CAP_NET_ADMIN, /dev/net/tun, routes, iptables and the Docker socket. The
    // hardening below takes nothing of that away. It runs the root-owned copy of the helper (and builds the
    // agent image from it), never files under /home. No ProtectSystem: it may have to edit /etc (DNS).
    'NoNewPrivileges=yes',
    'PrivateTmp=yes',
    'ProtectControlGroups=yes',
    'RestrictSUIDSGID=yes',
    'LockPersonality=yes',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

export interface LinuxServiceDeps {
  runner?: Runner;
  /** Where unit files go; /etc/systemd/system. */
  unitDir?: string;
  /** Exists when systemd is PID 1; /run/systemd/system. */
  systemdRuntimeDir?: string;
}

export class SystemdServiceManager implements ServiceManager {
  readonly kind = 'systemd' as const;
  readonly path: string;
  private readonly run: Runner;
  private readonly runtimeDir: string;

  constructor(deps: LinuxServiceDeps = {}) {
    this.run = deps.runner ?? runCommand;
    this.path = join(deps.unitDir ?? '/etc/systemd/system', SYSTEMD_UNIT_NAME);
    this.runtimeDir = deps.systemdRuntimeDir ?? '/run/systemd/system';
  }

  private systemdRunning(): boolean {
    return existsSync(this.runtimeDir);
  }

  render(o: InstallOptions): string {
    return systemdUnit(o);
  }

  async install(o: InstallOptions): Promise<InstallResult> {
    const text = systemdUnit(o);
    ensureLogDir(o.logFile);
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o755 });
    await writeFileAtomic(this.path, text, 0o644);
    if (!this.systemdRunning()) {
      return {
        path: this.path,
        started: false,
        warnings: [
          `systemd is not running on this machine; the unit was written to ${this.path} but not started`,
        ],
      };
    }
    await this.run('systemctl', ['daemon-reload']);
    await this.run('systemctl', ['enable', SYSTEMD_UNIT_NAME]);
    // restart, not start: a reinstall must pick up the new ExecStart.
    await this.run('systemctl', ['restart', SYSTEMD_UNIT_NAME]);
    return { path: this.path, started: true, warnings: [] };
  }

  async uninstall(): Promise<UninstallResult> {
    const warnings: string[] = [];
    const existed = existsSync(this.path);
    let stopped = false;
    const running = this.systemdRunning();
    if (running) {
      try {
        await this.run('systemctl', ['disable', '--now', SYSTEMD_UNIT_NAME]);
        stopped = true;
      } catch (err) {
        if (existed) warnings.push(`could not stop ${SYSTEMD_UNIT_NAME}: ${(err as Error).message}`);
      }
    }
    rmSync(this.path, { force: true });
    if (running && existed) {
      try {
        await this.run('systemctl', ['daemon-reload']);
      } catch (err) {
        warnings.push(`systemctl daemon-reload failed: ${(err as Error).message}`);
      }
    }
    if (!running && existed)
      warnings.push('systemd is not running on this machine; only the unit file was removed');
    return { removed: existed ? [this.path] : [], stopped, warnings };
  }

  async status(): Promise<ServiceStatus> {
    const installed = existsSync(this.path);
    const base = { manager: this.kind, path: this.path, installed };
    if (!this.systemdRunning()) {
      return {
        ...base,
        managerRunning: false,
        running: false,
        detail: 'systemd is not running on this machine',
      };
    }
    let state: string;
    try {
      state = (await this.run('systemctl', ['is-active', SYSTEMD_UNIT_NAME])).trim();
    } catch {
      // is-active exits non-zero for anything but "active"; runCommand keeps only stderr.
      state = 'inactive';
    }
    let pid: number | undefined;
    if (state === 'active') {
      try {
        const out = await this.run('systemctl', ['show', '--property=MainPID', '--value', SYSTEMD_UNIT_NAME]);
        const n = Number(out.trim());
        if (Number.isInteger(n) && n > 0) pid = n;
      } catch {
        // pid is optional
      }
    }
    return { ...base, managerRunning: true, running: state === 'active', pid, detail: state };
  }
}
