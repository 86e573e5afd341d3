// gangwayd's core, which wires its parts together: the data plane (TUN device, native pump, tunnel server),
// the Docker session, route sync, settings application, DNS, the agent's launch and the control API's handlers.
import { EventEmitter } from 'node:events';
import type { Server } from 'node:http';
import { join } from 'node:path';
import type Dockerode from 'dockerode';
import type { AgentFirewall, UserSettings } from '../common/api';
import type { Logger } from '../common/log';
import type { NativeAddon, Pump } from '../native/index';
import type { DaemonConfig } from './config';
import { ApiFailure, closeControlServer, startControlServer } from './control-server';
import { refuseLiveDaemon } from './control-socket';
import { takeDaemonLock } from './daemon-lock';
import { AGENT_CONTAINER_NAME } from './docker/agent-container';
import { bundleInputsStamp, ensureAgentImage } from './docker/agent-image';
import { bundleDir } from './bundle-dir';
import { openDataPlane, planeParams, type DataPlane, type PlaneParams } from './data-plane';
import { SessionHintFile } from './session-hint';
import { EventStream, type ChangeEvents } from './event-stream';
import { DockerSession } from './docker/docker-session';
import { readAgentFirewall, type FirewallRead } from './docker/agent-firewall';
import type { RouteReconciler } from './routes/route-reconciler';
import { RouteSync } from './routes/route-sync';
import { SettingsStore } from './settings/settings-store';
import { SettingsApply } from './settings/settings-apply';
import type { NetPlatform } from '../shared/platform/net-platform';
import { RouteMonitor } from './platform/route-monitor';
import { loadOrCreateSecret } from '../shared/secret';
import { AgentKeys } from './agent-keys';
import type { TunnelServer } from './tunnel-server';
import { DnsService } from './dns/dns-service';
import { createOsResolver, type OsResolver } from './dns/resolver';
import { VERSION } from './version';
import { ConnectionState } from './connection-state';
import { ApiHandlers } from './api-handlers';
import { EVENTS } from '../common/api-routes';
import { DeadlineLoop } from '../shared/deadline-loop';
import { defaultQueues } from '../shared/pump-queues';

/** Docker events after which Docker may have rewritten its chains (and the agent's rules with them). */
const FIREWALL_EVENTS = new Set([
  'network create',
  'network destroy',
  'network connect',
  'network disconnect',
  'container start',
]);
const FIREWALL_RECHECK_DEBOUNCE_MS = 200;
/** Route re-planning without a change seen: a safety net behind the route monitor, the only check without it. */
const RESYNC_WITH_MONITOR_MS = 300_000;
const RESYNC_WITHOUT_MONITOR_MS = 30_000;

export interface DaemonDeps {
  native: NativeAddon;
  net: NetPlatform;
  log: Logger;
  /** Where DNS is registered with the OS (tests inject one); default: the platform's. */
  resolver?: OsResolver;
}

export class Daemon {
  private dataPlane: DataPlane | undefined;
  private lastDevice = '';
  private control: Server | undefined;
  private ticker: DeadlineLoop | undefined;
  private settings: SettingsStore | undefined;
  /** Docker at the endpoint in use: client, engine, agent handle, networks and containers; one event stream. */
  private session: DockerSession | undefined;
  /** The last endpoint a session opened on (status keeps showing it if a new one cannot be used). */
  private dockerEndpoint: string | null = null;
  private resync: NodeJS.Timeout | undefined;
  private routeMonitor: RouteMonitor | undefined;
  /** The agent's last firewall report (status shows it; doctor asks afresh). */
  private firewall: AgentFirewall | undefined;
  /** The agent session (its peer) whose firewall was last asked about after it connected. */
  private firewallAsked = '';
  private dockerWasUp = false;
  /** Debounces the agent's firewall re-check after a burst of Docker events. */
  private recheckTimer: NodeJS.Timeout | undefined;
  private agentKeys: AgentKeys | undefined;
  /** The agent image's possible inputs as they were at start (bundleInputsStamp). */
  private bundleStamp: string | undefined;
  /** Set by stop(): work it ends (an agent launch waiting on Docker) is not reported as a failure. */
  private stopping = false;
  /** Intent (up/down), the agent's launch and the one phase /v1/status publishes. */
  private readonly conn: ConnectionState;
  private events: EventStream | undefined;
  /** Plans and reconciles routes, announces them to the pump and the agent, answers /v1/networks. */
  private readonly routeSync: RouteSync;
  /** Gangway DNS; applyDns() reconfigures it when the DNS settings or the tunnel change. */
  dns: DnsService | undefined;
  /** The data plane's parameters now in effect (from the settings, else the flags). */
  private plane: PlaneParams;
  /** The settings in effect and PATCH /v1/settings. */
  private readonly settingsApply: SettingsApply;
  /** The control API's handlers. */
  private readonly api: ApiHandlers;
  /** 'changed' whenever what status() reports (tunnel, routes, networks, Docker, agent) may differ. */
  readonly changes = new EventEmitter<ChangeEvents>();

