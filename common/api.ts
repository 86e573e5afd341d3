// The control API's contract (HTTP/1.1 + JSON on a unix socket, versioned under /v1). Both the daemon and
// its clients (CLI, app) validate against these schemas.
import { parse as parseDomain } from 'tldts';
import { z } from 'zod';
import { parseCidr } from './cidr';
import { PRIVATE_RANGES, isPrivateSubnet } from './private-ranges';
import { PHASES } from './phase';

export const API_VERSION = 1;
/** Sent on every request and response; a daemon refuses a client speaking another API version. */
export const API_VERSION_HEADER = 'x-gangway-api';
export const VERSION_HEADER = 'x-gangway-version';

/** GET /v1/version */
export const versionSchema = z.object({ version: z.string(), apiVersion: z.number() });
export type VersionInfo = z.infer<typeof versionSchema>;

export const apiErrorSchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    /** Per-field problems of a rejected request (settings), keyed by field name, for inline errors. */
    fields: z.record(z.string(), z.string()).optional(),
  }),
});
export type ApiErrorBody = z.infer<typeof apiErrorSchema>;

/** Gangway's DNS server, in status and GET /v1/containers. */
export const dnsStatusSchema = z.object({
  enabled: z.boolean(),
  suffix: z.string(),
  /** addr:port the server answers on, once it listens. */
  listen: z.string().nullable(),
  /** Where it is registered with the OS (a /etc/resolver file, a systemd-resolved link), if it is. */
  resolver: z.string().nullable(),
  lastError: z.string().nullable(),
});
export type DnsStatus = z.infer<typeof dnsStatusSchema>;

const counterMap = z.record(z.string(), z.number());

/** Where Docker's iptables chains are in the VM and how many of the agent's rules are there. */
export const agentFirewallSchema = z.object({
  backend: z.enum(['nft', 'legacy', 'none']),
  command: z.string(),
  dockerUser: z.boolean(),
  rules: z.number(),
  /** The agent's ip6tables rules, when IPv6 is on (agents before IPv6 never send it). */
  rules6: z.number().optional(),
  problem: z.string().optional(),
});
export type AgentFirewall = z.infer<typeof agentFirewallSchema>;

