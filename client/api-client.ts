// A small client for the control API over the unix socket, used by the CLI (and the app's main process).
import { request } from 'node:http';
import type { z } from 'zod';
import { API_VERSION, API_VERSION_HEADER, VERSION_HEADER, apiErrorSchema } from '../common/api';

export class ApiClientError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export async function callApi<T extends z.ZodType>(
  socketPath: string,
  method: string,
  path: string,
  schema: T,
  body?: unknown,
  timeoutMs = 10_000,
): Promise<z.infer<T>> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const { status, text, daemonVersion } = await new Promise<{
    status: number;
    text: string;
    daemonVersion: string;
  }>((resolve, reject) => {
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
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            text: Buffer.concat(chunks).toString('utf8'),
            daemonVersion: String(res.headers[VERSION_HEADER] ?? 'unknown'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () =>
      req.destroy(
        new ApiClientError(
          'TIMEOUT',
          `the daemon did not answer within ${timeoutMs / 1000} s (${socketPath})`,
        ),
      ),
    );
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err instanceof ApiClientError) return reject(err);
      const hint =
        err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
          ? `no Gangway daemon is listening on ${socketPath} (start it with "gangway daemon" or "gangway service install")`
          : err.code === 'EACCES'
            ? `permission denied on ${socketPath}: the socket belongs to another user`
            : `cannot reach the daemon on ${socketPath}: ${err.message}`;
      reject(new ApiClientError('DAEMON_UNREACHABLE', hint));
    });
    if (payload) req.write(payload);
    req.end();
  });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ApiClientError(
      'BAD_RESPONSE',
      `the daemon answered ${status} with something that is not JSON`,
      status,
    );
  }
  if (status >= 400) {
    const e = apiErrorSchema.safeParse(json);
    if (!e.success) throw new ApiClientError('BAD_RESPONSE', `the daemon answered ${status}`, status);
    // A daemon that refuses our API version, or does not serve its /vN/ prefix: one code for both.
    if (e.data.error.code === 'VERSION_SKEW' || e.data.error.code === 'UNKNOWN_API_VERSION')
      throw new ApiClientError(
        'VERSION_SKEW',
        `version mismatch with the Gangway helper (daemon ${daemonVersion}): ${e.data.error.message}`,
        status,
      );
    throw new ApiClientError(e.data.error.code, e.data.error.message, status);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new ApiClientError(
      'VERSION_SKEW',
      `the daemon's answer to ${path} does not match this client's version (daemon ${daemonVersion}): update the app/CLI or the helper`,
    );
  }
  return parsed.data;
}
