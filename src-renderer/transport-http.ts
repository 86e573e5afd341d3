// The transport for `gangway ui`: fetch for calls and EventSource for the status stream, both under /api
// on the same origin. The token never lives in a cookie (cookies ignore ports: every other server on
// 127.0.0.1 would get it): the address's fragment hands it to this tab's sessionStorage, which only this
// origin can read, and it travels as an Authorization header; the event stream uses a one-time ticket.
import { API_VERSION, API_VERSION_HEADER } from '../common/api';
import { EVENTS, type ApiMethod } from '../common/api-routes';
import type { Transport } from './transport';

const MAX_BACKOFF_MS = 10_000;
const TOKEN_KEY = 'gangway_ui_token';
const TICKET_PATH = '/ui/ticket';

/**
 * Moves the token from the address (#token=…, never sent to a server) into sessionStorage and drops it from
 * the address bar and history; returns the token this tab holds, if any.
 */
export function takeToken(): string | null {
  const m = /^#token=([A-Za-z0-9_-]+)$/.exec(window.location.hash);
  if (m?.[1]) {
    window.sessionStorage.setItem(TOKEN_KEY, m[1]);
    window.history.replaceState(null, '', window.location.pathname + window.location.search);
  }
  return window.sessionStorage.getItem(TOKEN_KEY);
}

export function createHttpTransport(base = '/api'): Transport {
  const token = takeToken();
  const auth: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  /** A one-time ticket for the event stream, or null when the server refused one. */
  const ticket = async (): Promise<string | null> => {
    try {
      const res = await fetch(TICKET_PATH, { method: 'POST', credentials: 'omit', headers: auth });
      if (!res.ok) return null;
      const body = (await res.json()) as { ticket?: unknown };
      return typeof body.ticket === 'string' ? body.ticket : null;
    } catch {
      return null;
    }
  };
  return {
    async request(method: ApiMethod, path: string, body?: unknown) {
      const res = await fetch(base + path, {
        method,
        credentials: 'omit',
        headers: {
          ...auth,
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
      const retry = () => {
        onConnection(false);
        if (closed) return;
        timer = setTimeout(() => void open(), backoff);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      };
      const open = async () => {
        const t = await ticket();
        if (closed) return;
        if (t === null) return retry();
        source = new EventSource(`${base}${EVENTS.path}?ticket=${encodeURIComponent(t)}`);
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
        // Its own retry would reuse the spent ticket: close it and open anew with a fresh one.
        source.addEventListener('error', () => {
          source?.close();
          retry();
        });
      };
      void open();
      return () => {
        closed = true;
        clearTimeout(timer);
        source?.close();
      };
    },
  };
}
