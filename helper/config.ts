// The daemon's configuration: defaults, then a JSON config file (--config), then command-line flags.
// Every value is validated here, once, before anything reaches the network or a command line.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { dnsSuffixSchema, tunnelSubnet6Schema, tunnelSubnetSchema } from '../common/api';
import { cidr } from '../common/tunnel-config';
import { defaultTunName } from '../shared/platform/platform';
import { QUEUES_MAX, parseQueues } from '../shared/pump-queues';
import { UsageError } from '../common/usage-error';
import { defaultSocketPath } from '../common/default-paths';
import { ENGINE_KINDS } from './docker/engine-detect';

export const DEFAULT_PORT = 2611;
export const DEFAULT_MTU = 1420;
export const DEFAULT_TUNNEL_SUBNET = '10.57.0.0/30';
/** A fixed unique-local /64 (fd57:6177 spells "Wa" after 57, like the IPv4 10.57.0.0/30). */
export const DEFAULT_TUNNEL_SUBNET6 = 'fd57:6177::/64';
export const DEFAULT_DNS_PORT = 53;
export const DEFAULT_DNS_SUFFIX = 'gangway.internal';

const ifName = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_.-]{0,14}$/, 'an interface name of 1-15 letters, digits, . _ -');

export const daemonConfigSchema = z
  .object({
    bind: z.string().refine((s) => isIP(s) !== 0, 'an IP address to bind, like 127.0.0.1'),
    port: z.number().int().min(1).max(65535),
    routes: z.array(cidr).max(1024),
    mtu: z.number().int().min(576).max(9000),
    tunnelSubnet: tunnelSubnetSchema,
    /** null: no IPv6 in the tunnel. */
    tunnelSubnet6: tunnelSubnet6Schema.nullable(),
    stateDir: z.string().min(1),
    socket: z.string().min(1).max(100),
    tunName: ifName,
    offload: z.boolean(),
    /** Pump queues (thread pairs); unset: one per CPU, at most 4 (shared/pump-queues.ts), one on macOS. */
    queues: z.number().int().min(1).max(QUEUES_MAX).optional(),
    /** Where Docker is (unix:// or tcp://); unset: DOCKER_HOST, the current context, the platform default. */
    dockerHost: z.string().min(1).max(1024).optional(),
    /** Follow Docker's networks and route them automatically. */
    docker: z.boolean(),
    /** The user who may use the control socket besides root (the one who installed the service). */
    socketOwner: z
      .object({ uid: z.number().int().min(0), gid: z.number().int().min(0) })
      .strict()
      .optional(),
    /** What the agent in the VM dials to reach this helper (host name or address, without the port); unset:
     *  what the detected engine uses (host.docker.internal, host.lima.internal, host.containers.internal). */
    agentDial: z
      .string()
      .regex(/^[A-Za-z0-9.:_-]{1,253}$/, 'a host name or IP address')
      .optional(),
    /** The engine, instead of detecting it (also makes Gangway act on OrbStack, which routes by itself). */
    engine: z.enum(ENGINE_KINDS).optional(),
    /** Register DNS by writing resolver(5) files here (macOS's /etc/resolver format) instead of the platform's way. */
    dnsResolverDir: z.string().min(1).max(1024).optional(),
    /** Base image for the agent image; offline rigs use a locally built one. */
    agentBaseImage: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._/:@-]{0,254}$/, 'a Docker image reference')
      .optional(),
    /** Gangway's DNS server port on the tunnel address (0: off) and the names' suffix. */
    dnsPort: z.number().int().min(0).max(65535),
    dnsSuffix: dnsSuffixSchema,
    /** JSON-lines log file, rotated by size; null logs to stderr only. */
    logFile: z.string().min(1).max(1024).nullable(),
    /** Also log to stderr (off for services, whose stderr would only duplicate the file unrotated). */
    logStderr: z.boolean(),
  })
  .strict();

export type DaemonConfig = z.infer<typeof daemonConfigSchema>;

