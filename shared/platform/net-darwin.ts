// macOS: ifconfig and route. Kept thin: the logic around it (what to route, conflicts) is shared with Linux
// and tested there; this file is tested on the exact commands it produces.
import type { Runner } from '../exec';
import { CommandError } from '../exec';
import type { HostRoute, NetPlatform, TunAddressing, TunAddressing6, LinkState } from './net-platform';

function inet(cidr: string): '-inet' | '-inet6' {
  return cidr.includes(':') ? '-inet6' : '-inet';
}

export class DarwinNet implements NetPlatform {
  readonly routeMonitor = { cmd: 'route', args: ['-n', 'monitor'] };

  constructor(private readonly run: Runner) {}

  async linkState(device: string): Promise<LinkState> {
    return parseIfconfig(await this.run('ifconfig', [device]));
  }

  async configureTun(device: string, a: TunAddressing): Promise<void> {
    if (a.local.includes(':')) {
      await this.run('ifconfig', [
        device,
        'inet6',
        a.local,
        a.peer,
        'prefixlen',
        '128',
        'mtu',
        String(a.mtu),
        'up',
      ]);
    } else {
      await this.run('ifconfig', [
        device,
        'inet',
        a.local,
        a.peer,
        'netmask',
        '255.255.255.255',
        'mtu',
        String(a.mtu),
        'up',
      ]);
    }
  }

  async configureTun6(device: string, a: TunAddressing6): Promise<void> {
    // The subnet's prefix puts the whole tunnel subnet on the utun, so the agent's address needs no route.
    await this.run('ifconfig', [device, 'inet6', a.local, 'prefixlen', String(a.prefix)]);
  }

  async addRoute(cidr: string, device: string): Promise<void> {
    await this.run('route', ['-q', '-n', 'add', inet(cidr), cidr, '-interface', device]);
  }

  async deleteRoute(cidr: string, device: string): Promise<void> {
    try {
      await this.run('route', ['-q', '-n', 'delete', inet(cidr), cidr, '-interface', device]);
    } catch (err) {
      if (!(err instanceof CommandError && /not in table/.test(err.stderr))) throw err;
    }
  }

  async listRoutes(): Promise<HostRoute[]> {
    const out = await this.run('netstat', ['-rn']);
    return parseNetstat(out);
  }
}

/** Parses `netstat -rn` (both the Internet and Internet6 sections). */
export function parseNetstat(out: string): HostRoute[] {
  const routes: HostRoute[] = [];
  let v6 = false;
  for (const line of out.split('\n')) {
    if (line.startsWith('Internet6')) v6 = true;
    else if (line.startsWith('Internet')) v6 = false;
    const cols = line.trim().split(/\s+/);
    if (cols.length < 4 || cols[0] === 'Destination' || cols[0]?.endsWith(':')) continue;
    const dest = cols[0] ?? '';
    const device = v6 ? (cols[3] ?? '') : (cols[3] ?? '');
    routes.push({ destination: normaliseDarwinDestination(dest, v6), device });
  }
  return routes.filter((r) => r.destination !== '');
}

function normaliseDarwinDestination(dest: string, v6: boolean): string {
  if (dest === 'default') return v6 ? '::/0' : '0.0.0.0/0';
  const noScope = dest.replace(/%[^/]+/, '');
  if (v6) return noScope.includes('/') ? noScope : `${noScope}/128`;
  // netstat abbreviates IPv4 networks: "172.17" = 172.17.0.0/16 and "10/8" = 10.0.0.0/8.
  const [addr = '', len] = noScope.split('/');
  const octets = addr.split('.');
  if (!octets.every((o) => /^\d+$/.test(o))) return '';
  while (octets.length < 4) octets.push('0');
  const prefix = len ?? String(Math.min(32, addr.split('.').length * 8));
  return `${octets.join('.')}/${prefix}`;
}

/** `ifconfig X` output (macOS) -> whether it is up. */
export function parseIfconfig(out: string): LinkState {
  const m = /flags=[0-9a-f]+<([^>]*)>/i.exec(out);
  const flags = m?.[1]?.split(',') ?? [];
  const up = flags.includes('UP');
  return { up, detail: `${up ? 'up' : 'down'} (flags ${flags.join(',') || '-'})` };
}