  constructor(
    private readonly cfg: DaemonConfig,
    private readonly deps: DaemonDeps,
  ) {
    this.plane = planeParams(cfg);
    this.conn = new ConnectionState(
      { enabled: cfg.docker, state: () => this.watcher?.status.state ?? 'disabled' },
      { tunnelState: () => this.tunnel?.state ?? 'waiting' },
    );
    this.conn.on('phase', (phase) => deps.log.info('phase', { phase }));
    this.routeSync = new RouteSync({
      reconciler: () => this.reconciler,
      settings: () => this.settings?.settings,
      networks: () => this.watcher?.networks ?? [],
      routing: () => this.routing,
      tunnelSubnet: () => this.plane.subnet,
      tunnelSubnet6: () => this.plane.subnet6,
      ipv6Off: () => this.plane.ipv6Off,
      staticRoutes: cfg.routes,
      announce: (installed) => {
        this.dataPlane?.allowSources(installed);
        this.pushConfig();
      },
      routedNetworks: (routed) => this.dns?.setRoutedNetworks(routed),
      changed: () => this.changed(),
      log: deps.log,
    });
    this.settingsApply = new SettingsApply({
      cfg,
      store: () => this.settings,
      plane: () => this.plane,
      moveTunnel: (next) => this.rebuildDataPlane(next),
      replaceDocker: () => this.restartDockerWatcher(),
      applyDns: () => this.applyDns(),
      agentWanted: () => this.agentWanted,
      launchAgent: () => this.launchAgent(),
      sync: () => this.sync(),
      changed: () => this.changed(),
      listRoutes: () => deps.net.listRoutes(),
      networks: () => this.watcher?.networks ?? [],
      device: () => this.device,
      log: deps.log,
    });
    this.api = new ApiHandlers({
      cfg,
      net: deps.net,
      log: deps.log,
      conn: this.conn,
      routeSync: this.routeSync,
      settingsApply: this.settingsApply,
      settings: () => this.settings,
      session: () => this.session,
      dockerEndpoint: () => this.dockerEndpoint,
      dataPlane: () => this.dataPlane,
      device: () => this.device,
      plane: () => this.plane,
      dns: () => this.dns,
      agentKeys: () => this.agentKeys,
      firewall: () => this.firewall,
      readFirewall: (docker) => this.readFirewall(docker),
      launchAgent: () => this.launchAgent(),
      sync: () => this.sync(),
      changed: () => this.changed(),
    });
  }

  /** gangway down pauses routing (no routes into a tunnel with no agent); up resumes it. */
  private get routing(): boolean {
    return this.conn.routing;
  }

  private get agentWanted(): boolean {
    return this.conn.agentWanted;
  }

  private get watcher() {
    return this.session?.watcher;
  }

  private get docker() {
    return this.session?.docker;
  }

  private get agent() {
    return this.session?.agent;
  }

  private get engine() {
    return this.session?.engine;
  }

  private get pump(): Pump | undefined {
    return this.dataPlane?.pump;
  }

  private get tunnel(): TunnelServer | undefined {
    return this.dataPlane?.tunnel;
  }

  private get reconciler(): RouteReconciler | undefined {
    return this.dataPlane?.reconciler;
  }