export function defaultConfig(platform: NodeJS.Platform = process.platform): DaemonConfig {
  const darwin = platform === 'darwin';
  return {
    bind: '127.0.0.1',
    port: DEFAULT_PORT,
    routes: [],
    mtu: DEFAULT_MTU,
    tunnelSubnet: DEFAULT_TUNNEL_SUBNET,
    tunnelSubnet6: DEFAULT_TUNNEL_SUBNET6,
    stateDir: darwin ? '/Library/Application Support/Gangway' : '/var/lib/gangway',
    socket: defaultSocketPath(platform),
    tunName: defaultTunName(platform),
    offload: true,
    docker: true,
    dnsPort: DEFAULT_DNS_PORT,
    dnsSuffix: DEFAULT_DNS_SUFFIX,
    logFile: darwin ? '/Library/Logs/Gangway/gangway.log' : '/var/log/gangway/gangway.log',
    logStderr: true,
  };
}

export const DAEMON_USAGE = `Usage: gangway daemon [options]

Runs the Gangway helper in the foreground: the TUN device, the UDP tunnel, routes and the control socket.

Options:
  --bind ADDR            UDP address to listen on (default 127.0.0.1)
  --port N               UDP port (default ${DEFAULT_PORT})
  --route CIDR           route this subnet into the tunnel (repeatable)
  --mtu N                inner MTU (default ${DEFAULT_MTU})
  --tunnel-subnet CIDR   addresses of the tunnel's two ends (default ${DEFAULT_TUNNEL_SUBNET})
  --tunnel-subnet6 CIDR  their IPv6 addresses, a unique-local fc00::/7 subnet (default
                         ${DEFAULT_TUNNEL_SUBNET6}; "off": no IPv6; IPv6 also needs --mtu 1280 or more)
  --state-dir DIR        holds the per-install secret (DIR/secret)
  --socket PATH          the local control socket
  --tun-name NAME        TUN device name (Linux; default gw0)
  --no-offload           do not use TUN offloads (Linux)
  --queues N             pump queues, each a thread pair (Linux; default one per CPU, at most 4;
                         1 forces one; the agent gets the same flag)
  --docker-host URL      Docker's API (default: DOCKER_HOST, the current docker context, the platform socket)
  --no-docker            do not follow Docker's networks (route only --route subnets)
  --socket-owner UID:GID the user who may use the control socket (besides root)
  --agent-dial HOST      what the agent in the VM dials (default: the engine's, e.g. host.docker.internal)
  --engine KIND          the engine, instead of detecting it: ${ENGINE_KINDS.join(', ')}
  --agent-base-image REF base image for the agent image (default node:24-bookworm-slim)
  --dns-port N           port of Gangway's DNS on the tunnel address (default ${DEFAULT_DNS_PORT}; 0: off)
  --dns-suffix SUFFIX    container names end in this (default ${DEFAULT_DNS_SUFFIX})
  --dns-resolver-dir DIR register DNS as a resolver(5) file in DIR (default: /etc/resolver on macOS,
                         systemd-resolved on Linux)
  --log-file PATH        JSON-lines log, rotated at 5 MiB ("none": stderr only)
  --no-stderr-log        log to the file only (services: stderr then keeps only crash output)
  --config FILE          read options from a JSON file (flags override it)

Saved settings (gangway settings set) override --port, --mtu, --tunnel-subnet(6), --docker-host, --dns-port
and --dns-suffix, and apply without a restart.
  -h, --help             show this help`;

export { UsageError };

