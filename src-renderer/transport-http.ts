// The transport for `gangway ui`: fetch for calls and EventSource for the status stream, both under /api
// on the same origin (the token travels in an HttpOnly cookie the server set).
import { API_VERSION, API_VERSION_HEADER } from '../common/api';
import { EVENTS, type ApiMethod } from '../common/api-routes';
import type { Transport } from './transport';

const MAX_BACKOFF_MS = 10_000;

export function createHttpTransport(base = '/api'): Transport {
  return {
    async request(method: ApiMethod, path: string, body?: unknown) {
      const res = await fetch(base + path, {
        method,
        credentials: 'same-origin',
        headers: {
          [API_VERSION_HEADER]: String(API_VERSION),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      let json: unknown = null;
      try {
        json = JSON.parse(text);
      } catch {
        json = { error: { code: 'BAD_RESPONSE', message: `answer ${res.status} is not JSON` } };
      }
      return { status: res.status, body: json };
    },

    subscribe(onStatus, onConnection) {
      let source: EventSource | undefined;
      let timer: ReturnType<typeof setTimeout> | undefined;
      let backoff = 500;
      let closed = false;
      // EventSource gives up for good on a non-200 answer (the daemon down behind the proxy): reconnect
      // ourselves, with backoff, instead of relying on its own retry.
      const open = () => {
        source = new EventSource(`${base}${EVENTS.path}`, { withCredentials: true });
        source.addEventListener('open', () => {
          backoff = 500;
          onConnection(true);
        });
        source.addEventListener(EVENTS.event, (e) => {
          try {
            onStatus(JSON.parse((e as MessageEvent<string>).data));
          } catch {
            // a torn message: the next one carries the whole state again
          }
        });
        source.addEventListener('error', () => {
          source?.close();
          onConnection(false);
          if (closed) return;
          timer = setTimeout(open, backoff);
          backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
        });
      };
      open();
      return () => {
        closed = true;
        clearTimeout(timer);
        source?.close();
      };
    },
  };
}
