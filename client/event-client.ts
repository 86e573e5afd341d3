// Follows the daemon's event stream (GET /v1/events, server-sent events) over the control socket: each
// `state` event carries a full status snapshot. `watchStatus` follows one connection (gangway status
// --watch); `followEvents` reconnects with backoff until stopped (the app's main process).
import { request } from 'node:http';
import { API_VERSION, API_VERSION_HEADER, type Status, statusSchema } from '../common/api';
import { EVENTS } from '../common/api-routes';
import { ApiError } from '../common/api-error';
import { SseParser } from './sse-parser';
import { unreachable } from './socket-request';

type Request = ReturnType<typeof request>;

/** Opens the stream; `onData` gets each `state` event's parsed JSON (torn events are skipped). */
function openStream(
  socketPath: string,
  handlers: {
    onOpen: () => void;
    onData: (json: unknown) => void;
    onEnd: () => void;
    onRefused: (status: number) => void;
    onError: (err: NodeJS.ErrnoException) => void;
  },
  signal?: AbortSignal,
): Request {
  const req = request(
    {
      socketPath,
      method: 'GET',
      path: EVENTS.path,
      headers: { [API_VERSION_HEADER]: String(API_VERSION) },
      ...(signal ? { signal } : {}),
    },
    (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return handlers.onRefused(res.statusCode ?? 0);
      }
      handlers.onOpen();
      const parser = new SseParser();
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        for (const e of parser.push(chunk)) {
          if (e.event !== EVENTS.event) continue;
          let json: unknown;
          try {
            json = JSON.parse(e.data);
          } catch {
            continue; // a torn event: the next one carries the whole state again
          }
          handlers.onData(json);
        }
      });
      res.on('end', handlers.onEnd);
      res.on('error', handlers.onEnd);
    },
  );
  req.on('error', handlers.onError);
  req.end();
  return req;
}

/**
 * Calls `onStatus` with every snapshot until `signal` aborts or the stream ends. Resolves when it ends;
 * rejects with ApiError('DAEMON_UNREACHABLE') when the daemon cannot be reached.
 */
export function watchStatus(
  socketPath: string,
  onStatus: (s: Status) => void,
  signal: AbortSignal,
): Promise<void> {
  // Closes the stream on the caller's abort, or when a snapshot cannot be read.
  const controller = new AbortController();
  if (signal.aborted) controller.abort();
  else signal.addEventListener('abort', () => controller.abort(), { once: true });
  return new Promise((resolve, reject) => {
    openStream(
      socketPath,
      {
        onOpen: () => undefined,
        onData: (json) => {
          const s = statusSchema.safeParse(json);
          if (s.success) return onStatus(s.data);
          // A snapshot this client cannot read is another version's (the stream is the daemon's own): say so,
          // rather than wait on a screen that never fills.
          const daemon = (json as { version?: unknown } | null)?.version;
          reject(
            new ApiError(
              'VERSION_SKEW',
              `the daemon's status does not match this client's version (daemon ${typeof daemon === 'string' ? daemon : 'unknown'}): update the app/CLI or the helper`,
            ),
          );
          controller.abort();
        },
        onEnd: () => resolve(),
        onRefused: (status) =>
          reject(new ApiError('BAD_RESPONSE', `the event stream answered ${status}`, status)),
        onError: (err) => (err.name === 'AbortError' ? resolve() : reject(unreachable(socketPath, err))),
      },
      controller.signal,
    );
  });
}

export interface EventFollower {
  stop(): void;
  /** While the stream is down, tries again now and from the shortest wait on: the caller knows the daemon
   *  should be there (the app just installed it), where the backoff might wait up to 10 s. */
  retryNow(): void;
}

/**
 * Follows the stream: each `state` event's data goes to onStatus (unchecked: the caller tells a version
 * mismatch apart); onUp(false) when the stream drops. Reconnects with exponential backoff (0.5 s … 10 s)
 * until stopped: the daemon restarts, updates, sleeps.
 */
export function followEvents(
  socketPath: string,
  onStatus: (status: unknown) => void,
  onUp: (up: boolean) => void,
): EventFollower {
  let stopped = false;
  let backoff = 500;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let current: Request | undefined;

  function connect(): void {
    let failed = false;
    const fail = () => {
      if (failed) return;
      failed = true;
      onUp(false);
      if (stopped) return;
      timer = setTimeout(() => {
        timer = undefined;
        connect();
      }, backoff);
      backoff = Math.min(backoff * 2, 10_000);
    };
    current = openStream(socketPath, {
      onOpen: () => {
        backoff = 500;
        onUp(true);
      },
      onData: onStatus,
      onEnd: fail,
      onRefused: fail,
      onError: fail,
    });
  }

  connect();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      current?.destroy();
    },
    retryNow() {
      backoff = 500;
      // Only while a retry waits: an open (or opening) stream is left alone.
      if (stopped || timer === undefined) return;
      clearTimeout(timer);
      timer = undefined;
      connect();
    },
  };
}
