// The control API's routes, as data: the app's preload and `gangway ui` let through only these, so a
// compromised page cannot reach anything else on the daemon's socket. Browser-safe (no imports).

export type ApiMethod = 'GET' | 'POST' | 'PATCH';

export const API_ROUTES = [
  { method: 'GET', path: '/v1/version' },
  { method: 'GET', path: '/v1/status' },
  { method: 'GET', path: '/v1/networks' },
  { method: 'POST', path: '/v1/networks/route' },
  { method: 'POST', path: '/v1/networks/join' },
  { method: 'POST', path: '/v1/connect' },
  { method: 'POST', path: '/v1/disconnect' },
  { method: 'GET', path: '/v1/diagnostics' },
  { method: 'GET', path: '/v1/settings' },
  { method: 'PATCH', path: '/v1/settings' },
  { method: 'GET', path: '/v1/logs' },
  { method: 'GET', path: '/v1/containers' },
] as const satisfies readonly { method: ApiMethod; path: string }[];

/** The server-sent event stream (GET): handled apart from request/response routes. */
export const EVENTS_PATH = '/v1/events';

/** Whether METHOD PATH (a path without its query string) is one of the API's routes. */
export function isApiRoute(method: string, path: string): boolean {
  return API_ROUTES.some((r) => r.method === method && r.path === path);
}
