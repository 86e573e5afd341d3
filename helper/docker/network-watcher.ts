// Follows Docker's networks: a list, then `docker events`, re-listing on every network event rather than
// patching state from event payloads (the list is the truth, events only say it is stale). The event
// stream is opened *before* the first list, so a network created while the list is in flight still
// triggers a re-list and nothing is missed. When Docker goes away (its VM restarted, the stream ended) the
// watcher retries with capped exponential backoff and re-lists once it is back.
import { EventEmitter } from 'node:events';
import type Dockerode from 'dockerode';
import type { FollowerTiming } from './docker-events';
import {
  subscribe,
  type DockerEventHub,
  type EventConsumer,
  type EventSubscription,
} from './docker-event-hub';
import { formatCidr, parseIp } from '../../common/cidr';
import type { Logger } from '../../common/log';

export interface DockerNetwork {
  id: string;
  name: string;
  driver: string;
  internal: boolean;
  /** IPv4 and IPv6 subnets from IPAM.Config, normalised CIDRs. */
  subnets: string[];
  /** The bridge device inside the VM (docker0, br-<12 hex>, or the name set by the network's options). */
  bridge: string;
}

/** A Docker event the watcher saw (container start/die are for consumers such as DNS and the agent). */
export interface DockerActivity {
  type: 'network' | 'container';
  action: string;
  id: string;
  name?: string;
}

export type WatcherState = 'connecting' | 'connected' | 'unreachable';

export interface WatcherStatus {
  state: WatcherState;
  /** The most recent error, kept after reconnecting so it can still be shown. */
  lastError?: string;
  /** When the state last changed (ms since the epoch). */
  since: number;
}

/** The two calls the watcher needs; a Dockerode instance fits, and tests pass a fake. */
export interface DockerEventsClient {
  listNetworks(opts: { abortSignal?: AbortSignal }): Promise<Dockerode.NetworkInspectInfo[]>;
  getEvents(opts: Dockerode.GetEventsOptions & { abortSignal?: AbortSignal }): Promise<NodeJS.ReadableStream>;
}

export interface WatcherOptions extends FollowerTiming {
  log?: Logger;
  /** Follow this shared stream (the endpoint's Docker session owns it) instead of opening one's own. */
  hub?: DockerEventHub;
}

interface WatcherEvents {
  networks: [DockerNetwork[]];
  status: [WatcherStatus];
  activity: [DockerActivity];
}

const BRIDGE_NAME_OPTION = 'com.docker.network.bridge.name';
const WATCHED_ACTIONS = ['create', 'destroy', 'connect', 'disconnect', 'start', 'die'];
/** A single event is a few hundred bytes; anything this long without a newline is not Docker talking. */

/** "10.1.2.3/24" -> "10.1.2.0/24": Docker keeps a subnet as the user typed it, host bits and all. */
export function normaliseSubnet(s: string): string | undefined {
  const [addr = '', len, extra] = s.split('/');
  const ip = parseIp(addr);
  const bits = ip?.family === 4 ? 32 : 128;
  if (!ip || extra !== undefined || len === undefined || !/^\d{1,3}$/.test(len) || Number(len) > bits)
    return undefined;
  const prefix = Number(len);
  const mask = ((1n << BigInt(bits)) - 1n) ^ ((1n << BigInt(bits - prefix)) - 1n);
  return formatCidr({ family: ip.family, network: ip.value & mask, prefix });
}

/** Where an engine keeps its bridges' device names when the Docker-compatible list does not say. */
export type BridgeNameSource = (signal: AbortSignal) => Promise<Map<string, string>>;

/**
 * The networks Gangway can route: local bridges with at least one subnet (not host, none, overlay).
 * `bridgeNames` (network id -> device) wins over Docker's option and its br-<id> default.
 */
export function toDockerNetwork(
  info: Dockerode.NetworkInspectInfo,
  bridgeNames?: Map<string, string>,
): DockerNetwork | undefined {
  if (info.Driver !== 'bridge' || (info.Scope && info.Scope !== 'local')) return undefined;
  const subnets = [
    ...new Set(
      (info.IPAM?.Config ?? [])
        .map((c) => (typeof c.Subnet === 'string' ? normaliseSubnet(c.Subnet) : undefined))
        .filter((c): c is string => !!c),
    ),
  ];
  if (subnets.length === 0) return undefined;
  return {
    id: info.Id,
    name: info.Name,
    driver: info.Driver,
    internal: info.Internal === true,
    subnets,
    bridge: bridgeNames?.get(info.Id) || info.Options?.[BRIDGE_NAME_OPTION] || `br-${info.Id.slice(0, 12)}`,
  };
}

export class NetworkWatcher extends EventEmitter<WatcherEvents> {
  private current: DockerNetwork[] = [];
  private currentKey: string | undefined;
  private st: WatcherStatus = { state: 'connecting', since: Date.now() };
  private readonly events: EventSubscription;
  private readonly log: Logger | undefined;
  /** The live session's re-lister, for polling; undefined between sessions. */
  private relister: (() => Promise<void>) | undefined;
  private poller: NodeJS.Timeout | undefined;
  private bridgeSource: BridgeNameSource | undefined;