/** Parses `gangway daemon` arguments into a validated configuration. Throws UsageError with a clear message. */
export function parseDaemonArgs(
  argv: string[],
  base: DaemonConfig = defaultConfig(),
  platform: NodeJS.Platform = process.platform,
): DaemonConfig | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      options: {
        bind: { type: 'string' },
        port: { type: 'string' },
        route: { type: 'string', multiple: true },
        mtu: { type: 'string' },
        'tunnel-subnet': { type: 'string' },
        'tunnel-subnet6': { type: 'string' },
        'state-dir': { type: 'string' },
        socket: { type: 'string' },
        'tun-name': { type: 'string' },
        'no-offload': { type: 'boolean' },
        queues: { type: 'string' },
        'docker-host': { type: 'string' },
        'no-docker': { type: 'boolean' },
        'agent-dial': { type: 'string' },
        engine: { type: 'string' },
        'socket-owner': { type: 'string' },
        'agent-base-image': { type: 'string' },
        'dns-port': { type: 'string' },
        'dns-suffix': { type: 'string' },
        'dns-resolver-dir': { type: 'string' },
        'log-file': { type: 'string' },
        'no-stderr-log': { type: 'boolean' },
        config: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${DAEMON_USAGE}`);
  }
  const v = parsed.values;
  if (v.help) return 'help';
  let merged: Record<string, unknown> = { ...base };
  if (v.config) merged = { ...merged, ...readConfigFile(v.config) };
  const num = (s: string | undefined, name: string) => {
    if (s === undefined) return undefined;
    if (!/^\d+$/.test(s)) throw new UsageError(`--${name} takes a whole number, got "${s}"`);
    return Number(s);
  };
  const flags: Record<string, unknown> = {
    bind: v.bind,
    port: num(v.port, 'port'),
    routes: v.route,
    mtu: num(v.mtu, 'mtu'),
    tunnelSubnet: v['tunnel-subnet'],
    tunnelSubnet6: v['tunnel-subnet6'] === 'off' ? null : v['tunnel-subnet6'],
    stateDir: v['state-dir'],
    socket: v.socket,
    tunName: v['tun-name'],
    offload: v['no-offload'] ? false : undefined,
    queues: num(v.queues, 'queues'),
    dockerHost: v['docker-host'],
    docker: v['no-docker'] ? false : undefined,
    agentDial: v['agent-dial'],
    engine: v.engine,
    socketOwner: parseOwner(v['socket-owner']),
    agentBaseImage: v['agent-base-image'],
    dnsPort: num(v['dns-port'], 'dns-port'),
    dnsSuffix: v['dns-suffix'],
    dnsResolverDir: v['dns-resolver-dir'],
    logFile: v['log-file'] === 'none' ? null : v['log-file'],
    logStderr: v['no-stderr-log'] ? false : undefined,
  };
  for (const [k, val] of Object.entries(flags)) if (val !== undefined) merged[k] = val;
  const result = daemonConfigSchema.safeParse(merged);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join('.') || '(config)'}: ${i.message}`);
    throw new UsageError(`invalid configuration:\n${lines.join('\n')}`);
  }
  // From the flag or the config file alike: more than one queue is Linux's alone (macOS utun has one).
  if (result.data.queues !== undefined) {
    const queues = parseQueues(String(result.data.queues), platform);
    if (queues instanceof Error) throw new UsageError(queues.message);
  }
  if (!result.data.logFile && !result.data.logStderr)
    throw new UsageError('--no-stderr-log needs a log file (--log-file PATH): the daemon would log nothing');
  return result.data;
}

function parseOwner(s: string | undefined): { uid: number; gid: number } | undefined {
  if (s === undefined) return undefined;
  const m = /^(\d{1,10}):(\d{1,10})$/.exec(s);
  if (!m) throw new UsageError(`--socket-owner takes UID:GID (numbers), got "${s}"`);
  return { uid: Number(m[1]), gid: Number(m[2]) };
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read the config file ${file}: ${(err as Error).message}`);
  }
  try {
    const data: unknown = JSON.parse(text);
    if (typeof data !== 'object' || data === null || Array.isArray(data))
      throw new Error('not a JSON object');
    return data as Record<string, unknown>;
  } catch (err) {
    throw new UsageError(`the config file ${file} is not valid JSON: ${(err as Error).message}`);
  }
}
