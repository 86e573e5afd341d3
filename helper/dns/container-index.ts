// The running containers and their addresses, for DNS. Like the network watcher, the event stream is opened
// before the first list so nothing is missed; unlike it, events are applied per container (one inspect of
// the container an event names) rather than by re-listing everything, so a restarted container's new
// address is known a few milliseconds after Docker reports it. On reconnect (Docker or its VM restarted)
// everything is listed again; a periodic re-list catches a stream that silently stalled.
import { EventEmitter } from 'node:events';
import type Dockerode from 'dockerode';
import type { Logger } from '../../common/log';
import type { FollowerTiming } from '../docker/docker-events';
import {
  subscribe,
  type DockerEventHub,
  type EventConsumer,
  type EventSubscription,
} from '../docker/docker-event-hub';
import type { ContainerRecord } from './name-table';

export interface ContainerClient {
  listContainers(
    opts: Dockerode.ContainerListOptions & { abortSignal?: AbortSignal },
  ): Promise<Dockerode.ContainerInfo[]>;
  getContainer(id: string): { inspect(opts?: object): Promise<Dockerode.ContainerInspectInfo> };
  getEvents(opts: Dockerode.GetEventsOptions & { abortSignal?: AbortSignal }): Promise<NodeJS.ReadableStream>;
}

export interface ContainerIndexOptions extends FollowerTiming {
  log?: Logger;
  /** Follow this shared stream (the endpoint's Docker session owns it) instead of opening one's own. */
  hub?: DockerEventHub;
}

interface IndexEvents {
  changed: [];
}

/** More running containers than this are not indexed (a bound on memory and on the time to re-list). */
export const MAX_CONTAINERS = 2000;
const INSPECT_PARALLEL = 8;
const CONTAINER_ACTIONS = ['start', 'die', 'destroy', 'rename', 'pause', 'unpause'];
const NETWORK_ACTIONS = ['connect', 'disconnect'];

