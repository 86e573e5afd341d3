// The control API's contract (HTTP/1.1 + JSON on a unix socket, versioned under /v1). Both the daemon and
// its clients (CLI, app) validate against these schemas.
import { z } from 'zod';

export const API_VERSION = 1;
/** Sent on every request and response; a daemon refuses a client speaking another API version. */
export const API_VERSION_HEADER = 'x-gangway-api';
export const VERSION_HEADER = 'x-gangway-version';

/** GET /v1/version */
export const versionSchema = z.object({ version: z.string(), apiVersion: z.number() });
export type VersionInfo = z.infer<typeof versionSchema>;

export const apiErrorSchema = z.object({
  error: z.object({ code: z.string(), message: z.string() }),
});
export type ApiError = z.infer<typeof apiErrorSchema>;

const counterMap = z.record(z.string(), z.number());

export const statusSchema = z.object({
  version: z.string(),
  apiVersion: z.number(),
  state: z.enum(['connected', 'waiting']),
  peer: z.string().nullable(),
  lastHeardMs: z.number().nullable(),
  configAcked: z.boolean(),
  tunnel: z.object({
    device: z.string(),
    hostAddress: z.string(),
    agentAddress: z.string(),
    mtu: z.number(),
    listen: z.string(),
    offload: z.boolean(),
  }),
  routes: z.array(z.object({ cidr: z.string(), installed: z.boolean(), error: z.string().optional() })),
  docker: z.object({
    enabled: z.boolean(),
    state: z.enum(['connecting', 'connected', 'unreachable', 'disabled']),
    endpoint: z.string().nullable(),
    lastError: z.string().optional(),
  }),
  settingsWarning: z.string().nullable(),
  agent: z.object({
    /** Whether the user asked for the agent (gangway up) — the daemon keeps it running then. */
    wanted: z.boolean(),
    /** The last failure launching it, if the last attempt failed. */
    lastError: z.string().nullable(),
  }),
  counters: z.object({ pump: counterMap, control: counterMap }),
});
export type Status = z.infer<typeof statusSchema>;

export const networkSchema = z.object({
  id: z.string(),
  name: z.string(),
  driver: z.string(),
  internal: z.boolean(),
  subnets: z.array(z.string()),
  /** The user's choice (or the default for new networks). */
  wanted: z.boolean(),
  /** Wanted, and at least one subnet routed. */
  routed: z.boolean(),
  conflict: z.string().nullable(),
});
export type Network = z.infer<typeof networkSchema>;

export const networksResponseSchema = z.object({
  routeNewNetworks: z.boolean(),
  networks: z.array(networkSchema),
  /** Pairs of network names whose containers may reach each other (gangway join). */
  joins: z.array(z.tuple([z.string(), z.string()])),
});
export type NetworksResponse = z.infer<typeof networksResponseSchema>;

/** POST /v1/networks/route */
export const routeRequestSchema = z
  .object({ network: z.string().min(1).max(512), routed: z.boolean() })
  .strict();

/** POST /v1/networks/join: lets two networks' containers reach each other (joined) or not. */
export const joinRequestSchema = z
  .object({ a: z.string().min(1).max(512), b: z.string().min(1).max(512), joined: z.boolean() })
  .strict();

/** One hop checked by GET /v1/diagnostics (gangway doctor). */
export const diagnosticCheckSchema = z.object({
  id: z.string(),
  title: z.string(),
  status: z.enum(['ok', 'fail', 'warn', 'skip']),
  detail: z.string(),
  fix: z.string().optional(),
});
export type DiagnosticCheck = z.infer<typeof diagnosticCheckSchema>;

/** GET /v1/diagnostics: every hop in order; ok when none failed. */
export const diagnosticsSchema = z.object({ ok: z.boolean(), checks: z.array(diagnosticCheckSchema) });
export type Diagnostics = z.infer<typeof diagnosticsSchema>;
