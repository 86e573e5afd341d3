// One Docker event stream shared by everything that mirrors Docker's state for one endpoint (the network
// watcher, the container index behind DNS). Each consumer keeps its own list and event handling; the hub
// opens one stream with the union of their filters, hands each consumer only the events it asked for, and
// lists for all of them when it (re)connects. One stream per endpoint halves the connections to Docker
// and means every consumer sees Docker come and go at the same moment.
import {
  DockerEventFollower,
  type EventSession,
  type EventStreamClient,
  type FollowerTiming,
} from './docker-events';

export interface EventFilters {
  type: ('container' | 'network')[];
  event: string[];
}

/** What a follower's user provides; the same callbacks DockerEventFollower takes, plus its filters. */
export interface EventConsumer {
  filters: EventFilters;
  openSession: (signal: AbortSignal, fail: (err: Error) => void) => EventSession;
  onConnected: () => void;
  onDisconnected: (reason: string) => void;
}

/** Type and Action of an event line, or undefined when the line is not a readable event. */
function eventKind(line: string): { type: unknown; action: unknown } | undefined {
  try {
    const ev = JSON.parse(line) as { Type?: unknown; Action?: unknown };
    return { type: ev.Type, action: ev.Action };
  } catch {
    return undefined;
  }
}

function wants(f: EventFilters, kind: { type: unknown; action: unknown } | undefined): boolean {
  // An unreadable line goes to everyone: each consumer counts or logs it its own way.
  if (!kind) return true;
  return (
    f.type.some((t) => t === kind.type) && typeof kind.action === 'string' && f.event.includes(kind.action)
  );
}

export class DockerEventHub {
  private readonly consumers: EventConsumer[] = [];
  private readonly filters: EventFilters = { type: [], event: [] };
  private readonly follower: DockerEventFollower;
  private started = false;

  constructor(client: EventStreamClient, timing: FollowerTiming = {}) {
    this.follower = new DockerEventFollower({
      client,
      // Read when each stream opens, so consumers attached before start() are all in it.
      filters: this.filters,
      ...timing,
      openSession: (signal, fail) => this.openSession(signal, fail),
      onConnected: () => this.consumers.forEach((c) => c.onConnected()),
      onDisconnected: (reason) => this.consumers.forEach((c) => c.onDisconnected(reason)),
    });
  }

  /** Bounds a consumer's own requests (lists, inspects) like the stream's. */
  get requestTimeout(): number {
    return this.follower.requestTimeout;
  }

  /** Adds a consumer; only before start(), so every stream serves the same consumers. */
  attach(c: EventConsumer): void {
    if (this.started) throw new Error('a consumer must attach before the event stream starts');
    this.consumers.push(c);
    for (const t of c.filters.type) if (!this.filters.type.includes(t)) this.filters.type.push(t);
    for (const e of c.filters.event) if (!this.filters.event.includes(e)) this.filters.event.push(e);
  }

  start(): void {
    this.started = true;
    this.follower.start();
  }

  /** Closes the stream and waits for its loop to end. Safe to call more than once. */
  stop(): Promise<void> {
    return this.follower.stop();
  }

  /** Ends the open connection with `err` as the reason; the stream reconnects (DockerEventFollower). */
  interrupt(err: Error): void {
    this.follower.interrupt(err);
  }

  private openSession(signal: AbortSignal, fail: (err: Error) => void): EventSession {
    const sessions = this.consumers.map((c) => ({ c, s: c.openSession(signal, fail) }));
    return {
      list: async () => {
        await Promise.all(sessions.map(({ s }) => s.list()));
      },
      onLine: (line) => {
        const kind = eventKind(line);
        for (const { c, s } of sessions) if (wants(c.filters, kind)) s.onLine(line);
      },
    };
  }
}

/** A consumer's hold on an event stream: the endpoint's shared hub, or a hub of its own. */
export interface EventSubscription {
  /** Bounds the consumer's own requests (lists, inspects) like the stream's. */
  readonly requestTimeout: number;
  /** Starts an own stream; a shared one is started by its owner. */
  start(): void;
  /** Stops an own stream; a shared one is stopped by its owner. */
  stop(): Promise<void>;
}

/**
 * Attaches `consumer` to `shared` when given; otherwise to a one-consumer hub it owns, so a standalone watcher
 * or index sees events exactly as it would on the shared stream.
 */
export function subscribe(
  client: EventStreamClient,
  consumer: EventConsumer,
  shared: DockerEventHub | undefined,
  timing: FollowerTiming = {},
): EventSubscription {
  if (shared) {
    shared.attach(consumer);
    return { requestTimeout: shared.requestTimeout, start: () => undefined, stop: () => Promise.resolve() };
  }
  const own = new DockerEventHub(client, timing);
  own.attach(consumer);
  return { requestTimeout: own.requestTimeout, start: () => own.start(), stop: () => own.stop() };
}
