// `gangway ui`'s web server: serves the app's renderer (dist/ui) on loopback and forwards /api/v1/* to the
// daemon's control socket. Anything on the machine (and any web page, through the browser) can reach a
// loopback port, so every API request needs the per-run token, the Host header must name this server (a
// DNS-rebinding page sends its own host name), and only the API's own routes are let through.
//
// Where the token lives: never in a cookie. Cookies ignore ports, so the browser would hand a cookie for
// 127.0.0.1 to every other server on 127.0.0.1 it visits. The printed address carries the token in its
// fragment (#token=…), which browsers never send to any server; the page moves it into sessionStorage (read
// only by this origin: scheme, host and port) and sends it as an Authorization header. EventSource cannot
// send headers, so the event stream is opened with a one-time ticket the page fetches with the header. The
// static files (the app's code, no secret) are served without the token.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, resolve, sep } from 'node:path';
import { API_VERSION_HEADER, VERSION_HEADER } from '../common/api';
import { EVENTS_PATH, isApiRoute } from '../common/api-routes';

export const UI_MAX_BODY_BYTES = 64 * 1024;
/** POST here with the token: a one-time ticket for the event stream (GET /api/v1/events?ticket=…). */
export const TICKET_PATH = '/ui/ticket';
export const TICKET_TTL_MS = 30_000;
/** Unused tickets kept at most; the oldest goes first. */
const MAX_TICKETS = 64;

export interface UiServerOptions {
  /** The daemon's control socket. */
  socketPath: string;
  /** The built renderer (index.html, app.js, app.css). */
  staticDir: string;
  /** 0 picks a free port. */
  port: number;
  /** Given by tests; otherwise a fresh random one per run. */
  token?: string;
}

export interface UiServer {
  server: Server;
  port: number;
  token: string;
  /** The address to open, the token in its fragment. */
  url: string;
  close(): Promise<void>;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.map': 'application/json',
};

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; frame-src 'none'; object-src 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // Never hand an address of ours on (the event stream's carries a ticket).
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

function sendJson(res: ServerResponse, status: number, code: string, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

function sameToken(given: string | undefined | null, token: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function bearerToken(req: IncomingMessage): string | undefined {
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  return m?.[1];
}

/** Hosts a browser may legitimately send for this server; a rebinding attack sends its own name. */
function allowedHosts(port: number): Set<string> {
  return new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
}

/** Forwards one API call (or the event stream) to the daemon's socket, streaming the answer back. */
function proxy(
  req: IncomingMessage,
  res: ServerResponse,
  socketPath: string,
  apiPath: string,
  search: string,
): void {
  let size = 0;
  const chunks: Buffer[] = [];
  let refused = false;
  req.on('data', (c: Buffer) => {
    if (refused) return;
    size += c.length;
    if (size > UI_MAX_BODY_BYTES) {
      refused = true;
      res.setHeader('connection', 'close');
      sendJson(res, 413, 'BODY_TOO_LARGE', `request bodies are limited to ${UI_MAX_BODY_BYTES} bytes`);
      res.on('finish', () => req.destroy());
      return;
    }
    chunks.push(c);
  });
  req.on('end', () => {
    if (refused) return;
    const body = Buffer.concat(chunks);
    const headers: Record<string, string> = {};
    const apiVersion = req.headers[API_VERSION_HEADER];
    if (typeof apiVersion === 'string') headers[API_VERSION_HEADER] = apiVersion;
    if (body.length > 0) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(body.length);
    }
    const upstream = httpRequest(
      { socketPath, method: req.method, path: apiPath + search, headers },
      (up) => {
        const out: Record<string, string> = {
          ...SECURITY_HEADERS,
          'content-type': String(up.headers['content-type'] ?? 'application/json'),
        };
        for (const h of [API_VERSION_HEADER, VERSION_HEADER]) {
          const v = up.headers[h];
          if (typeof v === 'string') out[h] = v;
        }
        res.writeHead(up.statusCode ?? 502, out);
        // Server-sent events must reach the browser as they come, not when the stream ends.
        res.flushHeaders();
        up.pipe(res);
        up.on('error', () => res.destroy());
      },
    );
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      if (res.headersSent) return res.destroy();
      const unreachable = err.code === 'ENOENT' || err.code === 'ECONNREFUSED' || err.code === 'EACCES';
      sendJson(
        res,
        502,
        'DAEMON_UNREACHABLE',
        unreachable
          ? `no Gangway daemon answers on ${socketPath} (${err.code}): start it with "gangway service install"`
          : `cannot reach the daemon: ${err.message}`,
      );
    });
    // The browser went away (a closed tab ends its event stream): let the daemon's stream go too.
    res.on('close', () => upstream.destroy());
    upstream.end(body);
  });
}

