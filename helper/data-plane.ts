// The data plane: the TUN device, the native pump on the UDP port, the tunnel server that authenticates the
// agent on it, and the reconciler of the routes bound to that device. The daemon opens one at start and
// replaces it when the tunnel's subnet, port or MTU change, so all of it is built and torn down here, in
// one place, with nothing left open when a step fails.
import { closeSync } from 'node:fs';
import { type Endpoint, formatEndpoint } from '../common/control-port';
import { IPV6_MIN_MTU } from '../common/tunnel-config';
import { formatCidr, nthAddress, parseCidr } from '../common/cidr';
import type { Logger } from '../common/log';
import type { NativeAddon, Pump } from '../native/index';
import type { NetPlatform } from '../shared/platform/net-platform';
import { macLikePump, tunPlan } from '../shared/pump-mode';
import { runningQueues } from '../shared/pump-queues';
import type { SessionHintFile } from './session-hint';
import { RouteReconciler } from './routes/route-reconciler';
import { type AgentSecretLookup, TunnelServer, type TunnelServerOptions } from './tunnel-server';

/** What the data plane is built from: the tunnel's subnet and its two addresses, the UDP port, the MTU. */
export interface PlaneParams {
  subnet: string;
  hostAddress: string;
  agentAddress: string;
  port: number;
  mtu: number;
  /** The IPv6 tunnel subnet in use and its two ends; all null while IPv6 is off (ipv6Off says why). */
  subnet6: string | null;
  hostAddress6: string | null;
  agentAddress6: string | null;
  ipv6Off: string | null;
}

/** Why IPv6 cannot be on with these settings, or null when it can. */
export function ipv6Refusal(o: { tunnelSubnet6: string | null; mtu: number }): string | null {
  if (o.tunnelSubnet6 === null)
    return 'IPv6 is off (tunnelSubnet6 is off); to turn it on: gangway settings set tunnelSubnet6=fd57:6177::/64';
  if (o.mtu < IPV6_MIN_MTU)
    return `IPv6 is off: the inner MTU ${o.mtu} is below IPv6's minimum of ${IPV6_MIN_MTU}; to turn it on: gangway settings set mtu=${IPV6_MIN_MTU} (or more)`;
  return null;
}

export function planeParams(o: {
  tunnelSubnet: string;
  tunnelSubnet6: string | null;
  port: number;
  mtu: number;
}): PlaneParams {
  const subnet = parseCidr(o.tunnelSubnet);
  if (!subnet) throw new Error(`invalid tunnel subnet ${o.tunnelSubnet}`);
  const ipv6Off = ipv6Refusal(o);
  const subnet6 = ipv6Off === null && o.tunnelSubnet6 !== null ? parseCidr(o.tunnelSubnet6) : undefined;
  if (ipv6Off === null && subnet6?.family !== 6)
    throw new Error(`invalid IPv6 tunnel subnet ${String(o.tunnelSubnet6)}`);
  return {
    subnet: formatCidr(subnet),
    hostAddress: nthAddress(subnet, 1),
    agentAddress: nthAddress(subnet, 2),
    port: o.port,
    mtu: o.mtu,
    subnet6: subnet6 ? formatCidr(subnet6) : null,
    hostAddress6: subnet6 ? nthAddress(subnet6, 1) : null,
    agentAddress6: subnet6 ? nthAddress(subnet6, 2) : null,
    ipv6Off,
  };
}

export interface DataPlaneDeps {
  native: NativeAddon;
  net: NetPlatform;
  log: Logger;
  /** The per-install secret, or the lookup of the secrets valid now (AgentKeys.secretFor). */
  secret: Buffer | AgentSecretLookup;
  tunName: string;
  offload: boolean;
  /** The bench's mac-like pump (default: GANGWAY_PUMP_MACLIKE, shared/pump-mode.ts); overrides `offload`. */
  macLike?: boolean;
  /** Pump queues (PumpOptions.queues); more than 1 opens the TUN multi-queue. */
  queues: number;
  bind: string;
  /** The configuration pushed to the agent (read on every push). */
  config: TunnelServerOptions['config'];
  /** The agent connected, went silent or applied a configuration. */
  onChange: () => void;
  /** The agent's keepalives stopped: it died, or its whole VM is frozen (TunnelServer's 'silent'). */
  onAgentSilent?: () => void;
  /** A control message was handled: the tunnel's next deadline may have moved earlier. */
  afterControl?: () => void;
  /** Where the live session is recorded, so that a helper restarted after a crash can tell its agent. */
  sessionHint?: SessionHintFile;
}

