// The local control API: HTTP/1.1 + JSON on a unix socket inside a directory only the owner can open.
// Errors are values ({ error: { code, message } }) with a fitting HTTP status; bodies are capped.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { API_VERSION, API_VERSION_HEADER, VERSION_HEADER, type ApiErrorBody } from '../common/api';
import { orAfter } from './or-after';
import type { ZodError } from 'zod';
import { clearStaleSocket, listenOnSocket, prepareSocketDir } from './control-socket';
import { VERSION } from './version';

export const MAX_BODY_BYTES = 64 * 1024;
/** More headers than this is no client of ours: answered 431 (node itself would silently drop the rest). */
export const MAX_HEADERS = 64;

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Per-field problems, for requests a form sent (settings). */
    readonly fields?: Record<string, string>,
  ) {
    super(message);
  }
}

/**
 * A request body the schema rejected: 400 with every problem in the message, and the first problem of each
 * top-level field in `fields` (what a form shows beside the field).
 */
export function invalidRequest(err: ZodError, code = 'BAD_REQUEST'): ApiFailure {
  const fields: Record<string, string> = {};
  for (const i of err.issues) if (i.path.length) fields[String(i.path[0])] ??= i.message;
  const message = err.issues
    .map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join('; ');
  return new ApiFailure(400, code, message, Object.keys(fields).length ? fields : undefined);
}

export type Handler = (req: {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
}) => unknown;
export type Routes = Record<string, Handler>;
/** A long-lived response (the event stream): it owns res. May throw ApiFailure before writing anything. */
export type StreamHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** A stop answers what is under way (closeControlServer); its handler may still finish, and then says nothing. */
const answered = (res: ServerResponse) => res.headersSent || res.writableEnded;

function send(res: ServerResponse, status: number, payload: unknown): void {
  if (answered(res)) return;
  const body = JSON.stringify(payload);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function fail(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  fields?: Record<string, string>,
): void {
  const err: ApiErrorBody = { error: { code, message, ...(fields ? { fields } : {}) } };
  send(res, status, err);
}

const tooLarge = () =>
  new ApiFailure(413, 'BODY_TOO_LARGE', `request bodies are limited to ${MAX_BODY_BYTES} bytes`);

function readBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      if (size > MAX_BODY_BYTES) return; // already refused; the rest is dropped until the 413 is out
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(tooLarge());
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (size === 0) return resolve(undefined);
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(new ApiFailure(400, 'BAD_JSON', 'the request body is not valid JSON'));
      }
    });
    req.on('error', reject);
  });
}

/** Refusals that do not depend on the route: too many headers, API version skew, oversize bodies. */
function precheck(req: IncomingMessage, path: string): ApiFailure | undefined {
  if (req.rawHeaders.length / 2 > MAX_HEADERS)
    return new ApiFailure(431, 'TOO_MANY_HEADERS', `requests may carry at most ${MAX_HEADERS} headers`);
  const spoken = req.headers[API_VERSION_HEADER];
  if (spoken !== undefined && spoken !== String(API_VERSION))
    return new ApiFailure(
      400,
      'VERSION_SKEW',
      `this daemon speaks API ${API_VERSION}, the client speaks API ${String(spoken)}: update the app/CLI or the helper`,
    );
  const prefix = /^\/v(\d+)\//.exec(path);
  if (prefix && prefix[1] !== String(API_VERSION))
    return new ApiFailure(
      404,
      'UNKNOWN_API_VERSION',
      `this daemon serves API v${API_VERSION} (/v${API_VERSION}/...), not /v${prefix[1]}/: update the app/CLI or the helper`,
    );
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) return tooLarge();
  return undefined;
}

export interface ControlServerOptions {
  socketPath: string;
  routes: Routes;
  /** Long-lived GET routes (server-sent events), by path. */
  streams?: Record<string, StreamHandler>;
  /** uid/gid that may use the socket besides root (the user who installed Gangway). */
  owner?: { uid: number; gid: number };
  /** Remembers the socket directory the daemon created, so a later run may hand it to a new owner. */
  socketDirRecord?: string;
}

const HEADERS_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;
/** Node's own check of headersTimeout/requestTimeout runs on an interval for the server's whole life, with
 *  or without clients; this (setInterval's longest, 24.8 days) keeps it from ever waking an idle daemon. */
const NODE_CHECK_NEVER_MS = 2 ** 31 - 1;

/**
 * Deadlines of each connection's own, which live only as long as it does, in place of Node's server-wide
 * check (every 30 s by default: two wake-ups a minute of an idle daemon, bench/README.md): a connection must
 * send a request's headers within HEADERS_TIMEOUT_MS (when it opens, and after each answer on a kept-alive
 * connection) and the whole request within REQUEST_TIMEOUT_MS, or it is closed. An event stream's request is
 * complete once its headers are in, so the stream itself may last.
 */
