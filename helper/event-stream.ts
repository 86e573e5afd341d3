// GET /v1/events: server-sent events carrying the daemon's status, so the app and `status --watch` need
// not poll. One `state` event at connect and one after each change; bursts of changes coalesce into one.
import type { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiFailure, type StreamHandler } from './control-server';

export type ChangeEvents = { changed: [] };

export interface EventStreamOptions {
  source: EventEmitter<ChangeEvents>;
  snapshot: () => unknown;
  maxClients?: number;
  keepaliveMs?: number;
}

/** A client that leaves this much unread is stuck: it is dropped rather than buffered for. */
const MAX_UNREAD_BYTES = 1024 * 1024;

export class EventStream {
  private readonly clients = new Set<ServerResponse>();
  private readonly maxClients: number;
  private readonly keepaliveMs: number;

  constructor(private readonly opts: EventStreamOptions) {
    this.maxClients = opts.maxClients ?? 32;
    this.keepaliveMs = opts.keepaliveMs ?? 15_000;
  }

  get clientCount(): number {
    return this.clients.size;
  }

  readonly handler: StreamHandler = (req: IncomingMessage, res: ServerResponse) => {
    if (this.clients.size >= this.maxClients)
      throw new ApiFailure(
        503,
        'TOO_MANY_CLIENTS',
        `at most ${this.maxClients} event streams at once; close one first`,
      );
    this.clients.add(res);
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    });
    let pending = false;
    const push = () => {
      if (pending) return;
      pending = true;
      setImmediate(() => {
        pending = false;
        this.write(res, `event: state\ndata: ${JSON.stringify(this.opts.snapshot())}\n\n`);
      });
    };
    // Proxies and the app's watchdog treat a silent stream as dead: a comment line now and then.
    const keepalive = setInterval(() => this.write(res, ': keepalive\n\n'), this.keepaliveMs);
    this.opts.source.on('changed', push);
    res.on('close', () => {
      clearInterval(keepalive);
      this.opts.source.off('changed', push);
      this.clients.delete(res);
    });
    req.resume();
    push();
  };

  private write(res: ServerResponse, text: string): void {
    if (res.writableLength > MAX_UNREAD_BYTES) {
      res.destroy();
      return;
    }
    res.write(text);
  }

  /** Ends every stream (the daemon is stopping; server.close() would otherwise wait for them). */
  close(): void {
    for (const res of this.clients) res.end();
  }
}
