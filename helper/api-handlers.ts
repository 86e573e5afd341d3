// The control API's handlers: each declared route (common/api-routes.ts) answered from the daemon's parts,
// read through the accessors the daemon hands over (the data plane, the Docker session and DNS are replaced
// while the daemon runs, so they are read on each request, never kept).
import type Dockerode from 'dockerode';
import {
  API_VERSION,
  joinRequestSchema,
  routeRequestSchema,
  type AgentFirewall,
  type ContainersResponse,
  type Diagnostics,
  type DnsStatus,
  type LogsResponse,
  type NetworksResponse,
  type Status,
  type UserSettings,
} from '../common/api';
import { formatCidr, parseCidr } from '../common/cidr';
import { formatEndpoint } from '../common/control-port';
import type { Logger } from '../common/log';
import type { NetPlatform } from '../shared/platform/net-platform';
import type { AgentKeys } from './agent-keys';
import { apiRoutes } from './api-router';
import type { DaemonConfig } from './config';
import type { ConnectionState } from './connection-state';
import { ApiFailure, invalidRequest, type Routes } from './control-server';
import type { DataPlane, PlaneParams } from './data-plane';
import type { DnsService } from './dns/dns-service';
import type { FirewallRead } from './docker/agent-firewall';
import { agentImageTag } from './docker/agent-image';
import { DockerSilentError } from './docker/docker-answers';
import type { DockerSession } from './docker/docker-session';
import { runDoctor } from './doctor';
import { readLogs } from './logs/log-reader';
import { parseLogQuery } from './logs/log-query';
import { probeAddress } from './probe';
import { publicRouteRefusal } from './routes/route-planner';
import type { RouteSync } from './routes/route-sync';
import { auditInstalledService } from './service/service-audit';
import type { SettingsApply } from './settings/settings-apply';
import type { SettingsStore } from './settings/settings-store';
import { VERSION } from './version';

export interface ApiHandlerDeps {
  cfg: Pick<DaemonConfig, 'socket' | 'bind' | 'docker' | 'logFile'>;
  net: NetPlatform;
  log: Logger;
  conn: ConnectionState;
  routeSync: RouteSync;
  settingsApply: SettingsApply;
  settings: () => SettingsStore | undefined;
  session: () => DockerSession | undefined;
  /** The last endpoint a Docker session opened on. */
  dockerEndpoint: () => string | null;
  dataPlane: () => DataPlane | undefined;
  /** The TUN device's name, kept after the data plane closed. */
  device: () => string;
  plane: () => PlaneParams;
  dns: () => DnsService | undefined;
  agentKeys: () => AgentKeys | undefined;
  /** The agent's last firewall report, and asking for a new one. */
  firewall: () => AgentFirewall | undefined;
  readFirewall: (docker: Dockerode) => Promise<FirewallRead>;
  launchAgent: () => Promise<void>;
  sync: () => Promise<void>;
  changed: () => void;
}

export class ApiHandlers {
  private readonly cfg: ApiHandlerDeps['cfg'];
  private readonly deps: { net: NetPlatform; log: Logger };
  private readonly conn: ConnectionState;
  private readonly routeSync: RouteSync;

  constructor(private readonly d: ApiHandlerDeps) {
    this.cfg = d.cfg;
    this.deps = { net: d.net, log: d.log };
    this.conn = d.conn;
    this.routeSync = d.routeSync;
  }

  /** Every declared route with its handler. */
  routes(): Routes {
    return apiRoutes({
      version: () => ({ version: VERSION, apiVersion: API_VERSION }),
      status: () => this.status(),
      networks: () => this.networks(),
      route: ({ body }) => this.setRouted(body),
      join: ({ body }) => this.setJoined(body),
      connect: () => this.connect(),
      disconnect: () => this.disconnect(),
      diagnostics: () => this.diagnostics(),
      containers: () => this.containers(),
      settings: () => this.d.settingsApply.response(),
      saveSettings: ({ body }) => this.d.settingsApply.patch(body),
      logs: ({ query }) => this.logs(query),
    });
  }

  private get settings(): SettingsStore | undefined {
    return this.d.settings();
  }

  private get watcher() {
    return this.d.session()?.watcher;
  }