  /** The TUN device's name; kept after the data plane closed, for the last status and log lines. */
  private get device(): string {
    return this.dataPlane?.device ?? this.lastDevice;
  }

  private get offload(): boolean {
    return this.dataPlane?.offload ?? false;
  }

  get hostAddress(): string {
    return this.plane.hostAddress;
  }

  get agentAddress(): string {
    return this.plane.agentAddress;
  }

  async start(): Promise<void> {
    const { cfg, deps } = this;
    // Before anything with a side effect: a second daemon (a racing service restart, another install) would
    // otherwise take the TUN, the resolver registration and the agent container from the live one before
    // the control server's own check refused it, and its stop() would then remove what the live one owns.
    // The state directory's lock lets one daemon through, also of two started at the same instant, and is
    // held until this process is gone (daemon-lock.ts); it refuses naming the pid that holds it.
    await takeDaemonLock(cfg.stateDir);
    // Another daemon with its own state directory may still serve this socket (binding the socket this early
    // would let clients in before the daemon can answer them).
    await refuseLiveDaemon(cfg.socket);
    this.agentKeys = new AgentKeys(await loadOrCreateSecret(cfg.stateDir), cfg.stateDir);
    this.bundleStamp = bundleInputsStamp(bundleDir());
    this.settings = SettingsStore.load(cfg.stateDir, { log: deps.log });
    if (this.settings.warning) deps.log.warn(this.settings.warning, {});
    // Carry on as before a restart: after `up`, the agent is kept running (launched once Docker answers).
    const connected = this.settings.settings.connected;
    if (connected !== undefined) this.conn[connected ? 'up' : 'down']();
    const eff = this.effectiveSettings();
    await this.openDataPlane(planeParams({ ...cfg, ...eff }));
    // Wakes only when the tunnel has something due; a deadline moved earlier (a message handled, a config
    // pushed) is announced with dueIn(), and maxMs only caps one that moved silently.
    this.ticker = new DeadlineLoop(
      () => {
        this.tunnel?.tick();
        return this.tunnel?.msUntilDue() ?? Infinity;
      },
      // The addon's timer: each keepalive pushes the peer's timeout back, which with setTimeout cost an empty
      // wake-up per keepalive (shared/deadline-loop.ts).
      { minMs: 20, maxMs: 60_000, timer: (fire) => new deps.native.Timer(fire) },
    );
    this.ticker.start();
    if (cfg.docker) this.startDockerWatcher(eff.dockerHost);
    // After the TUN is configured: the server binds the host's tunnel address.
    this.dns = new DnsService({
      index: this.session?.index,
      resolver: deps.resolver ?? createOsResolver(process.platform, cfg.dnsResolverDir),
      device: () => this.device,
      log: deps.log,
      onChange: () => this.changed(),
    });
    await this.dns.start(
      { address: this.hostAddress, port: eff.dnsPort, suffix: eff.dnsSuffix },
      // After `gangway down` (remembered across restarts) nothing is routed and nothing is registered.
      { registered: this.routing },
    );
    await this.sync();
    // Routing-table changes (a route deleted by hand, a VPN coming up) re-plan at once; the resync is the
    // fallback where the monitor cannot run.
    if (deps.net.routeMonitor) {
      this.routeMonitor = new RouteMonitor({
        command: deps.net.routeMonitor,
        onChange: () => void this.sync(),
        log: deps.log,
      });
      this.routeMonitor.start();
    }
    // The agent's firewall is read after each connect and by doctor, not on this timer: each read is a
    // `docker exec` of a new process in the VM.
    this.resync = setInterval(
      () => void this.sync(),
      this.routeMonitor ? RESYNC_WITH_MONITOR_MS : RESYNC_WITHOUT_MONITOR_MS,
    );
    this.events = new EventStream({ source: this.changes, snapshot: () => this.api.status() });
    this.control = await startControlServer({
      socketPath: cfg.socket,
      ...(cfg.socketOwner ? { owner: cfg.socketOwner } : {}),
      socketDirRecord: join(cfg.stateDir, 'socket-dir.json'),
      streams: { [EVENTS.path]: this.events.handler },
      routes: this.api.routes(),
    });
    deps.log.info('gangway daemon started', {
      version: VERSION,
      device: this.device,
      offload: this.offload,
      listen: `${cfg.bind}:${this.pump?.localPort() ?? this.plane.port}`,
      hostAddress: this.hostAddress,
      routes: this.routeSync.routes,
      socket: cfg.socket,
    });
  }