export const statusSchema = z.object({
  version: z.string(),
  apiVersion: z.number(),
  /** The tunnel's own state: an agent is handshaken and heard from, or not. */
  state: z.enum(['connected', 'waiting']),
  /** The connection's one phase (intent, Docker, agent, tunnel): what the tray, window and CLI show. */
  phase: z.enum(PHASES),
  peer: z.string().nullable(),
  /** Why no peer is pinned any more (gangway down, Docker gone, keepalives stopped); null while one is. */
  peerLost: z.string().nullable().optional(),
  lastHeardMs: z.number().nullable(),
  configAcked: z.boolean(),
  tunnel: z.object({
    device: z.string(),
    hostAddress: z.string(),
    agentAddress: z.string(),
    mtu: z.number(),
    listen: z.string(),
    offload: z.boolean(),
    /** The tunnel ends' IPv6 addresses; null while IPv6 is off, and why in ipv6Off. Absent from older daemons. */
    hostAddress6: z.string().nullable().optional(),
    agentAddress6: z.string().nullable().optional(),
    ipv6Off: z.string().nullable().optional(),
  }),
  routes: z.array(z.object({ cidr: z.string(), installed: z.boolean(), error: z.string().optional() })),
  docker: z.object({
    enabled: z.boolean(),
    state: z.enum(['connecting', 'connected', 'unreachable', 'disabled']),
    endpoint: z.string().nullable(),
    /** Which engine runs Docker (helper/docker/engine-detect.ts), once Docker answered. */
    engine: z
      .object({
        kind: z.string(),
        label: z.string(),
        agentDial: z.string(),
        routesItself: z.boolean(),
        /** It runs rootless (Podman's default on a Mac): a rootless Podman is refused (ENGINE_ROOTLESS).
         *  Optional: a helper before 2026-12-03 does not say. */
        rootless: z.boolean().optional(),
        source: z.enum(['detected', 'option']),
        evidence: z.string(),
        /** Why the daemon does not start its agent on this engine, if it does not. */
        refusal: z.string().optional(),
      })
      .optional(),
    lastError: z.string().optional(),
    /** Something about the endpoint the user should know: tcp:// without TLS carries the agent's secret in clear. */
    warning: z.string().optional(),
  }),
  settingsWarning: z.string().nullable(),
  dns: dnsStatusSchema,
  agent: z.object({
    /** Whether the user asked for the agent (gangway up) — the daemon keeps it running then. */
    wanted: z.boolean(),
    /** The last failure launching it, if the last attempt failed. */
    lastError: z.string().nullable(),
    /** The VM's firewall as the agent last reported it (docker exec), once it ran. */
    firewall: agentFirewallSchema.optional(),
  }),
  /** dns: the DNS server's counters (received, answered, nxdomain, refused, formerr, dropped, ...). */
  counters: z.object({ pump: counterMap, control: counterMap, dns: counterMap.optional() }),
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
  /** Subnets with public addresses (outside the private ranges): never routed automatically. */
  publicSubnets: z.array(z.string()).default([]),
  /** The user allowed routing them anyway (gangway route NET on --allow-public, or the window's confirmation). */
  allowPublic: z.boolean().default(false),
  /** The network's bridge device in the VM (what a join names); absent from older helpers. */
  bridge: z.string().optional(),
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
  .object({
    network: z.string().min(1).max(512),
    routed: z.boolean(),
    /** Needed to route a network with public addresses: the user's explicit word. */
    allowPublic: z.boolean().optional(),
  })
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

// ---- Settings (GET /v1/settings, PATCH /v1/settings) -------------------------------------------------------

/**
 * Whether `name` is itself a public suffix (`com`, `co.uk`, `github.io`) on the Public Suffix List, ICANN
 * and private sections (the list ships inside the tldts package: nothing is downloaded). Names the list
 * does not know (`internal`, `test`, `docker`) are not: they reach no one else's domain.
 */
export function isPublicSuffix(name: string): boolean {
  const d = parseDomain(name, { allowPrivateDomains: true });
  return d.publicSuffix === name && (d.isIcann === true || d.isPrivate === true);
}

/** A DNS suffix: dot-separated lower-case labels, like "gangway.internal", never a public suffix. */
export const dnsSuffixSchema = z
  .string()
  .max(200)
  .regex(
    /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/,
    'lower-case labels of letters, digits and "-", separated by dots (like gangway.internal)',
  )
  // On a Mac this suffix becomes /etc/resolver/<suffix>: every lookup under it would go to Gangway.
  .refine((s) => !isPublicSuffix(s), {
    error: (iss) =>
      `"${String(iss.input)}" is a public suffix (Public Suffix List): Gangway would answer every name under it; use a name under a domain you own, or a reserved one like gangway.internal`,
  });

/** The tunnel's two addresses come from this subnet: room for two (/30 or larger), in a private range. */
export const tunnelSubnetSchema = z
  .string()
  .refine((s) => {
    const c = parseCidr(s);
    return !!c && c.prefix <= (c.family === 4 ? 30 : 126);
  }, 'a subnet with room for two addresses, like 10.57.0.0/30')
  .refine(
    (s) => !parseCidr(s) || isPrivateSubnet(s),
    `the tunnel subnet must lie in a private range (${PRIVATE_RANGES.join(', ')}), like 10.57.0.0/30: a public one would take someone's addresses`,
  );

const ULA = 'fc00::/7';

/**
 * The tunnel's two IPv6 addresses come from this subnet: an IPv6 unique-local range (fc00::/7) with room for
 * two, like fd57:6177::/64. Never a global one: the tunnel's addresses would shadow someone's.
 */
export const tunnelSubnet6Schema = z
  .string()
  .refine((s) => {
    const c = parseCidr(s);
    return !!c && c.family === 6 && c.prefix <= 126;
  }, 'an IPv6 subnet with room for two addresses, like fd57:6177::/64')
  .refine((s) => {
    const c = parseCidr(s);
    return !c || c.family !== 6 || isPrivateSubnet(s);
  }, `the IPv6 tunnel subnet must lie in the unique-local range ${ULA}, like fd57:6177::/64: a global one would take someone's addresses`);

/**
 * What a user may change at run time (the app's Settings page, `gangway settings set`). The daemon's command
 * line gives the defaults; values saved here override them and apply without a restart.
 */
export const userSettingsSchema = z
  .object({
    tunnelSubnet: tunnelSubnetSchema,
    /** The tunnel's IPv6 addresses come from it; null turns IPv6 off (so does an MTU below 1280). */
    tunnelSubnet6: tunnelSubnet6Schema.nullable(),
    port: z.number().int().min(1).max(65535),
    mtu: z.number().int().min(576).max(9000),
    dnsSuffix: dnsSuffixSchema,
    /** UDP and TCP port of Gangway's DNS server on the host's tunnel address; 0 turns DNS off. */
    dnsPort: z.number().int().min(0).max(65535),
    /** Docker's API (unix:// or tcp://); null: DOCKER_HOST, the current context, the platform default. */
    dockerHost: z.string().min(1).max(1024).nullable(),
    routeNewNetworks: z.boolean(),
  })
  .strict();
export type UserSettings = z.infer<typeof userSettingsSchema>;

/** PATCH /v1/settings: any subset of the fields; the answer is the settings now in effect. */
export const settingsPatchSchema = userSettingsSchema
  .partial()
  .strict()
  .refine((p) => Object.keys(p).length > 0, 'name at least one setting to change');
export type SettingsPatch = z.infer<typeof settingsPatchSchema>;

export const settingsResponseSchema = z.object({
  settings: userSettingsSchema,
  /** Set when the settings file could not be used (moved aside), or only in part (values no longer accepted,
   *  or fields of a newer version, which are ignored and kept). */
  warning: z.string().nullable(),
});
export type SettingsResponse = z.infer<typeof settingsResponseSchema>;

// ---- Logs (GET /v1/logs?limit=N&level=info) ----------------------------------------------------------------

export const logLevelSchema = z.enum(['debug', 'info', 'warn', 'error']);
export const logEntrySchema = z
  .object({ time: z.string(), level: logLevelSchema, component: z.string(), msg: z.string() })
  .catchall(z.unknown());
export type LogEntry = z.infer<typeof logEntrySchema>;
export const logsResponseSchema = z.object({
  /** The log file the entries come from (null when the daemon logs only to stderr). */
  file: z.string().nullable(),
  entries: z.array(logEntrySchema),
});
export type LogsResponse = z.infer<typeof logsResponseSchema>;

// ---- DNS and containers (GET /v1/containers) ---------------------------------------------------------------

export const containerSchema = z.object({
  id: z.string(),
  name: z.string(),
  /** Compose project and service, from the com.docker.compose.* labels. */
  project: z.string().nullable(),
  service: z.string().nullable(),
  networks: z.array(
    z.object({
      network: z.string(),
      ipv4: z.string().nullable(),
      ipv6: z.string().nullable(),
      aliases: z.array(z.string()),
      routed: z.boolean(),
    }),
  ),
  /** Every name under the suffix that resolves to this container. */
  dnsNames: z.array(z.string()),
});
export type Container = z.infer<typeof containerSchema>;

export const containersResponseSchema = z.object({
  dns: dnsStatusSchema,
  containers: z.array(containerSchema),
  /** Names claimed by more than one container: they resolve to all of their addresses. */
  collisions: z.array(z.object({ name: z.string(), containers: z.array(z.string()) })),
});
export type ContainersResponse = z.infer<typeof containersResponseSchema>;
