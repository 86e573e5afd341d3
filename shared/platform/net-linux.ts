// Linux: iproute2. Routes are bound to the TUN device, so the kernel removes them when the device goes away
// (the helper exits or is killed), and no stale route can outlive the tunnel.
import type { Runner } from '../exec';
import { CommandError } from '../exec';
import type { HostRoute, LinkState, NetPlatform, TunAddressing, TunAddressing6 } from './net-platform';

function family(cidr: string): '-4' | '-6' {
  return cidr.includes(':') ? '-6' : '-4';
}

/** Route types that hold their destination (`local`, `broadcast`, `multicast` and `anycast` are the kernel's). */
const ROUTE_TYPES_HELD = new Set(['unicast', 'blackhole', 'unreachable', 'prohibit', 'throw']);

export class LinuxNet implements NetPlatform {
  readonly routeMonitor = { cmd: 'ip', args: ['monitor', 'route'] };

  constructor(private readonly run: Runner) {}

  async configureTun(device: string, a: TunAddressing): Promise<void> {
    // A re-addressed tunnel (settings changed) must not keep its old address and peer route beside the new.
    await this.run('ip', [family(a.local), 'addr', 'flush', 'dev', device]);
    await this.run('ip', [family(a.local), 'addr', 'replace', a.local, 'peer', a.peer, 'dev', device]);
    await this.quietIpv6Link(device);
    await this.run('ip', ['link', 'set', 'dev', device, 'mtu', String(a.mtu), 'up']);
  }

  /**
   * Before link-up: no IPv6 link-local address on the TUN. Without one the kernel sends it no router
   * solicitations (three at link-up, then at doubling intervals up to an hour), each of which woke both
   * pumps only to be dropped (`dropRouterSolicit`). Nothing on a point-to-point tunnel uses the link-local
   * address: the IPv6 tunnel addresses are global and routes name the device. A kernel without IPv6
   * (`ipv6.disable=1`) refuses the setting, and then has no solicitations to stop.
   */
  private async quietIpv6Link(device: string): Promise<void> {
    try {
      await this.run('ip', ['link', 'set', 'dev', device, 'addrgenmode', 'none']);
    } catch (err) {
      if (!(err instanceof CommandError)) throw err;
    }
  }

  async configureTun6(device: string, a: TunAddressing6): Promise<void> {
    // nodad: usable at once (duplicate address detection on a point-to-point tunnel only delays it).
    await this.run('ip', ['-6', 'addr', 'flush', 'dev', device, 'scope', 'global']);
    await this.run('ip', ['-6', 'addr', 'replace', `${a.local}/${a.prefix}`, 'dev', device, 'nodad']);
  }

  async linkState(device: string): Promise<LinkState> {
    return parseIpLink(await this.run('ip', ['-j', 'link', 'show', 'dev', device]));
  }

  async addRoute(cidr: string, device: string): Promise<void> {
    await this.run('ip', [family(cidr), 'route', 'replace', cidr, 'dev', device]);
  }

  async deleteRoute(cidr: string, device: string): Promise<void> {
    try {
      await this.run('ip', [family(cidr), 'route', 'del', cidr, 'dev', device]);
    } catch (err) {
      // Already gone (e.g. the device was deleted): that is the state we wanted.
      if (!(
        err instanceof CommandError && /No such process|Cannot find device|No such device/.test(err.stderr)
      ))
        throw err;
    }
  }

  async listRoutes(): Promise<HostRoute[]> {
    const routes: HostRoute[] = [];
    for (const fam of ['-4', '-6'] as const) {
      const out = await this.run('ip', ['-j', fam, 'route', 'show', 'table', 'all']);
      const parsed = JSON.parse(out || '[]') as {
        dst?: string;
        dev?: string;
        type?: string;
        table?: string;
      }[];
      for (const r of parsed) {
        if (!r.dst || r.table === 'local' || (r.type && !ROUTE_TYPES_HELD.has(r.type))) continue;
        const destination =
          r.dst === 'default'
            ? fam === '-4'
              ? '0.0.0.0/0'
              : '::/0'
            : r.dst.includes('/')
              ? r.dst
              : `${r.dst}/${fam === '-4' ? 32 : 128}`;
        // A blackhole (say, a VPN's kill switch) has no device: its type names it, and it conflicts as any
        // other route does rather than being overwritten by `ip route replace`.
        routes.push({ destination, device: r.dev ?? (r.type && r.type !== 'unicast' ? r.type : '') });
      }
    }
    return routes;
  }
}

/** `ip -j link show dev X` output -> whether it is up. */
export function parseIpLink(json: string): LinkState {
  const links = JSON.parse(json || '[]') as { flags?: string[]; operstate?: string }[];
  const l = links[0];
  if (!l) return { up: false, detail: 'no such device' };
  const flags = l.flags ?? [];
  const up = flags.includes('UP');
  return {
    up,
    detail: `${up ? 'up' : 'down'} (flags ${flags.join(',') || '-'}, operstate ${l.operstate ?? '?'})`,
  };
}
