// The local control API: HTTP/1.1 + JSON on a unix socket inside a directory only the owner can open.
// Errors are values ({ error: { code, message } }) with a fitting HTTP status; bodies are capped.
import { chmodSync, chownSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { createConnection } from 'node:net';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { dirname } from 'node:path';
import type { ApiError } from '../common/api';

export const MAX_BODY_BYTES = 64 * 1024;

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export type Handler = (req: { method: string; path: string; body: unknown }) => unknown;
export type Routes = Record<string, Handler>;

function send(res: ServerResponse, status: number, payload: unknown): void {
  const body = JSON.stringify(payload);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function fail(res: ServerResponse, status: number, code: string, message: string): void {
  const err: ApiError = { error: { code, message } };
  send(res, status, err);
}

function readBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(
          new ApiFailure(413, 'BODY_TOO_LARGE', `request bodies are limited to ${MAX_BODY_BYTES} bytes`),
        );
        req.destroy();
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

/** Refuses to start over a socket another daemon is still serving; removes a stale one. */
async function clearStaleSocket(path: string): Promise<void> {
  if (!existsSync(path)) return;
  const alive = await new Promise<boolean>((resolve) => {
    const c = createConnection(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`another Gangway daemon is already listening on ${path}`);
  unlinkSync(path);
}

export interface ControlServerOptions {
  socketPath: string;
  routes: Routes;
  /** uid/gid that may use the socket besides root (the user who installed Gangway). */
  owner?: { uid: number; gid: number };
}

export async function startControlServer(opts: ControlServerOptions): Promise<Server> {
  const dir = dirname(opts.socketPath);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // The directory is the access check: only its owner (and root) can reach the socket inside.
  chmodSync(dir, 0o700);
  if (opts.owner) chownSync(dir, opts.owner.uid, opts.owner.gid);
  await clearStaleSocket(opts.socketPath);

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://gangway');
    const method = req.method ?? 'GET';
    const handler = opts.routes[`${method} ${url.pathname}`];
    if (!handler) {
      const known = Object.keys(opts.routes).some((k) => k.endsWith(` ${url.pathname}`));
      fail(
        res,
        known ? 405 : 404,
        known ? 'METHOD_NOT_ALLOWED' : 'NOT_FOUND',
        `no route ${method} ${url.pathname}`,
      );
      req.resume();
      return;
    }
    readBody(req)
      .then((body) => handler({ method, path: url.pathname, body }))
      .then((value) => send(res, 200, value))
      .catch((err: unknown) => {
        if (err instanceof ApiFailure) fail(res, err.status, err.code, err.message);
        else fail(res, 500, 'INTERNAL', (err as Error).message ?? String(err));
      });
  });
  // Slow or stuck clients must not hold the daemon's sockets forever.
  server.headersTimeout = 5_000;
  server.requestTimeout = 10_000;
  server.maxHeadersCount = 64;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.socketPath, () => resolve());
  });
  chmodSync(opts.socketPath, 0o600);
  if (opts.owner) chownSync(opts.socketPath, opts.owner.uid, opts.owner.gid);
  return server;
}
