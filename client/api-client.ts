// Typed calls to the control API over the unix socket: the CLI's, the Electron main process's and the tests'.
// A call names its route (common/api-routes.ts); the route gives the path, the body's type and the schema
// the answer is checked against.
import type { z } from 'zod';
import { ApiError, parseAnswer } from '../common/api-error';
import { routePath, type CallInput, type RouteSpec } from '../common/api-routes';
import { socketRequest } from './socket-request';

export { ApiError };

export interface CallOptions<R extends RouteSpec> extends CallInput<R> {
  /** Default 10 s; building the agent image the first time takes minutes. */
  timeoutMs?: number;
}

export async function callApi<R extends RouteSpec>(
  socketPath: string,
  route: R,
  opts: CallOptions<R> = {},
): Promise<z.infer<R['response']>> {
  const path = routePath(route, opts.query);
  const answer = await socketRequest(socketPath, route.method, path, opts.body, opts.timeoutMs ?? 10_000);
  return parseAnswer(route.response, answer, route.path, answer.daemonVersion) as z.infer<R['response']>;
}
