// macOS: ifconfig and route. Kept thin: the logic around it (what to route, conflicts) is shared with Linux
// and tested there; this file is tested on the exact commands it produces.
import type { Runner } from '../exec';
import { formatCidr, parseCidr } from '../../common/cidr';
import type { HostRoute, NetPlatform, TunAddressing, TunAddressing6, LinkState } from './net-platform';

function inet(cidr: string): '-inet' | '-inet6' {
  return cidr.includes(':') ? '-inet6' : '-inet';
}

export class DarwinNet implements NetPlatform {
  // `relevant` is read by helper/platform/route-monitor.ts: the routing socket also carries the LAN's
  // neighbour cache, which changes all the time on a busy network and never changes the plan.
  readonly routeMonitor = { cmd: 'route', args: ['-n', 'monitor'], relevant: monitorLineWantsReplan };

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
    const reply = await this.changeRoute('add', cidr, device);
    if (reply?.ok) return;
    // Already on our own device (added before the reconciler that asks knew of it): what was wanted. With no
    // report at all (a route(8) that prints otherwise), the table itself says whether the route is there.
    if ((reply === undefined || reply.error === 'File exists') && (await this.onDevice(cidr, device))) return;
    throw new Error(
      `macOS refused to add the route ${cidr} via ${device}: ${reply?.error ?? 'route printed no result, and the route is not in the table'}`,
    );
  }

  async deleteRoute(cidr: string, device: string): Promise<void> {
    // route delete finds the route by destination and mask; whether xnu also matches `-interface` is not
    // known here, so a route of another device's (a VPN's, added after ours went) is left alone by looking.
    if (!(await this.onDevice(cidr, device))) return;
    const reply = await this.changeRoute('delete', cidr, device);
    if (reply?.ok || reply?.error === 'not in table') return;
    if (reply === undefined && !(await this.onDevice(cidr, device))) return;
    throw new Error(
      `macOS refused to delete the route ${cidr} via ${device}: ${reply?.error ?? 'route printed no result, and the route is still in the table'}`,
    );
  }

  /**
   * Runs `route add|delete` and returns what it reported: the kernel took the change, or its refusal;
   * undefined when it printed no line for this route. route exits 0 either way and says which on stdout.
   * Without -q: route(8) says it suppresses all output, and a route that did so would leave nothing to tell
   * success from failure.
   */
  private async changeRoute(
    verb: 'add' | 'delete',
    cidr: string,
    device: string,
  ): Promise<{ ok: true } | { ok: false; error: string } | undefined> {
    const out = await this.run('route', ['-n', verb, inet(cidr), cidr, '-interface', device]);
    return parseRouteReply(out, verb, cidr, device);
  }

  private async onDevice(cidr: string, device: string): Promise<boolean> {
    const want = parseCidr(cidr);
    if (!want) return false;
    const key = formatCidr(want);
    return (await this.listRoutes()).some((r) => {
      const c = r.device === device ? parseCidr(r.destination) : undefined;
      return !!c && formatCidr(c) === key;
    });
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
  // netstat (netname(), domask() in its route.c) prints an IPv4 network's address without its trailing zero
  // octets, and its mask only when it differs from the address's classful mask: "10" = 10.0.0.0/8,
  // "172.17" = 172.17.0.0/16, "192.168.1" = 192.168.1.0/24, but "10.5/16", "128.0/1", "224.0.0/4". With no
  // mask printed, the octets printed (whole ones, down to the class's) are that classful mask.
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

/**
 * What `route -n add|delete` printed about one route, from newroute() in route.c: "add net 10.5.0.0/16:
 * gateway utun5" on success, the same followed by ": " and the kernel's error (strerror, or "not in table"
 * for ESRCH) when the kernel refused; "host" instead of "net" for a /128. Undefined when there is no line for
 * this route (another program in the PATH, or a route that prints something else).
 */
export function parseRouteReply(
  out: string,
  verb: 'add' | 'delete',
  cidr: string,
  device: string,
): { ok: true } | { ok: false; error: string } | undefined {
  for (const line of out.split('\n')) {
    for (const kind of ['net', 'host']) {
      const head = `${verb} ${kind} ${cidr}: gateway ${device}`;
      if (!line.startsWith(head)) continue;
      const rest = line.slice(head.length).trimEnd();
      if (rest.startsWith(': ')) return { ok: false, error: rest.slice(2) };
      // A gateway given by name may be followed by the address it resolved to, " (1.2.3.4)": still success.
      if (rest === '' || rest.startsWith(' (')) return { ok: true };
    }
  }
  return undefined;
}

/** Route messages that change the routing table as netstat shows it. */
const ROUTE_CHANGES = new Set([
  'RTM_ADD',
  'RTM_DELETE',
  'RTM_CHANGE',
  'RTM_REDIRECT',
  'RTM_OLDADD',
  'RTM_OLDDEL',
]);
/** An interface gaining or losing an address: how a LAN or VPN interface comes and goes with its routes. */
const ADDRESS_CHANGES = new Set(['RTM_NEWADDR', 'RTM_DELADDR']);

/**
 * Whether one line of `route -n monitor` can change the route plan. print_rtmsg() in route.c starts each
 * message with a line "RTM_ADD: Add Route: len 156, pid: 0, seq 0, errno 0, ifscope 6, flags:<UP,HOST,...>",
 * the type first and, for route messages, the route's flags last; the lines after it (locks, sockaddrs, the
 * addresses) are not needed. The planner reads only destinations and devices from `netstat -rn`, so:
 * - route additions, deletions and changes count, except those of LLINFO (ARP/ND neighbour entries) and
 *   WASCLONED routes (cloned host routes). The kernel clones a route inside its parent and on its parent's
 *   interface, and deletes the clones with the parent, so a clone never decides a conflict the parent did not
 *   already decide; and on a busy LAN they come and go all the time;
 * - address additions and removals count: they are rare, and how an interface's routes come and go;
 * - lookups (RTM_MISS, RTM_RESOLVE, RTM_GET answers to other programs), RTM_LOSING, RTM_LOCK, interface flag
 *   changes (RTM_IFINFO: a route stays in the table while its interface is down, and some interfaces toggle
 *   their promiscuous flag every few seconds) and multicast memberships do not.
 */
export function monitorLineWantsReplan(line: string): boolean {
  const type = /^(RTM_[A-Z0-9]+):/.exec(line)?.[1];
  if (!type) return false;
  if (ADDRESS_CHANGES.has(type)) return true;
  if (!ROUTE_CHANGES.has(type)) return false;
  const flags = /flags:<([^>]*)>/.exec(line)?.[1]?.split(',') ?? [];
  return !flags.includes('LLINFO') && !flags.includes('WASCLONED');
}