  private get docker() {
    return this.d.session()?.docker;
  }

  private get agent() {
    return this.d.session()?.agent;
  }

  private get engine() {
    return this.d.session()?.engine;
  }

  private get dockerWarning(): string | undefined {
    return this.d.session()?.warning;
  }

  private get dockerEndpoint(): string | null {
    return this.d.dockerEndpoint();
  }

  private get tunnel() {
    return this.d.dataPlane()?.tunnel;
  }

  private get pump() {
    return this.d.dataPlane()?.pump;
  }

  private get reconciler() {
    return this.d.dataPlane()?.reconciler;
  }

  private get offload(): boolean {
    return this.d.dataPlane()?.offload ?? false;
  }

  private get device(): string {
    return this.d.device();
  }

  private get plane(): PlaneParams {
    return this.d.plane();
  }

  private get hostAddress(): string {
    return this.d.plane().hostAddress;
  }

  private get agentAddress(): string {
    return this.d.plane().agentAddress;
  }

  private get dns(): DnsService | undefined {
    return this.d.dns();
  }

  private get agentKeys(): AgentKeys | undefined {
    return this.d.agentKeys();
  }

  private get firewall(): AgentFirewall | undefined {
    return this.d.firewall();
  }

  private get agentWanted(): boolean {
    return this.conn.agentWanted;
  }

  private effectiveSettings(): UserSettings {
    return this.d.settingsApply.effective();
  }

  private sync(): Promise<void> {
    return this.d.sync();
  }

  private changed(): void {
    this.d.changed();
  }

  private launchAgent(): Promise<void> {
    return this.d.launchAgent();
  }

  private readFirewall(docker: Dockerode): Promise<FirewallRead> {
    return this.d.readFirewall(docker);
  }

  /** gangway up: builds or loads the agent image and (re)creates the agent container in the VM. */
  async connect(): Promise<Status> {
    if (!this.agent)
      throw new ApiFailure(
        409,
        'DOCKER_DISABLED',
        'the daemon runs with --no-docker or could not use Docker',
      );
    const refusal = await this.engine?.settledRefusal();
    if (refusal) throw new ApiFailure(409, refusal.code, refusal.message);
    this.conn.up();
    await this.rememberConnected(true);
    this.changed();
    await this.sync();
    await this.dns?.register();
    const launched = this.launchAgent();
    const session = this.d.session();
    try {
      // launchAgent logs its own failure and keeps it for the status, also one after the answer went out.
      await (session ? session.unlessSilent(launched, () => undefined) : launched);
    } catch (err) {
      if (!(err instanceof DockerSilentError)) throw err;
      throw new ApiFailure(
        503,
        'DOCKER_UNREACHABLE',
        `${err.message}: Gangway launches the agent once Docker answers`,
      );
    }
    return this.status();
  }

  private lateRemovalFailed(err: unknown): void {
    this.deps.log.warn('cannot remove the agent container', { error: (err as Error).message });
  }

  /** gangway down: removes the agent container (its exit removes its firewall rules). */
  async disconnect(): Promise<Status> {
    this.conn.down();
    await this.rememberConnected(false);
    this.changed();
    await this.sync();
    await this.dns?.unregister();
    // The container's key dies with it: a copy of its secret no longer opens a session.
    await this.agentKeys?.revoke();
    this.tunnel?.forget('gangway down removed the agent');
    const session = this.d.session();
    if (session) {
      // Once more after the removal: the agent may have handshaken again while it was being stopped.
      const removed = session.agent.down().then(() => {
        if (!this.agentWanted) this.tunnel?.forget('gangway down removed the agent');
      });
      try {
        await session.unlessSilent(removed, (err) => this.lateRemovalFailed(err));
      } catch (err) {
        throw new ApiFailure(
          503,
          'DOCKER_UNREACHABLE',
          err instanceof DockerSilentError
            ? `${err.message}: the tunnel is down, and the agent's container is removed once Docker answers`
            : `cannot remove the agent container: ${(err as Error).message}`,
        );
      }
    }
    return this.status();
  }

  private async rememberConnected(connected: boolean): Promise<void> {
    try {
      await this.settings?.update((d) => {
        d.connected = connected;
      });
    } catch (err) {
      // Connecting still works; only a restart would not remember it.
      this.deps.log.warn('cannot save the connection state', { error: (err as Error).message });
    }
  }