async function serveStatic(res: ServerResponse, staticDir: string, pathname: string): Promise<void> {
  const rel = pathname === '/' ? 'index.html' : decodeURIComponent(pathname.slice(1));
  const root = resolve(staticDir);
  const file = resolve(join(root, rel));
  const type = CONTENT_TYPES[extname(file)];
  if (!file.startsWith(root + sep) || !type) return sendJson(res, 404, 'NOT_FOUND', `no file ${pathname}`);
  let data: Buffer;
  try {
    data = await readFile(file);
  } catch {
    return sendJson(res, 404, 'NOT_FOUND', `no file ${pathname}`);
  }
  res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': data.length });
  res.end(data);
}

/** One-time tickets for the event stream: random, short-lived, each good for one GET. */
class Tickets {
  private readonly live = new Map<string, number>();

  issue(now = Date.now()): string {
    for (const [t, expires] of this.live) if (expires <= now) this.live.delete(t);
    while (this.live.size >= MAX_TICKETS) this.live.delete(this.live.keys().next().value!);
    const ticket = randomBytes(24).toString('base64url');
    this.live.set(ticket, now + TICKET_TTL_MS);
    return ticket;
  }

  /** True once for a ticket that was issued and has not expired. */
  redeem(ticket: string | null, now = Date.now()): boolean {
    if (!ticket) return false;
    const expires = this.live.get(ticket);
    this.live.delete(ticket);
    return expires !== undefined && expires > now;
  }
}

export async function startUiServer(opts: UiServerOptions): Promise<UiServer> {
  const token = opts.token ?? randomBytes(24).toString('base64url');
  const tickets = new Tickets();
  let hosts = new Set<string>();
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (!hosts.has(req.headers.host ?? ''))
      return sendJson(
        res,
        421,
        'BAD_HOST',
        'this server answers only as 127.0.0.1 or localhost (a page under another name was refused)',
      );
    const method = req.method ?? 'GET';
    const isApi = url.pathname.startsWith('/api/');
    if (!isApi && url.pathname !== TICKET_PATH) {
      // The app's own files: no secret in them, and the first page load cannot carry the token.
      if (method !== 'GET' && method !== 'HEAD')
        return sendJson(res, 405, 'METHOD_NOT_ALLOWED', `${method} ${url.pathname}`);
      return void serveStatic(res, opts.staticDir, url.pathname).catch(() => res.destroy());
    }
    // A cross-site page cannot set the Authorization header without a preflight we never answer; a
    // same-site one must still say who it is.
    const origin = req.headers.origin;
    if (origin !== undefined && !hosts.has(origin.replace(/^http:\/\//, '')))
      return sendJson(res, 403, 'BAD_ORIGIN', `requests from ${origin} are refused`);
    const apiPath = url.pathname.slice('/api'.length);
    const isEvents = isApi && apiPath === EVENTS_PATH && method === 'GET';
    const byTicket = isEvents && tickets.redeem(url.searchParams.get('ticket'));
    if (!byTicket && !sameToken(bearerToken(req), token))
      return sendJson(
        res,
        401,
        'NO_TOKEN',
        'open the address "gangway ui" printed (it carries a token for this run, for this tab)',
      );
    if (!isApi) {
      if (method !== 'POST') return sendJson(res, 405, 'METHOD_NOT_ALLOWED', `${method} ${url.pathname}`);
      const body = JSON.stringify({ ticket: tickets.issue() });
      res.writeHead(200, {
        ...SECURITY_HEADERS,
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      });
      return res.end(body);
    }
    if (!isEvents && !isApiRoute(method, apiPath))
      return sendJson(res, 404, 'NOT_FOUND', `no API route ${method} ${apiPath}`);
    // The ticket is ours, not the daemon's.
    url.searchParams.delete('ticket');
    return proxy(req, res, opts.socketPath, apiPath, url.search);
  });
  server.headersTimeout = 5_000;
  // The event stream is long-lived: no whole-request timeout.
  server.requestTimeout = 0;
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(opts.port, '127.0.0.1', () => resolveListen());
  });
  const port = (server.address() as AddressInfo).port;
  hosts = allowedHosts(port);
  return {
    server,
    port,
    token,
    url: `http://127.0.0.1:${port}/#token=${token}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
