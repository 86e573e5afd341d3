// The data plane: the TUN device, the native pump on the UDP port, the tunnel server that authenticates the
// agent on it, and the reconciler of the routes bound to that device. The daemon opens one at start and
// replaces it when the tunnel's subnet, port or MTU change, so all of it is built and torn down here, in
// one place, with nothing left open when a step fails.
import { closeSync } from 'node:fs';
import { formatEndpoint } from '../common/control-port';
import { formatCidr, nthAddress, parseCidr } from '../common/cidr';
import type { Logger } from '../common/log';
import type { NativeAddon, Pump } from '../native/index';
import type { NetPlatform } from '../shared/platform/net-platform';
import { RouteReconciler } from './routes/route-reconciler';
import { type AgentSecretLookup, TunnelServer, type TunnelServerOptions } from './tunnel-server';

/** What the data plane is built from: the tunnel's subnet and its two addresses, the UDP port, the MTU. */
export interface PlaneParams {
  subnet: string;
  hostAddress: string;
  agentAddress: string;
  port: number;
  mtu: number;
}

export function planeParams(o: { tunnelSubnet: string; port: number; mtu: number }): PlaneParams {
  const subnet = parseCidr(o.tunnelSubnet);
  if (!subnet) throw new Error(`invalid tunnel subnet ${o.tunnelSubnet}`);
  return {
    subnet: formatCidr(subnet),
    hostAddress: nthAddress(subnet, 1),
    agentAddress: nthAddress(subnet, 2),
    port: o.port,
    mtu: o.mtu,
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
  bind: string;
  /** The configuration pushed to the agent (read on every push). */
  config: TunnelServerOptions['config'];
  /** The agent connected, went silent or applied a configuration. */
  onChange: () => void;
  /** A control message was handled: the tunnel's next deadline may have moved earlier. */
  afterControl?: () => void;
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

export async function openDataPlane(p: PlaneParams, d: DataPlaneDeps): Promise<DataPlane> {
  const tun = d.native.openTun(d.tunName, { offload: d.offload });
  let tunnel: TunnelServer | undefined;
  let pump: Pump;
  try {
    pump = d.native.createPump({
      tun,
      bindAddress: d.bind,
      bindPort: p.port,
      mtu: p.mtu,
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
  // The pump owns the TUN fd from here on: closing it is the one cleanup path, also when setup fails.
  // Normalised (host bits cleared, as the pump requires); a CIDR that does not parse is not allowed.
  const allowSources = (routed: readonly string[]) =>
    pump.setAllowedSources([
      `${p.agentAddress}/32`,
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
  const server = new TunnelServer(pump, d.secret, { config: d.config });
  server.on('connected', (peer) => {
    d.log.info('agent connected', { peer: formatEndpoint(peer) });
    d.onChange();
  });
  server.on('disconnected', () => {
    d.log.warn('agent gone; waiting for it', { reason: server.peerLost ?? 'no keepalive yet' });
    d.onChange();
  });
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
      pump.close();
    },
  };
}
