// Following Docker's event stream, for everything that mirrors Docker's state (the network watcher, the
// container index behind DNS): open the stream, list what is followed, apply each event line, re-list now
// and then, and when the stream ends or fails (Docker or its VM restarted), reconnect with backoff for as
// long as the follower runs. What is listed and how an event is applied belong to the user of this class.
import type Dockerode from 'dockerode';
import { LineBuffer } from '../../common/line-buffer';

export interface EventStreamClient {
  getEvents(opts: Dockerode.GetEventsOptions & { abortSignal?: AbortSignal }): Promise<NodeJS.ReadableStream>;
}

/** One connection's work. `signal` aborts when the connection ends; `fail` ends it with an error. */
export interface EventSession {
  /** Lists the followed state: once when connected, then every `resyncMs`. A rejection ends the session. */
  list(): Promise<void>;
  /** One line of the stream (a JSON event). Must not throw. */
  onLine(line: string): void;
}

/** How patiently a follower talks to Docker; every field has a default. */
export interface FollowerTiming {
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Re-list this often even without events: catches a stream that silently stalled. */
  resyncMs?: number;
  /** Give up on a list or on opening the stream after this long. */
  requestTimeoutMs?: number;
}

export interface DockerEventFollowerOptions extends FollowerTiming {
  client: EventStreamClient;
  filters: { type: ('container' | 'network')[]; event: string[] };
  openSession: (signal: AbortSignal, fail: (err: Error) => void) => EventSession;
  /** The first list after (re)connecting succeeded. */
  onConnected: () => void;
  /** The connection ended (not called after stop()). */
  onDisconnected: (reason: string) => void;
}

/** A longer line is not an event Docker sends: the stream is taken as broken. */
const MAX_LINE = 1024 * 1024;

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function destroy(stream: NodeJS.ReadableStream): void {
  (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
}

export class DockerEventFollower {
  private stopped = true;
  private loop: Promise<void> | undefined;
  private abort: AbortController | undefined;
  /** Ends the connection that is open, if one is (interrupt()). */
  private failCurrent: ((err: Error) => void) | undefined;
  private wake: (() => void) | undefined;
  private readonly minBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly resyncMs: number;
  private readonly requestTimeoutMs: number;

  constructor(private readonly o: DockerEventFollowerOptions) {
    this.minBackoffMs = o.minBackoffMs ?? 250;
    this.maxBackoffMs = o.maxBackoffMs ?? 5_000;
    this.resyncMs = o.resyncMs ?? 30_000;
    this.requestTimeoutMs = o.requestTimeoutMs ?? 10_000;
  }

  /** For the follower's user, to bound its own requests (lists, inspects) the same way. */
  get requestTimeout(): number {
    return this.requestTimeoutMs;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.run();
  }

  /**
   * Ends the current connection with `err` as the reason, as a failed request would; the loop reconnects with
   * its backoff. For what the stream cannot see: a frozen VM keeps it open without a word.
   */
  interrupt(err: Error): void {
    this.failCurrent?.(err);
  }

  /** Closes the stream and waits for the loop to finish. Safe to call more than once. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    this.wake?.();
    await this.loop;
    this.loop = undefined;
  }

  private async run(): Promise<void> {
    let backoff = this.minBackoffMs;
    while (!this.stopped) {
      let connected = false;
      try {
        await this.session(() => (connected = true));
        if (!this.stopped) this.o.onDisconnected('the Docker event stream ended');
      } catch (err) {
        if (!this.stopped) this.o.onDisconnected(errorText(err));
      }
      if (connected) backoff = this.minBackoffMs;
      await this.sleep(backoff);
      backoff = Math.min(backoff * 2, this.maxBackoffMs);
    }
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }

  /** One connection: open the stream, list, then apply events until the stream ends or fails. */
  private async session(onConnected: () => void): Promise<void> {
    const abort = new AbortController();
    this.abort = abort;
    const openTimer = setTimeout(
      () => abort.abort(new Error('Docker did not answer in time')),
      this.requestTimeoutMs,
    );
    let stream: NodeJS.ReadableStream;
    try {
      stream = await this.o.client.getEvents({ filters: this.o.filters, abortSignal: abort.signal });
    } finally {
      clearTimeout(openTimer);
    }
    let fail: (err: Error) => void = () => undefined;
    let resyncTimer: NodeJS.Timeout | undefined;
    try {
      const ended = new Promise<void>((resolve, reject) => {
        fail = reject;
        this.failCurrent = reject;
        stream.once('end', () => resolve());
        stream.once('close', () => resolve());
        stream.once('error', (err: Error) => reject(err));
      });
      // Rejections are read by `await ended` below; until then they must not count as unhandled.
      ended.catch(() => undefined);
      // An abort (stop) may already have happened while the stream opened.
      if (abort.signal.aborted) return;
      abort.signal.addEventListener('abort', () => destroy(stream), { once: true });
      const work = this.o.openSession(abort.signal, (err) => fail(err));
      const lines = new LineBuffer({ maxPending: MAX_LINE, overflow: 'fail' });
      stream.on('data', (chunk: Buffer | string) => {
        let complete: string[];
        try {
          complete = lines.push(chunk);
        } catch {
          return fail(new Error('unreadable Docker event stream'));
        }
        for (const line of complete) if (line.trim()) work.onLine(line);
      });
      await work.list();
      if (abort.signal.aborted) return;
      onConnected();
      this.o.onConnected();
      resyncTimer = setInterval(() => void work.list().catch((err: Error) => fail(err)), this.resyncMs);
      await ended;
    } finally {
      this.failCurrent = undefined;
      clearInterval(resyncTimer);
      abort.abort();
      destroy(stream);
    }
  }
}
