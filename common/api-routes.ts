// Every control-API route, declared once: method, path, request (body or query) and response schemas, and
// the error codes it answers with besides the common ones. The daemon's router, the socket client, the
// window, the app's bridge and `gangway ui` all use these; no other file spells a '/v1/' path.
// Browser-safe (zod and the schemas only).
import type { z } from 'zod';
import {
  containersResponseSchema,
  diagnosticsSchema,
  joinRequestSchema,
  logsResponseSchema,
  networksResponseSchema,
  routeRequestSchema,
  settingsPatchSchema,
  settingsResponseSchema,
  statusSchema,
  versionSchema,
} from './api';

export type ApiMethod = 'GET' | 'POST' | 'PATCH';

export interface RouteSpec {
  readonly method: ApiMethod;
  readonly path: string;
  /** The JSON body's schema, for routes that take one. */
  readonly request?: z.ZodType;
  /** The query parameters it reads (validated by the daemon, which names the rule broken). */
  readonly query?: readonly string[];
  readonly response: z.ZodType;
  /** Codes this route answers with, besides COMMON_ERRORS. */
  readonly errors: readonly string[];
}

/** Codes any route may answer with (the server's own checks). */
export const COMMON_ERRORS = [
  'BAD_JSON',
  'BODY_TOO_LARGE',
  'DAEMON_STOPPING',
  'INTERNAL',
  'METHOD_NOT_ALLOWED',
  'NOT_FOUND',
  'TOO_MANY_HEADERS',
  'UNKNOWN_API_VERSION',
  'VERSION_SKEW',
] as const;

export const ROUTES = {
  version: { method: 'GET', path: '/v1/version', response: versionSchema, errors: [] },
  status: { method: 'GET', path: '/v1/status', response: statusSchema, errors: [] },
  networks: { method: 'GET', path: '/v1/networks', response: networksResponseSchema, errors: [] },
  route: {
    method: 'POST',
    path: '/v1/networks/route',
    request: routeRequestSchema,
    response: networksResponseSchema,
    errors: ['BAD_REQUEST', 'NO_SUCH_NETWORK'],
  },
  join: {
    method: 'POST',
    path: '/v1/networks/join',
    request: joinRequestSchema,
    response: networksResponseSchema,
    errors: ['BAD_REQUEST', 'NO_SUCH_NETWORK'],
  },
  connect: {
    method: 'POST',
    path: '/v1/connect',
    response: statusSchema,
    errors: [
      'DOCKER_DISABLED',
      'DOCKER_UNREACHABLE',
      'ENGINE_ROUTES_ITSELF',
      'ENGINE_ROOTLESS',
      'AGENT_LAUNCH_FAILED',
    ],
  },
  disconnect: {
    method: 'POST',
    path: '/v1/disconnect',
    response: statusSchema,
    errors: ['DOCKER_UNREACHABLE'],
  },
  diagnostics: { method: 'GET', path: '/v1/diagnostics', response: diagnosticsSchema, errors: [] },
  settings: {
    method: 'GET',
    path: '/v1/settings',
    response: settingsResponseSchema,
    errors: ['NOT_READY'],
  },
  saveSettings: {
    method: 'PATCH',
    path: '/v1/settings',
    request: settingsPatchSchema,
    response: settingsResponseSchema,
    errors: ['NOT_READY', 'INVALID_SETTINGS', 'SETTINGS_NOT_APPLIED'],
  },
  logs: {
    method: 'GET',
    path: '/v1/logs',
    query: ['limit', 'level', 'since'],
    response: logsResponseSchema,
    errors: ['BAD_REQUEST'],
  },
  containers: { method: 'GET', path: '/v1/containers', response: containersResponseSchema, errors: [] },
} as const satisfies Record<string, RouteSpec>;

export type RouteName = keyof typeof ROUTES;
export type Route = (typeof ROUTES)[RouteName];

/** The server-sent event stream (GET): `state` events, each a whole status; handled apart from the routes. */
export const EVENTS = {
  method: 'GET',
  path: '/v1/events',
  event: 'state',
  data: statusSchema,
  errors: ['TOO_MANY_CLIENTS'],
} as const;
export const EVENTS_PATH = EVENTS.path;

export const API_ROUTES: readonly Route[] = Object.values(ROUTES);

/** "METHOD PATH": how the router keys its table. */
export function routeKey(r: { method: string; path: string }): string {
  return `${r.method} ${r.path}`;
}

/** Whether METHOD PATH (a path without its query string) is one of the API's routes. */
export function isApiRoute(method: string, path: string): boolean {
  return API_ROUTES.some((r) => r.method === method && r.path === path);
}

/** The path to request: the route's own, with its query parameters (only those it declares). */
export function routePath(route: RouteSpec, query?: Record<string, string | number | undefined>): string {
  if (!query) return route.path;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined) continue;
    if (!route.query?.includes(k)) throw new Error(`${route.path} takes no query parameter "${k}"`);
    q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `${route.path}?${s}` : route.path;
}

/** What a call sends: the body its route declares (typed), and query parameters. */
export interface CallInput<R extends RouteSpec> {
  body?: R['request'] extends z.ZodType ? z.input<R['request']> : never;
  query?: Record<string, string | number | undefined>;
}
