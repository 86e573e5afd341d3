// gangwayd's core: the TUN device, the native pump, the tunnel handshake, host routes and the control API.
import { EventEmitter } from 'node:events';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import Dockerode from 'dockerode';
import {
  API_VERSION,
  type Diagnostics,
  type ContainersResponse,
  type DnsStatus,
  joinRequestSchema,
  routeRequestSchema,
  type NetworksResponse,
  type Status,
  type VersionInfo,
} from '../common/api';
import { formatEndpoint } from '../common/control-port';
import { interfaceName } from '../common/tunnel-config';
import { formatCidr, nthAddress, parseCidr } from '../common/cidr';
import type { Logger } from '../common/log';
import type { NativeAddon, Pump } from '../native/index';
import type { DaemonConfig } from './config';
import { ApiFailure, startControlServer } from './control-server';
import { AGENT_CONTAINER_NAME, AgentContainer } from './docker/agent-container';
import { agentImageTag, ensureAgentImage } from './docker/agent-image';
import { parseIfconfig, parseIpLink, runDoctor } from './doctor';
import { type CommandError, runCommand } from './exec';
import { EventStream, type ChangeEvents } from './event-stream';
import { resolveDockerEndpoint } from './docker/docker-endpoint';
import { NetworkWatcher } from './docker/network-watcher';
import { RouteReconciler, type RouteStatus } from './routes/route-reconciler';
import type { RoutePlan } from './routes/route-planner';
import { SettingsStore } from './settings/settings-store';
import type { NetPlatform } from './platform/net-platform';
import { loadOrCreateSecret } from './secret';
import { TunnelServer } from './tunnel-server';
import { ContainerIndex } from './dns/container-index';
import { DnsService } from './dns/dns-service';
import { createOsResolver, type OsResolver } from './dns/resolver';
import { VERSION } from './version';

export interface DaemonDeps {
  native: NativeAddon;
  net: NetPlatform;
  log: Logger;
  /** Where DNS is registered with the OS (tests inject one); default: the platform's. */
  resolver?: OsResolver;
}