  constructor(
    private readonly client: DockerEventsClient,
    opts: WatcherOptions = {},
  ) {
    super();
    this.log = opts.log;
    const consumer: EventConsumer = {
      filters: { type: ['network', 'container'], event: WATCHED_ACTIONS },
      openSession: (signal, fail) => {
        const refresher = this.refresher(signal, fail);
        this.relister = () => refresher.request();
        signal.addEventListener('abort', () => (this.relister = undefined), { once: true });
        return {
          list: () => refresher.request(),
          onLine: (line) => {
            if (this.onEvent(line)) void refresher.request();
          },
        };
      },
      onConnected: () => this.setStatus('connected'),
      onDisconnected: (reason) => this.setStatus('unreachable', reason),
    };
    this.events = subscribe(client, consumer, opts.hub, opts);
  }

  /** The last snapshot. Kept while Docker is unreachable, so routes do not flap when Docker restarts. */
  get networks(): DockerNetwork[] {
    return this.current.map((n) => ({ ...n, subnets: [...n.subnets] }));
  }

  get status(): WatcherStatus {
    return { ...this.st };
  }

  /** Starts following (a shared stream is started by its owner). */
  start(): void {
    this.events.start();
  }

  /**
   * Also re-lists every `ms` (undefined: events only). For engines whose event stream says nothing about
   * networks: Podman 4.3's Docker-compatible API sent no network event for `docker network create` or `rm`.
   */
  pollNetworks(ms: number | undefined): void {
    if (this.poller) clearInterval(this.poller);
    this.poller = undefined;
    if (ms) this.poller = setInterval(() => void this.relister?.().catch(() => undefined), ms);
  }

  /**
   * Takes bridge device names from `source` on every list (undefined: Docker's own names). For Podman, whose
   * compatible API does not say; re-lists at once when connected.
   */
  bridgeNames(source: BridgeNameSource | undefined): void {
    if (source === this.bridgeSource) return;
    this.bridgeSource = source;
    void this.relister?.().catch(() => undefined);
  }

  /** Closes the stream and waits for the loop to finish. Safe to call more than once. */
  stop(): Promise<void> {
    this.pollNetworks(undefined);
    return this.events.stop();
  }

  private setStatus(state: WatcherState, error?: string): void {
    const prev = this.st;
    if (prev.state === state && (error === undefined || error === prev.lastError)) return;
    this.st = {
      state,
      since: prev.state === state ? prev.since : Date.now(),
      ...((error ?? prev.lastError) !== undefined ? { lastError: error ?? prev.lastError } : {}),
    };
    this.log?.[state === 'unreachable' ? 'warn' : 'info']('docker watcher', { ...this.st });
    this.emit('status', this.status);
  }

  /** Re-lists networks, one list at a time; requests during a list cause exactly one more. */
  private refresher(signal: AbortSignal, onError: (err: Error) => void): { request: () => Promise<void> } {
    let running: Promise<void> | undefined;
    let again = false;
    const loop = async () => {
      do {
        again = false;
        const abortSignal = AbortSignal.any([signal, AbortSignal.timeout(this.events.requestTimeout)]);
        const list = await this.client.listNetworks({ abortSignal });
        const names = await this.bridgeNamesOf(abortSignal);
        if (signal.aborted) return;
        this.publish(list, names);
      } while (again && !signal.aborted);
    };
    return {
      request: () => {
        if (running) {
          again = true;
          return running;
        }
        // Started on the next microtask so that `running` is set before any list call can re-enter here.
        running = Promise.resolve()
          .then(loop)
          .catch((err: unknown) => {
            const e = err instanceof Error ? err : new Error(String(err));
            onError(e);
            throw e;
          })
          .finally(() => (running = undefined));
        // Event-driven requests do not await; their failure is reported through onError.
        running.catch(() => undefined);
        return running;
      },
    };
  }

  /** Emits activity; true when the event can change the network list. */
  private onEvent(line: string): boolean {
    let ev: {
      Type?: unknown;
      Action?: unknown;
      Actor?: { ID?: unknown; Attributes?: Record<string, unknown> };
    };
    try {
      ev = JSON.parse(line) as typeof ev;
    } catch {
      this.log?.warn('ignored an unreadable Docker event', { line: line.slice(0, 200) });
      return false;
    }
    const type = ev.Type;
    if ((type !== 'network' && type !== 'container') || typeof ev.Action !== 'string') return false;
    const name = ev.Actor?.Attributes?.name;
    this.emit('activity', {
      type,
      action: ev.Action,
      id: typeof ev.Actor?.ID === 'string' ? ev.Actor.ID : '',
      ...(typeof name === 'string' ? { name } : {}),
    });
    return type === 'network';
  }

  /** The engine's bridge names; a failure keeps Docker's names (logged), so routing never waits on it. */
  private async bridgeNamesOf(signal: AbortSignal): Promise<Map<string, string> | undefined> {
    if (!this.bridgeSource) return undefined;
    try {
      return await this.bridgeSource(signal);
    } catch (err) {
      this.log?.warn('could not read the bridge names (joins may name the wrong bridges)', {
        error: err instanceof Error ? err.message : String(err),
      });
      return undefined;
    }
  }

  private publish(list: Dockerode.NetworkInspectInfo[], bridgeNames?: Map<string, string>): void {
    const networks = list
      .map((info) => toDockerNetwork(info, bridgeNames))
      .filter((n): n is DockerNetwork => !!n)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id < b.id ? -1 : 1));
    const key = JSON.stringify(networks);
    if (key === this.currentKey) return;
    this.current = networks;
    this.currentKey = key;
    this.emit('networks', this.networks);
  }
}