export interface DataPlane {
  readonly params: PlaneParams;
  readonly pump: Pump;
  readonly tunnel: TunnelServer;
  readonly reconciler: RouteReconciler;
  readonly device: string;
  readonly offload: boolean;
  /**
   * Anti-spoofing: data from the agent is let through only from its tunnel address and from `routed` (the
   * container subnets routed into the tunnel); anything else is dropped in the pump as dropSpoofed.
   */
  allowSources(routed: readonly string[]): void;
  /** Removes the routes it added, then closes the tunnel, the pump and the device. */
  close(): Promise<void>;
}

/**
 * Puts the IPv6 tunnel address on the device. A host without IPv6 (ipv6.disable=1) keeps the IPv4 tunnel:
 * IPv6 is then off, and the returned parameters say why.
 */
async function addressIpv6(p: PlaneParams, device: string, d: DataPlaneDeps): Promise<PlaneParams> {
  if (!p.subnet6 || !p.hostAddress6) return p;
  try {
    await d.net.configureTun6(device, { local: p.hostAddress6, prefix: parseCidr(p.subnet6)!.prefix });
    return p;
  } catch (err) {
    const ipv6Off = `IPv6 is off: the tunnel device could not take ${p.hostAddress6}: ${(err as Error).message}`;
    d.log.warn(ipv6Off, {});
    return { ...p, subnet6: null, hostAddress6: null, agentAddress6: null, ipv6Off };
  }
}

export async function openDataPlane(p: PlaneParams, d: DataPlaneDeps): Promise<DataPlane> {
  const macLike = d.macLike ?? macLikePump();
  const { queues, options } = tunPlan(macLike, d.offload, d.queues);
  const tun = d.native.openTun(d.tunName, options);
  if (macLike)
    d.log.warn('mac-like pump (bench only): one packet per syscall, no offloads', { device: tun.name });
  let tunnel: TunnelServer | undefined;
  let pump: Pump;
  try {
    pump = d.native.createPump({
      tun,
      bindAddress: d.bind,
      bindPort: p.port,
      mtu: p.mtu,
      queues,
      onControl: (data, address, port) => {
        tunnel?.handle(data, address, port);
        d.afterControl?.();
      },
    });
  } catch (err) {
    // Still ours when createPump fails (a taken port): left open, the device could not be opened again.
    closeSync(tun.fd);
    throw err;
  }
  runningQueues(pump, queues, d.log);
  // The pump owns the TUN fd from here on: closing it is the one cleanup path, also when setup fails.
  // Normalised (host bits cleared, as the pump requires); a CIDR that does not parse is not allowed.
  const allowSources = (routed: readonly string[]) =>
    pump.setAllowedSources([
      `${p.agentAddress}/32`,
      ...(p.agentAddress6 ? [`${p.agentAddress6}/128`] : []),
      ...routed.flatMap((c) => {
        const x = parseCidr(c);
        return x ? [formatCidr(x)] : [];
      }),
    ]);
  try {
    allowSources([]);
    await d.net.configureTun(tun.name, { local: p.hostAddress, peer: p.agentAddress, mtu: p.mtu });
  } catch (err) {
    pump.close();
    throw err;
  }
  p = await addressIpv6(p, tun.name, d);
  const server = new TunnelServer(pump, d.secret, { config: d.config, checksumOffload: tun.offload });
  // A helper that crashed said no farewell: its agent may be idle, its next keepalive 10 s away.
  const previous = d.sessionHint?.take();
  if (previous) {
    server.hintStale(previous.sessionId, previous.peer);
    d.log.info("told the last session's agent to dial again", { peer: formatEndpoint(previous.peer) });
  }
  const record = (peer: Endpoint) => {
    const id = server.sessionId;
    if (id) void d.sessionHint?.save({ sessionId: id, peer });
  };
  server.on('connected', (peer) => {
    d.log.info('agent connected', { peer: formatEndpoint(peer) });
    record(peer);
    d.onChange();
  });
  server.on('roamed', record);
  server.on('disconnected', () => {
    d.log.warn('agent gone; waiting for it', { reason: server.peerLost ?? 'no keepalive yet' });
    d.onChange();
  });
  server.on('silent', () => d.onAgentSilent?.());
  server.on('configAcked', (seq) => {
    d.log.info('agent applied the configuration', { seq });
    d.onChange();
  });
  tunnel = server;
  const reconciler = new RouteReconciler(d.net, tun.name, d.log);
  return {
    params: p,
    pump,
    tunnel: server,
    reconciler,
    device: tun.name,
    offload: tun.offload,
    allowSources,
    close: async () => {
      await reconciler.close();
      server.removeAllListeners();
      tunnel = undefined;
      server.farewell();
      d.sessionHint?.clear();
      pump.close();
    },
  };
}