export class Daemon {
  private pump: Pump | undefined;
  private tunnel: TunnelServer | undefined;
  private control: Server | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private device = '';
  private offload = false;
  private routes: RouteStatus[] = [];
  private plan: RoutePlan | undefined;
  private settings: SettingsStore | undefined;
  private reconciler: RouteReconciler | undefined;
  private watcher: NetworkWatcher | undefined;
  private dockerEndpoint: string | null = null;
  private resync: NodeJS.Timeout | undefined;
  private announcedRoutes = '';
  private announcedJoins = '';
  private docker: Dockerode | undefined;
  private agent: AgentContainer | undefined;
  private agentWanted = false;
  /** gangway down pauses routing (no routes into a tunnel with no agent); up resumes it. */
  private routing = true;
  private agentError: string | null = null;
  private secret: Buffer | undefined;
  private events: EventStream | undefined;
  private announcedStatus = '';
  /** Gangway DNS; reconfigure() it when the DNS settings or the tunnel address change. */
  dns: DnsService | undefined;
  /** 'changed' whenever what status() reports (tunnel, routes, networks, Docker, agent) may differ. */
  readonly changes = new EventEmitter<ChangeEvents>();
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
    const secret = await loadOrCreateSecret(cfg.stateDir);
    this.secret = secret;
    this.settings = SettingsStore.load(cfg.stateDir, { log: deps.log });
    if (this.settings.warning) deps.log.warn(this.settings.warning, {});
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
        routes: this.reconciler?.installed ?? [],
        joins: this.joinedBridges(),
      }),
    });
    this.tunnel.on('connected', (peer) => {
      deps.log.info('agent connected', { peer: formatEndpoint(peer) });
      this.changed();
    });
    this.tunnel.on('disconnected', () => {
      deps.log.warn('agent silent; waiting for it', {});
      this.changed();
    });
    this.tunnel.on('configAcked', (seq) => {
      deps.log.info('agent applied the configuration', { seq });
      this.changed();
    });
    this.ticker = setInterval(() => this.tunnel?.tick(), 100);
    this.reconciler = new RouteReconciler(deps.net, this.device, deps.log);
    if (cfg.docker) this.startDockerWatcher();
    // After the TUN is configured: the server binds the host's tunnel address.
    this.dns = new DnsService({
      index: this.docker ? new ContainerIndex(this.docker, { log: deps.log }) : undefined,
      resolver: deps.resolver ?? createOsResolver(process.platform, cfg.dnsResolverDir),
      device: () => this.device,
      log: deps.log,
      onChange: () => this.changed(),
    });
    await this.dns.start({ address: this.hostAddress, port: cfg.dnsPort, suffix: cfg.dnsSuffix });
    await this.sync();
    // Nothing reports host routing-table changes (a VPN coming up) yet: re-plan now and then.
    this.resync = setInterval(() => void this.sync(), 30_000);
    this.events = new EventStream({ source: this.changes, snapshot: () => this.status() });
    this.control = await startControlServer({
      socketPath: cfg.socket,
      ...(cfg.socketOwner ? { owner: cfg.socketOwner } : {}),
      streams: { '/v1/events': this.events.handler },
      routes: {
        'GET /v1/version': (): VersionInfo => ({ version: VERSION, apiVersion: API_VERSION }),
        'GET /v1/status': () => this.status(),
        'GET /v1/networks': () => this.networks(),
        'POST /v1/networks/route': ({ body }) => this.setRouted(body),
        'POST /v1/networks/join': ({ body }) => this.setJoined(body),
        'POST /v1/connect': () => this.connect(),
        'POST /v1/disconnect': () => this.disconnect(),
        'GET /v1/diagnostics': () => this.diagnostics(),
        'GET /v1/containers': () => this.containers(),
      },
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

  private startDockerWatcher(): void {
    const { deps } = this;
    try {
      const ep = resolveDockerEndpoint(this.cfg.dockerHost, process.env);
      for (const w of ep.warnings) deps.log.warn(w, {});
      this.dockerEndpoint = ep.url;
      this.docker = new Dockerode(ep.options);
      this.agent = new AgentContainer(this.docker, { log: deps.log });
      this.watcher = new NetworkWatcher(this.docker, { log: deps.log });
    } catch (err) {
      deps.log.error('cannot use Docker', { error: (err as Error).message });
      return;
    }
    this.watcher.on('networks', () => void this.sync());
    this.watcher.on('status', (st) => {
      deps.log.info(`docker ${st.state}`, { endpoint: this.dockerEndpoint, error: st.lastError });
      this.changed();
      // Docker (or its VM) came back: the agent container may be gone with it.
      if (st.state === 'connected' && this.agentWanted) this.launchAgent().catch(() => undefined);
    });
    this.watcher.on('activity', (a) => {
      if (
        a.type === 'container' &&
        a.action === 'destroy' &&
        a.name === AGENT_CONTAINER_NAME &&
        this.agentWanted
      ) {
        deps.log.warn('the agent container was removed; launching it again', {});
        this.launchAgent().catch(() => undefined);
      }
    });
    this.watcher.start();
  }

  /** Re-plans routes from Docker's networks, the settings and the host's table, and applies the plan. */
  private async sync(): Promise<void> {
    const { reconciler, settings } = this;
    if (!reconciler || !settings) return;
    const r = await reconciler.reconcile({
      networks: this.routing ? (this.watcher?.networks ?? []) : [],
      settings: settings.settings,
      tunnelSubnet: this.cfg.tunnelSubnet,
      staticRoutes: this.routing ? this.cfg.routes : [],
    });
    this.routes = r.routes;
    this.plan = r.plan ?? this.plan;
    this.dns?.setRoutedNetworks(
      (this.plan?.networks ?? [])
        .filter((n) => n.routed)
        .map((n) => ({ name: n.name, subnets: n.subnets.filter((x) => x.routed).map((x) => x.cidr) })),
    );
    for (const e of r.errors) this.deps.log.error(`route ${e.op} failed`, { cidr: e.cidr, error: e.error });
    for (const n of r.plan?.networks ?? [])
      if (n.wanted && n.conflict)
        this.deps.log.warn('network not routed', { network: n.name, conflict: n.conflict });
    // Concurrent sync() calls share one coalesced reconcile: compare with what was last announced.
    const key = reconciler.installed.join(',');
    const joins = this.joinedBridges();
    const joinsKey = JSON.stringify(joins);
    if (key !== this.announcedRoutes || joinsKey !== this.announcedJoins) {
      if (key !== this.announcedRoutes)
        this.deps.log.info('routes changed', { routes: reconciler.installed });
      if (joinsKey !== this.announcedJoins) this.deps.log.info('joins changed', { bridges: joins });
      this.announcedRoutes = key;
      this.announcedJoins = joinsKey;
      this.tunnel?.pushConfig();
    }
    // Networks can change without changing routes (a new network that conflicts, a rename).
    const statusKey = JSON.stringify([this.routes, this.networks()]);
    if (statusKey !== this.announcedStatus) {
      this.announcedStatus = statusKey;
      this.changed();
    }
  }

  private changed(): void {
    this.changes.emit('changed');
  }

  /** The joined network pairs (kept by name) as the VM's bridge devices, for networks that exist now. */
  private joinedBridges(): [string, string][] {
    const bridges = new Map((this.watcher?.networks ?? []).map((n) => [n.name, n.bridge]));
    const out: [string, string][] = [];
    for (const [a, b] of this.settings?.settings.joins ?? []) {
      const ba = bridges.get(a);
      const bb = bridges.get(b);
      if (!ba || !bb || ba === bb) continue;
      // The agent rejects a whole configuration with an odd bridge name (set by a network option): skip it.
      if (interfaceName.safeParse(ba).success && interfaceName.safeParse(bb).success) out.push([ba, bb]);
    }
    return out;
  }

  /** gangway up: builds or loads the agent image and (re)creates the agent container in the VM. */
  private async connect(): Promise<Status> {
    if (!this.agent)
      throw new ApiFailure(
        409,
        'DOCKER_DISABLED',
        'the daemon runs with --no-docker or could not use Docker',
      );
    this.agentWanted = true;
    this.routing = true;
    this.changed();
    await this.sync();
    await this.dns?.register();
    await this.launchAgent();
    return this.status();
  }

  /** gangway down: removes the agent container (its exit removes its firewall rules). */
  private async disconnect(): Promise<Status> {
    this.agentWanted = false;
    this.routing = false;
    this.changed();
    await this.sync();
    await this.dns?.unregister();
    if (this.agent) {
      try {
        await this.agent.down();
      } catch (err) {
        throw new ApiFailure(
          503,
          'DOCKER_UNREACHABLE',
          `cannot remove the agent container: ${(err as Error).message}`,
        );
      }
    }
    return this.status();
  }

  private async launchAgent(): Promise<void> {
    const { agent, docker, secret, cfg, deps } = this;
    if (!agent || !docker || !secret) return;
    // dist/helper/daemon.js -> the package root, which holds dist/, node_modules/ and the native build.
    const root = resolve(__dirname, '..', '..');
    try {
      const image = await ensureAgentImage(docker, {
        contextRoot: root,
        nativeAddonPath: join(root, 'native', 'build', 'Release', 'gangway_native.node'),
        log: deps.log,
        ...(cfg.agentBaseImage ? { baseImage: cfg.agentBaseImage } : {}),
        onProgress: (line) => deps.log.debug('agent image build', { line }),
      });
      const r = await agent.up({ image: image.tag, server: `${cfg.agentDial}:${cfg.port}`, secret });
      this.agentError = null;
      this.changed();
      deps.log.info('agent container ready', { image: image.tag, how: image.how, action: r.action });
    } catch (err) {
      this.agentError = (err as Error).message;
      this.changed();
      deps.log.error('cannot launch the agent container', { error: this.agentError });
      throw new ApiFailure(
        503,
        'AGENT_LAUNCH_FAILED',
        `cannot launch the agent container: ${this.agentError}`,
      );
    }
  }

  networks(): NetworksResponse {
    const byId = new Map((this.watcher?.networks ?? []).map((n) => [n.id, n]));
    return {
      routeNewNetworks: this.settings?.settings.routeNewNetworks ?? true,
      networks: (this.plan?.networks ?? []).map((p) => {
        const n = byId.get(p.id);
        return {
          id: p.id,
          name: p.name,
          driver: n?.driver ?? 'bridge',
          internal: n?.internal ?? false,
          subnets: p.subnets.map((x) => x.cidr),
          wanted: p.wanted,
          routed: p.routed,
          conflict: p.conflict ?? null,
        };
      }),
      joins: this.settings?.settings.joins ?? [],
    };
  }

  private async setRouted(body: unknown): Promise<NetworksResponse> {
    const req = routeRequestSchema.safeParse(body);
    if (!req.success)
      throw new ApiFailure(
        400,
        'BAD_REQUEST',
        req.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
      );
    const known = this.watcher?.networks.some((n) => n.name === req.data.network);
    if (!known)
      throw new ApiFailure(404, 'NO_SUCH_NETWORK', `Docker has no network named "${req.data.network}"`);
    await this.settings?.update((d) => {
      d.networks[req.data.network] = { routed: req.data.routed };
    });
    await this.sync();
    return this.networks();
  }

  private async setJoined(body: unknown): Promise<NetworksResponse> {
    const req = joinRequestSchema.safeParse(body);
    if (!req.success)
      throw new ApiFailure(
        400,
        'BAD_REQUEST',
        req.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
      );
    const { a, b, joined } = req.data;
    if (a === b) throw new ApiFailure(400, 'BAD_REQUEST', 'a network cannot be joined to itself');
    const same = ([x, y]: [string, string]) => (x === a && y === b) || (x === b && y === a);
    // A pair whose network was removed can still be unjoined (it is kept by name).
    const stale = !joined && (this.settings?.settings.joins ?? []).some(same);
    for (const name of stale ? [] : [a, b])
      if (!this.watcher?.networks.some((n) => n.name === name))
        throw new ApiFailure(404, 'NO_SUCH_NETWORK', `Docker has no network named "${name}"`);
    await this.settings?.update((d) => {
      d.joins = d.joins.filter((p) => !same(p));
      if (joined) d.joins.push([a, b]);
    });
    await this.sync();
    return this.networks();
  }

  /** GET /v1/containers: running containers, their addresses and DNS names. */
  containers(): ContainersResponse {
    if (this.dns) return this.dns.containers();
    return { dns: this.dnsStatus(), containers: [], collisions: [] };
  }

  /** GET /v1/diagnostics: gangway doctor's checks, each hop in order. */
  diagnostics(): Promise<Diagnostics> {
    const s = this.status();
    const { docker, agent, deps, device } = this;
    const ours = (x: string | undefined) => (x ? parseCidr(x) : undefined);
    return runDoctor({
      version: VERSION,
      socket: this.cfg.socket,
      settingsWarning: s.settingsWarning,
      docker: s.docker,
      agentWanted: this.agentWanted,
      agentError: this.agentError,
      tunnel: { state: s.state, peer: s.peer, lastHeardAgoMs: s.lastHeardMs, configAcked: s.configAcked },
      device,
      installedRoutes: this.reconciler?.installed ?? [],
      networks: (this.plan?.networks ?? []).map((n) => ({
        name: n.name,
        wanted: n.wanted,
        routed: n.routed,
        conflict: n.conflict ?? null,
        subnets: n.subnets.map((x) => ({ cidr: x.cidr, routed: x.routed })),
      })),
      agentImage: async () => {
        const tag = agentImageTag();
        if (!docker) throw new Error('Docker is not used');
        try {
          await docker.getImage(tag).inspect();
          return { tag, present: true };
        } catch (err) {
          if ((err as { statusCode?: number }).statusCode === 404) return { tag, present: false };
          throw err;
        }
      },
      agentContainer: async () => {
        if (!agent) throw new Error('Docker is not used');
        const a = await agent.status();
        const exit = a.lastExit
          ? `exit ${a.lastExit.code} at ${a.lastExit.at}${a.lastExit.error ? `: ${a.lastExit.error}` : ''}`
          : undefined;
        const detail =
          a.state === 'running'
            ? [a.image, a.restartCount ? `${a.restartCount} restart(s)` : ''].filter(Boolean).join(', ')
            : [a.dockerState, exit].filter(Boolean).join(', ');
        return { state: a.state, ...(detail ? { detail } : {}) };
      },
      tunLink: async () =>
        process.platform === 'darwin'
          ? parseIfconfig(await runCommand('ifconfig', [device]))
          : parseIpLink(await runCommand('ip', ['-j', 'link', 'show', 'dev', device])),
      tunRoutes: async () =>
        (await deps.net.listRoutes())
          .filter((r) => r.device === device)
          .map((r) => ours(r.destination))
          .filter((c) => c !== undefined)
          .map(formatCidr),
      probeAddress: (ip, timeoutMs) => probeAddress(ip, timeoutMs),
      ...(this.dns
        ? {
            dns: {
              status: this.dns.status(),
              collisions: this.dns.containers().collisions,
              query: () => this.dns!.probe(),
            },
          }
        : {}),
    });
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
      docker: {
        enabled: this.cfg.docker,
        state: this.watcher?.status.state ?? 'disabled',
        endpoint: this.dockerEndpoint,
        ...(this.watcher?.status.lastError ? { lastError: this.watcher.status.lastError } : {}),
      },
      settingsWarning: this.settings?.warning ?? null,
      dns: this.dnsStatus(),
      agent: { wanted: this.agentWanted, lastError: this.agentError },
      counters: {
        pump: pump ? { ...pump.stats() } : {},
        control: t ? t.counters.snapshot() : {},
        dns: this.dns?.counters() ?? {},
      },
    };
  }

  private dnsStatus(): DnsStatus {
    return (
      this.dns?.status() ?? {
        enabled: false,
        suffix: this.cfg.dnsSuffix,
        listen: null,
        resolver: null,
        lastError: null,
      }
    );
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
    // Before the device goes: the Linux registration is attached to it.
    await this.dns
      ?.stop()
      .catch((err: Error) => this.deps.log.warn('could not stop dns cleanly', { error: err.message }));
    this.pump?.close();
    this.pump = undefined;
    const control = this.control;
    this.control = undefined;
    if (control) {
      const closed = new Promise<void>((resolve) => control.close(() => resolve()));
      this.events?.close();
      await closed;
    }
    this.deps.log.info('gangway daemon stopped', {});
  }
}

/** One ping (a TCP connect as a fallback where ping is missing): whether `ip` answers within `timeoutMs`. */
async function probeAddress(ip: string, timeoutMs: number): Promise<boolean> {
  const wait = String(Math.max(1, Math.round(timeoutMs / 1000)));
  const args = process.platform === 'darwin' ? ['-c', '1', '-t', wait, ip] : ['-c', '1', '-W', wait, ip];
  try {
    await runCommand('ping', args);
    return true;
  } catch (err) {
    if ((err as CommandError).exitCode !== 'ENOENT') return false;
  }
  // A refused connection is an answer too.
  return new Promise((resolvePromise) => {
    const sock = connect({ host: ip, port: 80, timeout: timeoutMs });
    const done = (ok: boolean) => {
      sock.destroy();
      resolvePromise(ok);
    };
    sock.once('connect', () => done(true));
    sock.once('timeout', () => done(false));
    sock.once('error', (e: NodeJS.ErrnoException) => done(e.code === 'ECONNREFUSED'));
  });
}
