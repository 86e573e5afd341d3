// gangwayd's core: the TUN device, the native pump, the tunnel handshake, host routes and the control API.
import type { Server } from 'node:http';
import { API_VERSION, type Status } from '../common/api';
import { formatEndpoint } from '../common/control-port';
import { nthAddress, overlaps, parseCidr } from '../common/cidr';
import type { Logger } from '../common/log';
import type { NativeAddon, Pump } from '../native/index';
import type { DaemonConfig } from './config';
import { startControlServer } from './control-server';
import type { NetPlatform } from './platform/net-platform';
import { loadOrCreateSecret } from './secret';
import { TunnelServer } from './tunnel-server';
import { VERSION } from './version';

interface RouteState {
  cidr: string;
  installed: boolean;
  error?: string;
}

export interface DaemonDeps {
  native: NativeAddon;
  net: NetPlatform;
  log: Logger;
}

export class Daemon {
  private pump: Pump | undefined;
  private tunnel: TunnelServer | undefined;
  private control: Server | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private device = '';
  private offload = false;
  private routes: RouteState[] = [];
  readonly hostAddress: string;
  readonly agentAddress: string;

  constructor(
    private readonly cfg: DaemonConfig,
    private readonly deps: DaemonDeps,
  ) {
    const subnet = parseCidr(cfg.tunnelSubnet);
    if (!subnet) throw new Error(`invalid tunnel subnet ${cfg.tunnelSubnet}`);
    this.hostAddress = nthAddress(subnet, 1);
    this.agentAddress = nthAddress(subnet, 2);
  }

  async start(): Promise<void> {
    const { cfg, deps } = this;
    const secret = loadOrCreateSecret(cfg.stateDir);
    const tun = deps.native.openTun(cfg.tunName, { offload: cfg.offload });
    this.device = tun.name;
    this.offload = tun.offload;
    // The pump owns the TUN fd from here on: closing it is the one cleanup path, also when setup fails.
    const pump = deps.native.createPump({
      tun,
      bindAddress: cfg.bind,
      bindPort: cfg.port,
      mtu: cfg.mtu,
      onControl: (data, address, port) => this.tunnel?.handle(data, address, port),
    });
    this.pump = pump;
    try {
      await deps.net.configureTun(tun.name, {
        local: this.hostAddress,
        peer: this.agentAddress,
        mtu: cfg.mtu,
      });
    } catch (err) {
      pump.close();
      this.pump = undefined;
      throw err;
    }
    this.tunnel = new TunnelServer(pump, secret, {
      config: () => ({
        mtu: cfg.mtu,
        hostAddress: this.hostAddress,
        agentAddress: this.agentAddress,
        routes: this.routes.filter((r) => r.installed).map((r) => r.cidr),
      }),
    });
    this.tunnel.on('connected', (peer) => deps.log.info('agent connected', { peer: formatEndpoint(peer) }));
    this.tunnel.on('disconnected', () => deps.log.warn('agent silent; waiting for it', {}));
    this.tunnel.on('configAcked', (seq) => deps.log.info('agent applied the configuration', { seq }));
    this.ticker = setInterval(() => this.tunnel?.tick(), 100);
    await this.installRoutes(cfg.routes);
    this.control = await startControlServer({
      socketPath: cfg.socket,
      routes: { 'GET /v1/status': () => this.status() },
    });
    deps.log.info('gangway daemon started', {
      version: VERSION,
      device: this.device,
      offload: this.offload,
      listen: `${cfg.bind}:${pump.localPort()}`,
      hostAddress: this.hostAddress,
      routes: this.routes,
      socket: cfg.socket,
    });
  }

  private async installRoutes(cidrs: string[]): Promise<void> {
    const tunnelSubnet = parseCidr(this.cfg.tunnelSubnet);
    for (const cidr of cidrs) {
      const c = parseCidr(cidr);
      if (!c || (tunnelSubnet && overlaps(c, tunnelSubnet))) {
        this.routes.push({ cidr, installed: false, error: 'overlaps the tunnel subnet' });
        this.deps.log.warn('route not installed: it overlaps the tunnel subnet', { cidr });
        continue;
      }
      try {
        await this.deps.net.addRoute(cidr, this.device);
        this.routes.push({ cidr, installed: true });
      } catch (err) {
        this.routes.push({ cidr, installed: false, error: (err as Error).message });
        this.deps.log.error('route not installed', { cidr, error: (err as Error).message });
      }
    }
  }

  status(): Status {
    const t = this.tunnel;
    const pump = this.pump;
    const peer = t?.peer;
    return {
      version: VERSION,
      apiVersion: API_VERSION,
      state: t?.state ?? 'waiting',
      peer: peer ? formatEndpoint(peer) : null,
      lastHeardMs: t?.lastHeardAgoMs ?? null,
      configAcked: t?.configAcked ?? false,
      tunnel: {
        device: this.device,
        hostAddress: this.hostAddress,
        agentAddress: this.agentAddress,
        mtu: this.cfg.mtu,
        listen: `${this.cfg.bind}:${pump?.localPort() ?? this.cfg.port}`,
        offload: this.offload,
      },
      routes: this.routes.map((r) => ({ ...r })),
      counters: {
        pump: pump ? { ...pump.stats() } : {},
        control: t ? t.counters.snapshot() : {},
      },
    };
  }

  /** Removes routes, closes the tunnel and the socket. Safe to call more than once. */
  async stop(): Promise<void> {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
    for (const r of this.routes.filter((x) => x.installed)) {
      try {
        await this.deps.net.deleteRoute(r.cidr, this.device);
        r.installed = false;
      } catch (err) {
        this.deps.log.warn('could not remove a route (it goes with the device)', {
          cidr: r.cidr,
          error: String(err),
        });
      }
    }
    this.pump?.close();
    this.pump = undefined;
    const control = this.control;
    this.control = undefined;
    if (control) await new Promise<void>((resolve) => control.close(() => resolve()));
    this.deps.log.info('gangway daemon stopped', {});
  }
}
