// Linux: systemd-resolved's per-link DNS. The TUN link gets our server and the routing-only domain
// ~<suffix>, so resolved sends names under the suffix there and nothing else. Without resolved there is no
// safe per-domain mechanism: /etc/resolv.conf is never touched (it belongs to the user or another tool).
import { existsSync, readlinkSync } from 'node:fs';
import { runCommand, type Runner } from '../../shared/exec';
import type { OsResolver, RegisterResult, ResolverTarget } from './resolver';

export const RESOLVED_RUNTIME_DIR = '/run/systemd/resolve';

/** The resolvectl calls that register `t`, in order. */
export function resolvectlRegisterArgs(t: ResolverTarget): string[][] {
  // ADDR:PORT needs systemd 246+; a plain address for port 53 works everywhere.
  const server =
    t.port === 53
      ? t.address
      : t.address.includes(':')
        ? `[${t.address}]:${t.port}`
        : `${t.address}:${t.port}`;
  return [
    ['dns', t.device, server],
    ['domain', t.device, `~${t.suffix}`],
    ['default-route', t.device, 'false'],
  ];
}

export function resolvectlRevertArgs(device: string): string[] {
  return ['revert', device];
}

/**
 * Whether this process shares the network namespace of PID 1, where systemd-resolved runs. resolvectl names
 * a link by its index in *our* namespace, so from any other namespace it would configure an unrelated link
 * of the system's.
 */
export function inInitNetns(): boolean {
  try {
    return readlinkSync('/proc/self/ns/net') === readlinkSync('/proc/1/ns/net');
  } catch {
    return false;
  }
}

export class LinuxResolver implements OsResolver {
  private device: string | undefined;

  constructor(
    private readonly run: Runner = runCommand,
    private readonly resolvedRuns: () => boolean = () => existsSync(RESOLVED_RUNTIME_DIR),
    private readonly sameNetns: () => boolean = inInitNetns,
  ) {}

  async register(t: ResolverTarget): Promise<RegisterResult> {
    if (!this.resolvedRuns())
      return {
        where: null,
        hint: `systemd-resolved is not running; query ${t.address} port ${t.port} directly, or point your resolver's "${t.suffix}" domain at it (e.g. dnsmasq: server=/${t.suffix}/${t.address}#${t.port})`,
      };
    if (!this.sameNetns())
      return {
        where: null,
        hint: `the daemon runs in another network namespace than systemd-resolved; query ${t.address} port ${t.port} directly`,
      };
    if (this.device && this.device !== t.device) await this.unregister();
    const [dns, domain, defaultRoute] = resolvectlRegisterArgs(t);
    await this.run('resolvectl', dns!);
    this.device = t.device;
    await this.run('resolvectl', domain!);
    // Older resolved has no default-route verb; the routing-only domain already keeps other names away.
    await this.run('resolvectl', defaultRoute!).catch(() => undefined);
    return { where: `systemd-resolved link ${t.device} (~${t.suffix})` };
  }

  async unregister(): Promise<void> {
    const device = this.device;
    this.device = undefined;
    if (device) await this.run('resolvectl', resolvectlRevertArgs(device));
  }
}
