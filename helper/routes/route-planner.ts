// Which container subnets to route into the tunnel, decided from Docker's networks, the user's settings and
// the host's routing table. Pure: no I/O, so every conflict rule is unit-tested.
//
// The one rule behind all the others: a route through the TUN must never take addresses away from another
// device. A subnet that overlaps a host route on another device (LAN, VPN; equal, more or less specific) is
// not routed and the conflict is reported on its network. Default routes are the exception: our more
// specific route only wins for the container subnet itself, which the default route could not reach anyway.
// A full-tunnel VPN's two halves of the default route count as default routes (isDefaultLike).
import { formatCidr, overlaps, parseCidr, type Cidr } from '../../common/cidr';
import { isPrivateSubnet } from '../../common/private-ranges';
import type { HostRoute } from '../../shared/platform/net-platform';

export interface RouteSettings {
  /** Whether a network without its own entry is routed. */
  routeNewNetworks: boolean;
  /**
   * Per network NAME (names survive `docker compose down/up`, ids do not). allowPublic: the user explicitly
   * allowed its public subnets (gangway route NET on --allow-public).
   */
  networks: Record<string, { routed: boolean; allowPublic?: boolean }>;
}

export interface PlannedNetwork {
  id: string;
  name: string;
  subnets: string[];
}

export interface PlanInput {
  networks: PlannedNetwork[];
  settings: RouteSettings;
  /** The tunnel's own addresses (DaemonConfig.tunnelSubnet). */
  tunnelSubnet: string;
  /** The tunnel's IPv6 addresses, while IPv6 is on. */
  tunnelSubnet6?: string | null;
  /** Why IPv6 is off (IPv6 subnets are then not routed, for this reason); null or absent while it is on. */
  ipv6Off?: string | null;
  /** The TUN device: routes on it are ours and never conflicts. */
  device: string;
  /** NetPlatform.listRoutes(), read just before planning. */
  hostRoutes: HostRoute[];
  /** Subnets routed regardless of Docker (the daemon's --route), under the same conflict rules. */
  staticRoutes?: string[];
}

export interface SubnetPlan {
  cidr: string;
  routed: boolean;
  conflict?: string;
  /** Outside the private and reserved ranges: routed only when the user allowed it explicitly. */
  public?: true;
}

export interface NetworkPlan {
  id: string;
  name: string;
  /** The user's choice (or the default for new networks). */
  wanted: boolean;
  /** Wanted and at least one subnet routed. */
  routed: boolean;
  /** Why some or all of its subnets cannot be routed; set whether or not the network is wanted. */
  conflict?: string;
  /** Its subnets that hold public addresses (never routed automatically). */
  publicSubnets: string[];
  /** The user explicitly allowed routing them. */
  allowPublic: boolean;
  subnets: SubnetPlan[];
}

export interface RoutePlan {
  /** Routes that should be on the TUN: normalised, unique, IPv4 first. */
  routes: string[];
  networks: NetworkPlan[];
  static: SubnetPlan[];
}

/** Ranges that are never routed anywhere but where the OS puts them. */
const RESERVED: [string, string][] = [
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'],
  ['224.0.0.0/4', 'multicast'],
  ['255.255.255.255/32', 'broadcast'],
  ['::1/128', 'loopback'],
  ['fe80::/10', 'link-local'],
  ['ff00::/8', 'multicast'],
];
const RESERVED_CIDRS = RESERVED.map(([c, what]) => ({ cidr: parseCidr(c)!, what }));

/** Whether the user explicitly allowed a network's public subnets to be routed. */
export function isPublicAllowed(settings: RouteSettings, name: string): boolean {
  return Object.hasOwn(settings.networks, name) && settings.networks[name]!.allowPublic === true;
}

/** Whether a subnet holds public addresses: neither private nor one of the ranges that are never routed. */
export function isPublicSubnet(cidr: string): boolean {
  const c = parseCidr(cidr);
  return !!c && c.prefix > 0 && !isPrivateSubnet(c) && !RESERVED_CIDRS.some((r) => overlaps(r.cidr, c));
}

/**
 * Why turning a network on needs the user's explicit word, or undefined when it does not: a network with
 * public addresses is routed only with allowPublic (the CLI's --allow-public, the window's confirmation).
 */