  /** Opens the data plane for `p` and makes it current. On failure nothing is left open. */
  private async openDataPlane(p: PlaneParams): Promise<void> {
    const { cfg, deps } = this;
    if (!this.agentKeys) throw new Error('the secret is not loaded');
    const dp = await openDataPlane(p, {
      native: deps.native,
      net: deps.net,
      log: deps.log,
      secret: this.agentKeys.secretFor,
      tunName: cfg.tunName,
      offload: cfg.offload,
      queues: cfg.queues ?? defaultQueues(),
      bind: cfg.bind,
      config: () => ({
        mtu: this.plane.mtu,
        hostAddress: this.plane.hostAddress,
        agentAddress: this.plane.agentAddress,
        // Both or neither (the agent's contract): only while IPv6 is on.
        ...(this.plane.hostAddress6 && this.plane.agentAddress6
          ? { hostAddress6: this.plane.hostAddress6, agentAddress6: this.plane.agentAddress6 }
          : {}),
        routes: this.reconciler?.installed ?? [],
        joins: this.routeSync.joinedBridges(),
      }),
      onChange: () => {
        this.changed();
        this.firewallAfterConnect();
      },
      afterControl: () => this.tunnelDue(),
      onAgentSilent: () => this.askDockerAfterSilentAgent(),
      sessionHint: new SessionHintFile(join(cfg.stateDir, 'tunnel-session.json'), deps.log),
    });
    this.dataPlane = dp;
    this.lastDevice = dp.device;
    this.plane = dp.params;
  }

  /** Removes Gangway's routes, then closes the tunnel, the pump and the TUN device. */
  private async closeDataPlane(): Promise<void> {
    const dp = this.dataPlane;
    this.dataPlane = undefined;
    await dp?.close();
    this.routeSync.forgetAnnounced();
  }

  /**
   * Moves the data plane to new parameters without restarting the daemon. The agent re-handshakes on its
   * own (its keepalives go unanswered for a moment); a new port needs a new agent container. When the new
   * parameters cannot be used (the port is taken), the old ones are restored and the error thrown.
   */
  private async rebuildDataPlane(next: PlaneParams): Promise<void> {
    const prev = this.plane;
    this.deps.log.info('moving the tunnel', { from: prev, to: next });
    await this.closeDataPlane();
    try {
      await this.openDataPlane(next);
    } catch (err) {
      this.deps.log.error('cannot move the tunnel; keeping the previous settings', {
        error: (err as Error).message,
      });
      await this.openDataPlane(prev);
      throw err;
    } finally {
      // A new device (and maybe a new address): rebind, and register on the new link.
      await this.applyDns(true);
      await this.sync();
      this.changed();
    }
  }

  /** Applies the DNS settings in effect (and the tunnel's address) to the DNS service, without a restart. */
  private async applyDns(deviceChanged = false): Promise<void> {
    const eff = this.effectiveSettings();
    await this.dns?.reconfigure(
      { address: this.hostAddress, port: eff.dnsPort, suffix: eff.dnsSuffix },
      { force: deviceChanged },
    );
  }