/** A container's inspect data as the record names are built from; undefined when it is not running. */
export function toContainerRecord(info: Dockerode.ContainerInspectInfo): ContainerRecord | undefined {
  if (!info.State?.Running) return undefined;
  const networks = Object.entries(info.NetworkSettings?.Networks ?? {}).map(([network, ep]) => {
    const e = ep as Dockerode.EndpointSettings & { DNSNames?: string[] | null };
    const aliases = [...new Set([...(e.Aliases ?? []), ...(e.DNSNames ?? [])])].filter(
      (a) => typeof a === 'string',
    );
    return {
      network,
      ipv4: e.IPAddress || null,
      ipv6: e.GlobalIPv6Address || null,
      aliases,
    };
  });
  return {
    id: info.Id,
    name: (info.Name ?? '').replace(/^\//, ''),
    labels: info.Config?.Labels ?? {},
    networks,
  };
}

export class ContainerIndex extends EventEmitter<IndexEvents> {
  private readonly byId = new Map<string, ContainerRecord>();
  private readonly events: EventSubscription;
  private readonly inflight = new Map<string, { again: boolean }>();
  /** Containers that died while a re-list was in flight: the list may still show them running. */
  private diedDuringList: Set<string> | undefined;
  private state: 'connecting' | 'connected' | 'unreachable' = 'connecting';
  private lastReason = '';
  private readonly log: Logger | undefined;

  constructor(
    private readonly client: ContainerClient,
    opts: ContainerIndexOptions = {},
  ) {
    super();
    this.log = opts.log;
    const consumer: EventConsumer = {
      filters: { type: ['container', 'network'], event: [...CONTAINER_ACTIONS, ...NETWORK_ACTIONS] },
      openSession: (signal) => ({
        list: () => this.relist(signal),
        onLine: (line) => this.onEvent(line, signal),
      }),
      onConnected: () => (this.state = 'connected'),
      onDisconnected: (reason) => {
        // Once per outage (or new reason), not at every reconnect attempt while Docker stays down.
        const repeat = this.state === 'unreachable' && reason === this.lastReason;
        this.state = 'unreachable';
        this.lastReason = reason;
        if (!repeat) this.log?.warn('container index: Docker unreachable', { error: reason });
      },
    };
    this.events = subscribe(client, consumer, opts.hub, opts);
  }

  get containers(): ContainerRecord[] {
    return [...this.byId.values()];
  }

  get connected(): boolean {
    return this.state === 'connected';
  }

  /** Starts following (a shared stream is started by its owner). */
  start(): void {
    this.events.start();
  }

  stop(): Promise<void> {
    return this.events.stop();
  }

  private onEvent(line: string, signal: AbortSignal): void {
    let ev: {
      Type?: unknown;
      Action?: unknown;
      Actor?: { ID?: unknown; Attributes?: Record<string, unknown> };
    };
    try {
      ev = JSON.parse(line) as typeof ev;
    } catch {
      return;
    }
    const id =
      ev.Type === 'container'
        ? ev.Actor?.ID
        : ev.Type === 'network'
          ? ev.Actor?.Attributes?.container
          : undefined;
    if (typeof id !== 'string' || !/^[0-9a-f]{12,64}$/.test(id)) return;
    if (ev.Type === 'container' && (ev.Action === 'die' || ev.Action === 'destroy')) {
      // No need to ask Docker: a dead container has no address. Dropping it at once is what makes a
      // stopped container stop resolving immediately.
      this.diedDuringList?.add(id);
      if (this.byId.delete(id)) this.emit('changed');
      return;
    }
    void this.refresh(id, signal);
  }

  /** Re-inspects one container; concurrent requests for the same id cause exactly one more inspect. */
  private async refresh(id: string, signal: AbortSignal): Promise<void> {
    const running = this.inflight.get(id);
    if (running) {
      running.again = true;
      return;
    }
    const slot = { again: true };
    this.inflight.set(id, slot);
    try {
      while (slot.again && !signal.aborted) {
        slot.again = false;
        let rec: ContainerRecord | undefined;
        try {
          rec = toContainerRecord(await this.client.getContainer(id).inspect({ abortSignal: signal }));
        } catch (err) {
          if ((err as { statusCode?: number }).statusCode !== 404) {
            this.log?.debug('container inspect failed', { id, error: (err as Error).message });
            continue;
          }
        }
        if (signal.aborted) return;
        this.apply(id, rec);
      }
    } finally {
      this.inflight.delete(id);
    }
  }

  private apply(id: string, rec: ContainerRecord | undefined): void {
    const before = this.byId.get(id);
    if (rec && !before && this.byId.size >= MAX_CONTAINERS) return;
    if (rec) this.byId.set(id, rec);
    else this.byId.delete(id);
    if (JSON.stringify(before) !== JSON.stringify(rec)) this.emit('changed');
  }

  private async relist(signal: AbortSignal): Promise<void> {
    const died = new Set<string>();
    this.diedDuringList = died;
    try {
      await this.relistOnce(signal, died);
    } finally {
      if (this.diedDuringList === died) this.diedDuringList = undefined;
    }
  }

  private async relistOnce(signal: AbortSignal, died: Set<string>): Promise<void> {
    const list = await this.client.listContainers({
      filters: { status: ['running'] },
      abortSignal: AbortSignal.any([signal, AbortSignal.timeout(this.events.requestTimeout)]),
    });
    const ids = list.map((c) => c.Id).slice(0, MAX_CONTAINERS);
    const fresh = new Map<string, ContainerRecord>();
    for (let i = 0; i < ids.length; i += INSPECT_PARALLEL) {
      const batch = await Promise.all(
        ids.slice(i, i + INSPECT_PARALLEL).map((id) =>
          this.client
            .getContainer(id)
            .inspect({ abortSignal: signal })
            .then(toContainerRecord, () => undefined),
        ),
      );
      for (const r of batch) if (r && !died.has(r.id)) fresh.set(r.id, r);
      if (signal.aborted) return;
    }
    const before = JSON.stringify([...this.byId.entries()].sort());
    this.byId.clear();
    for (const [id, r] of fresh) this.byId.set(id, r);
    if (JSON.stringify([...this.byId.entries()].sort()) !== before) this.emit('changed');
  }
}