  /** GET /v1/networks */
  networks(): NetworksResponse {
    return this.routeSync.networks();
  }

  async setRouted(body: unknown): Promise<NetworksResponse> {
    const req = routeRequestSchema.safeParse(body);
    if (!req.success) throw invalidRequest(req.error);
    const net = this.watcher?.networks.find((n) => n.name === req.data.network);
    if (!net)
      throw new ApiFailure(404, 'NO_SUCH_NETWORK', `Docker has no network named "${req.data.network}"`);
    const { routed, allowPublic } = req.data;
    const refusal = publicRouteRefusal(net, routed, allowPublic === true);
    if (refusal) throw new ApiFailure(409, 'PUBLIC_SUBNET', refusal);
    await this.settings?.update((d) => {
      // The explicit word for public addresses is kept with the choice; turning the network off drops it.
      d.networks[req.data.network] = { routed, ...(routed && allowPublic ? { allowPublic: true } : {}) };
    });
    await this.sync();
    return this.networks();
  }

  async setJoined(body: unknown): Promise<NetworksResponse> {
    const req = joinRequestSchema.safeParse(body);
    if (!req.success) throw invalidRequest(req.error);
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

  /** GET /v1/logs?limit=N&level=L&since=ISO */
  logs(query: URLSearchParams): LogsResponse {
    const q = parseLogQuery(query);
    const file = this.cfg.logFile;
    return file ? { file, entries: readLogs(file, q) } : { file: null, entries: [] };
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
    const session = this.d.session();
    const ours = (x: string | undefined) => (x ? parseCidr(x) : undefined);
    return runDoctor({
      version: VERSION,
      socket: this.cfg.socket,
      settingsWarning: s.settingsWarning,
      docker: s.docker,
      agentWanted: this.agentWanted,
      agentError: this.conn.lastError,
      tunnel: {
        state: s.state,
        peer: s.peer,
        lastHeardAgoMs: s.lastHeardMs,
        configAcked: s.configAcked,
        keepaliveMs: this.tunnel?.keepaliveIntervalMs ?? null,
      },
      device,
      installedRoutes: this.reconciler?.installed ?? [],
      service: () => auditInstalledService(),
      networks: (this.routeSync.plan?.networks ?? []).map((n) => ({
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
      agentFirewall: docker ? () => this.readFirewall(docker) : undefined,
      ...(session ? { dockerAnswers: () => session.answers() } : {}),
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
      tunLink: () => deps.net.linkState(device),
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
      phase: this.conn.phase(),
      peer: peer ? formatEndpoint(peer) : null,
      peerLost: t?.peerLost ?? null,
      lastHeardMs: t?.lastHeardAgoMs ?? null,
      configAcked: t?.configAcked ?? false,
      tunnel: {
        device: this.device,
        hostAddress: this.hostAddress,
        agentAddress: this.agentAddress,
        mtu: this.plane.mtu,
        listen: `${this.cfg.bind}:${pump?.localPort() ?? this.plane.port}`,
        offload: this.offload,
        hostAddress6: this.plane.hostAddress6,
        agentAddress6: this.plane.agentAddress6,
        ipv6Off: this.plane.ipv6Off,
      },
      routes: this.routeSync.routes.map((r) => ({ ...r })),
      docker: {
        enabled: this.cfg.docker,
        state: this.watcher?.status.state ?? 'disabled',
        endpoint: this.dockerEndpoint,
        ...(this.engine?.status() ? { engine: this.engine.status() } : {}),
        ...(this.watcher?.status.lastError ? { lastError: this.watcher.status.lastError } : {}),
        ...(this.dockerWarning ? { warning: this.dockerWarning } : {}),
      },
      settingsWarning: this.settings?.warning ?? null,
      dns: this.dnsStatus(),
      agent: {
        wanted: this.agentWanted,
        lastError: this.conn.lastError,
        ...(this.firewall ? { firewall: this.firewall } : {}),
      },
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
        suffix: this.effectiveSettings().dnsSuffix,
        listen: null,
        resolver: null,
        lastError: null,
      }
    );
  }
}
