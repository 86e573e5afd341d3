// One HTTP/1.1 request over the daemon's unix socket, answered as status + JSON body. Failing to reach the
// daemon is an ApiError (DAEMON_UNREACHABLE, TIMEOUT) whose message says what to do.
import { request } from 'node:http';
import { API_VERSION, API_VERSION_HEADER, VERSION_HEADER } from '../common/api';
import { ApiError } from '../common/api-error';
import type { ApiAnswer } from '../common/app-bridge';

export interface SocketAnswer extends ApiAnswer {
  /** The daemon's version (x-gangway-version), for version-mismatch messages. */
  daemonVersion: string;
}

export function unreachable(socketPath: string, err: NodeJS.ErrnoException): ApiError {
  const hint =
    err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
      ? `no Gangway daemon is listening on ${socketPath} (start it with "gangway daemon" or "gangway service install")`
      : err.code === 'EACCES'
        ? `permission denied on ${socketPath}: the socket belongs to another user`
        : `cannot reach the daemon on ${socketPath}: ${err.message}`;
  return new ApiError('DAEMON_UNREACHABLE', hint);
}

export function socketRequest(
  socketPath: string,
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = 10_000,
): Promise<SocketAnswer> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath,
        method,
        path,
        headers: {
          [API_VERSION_HEADER]: String(API_VERSION),
          ...(payload ? { 'content-type': 'application/json' } : {}),
        },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          let json: unknown;
          try {
            json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            json = { error: { code: 'BAD_RESPONSE', message: `answer ${status} is not JSON` } };
          }
          resolve({ status, body: json, daemonVersion: String(res.headers[VERSION_HEADER] ?? 'unknown') });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () =>
      req.destroy(
        new ApiError('TIMEOUT', `the daemon did not answer within ${timeoutMs / 1000} s (${socketPath})`),
      ),
    );
    req.on('error', (err: NodeJS.ErrnoException) =>
      reject(err instanceof ApiError ? err : unreachable(socketPath, err)),
    );
    req.end(payload);
  });
}
