// The main process's link to the daemon's control socket: plain calls for the window's bridge (only the
// API's own routes), typed calls through helper/api-client, and the event stream with reconnect + backoff.
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { API_VERSION, API_VERSION_HEADER } from '../common/api';
import { EVENTS_PATH, isApiRoute, type ApiMethod } from '../common/api-routes';
import type { ApiAnswer } from '../common/app-bridge';
import { SseParser } from '../client/sse-parser';

export const BRIDGE_MAX_BODY_BYTES = 64 * 1024;

export class RouteRefused extends Error {}

/** One API call with the answer as it came (status + JSON body), for the window to interpret. */
export function rawRequest(
  socketPath: string,
  method: ApiMethod,
  path: string,
  body?: unknown,
  timeoutMs = 600_000,
): Promise<ApiAnswer> {
  const pathname = path.split('?')[0] ?? '';
  if (!isApiRoute(method, pathname))
    return Promise.reject(new RouteRefused(`no API route ${method} ${pathname}`));
  const payload = body === undefined ? undefined : JSON.stringify(body);
  if (payload && Buffer.byteLength(payload) > BRIDGE_MAX_BODY_BYTES)
    return Promise.reject(new RouteRefused('request body too large'));
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath,
        method,
        path,
        timeout: timeoutMs,
        headers: {
          [API_VERSION_HEADER]: String(API_VERSION),
          ...(payload ? { 'content-type': 'application/json' } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = { error: { code: 'BAD_RESPONSE', message: `answer ${res.statusCode} is not JSON` } };
          }
          resolve({ status: res.statusCode ?? 0, body: json });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('the daemon did not answer in time')));
    req.on('error', (err: NodeJS.ErrnoException) =>
      resolve({
        status: 502,
        body: {
          error: { code: 'DAEMON_UNREACHABLE', message: `cannot reach the Gangway helper: ${err.message}` },
        },
      }),
    );
    req.end(payload);
  });
}

/** Whether a failure to connect means "never installed" (no socket at all) rather than "not running". */
export function helperInstalled(socketPath: string): boolean {
  return existsSync(socketPath);
}

export interface EventFollower {
  stop(): void;
}

/**
 * Follows GET /v1/events: each `state` event's data goes to onStatus; onUp(false) when the stream drops.
 * Reconnects with exponential backoff (0.5 s … 10 s) until stopped: the daemon restarts, updates, sleeps.
 */
export function followEvents(
  socketPath: string,
  onStatus: (status: unknown) => void,
  onUp: (up: boolean) => void,
): EventFollower {
  let stopped = false;
  let backoff = 500;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let current: ReturnType<typeof request> | undefined;

  const retry = () => {
    onUp(false);
    if (stopped) return;
    timer = setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, 10_000);
  };

  function connect(): void {
    const parser = new SseParser();
    let failed = false;
    const fail = () => {
      if (failed) return;
      failed = true;
      retry();
    };
    current = request(
      {
        socketPath,
        method: 'GET',
        path: EVENTS_PATH,
        headers: { [API_VERSION_HEADER]: String(API_VERSION) },
      },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          return fail();
        }
        backoff = 500;
        onUp(true);
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          for (const e of parser.push(chunk)) {
            if (e.event !== 'state') continue;
            try {
              onStatus(JSON.parse(e.data));
            } catch {
              // a torn event: the next one carries the whole state again
            }
          }
        });
        res.on('end', fail);
        res.on('error', fail);
      },
    );
    current.on('error', fail);
    current.end();
  }

  connect();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      current?.destroy();
    },
  };
}