export function publicRouteRefusal(
  network: { name: string; subnets: readonly string[] },
  routed: boolean,
  allowPublic: boolean,
): string | undefined {
  const pub = network.subnets.filter(isPublicSubnet);
  if (!routed || allowPublic || pub.length === 0) return undefined;
  return `network "${network.name}" holds public addresses (${pub.join(', ')}): routing it sends the host's traffic for them into Docker's VM, so it is not routed automatically; to route it anyway: gangway route ${network.name} on --allow-public`;
}

/**
 * Wider than any network Docker (or Podman) makes from its own address pools (/16 at most for IPv4; IPv6
 * networks are /64s, a /48 at the widest by hand). Such a subnet was chosen by hand, perhaps in a compose
 * file cloned from elsewhere, and routing it would take the host's traffic for the whole range (a 10/8
 * intranet reached through the default gateway) into Docker's VM.
 */
export function isBroadSubnet(cidr: string): boolean {
  const c = parseCidr(cidr);
  return !!c && c.prefix > 0 && c.prefix < (c.family === 4 ? 16 : 48);
}

/**
 * Whether the user wants a network routed: its own setting, else the default for new networks, which a
 * network with a broad subnet (isBroadSubnet) does not get: it waits for the user's word.
 */
export function isNetworkWanted(
  settings: RouteSettings,
  name: string,
  subnets: readonly string[] = [],
): boolean {
  // Own properties only: a network may well be called "constructor".
  if (Object.hasOwn(settings.networks, name)) return settings.networks[name]!.routed;
  return settings.routeNewNetworks && !subnets.some(isBroadSubnet);
}

/** Why a network is not routed by default for its broad subnets, or undefined (chosen, or none broad). */
function broadWaitsForUser(settings: RouteSettings, n: PlannedNetwork): string | undefined {
  const broad = n.subnets.filter(isBroadSubnet);
  if (broad.length === 0 || Object.hasOwn(settings.networks, n.name) || !settings.routeNewNetworks)
    return undefined;
  return `${broad.join(', ')} is wider than any network Docker makes by itself, so routing it would take the host's traffic for the whole range: not routed until you turn it on (gangway route ${n.name} on)`;
}

/**
 * A default route, or one of the two halves a full-tunnel VPN installs to override the default route without
 * replacing it (wg-quick on macOS, OpenVPN's def1, Tunnelblick: 0.0.0.0/1 + 128.0.0.0/1, ::/1 + 8000::/1).
 * Such a route overlaps every subnet, yet a more specific route for a container subnet takes from it only
 * what it could not reach anyway, exactly as from the default route it stands in for.
 */
function isDefaultLike(c: Cidr): boolean {
  return c.prefix <= 1;
}

interface ParsedRoute {
  cidr: Cidr;
  text: string;
  device: string;
}

function describeOverlap(subnet: Cidr, r: ParsedRoute): string {
  const dev = r.device || 'an unknown device';
  if (r.cidr.prefix === subnet.prefix) return `the host already routes ${r.text} via ${dev}`;
  if (r.cidr.prefix > subnet.prefix) return `the host route ${r.text} via ${dev} lies inside it`;
  return `it lies inside the host route ${r.text} via ${dev}, and routing it would take those addresses from ${dev}`;
}

/** Why `cidr` must not be routed through `device`, or undefined when it may. */
function findConflict(
  cidr: string,
  ctx: {
    tunnelSubnets: Cidr[];
    ipv6Off: string | null | undefined;
    device: string;
    hostRoutes: ParsedRoute[];
  },
): string | undefined {
  const c = parseCidr(cidr);
  if (!c) return `${cidr} is not a valid subnet`;
  if (c.prefix === 0) return `${cidr} would replace the default route`;
  const reserved = RESERVED_CIDRS.find((r) => overlaps(r.cidr, c));
  if (reserved) return `${cidr} overlaps the ${reserved.what} range ${formatCidr(reserved.cidr)}`;
  const tunnel = ctx.tunnelSubnets.find((t) => overlaps(t, c));
  if (tunnel) return `${cidr} overlaps Gangway's tunnel subnet ${formatCidr(tunnel)}`;
  if (c.family === 6 && ctx.ipv6Off) return `${cidr} is not routed: ${ctx.ipv6Off}`;
  const clashes = ctx.hostRoutes
    .filter((r) => r.device !== ctx.device && !isDefaultLike(r.cidr) && overlaps(r.cidr, c))
    // The most specific clash first: it is the one the user is most likely to recognise (their LAN).
    .sort((a, b) => b.cidr.prefix - a.cidr.prefix);
  if (clashes.length === 0) return undefined;
  const shown = clashes.slice(0, 3).map((r) => describeOverlap(c, r));
  const more = clashes.length > 3 ? ` (and ${clashes.length - 3} more)` : '';
  return `${cidr} is not routed: ${shown.join('; ')}${more}`;
}