function guardConnections(server: Server): void {
  // A connection's one deadline: until a request's headers (no request given) or until that request is whole.
  const deadlines = new WeakMap<Socket, (ms: number, req?: IncomingMessage) => void>();
  server.on('connection', (socket: Socket) => {
    let timer: NodeJS.Timeout | undefined;
    const arm = (ms: number, req?: IncomingMessage) => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        if (!req?.complete) socket.destroy();
      }, ms);
    };
    arm(HEADERS_TIMEOUT_MS);
    deadlines.set(socket, arm);
    socket.once('close', () => clearTimeout(timer));
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const arm = deadlines.get(req.socket);
    if (!arm) return;
    arm(REQUEST_TIMEOUT_MS, req);
    res.once('finish', () => arm(HEADERS_TIMEOUT_MS));
  });
}

/** Requests each server is still working on (an event stream counts until it ends): what a stop answers. */
const inFlight = new WeakMap<Server, Set<ServerResponse>>();

function trackRequests(server: Server): void {
  const active = new Set<ServerResponse>();
  inFlight.set(server, active);
  server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
    active.add(res);
    res.once('close', () => active.delete(res));
  });
}

/** How long requests under way get to finish once the daemon stops (closeControlServer). */
export const STOP_GRACE_MS = 2_000;
/** Then how long the answers to the rest get to leave before their connections are cut. */
const STOP_FLUSH_MS = 500;

/**
 * Stops taking connections, gives the requests under way `graceMs` to finish, answers the rest 503
 * DAEMON_STOPPING and closes every connection. Node's own close() waits for every request, and one waiting on a
 * Docker that does not answer (`down` while its VM is frozen, `up` building the agent's image) would hold the
 * daemon past its service manager's stop timeout, whose kill leaves the DNS registration behind.
 */
export async function closeControlServer(server: Server, graceMs = STOP_GRACE_MS): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const active = inFlight.get(server) ?? new Set<ServerResponse>();
  await orAfter(closed, graceMs, () => undefined);
  for (const res of active) {
    if (res.headersSent) {
      res.end();
      continue;
    }
    res.setHeader('connection', 'close');
    fail(
      res,
      503,
      'DAEMON_STOPPING',
      'the daemon stopped before this request finished; what it did so far stays done: ask again once it runs',
    );
  }
  await orAfter(closed, STOP_FLUSH_MS, () => undefined);
  server.closeAllConnections();
  await closed;
}

export async function startControlServer(opts: ControlServerOptions): Promise<Server> {
  // The directory is the access check: only its owner (and root) can reach the socket inside.
  const handOver = await prepareSocketDir(opts.socketPath, {
    ...(opts.owner ? { owner: opts.owner } : {}),
    ...(opts.socketDirRecord ? { recordFile: opts.socketDirRecord } : {}),
  });
  await clearStaleSocket(opts.socketPath);

  const streams = opts.streams ?? {};
  // The deadlines are the connections' own (guardConnections), so Node's check never needs to run.
  const server = createServer({ connectionsCheckingInterval: NODE_CHECK_NEVER_MS }, (req, res) => {
    // Every answer says which API and build it comes from, so a client can tell skew from a bug.
    res.setHeader(API_VERSION_HEADER, String(API_VERSION));
    res.setHeader(VERSION_HEADER, VERSION);
    const refuse = (err: ApiFailure) => {
      if (answered(res)) return;
      // The body may still be arriving: answer, then drop the connection rather than read it all.
      res.setHeader('connection', 'close');
      fail(res, err.status, err.code, err.message, err.fields);
      res.on('finish', () => req.destroy());
    };
    const url = new URL(req.url ?? '/', 'http://gangway');
    const method = req.method ?? 'GET';
    const check = precheck(req, url.pathname);
    if (check) return refuse(check);
    const key = `${method} ${url.pathname}`;
    const stream = streams[url.pathname];
    if (stream && method === 'GET') {
      try {
        stream(req, res);
      } catch (err) {
        if (err instanceof ApiFailure) refuse(err);
        else refuse(new ApiFailure(500, 'INTERNAL', (err as Error).message ?? String(err)));
      }
      return;
    }
    const handler = opts.routes[key];
    if (!handler) {
      const known =
        stream !== undefined || Object.keys(opts.routes).some((k) => k.endsWith(` ${url.pathname}`));
      return refuse(
        new ApiFailure(
          known ? 405 : 404,
          known ? 'METHOD_NOT_ALLOWED' : 'NOT_FOUND',
          `no route ${method} ${url.pathname}`,
        ),
      );
    }
    readBody(req)
      .then((body) => handler({ method, path: url.pathname, query: url.searchParams, body }))
      .then((value) => send(res, 200, value))
      .catch((err: unknown) => {
        if (err instanceof ApiFailure) refuse(err);
        else fail(res, 500, 'INTERNAL', (err as Error).message ?? String(err));
      });
  });
  // Slow or stuck clients must not hold the daemon's sockets forever.
  guardConnections(server);
  trackRequests(server);
  // One over the limit, so precheck() can see that a request went past it.
  server.maxHeadersCount = MAX_HEADERS + 1;
  try {
    await listenOnSocket(server, opts.socketPath, opts.owner, handOver);
  } catch (err) {
    // Bound but not safely handed over (the socket was swapped): nobody may use this one.
    server.close();
    throw err;
  }
  return server;
}
