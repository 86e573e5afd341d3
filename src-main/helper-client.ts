// The main process's link to the daemon's control socket for the window's bridge: only the API's own
// routes go through, answers are handed on as they came (status + JSON body) for the window to interpret.
// Typed calls and the event stream come from client/.
import { existsSync } from 'node:fs';
import { EVENTS_PATH, isApiRoute, type ApiMethod } from '../common/api-routes';
import { ApiError } from '../common/api-error';
import type { ApiAnswer } from '../common/app-bridge';
import { socketRequest } from '../client/socket-request';

export { followEvents, type EventFollower } from '../client/event-client';

export const BRIDGE_MAX_BODY_BYTES = 64 * 1024;

export class RouteRefused extends Error {}

/** One API call with the answer as it came (status + JSON body), for the window to interpret. */
export async function rawRequest(
  socketPath: string,
  method: ApiMethod,
  path: string,
  body?: unknown,
  timeoutMs = 600_000,
): Promise<ApiAnswer> {
  const pathname = path.split('?')[0] ?? '';
  if (pathname === EVENTS_PATH || !isApiRoute(method, pathname))
    throw new RouteRefused(`no API route ${method} ${pathname}`);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  if (payload && Buffer.byteLength(payload) > BRIDGE_MAX_BODY_BYTES)
    throw new RouteRefused('request body too large');
  try {
    const { status, body: json } = await socketRequest(socketPath, method, path, body, timeoutMs);
    return { status, body: json };
  } catch (err) {
    const e = err instanceof ApiError ? err : new ApiError('DAEMON_UNREACHABLE', (err as Error).message);
    return {
      status: 502,
      body: { error: { code: e.code, message: `cannot reach the Gangway helper: ${e.message}` } },
    };
  }
}

/** Whether a failure to connect means "never installed" (no socket at all) rather than "not running". */
export function helperInstalled(socketPath: string): boolean {
  return existsSync(socketPath);
}
