// Typed calls to the control API over whichever transport the window has. Every answer is checked against
// the shared schema: a daemon of another version gets a clear "update" message, not a crash.
import type { z } from 'zod';
import {
  containersResponseSchema,
  diagnosticsSchema,
  logsResponseSchema,
  networksResponseSchema,
  settingsResponseSchema,
  statusSchema,
  type LogEntry,
  type SettingsPatch,
} from '../common/api';
import { ApiError, parseAnswer } from '../common/api-error';
import type { ApiMethod } from '../common/api-routes';
import type { Transport } from './transport';

export { ApiError };

async function call<T extends z.ZodType>(
  t: Transport,
  schema: T,
  method: ApiMethod,
  path: string,
  body?: unknown,
): Promise<z.infer<T>> {
  let answer;
  try {
    answer = await t.request(method, path, body);
  } catch (err) {
    throw new ApiError('DAEMON_UNREACHABLE', `cannot reach Gangway: ${(err as Error).message}`);
  }
  return parseAnswer(schema, answer, path);
}

export function createApi(t: Transport) {
  return {
    status: () => call(t, statusSchema, 'GET', '/v1/status'),
    networks: () => call(t, networksResponseSchema, 'GET', '/v1/networks'),
    route: (network: string, routed: boolean) =>
      call(t, networksResponseSchema, 'POST', '/v1/networks/route', { network, routed }),
    join: (a: string, b: string, joined: boolean) =>
      call(t, networksResponseSchema, 'POST', '/v1/networks/join', { a, b, joined }),
    connect: () => call(t, statusSchema, 'POST', '/v1/connect'),
    disconnect: () => call(t, statusSchema, 'POST', '/v1/disconnect'),
    diagnostics: () => call(t, diagnosticsSchema, 'GET', '/v1/diagnostics'),
    settings: () => call(t, settingsResponseSchema, 'GET', '/v1/settings'),
    saveSettings: (patch: SettingsPatch) => call(t, settingsResponseSchema, 'PATCH', '/v1/settings', patch),
    logs: (limit: number, level: LogEntry['level']) =>
      call(t, logsResponseSchema, 'GET', `/v1/logs?limit=${limit}&level=${level}`),
    containers: () => call(t, containersResponseSchema, 'GET', '/v1/containers'),
  };
}
export type Api = ReturnType<typeof createApi>;