function parseHostRoutes(routes: HostRoute[]): ParsedRoute[] {
  const out: ParsedRoute[] = [];
  for (const r of routes) {
    const cidr = parseCidr(r.destination);
    if (cidr) out.push({ cidr, text: formatCidr(cidr), device: r.device });
  }
  return out;
}

function compareCidr(a: string, b: string): number {
  const x = parseCidr(a)!;
  const y = parseCidr(b)!;
  if (x.family !== y.family) return x.family - y.family;
  if (x.network !== y.network) return x.network < y.network ? -1 : 1;
  return x.prefix - y.prefix;
}

/** Normalises a CIDR ("fd00:0::/64" -> "fd00::/64"); invalid ones are returned as given. */
function norm(cidr: string): string {
  const c = parseCidr(cidr);
  return c ? formatCidr(c) : cidr;
}

export function planRoutes(input: PlanInput): RoutePlan {
  const ctx = {
    tunnelSubnets: [input.tunnelSubnet, input.tunnelSubnet6 ?? '']
      .map(parseCidr)
      .filter((c): c is Cidr => c !== undefined),
    ipv6Off: input.ipv6Off,
    device: input.device,
    hostRoutes: parseHostRoutes(input.hostRoutes),
  };
  const desired = new Set<string>();
  // allowPublic: Docker's networks need the user's explicit word for public addresses; --route is that word.
  const planSubnet = (cidr: string, wanted: boolean, allowPublic: boolean): SubnetPlan => {
    const text = norm(cidr);
    const conflict = findConflict(text, ctx);
    const isPublic = isPublicSubnet(text);
    const routed = wanted && conflict === undefined && (allowPublic || !isPublic);
    if (routed) desired.add(text);
    return { cidr: text, routed, ...(conflict ? { conflict } : {}), ...(isPublic ? { public: true } : {}) };
  };
  const networks = input.networks.map((n): NetworkPlan => {
    const wanted = isNetworkWanted(input.settings, n.name, n.subnets);
    const allowPublic = isPublicAllowed(input.settings, n.name);
    const subnets = n.subnets.map((s) => planSubnet(s, wanted, allowPublic));
    const waits = broadWaitsForUser(input.settings, n);
    const conflicts = [
      ...subnets.flatMap((s) => (s.conflict ? [s.conflict] : [])),
      ...(waits ? [waits] : []),
    ];
    return {
      id: n.id,
      name: n.name,
      wanted,
      routed: subnets.some((s) => s.routed),
      ...(conflicts.length ? { conflict: conflicts.join('; ') } : {}),
      publicSubnets: subnets.filter((s) => s.public).map((s) => s.cidr),
      allowPublic,
      subnets,
    };
  });
  const statics = (input.staticRoutes ?? []).map((s) => planSubnet(s, true, true));
  return { routes: [...desired].sort(compareCidr), networks, static: statics };
}

/**
 * Why `subnet` cannot carry the tunnel, or undefined when it can: it must not overlap a Docker network (the
 * network would become unreachable) or a route of the host's other than on the tunnel's own `device` (it
 * would shadow a LAN or VPN). Default routes, and a full-tunnel VPN's halves of one, overlap everything and
 * are ignored.
 */
export function tunnelSubnetClash(
  subnet: string,
  networks: readonly { name: string; subnets: readonly string[] }[],
  hostRoutes: readonly HostRoute[],
  device: string,
): string | undefined {
  const c = parseCidr(subnet);
  if (!c) return 'not a CIDR';
  for (const n of networks)
    for (const sub of n.subnets) {
      const o = parseCidr(sub);
      if (o && overlaps(c, o)) return `it overlaps Docker network "${n.name}" (${sub})`;
    }
  for (const r of hostRoutes) {
    if (r.device === device) continue;
    const o = parseCidr(r.destination);
    if (o && !isDefaultLike(o) && overlaps(c, o))
      return `it overlaps the host's route to ${r.destination} via ${r.device}`;
  }
  return undefined;
}