  /** Opens a Docker session on the endpoint, wires it to the daemon and starts its event stream. */
  private startDockerWatcher(dockerHost: string | null): DockerSession | undefined {
    const { deps } = this;
    let session: DockerSession;
    try {
      session = new DockerSession({
        dockerHost,
        serviceUid: this.cfg.socketOwner?.uid,
        engine: this.cfg.engine,
        agentDial: this.cfg.agentDial,
        log: deps.log,
        onChange: () => this.changed(),
        onEndpointMoved: (url) => {
          if (this.session !== session) return;
          deps.log.info('Docker is elsewhere now; following it', { from: session.endpoint, to: url });
          void this.restartDockerWatcher();
        },
      });
    } catch (err) {
      deps.log.error('cannot use Docker', { error: (err as Error).message });
      return undefined;
    }
    this.session = session;
    this.dockerEndpoint = session.endpoint;
    const watcher = session.watcher;
    watcher.on('networks', () => void this.sync());
    watcher.on('status', (st) => {
      deps.log.info(`docker ${st.state}`, { endpoint: this.dockerEndpoint, error: st.lastError });
      // Docker (or its VM) went away, and the agent with it: whoever gets its address next is a stranger.
      if (st.state === 'unreachable' && this.dockerWasUp) this.tunnel?.forget('Docker went away');
      this.dockerWasUp = st.state === 'connected';
      this.changed();
      if (st.state === 'connected') session.detectEngine();
      // Docker (or its VM) came back: the agent container may be gone with it.
      if (st.state === 'connected' && this.agentWanted) this.launchAgent().catch(() => undefined);
      // Or back with one nobody wants: a `gangway down` Docker refused while it was away (its restart policy
      // brings the container back, to dial with a revoked key forever), or one a crash left.
      if (st.state === 'connected' && !this.agentWanted) void this.removeUnwantedAgent();
      // A restarted dockerd writes its chains again, maybe over ours.
      if (st.state === 'connected') this.askFirewallRecheck();
    });
    watcher.on('activity', (a) => {
      if (FIREWALL_EVENTS.has(`${a.type} ${a.action}`)) this.askFirewallRecheck();
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
    session.start();
    return session;
  }

  /** Re-plans routes and applies the plan (see RouteSync). */
  private sync(): Promise<void> {
    return this.routeSync.sync();
  }

  private changed(): void {
    this.conn.update();
    this.changes.emit('changed');
  }

  /**
   * The agent went quiet. If Docker does not answer either, its VM is frozen or paused, and the status says so
   * now rather than at the event stream's next re-list (up to 40 s); when Docker answers, nothing changes.
   */
  private askDockerAfterSilentAgent(): void {
    const session = this.session;
    if (!session || session.watcher.status.state !== 'connected') return;
    // Silence ends the session's event stream (DockerSession.answers); an answer changes nothing.
    session.answers().catch(() => undefined);
  }

  private async removeUnwantedAgent(): Promise<void> {
    const { agent, deps } = this;
    if (!agent) return;
    try {
      // down() lists ours and removes what it finds: nothing when there is none.
      const { removed } = await agent.down();
      if (removed.length)
        deps.log.info('removing an agent container that gangway down left behind', {
          ids: removed.map((id) => id.slice(0, 12)),
        });
    } catch (err) {
      deps.log.warn('cannot remove the agent container', { error: (err as Error).message });
    }
  }

  private async launchAgent(): Promise<void> {
    const { agent, docker, agentKeys, cfg, deps, engine } = this;
    if (!agent || !docker || !agentKeys || !engine) return;
    this.conn.launchStarted();
    try {
      // Docker may have been switched (docker context use, another engine started) since gangway up.
      const refusal = await engine.settledRefusal();
      if (refusal) throw new ApiFailure(409, refusal.code, refusal.message);
      if (this.bundleStamp !== bundleInputsStamp(bundleDir()))
        throw new Error(
          `the helper's files in ${bundleDir()} changed since it started (Gangway was updated?): update the helper (the app's Update Helper…, or restart its service), so that the agent it builds is its own version`,
        );
      const image = await ensureAgentImage(docker, {
        bundleDir: bundleDir(),
        log: deps.log,
        ...(cfg.agentBaseImage ? { baseImage: cfg.agentBaseImage } : {}),
        onProgress: (line) => deps.log.debug('agent image build', { line }),
      });
      const target = engine.agentTarget(this.plane.port);
      // A queue count given to the daemon goes to the agent too (so --queues 1 is one queue on both ends);
      // unset, the agent sizes its queues to the VM's CPUs.
      const extraArgs = cfg.queues ? ['--queues', String(cfg.queues)] : [];
      const r = await agent.up({ image: image.tag, ...target, secret: agentKeys, extraArgs });
      this.conn.launchSucceeded();
      this.changed();
      deps.log.info('agent container ready', { image: image.tag, how: image.how, action: r.action });
    } catch (err) {
      const message = (err as Error).message;
      if (this.stopping) {
        // stop() ended its Docker requests; the caller was answered DAEMON_STOPPING already.
        deps.log.info('the agent launch ended with the daemon', { error: message });
        throw err;
      }
      // Down while the launch was in flight: the failure is no longer the user's problem.
      if (this.agentWanted) this.conn.launchFailed(message);
      this.changed();
      deps.log.error('cannot launch the agent container', { error: message });
      if (err instanceof ApiFailure) throw err;
      throw new ApiFailure(503, 'AGENT_LAUNCH_FAILED', `cannot launch the agent container: ${message}`);
    }
  }

  /** The settings in effect: saved values over the daemon's flags. */
  private effectiveSettings(): UserSettings {
    return this.settingsApply.effective();
  }

  /** The endpoint changed: the old session is closed whole and a new one opened. */
  private async restartDockerWatcher(): Promise<void> {
    const old = this.session;
    this.session = undefined;
    await old?.close();
    const next = this.startDockerWatcher(this.effectiveSettings().dockerHost);
    // DNS follows the new engine's containers.
    await this.dns?.replaceIndex(next?.index);
    this.changed();
  }

  /** Sends the agent the configuration (reliably: resent until acknowledged). */
  private pushConfig(): void {
    this.tunnel?.pushConfig();
    this.tunnelDue();
  }

  private tunnelDue(): void {
    const t = this.tunnel;
    if (t) this.ticker?.dueIn(t.msUntilDue());
  }

  /**
   * Docker rewrites its iptables chains when networks and containers come and go, and the agent, which has no
   * Docker socket, would only notice on its slow timer: re-sending the configuration (reliable, acknowledged)
   * makes it check its rules now. One send for a burst of events.
   */
  private askFirewallRecheck(): void {
    clearTimeout(this.recheckTimer);
    this.recheckTimer = setTimeout(() => {
      this.recheckTimer = undefined;
      this.pushConfig();
    }, FIREWALL_RECHECK_DEBOUNCE_MS);
  }

  /** Once per agent session, shortly after it applied its configuration (its rules follow it), so status
   *  shows the firewall without waiting for doctor. */
  private firewallAfterConnect(): void {
    const t = this.tunnel;
    const docker = this.docker;
    const key = t?.peer && t.configAcked ? `${t.peer.address}:${t.peer.port}` : '';
    if (!key || !docker || key === this.firewallAsked) return;
    this.firewallAsked = key;
    setTimeout(() => void this.readFirewall(docker), 1_500).unref();
  }

  /** Asks the agent about the VM's firewall and keeps the answer for status. */
  private async readFirewall(docker: Dockerode): Promise<FirewallRead> {
    const r = await readAgentFirewall(docker);
    const before = JSON.stringify(this.firewall);
    this.firewall = r.ok ? r.report : undefined;
    if (r.ok && r.report.problem && before !== JSON.stringify(this.firewall))
      this.deps.log.warn(r.report.problem, { backend: r.report.backend });
    if (before !== JSON.stringify(this.firewall)) this.changed();
    return r;
  }

  /** Removes routes, closes the tunnel and the socket. Safe to call more than once. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.ticker?.stop();
    this.ticker = undefined;
    clearTimeout(this.recheckTimer);
    if (this.resync) clearInterval(this.resync);
    this.resync = undefined;
    this.routeMonitor?.stop();
    // The Docker event stream is a live socket: left open, it keeps the process from exiting.
    const session = this.session;
    this.session = undefined;
    await session?.close();
    // Waits for a settings change in flight, so the data plane it opens is closed too.
    await this.settingsApply.idle();
    // Before the device goes: the Linux registration is attached to it.
    await this.dns
      ?.stop()
      .catch((err: Error) => this.deps.log.warn('could not stop dns cleanly', { error: err.message }));
    await this.closeDataPlane();
    const control = this.control;
    this.control = undefined;
    if (control) {
      this.events?.close();
      await closeControlServer(control);
    }
    session?.endRequests();
    this.deps.log.info('gangway daemon stopped', {});
  }
}
