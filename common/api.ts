// The control API's contract (HTTP/1.1 + JSON on a unix socket, versioned under /v1). Both the daemon and
// its clients (CLI, app) validate against these schemas.
import { z } from 'zod';

export const API_VERSION = 1;

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
  counters: z.object({ pump: counterMap, control: counterMap }),
});
export type Status = z.infer<typeof statusSchema>;
