// Typed calls to the control API over whichever transport the window has. Every answer is checked against
// the shared schema: a daemon of another version gets a clear "update" message, not a crash.
import type { z } from 'zod';
import type { LogEntry, SettingsPatch } from '../common/api';
import { ApiError, parseAnswer } from '../common/api-error';
import { ROUTES, routePath, type CallInput, type RouteSpec } from '../common/api-routes';
import type { Transport } from './transport';

export { ApiError };

async function call<R extends RouteSpec>(
  t: Transport,
  route: R,
  input: CallInput<R> = {},
): Promise<z.infer<R['response']>> {
  let answer;
  try {
    answer = await t.request(route.method, routePath(route, input.query), input.body);
  } catch (err) {
    throw new ApiError('DAEMON_UNREACHABLE', `cannot reach Gangway: ${(err as Error).message}`);
  }
  return parseAnswer(route.response, answer, route.path) as z.infer<R['response']>;
}

export function createApi(t: Transport) {
  return {
    status: () => call(t, ROUTES.status),
    networks: () => call(t, ROUTES.networks),
    route: (network: string, routed: boolean, allowPublic = false) =>
      call(t, ROUTES.route, { body: { network, routed, ...(allowPublic ? { allowPublic: true } : {}) } }),
    join: (a: string, b: string, joined: boolean) => call(t, ROUTES.join, { body: { a, b, joined } }),
    connect: () => call(t, ROUTES.connect),
    disconnect: () => call(t, ROUTES.disconnect),
    diagnostics: () => call(t, ROUTES.diagnostics),
    settings: () => call(t, ROUTES.settings),
    saveSettings: (patch: SettingsPatch) => call(t, ROUTES.saveSettings, { body: patch }),
    logs: (limit: number, level: LogEntry['level']) => call(t, ROUTES.logs, { query: { limit, level } }),
    containers: () => call(t, ROUTES.containers),
  };
}
export type Api = ReturnType<typeof createApi>;
