#!/usr/bin/env node
// `gangway`: the command-line entry point. Each command is a small function; exit codes are stable:
// 0 ok, 1 failure, 2 usage error, 3 daemon unreachable. It runs as the user and talks to the daemon through
// client/; only `gangway daemon`, `service` (as root) and `agent` (the image archive) load daemon code, by
// dynamic import.
import { parseArgs } from 'node:util';
import { type NetworksResponse, type Status } from '../common/api';
import { defaultSocketPath } from '../common/default-paths';
import { phaseText } from '../common/phase';
import { PUBLIC_NOT_ROUTED, publicNote } from '../common/private-ranges';
import { UsageError } from '../common/usage-error';
import { ApiError, callApi } from '../client/api-client';
import { ROUTES } from '../common/api-routes';
import { watchStatus } from '../client/event-client';
import { formatDiagnostics } from './doctor-format';
import { EXIT } from './exit-codes';
import { formatTable } from './table';
import { runLogsCommand } from './logs-cli';
import { runServiceCommand } from './service-cli';
import { runContainersCommand } from './containers-cli';
import { runSettingsCommand } from './settings-cli';
import { runUiCommand } from './ui-cli';

const USAGE = `Usage: gangway <command> [options]

Commands:
  daemon      run the helper in the foreground (needs root)
  service     install|uninstall|status: run the helper as a system service (systemd, launchd)
  status      show the tunnel's state, peer and counters
  up          launch the agent in Docker's VM (connect)
  down        remove the agent and its firewall rules (disconnect)
  networks    list Docker's networks: subnets, routed or not, conflicts
  containers  list running containers: networks, addresses, DNS names
  route       route NETWORK on|off: choose whether a network is reachable from the host
  join        join NET_A NET_B: let two networks' containers reach each other
  unjoin      unjoin NET_A NET_B: isolate them again (Docker's default)
  settings    get [KEY] | set KEY=VALUE...: show or change settings (applied without a restart)
  logs        show the helper's recent log entries (--follow to keep watching)
  doctor      check each hop from the host to the containers and say what to fix
  ui          serve Gangway's window on 127.0.0.1 and print the address to open
  agent       export|import FILE: the agent image as a file, for a Docker VM without a registry

Run "gangway <command> --help" for a command's options.`;

function formatDns(d: Status['dns']): string {
  if (!d.enabled) return `off${d.lastError ? ` (${d.lastError})` : ''}`;
  const where = d.listen ? `on ${d.listen}` : 'not listening';
  const os = d.resolver ? `registered: ${d.resolver}` : 'not registered with the OS';
  return `*.${d.suffix} ${where}, ${os}${d.lastError ? ` (${d.lastError})` : ''}`;
}

export function formatStatus(s: Status): string {
  const docker = s.docker.enabled
    ? `${s.docker.state} (${s.docker.endpoint ?? '?'})${s.docker.engine ? `, ${s.docker.engine.label}${s.docker.engine.rootless ? ' (rootless)' : ''}` : ''}${s.docker.lastError ? `: ${s.docker.lastError}` : ''}`
    : 'not followed (--no-docker)';
  const lines = [
    ...(s.settingsWarning ? [`Warning: ${s.settingsWarning}`] : []),
    ...(s.docker.warning ? [`Warning: ${s.docker.warning}`] : []),
    ...(s.docker.engine?.rootless && s.docker.engine.refusal ? [`Error: ${s.docker.engine.refusal}`] : []),
    `Gangway ${s.version}: ${phaseText(s)}`,
    `  peer        ${s.peer ?? (s.peerLost ? `none (forgotten: ${s.peerLost})` : '-')}${s.lastHeardMs !== null ? ` (heard ${(s.lastHeardMs / 1000).toFixed(1)} s ago)` : ''}`,
    `  tunnel      ${s.tunnel.device} ${s.tunnel.hostAddress} <-> ${s.tunnel.agentAddress}, mtu ${s.tunnel.mtu}, udp ${s.tunnel.listen}${s.tunnel.offload ? ', offloads on' : ''}`,
    `  ipv6        ${s.tunnel.hostAddress6 && s.tunnel.agentAddress6 ? `${s.tunnel.hostAddress6} <-> ${s.tunnel.agentAddress6}` : (s.tunnel.ipv6Off ?? 'off')}`,
    `  docker      ${docker}`,
    ...(s.agent.firewall?.problem ? [`  firewall    ${s.agent.firewall.problem}`] : []),
    `  dns         ${formatDns(s.dns)}`,
    `  routes      ${s.routes.map((r) => (r.installed ? r.cidr : `${r.cidr} (not installed: ${r.error ?? '?'})`)).join(', ') || '-'}`,
  ];
  const p = s.counters.pump;
  lines.push(
    `  traffic     to VM ${p.udpTxPackets ?? 0} pkts / ${p.udpTxBytes ?? 0} B, from VM ${p.tunTxPackets ?? 0} pkts / ${p.tunTxBytes ?? 0} B`,
  );
  const drops = Object.entries({ ...s.counters.pump, ...s.counters.control }).filter(
    // udpRxOverflow: datagrams the kernel dropped on the pump's full receive queue (also a loss).
    ([k, v]) => v > 0 && /^(drop|udpRxOverflow|handshake(?!Ok)|sealed|controlMalformed)/.test(k),
  );
  lines.push(`  rejected    ${drops.map(([k, v]) => `${k}=${v}`).join(' ') || 'none'}`);
  return lines.join('\n');
}

const COMMON_OPTIONS = {
  json: { type: 'boolean' },
  socket: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

async function runStatus(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: { ...COMMON_OPTIONS, watch: { type: 'boolean', short: 'w' } },
  });
  if (values.help) {
    console.log(
      'Usage: gangway status [--watch] [--json] [--socket PATH]\n\nShows the tunnel state (connected/waiting), the peer and the counters.\n--watch prints it again on every change until Ctrl-C (--json: one JSON object per line).',
    );
    return EXIT.ok;
  }
  const socket = values.socket ?? defaultSocketPath();
  if (!values.watch) {
    const s = await callApi(socket, ROUTES.status);
    console.log(values.json ? JSON.stringify(s, null, 2) : formatStatus(s));
    return EXIT.ok;
  }
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  const tty = process.stdout.isTTY;
  await watchStatus(
    socket,
    (s) => {
      if (values.json) return console.log(JSON.stringify(s));
      // On a terminal, redraw in place; in a pipe, one block per change with its time.
      if (tty) process.stdout.write('\x1b[H\x1b[2J');
      else console.log(`--- ${new Date().toISOString()}`);
      console.log(formatStatus(s));
    },
    stop.signal,
  );
  if (stop.signal.aborted) return EXIT.ok;
  console.error('gangway status: the daemon closed the event stream (it stopped or restarted)');
  return EXIT.unreachable;
}

/** The shared wording, with the way out where one is needed. */
function cliPublicNote(n: NetworksResponse['networks'][number]): string | undefined {
  const note = publicNote(n);
  return note === PUBLIC_NOT_ROUTED ? `${note} (gangway route ${n.name} on --allow-public)` : note;
}

function formatNetworks(r: NetworksResponse): string {
  if (r.networks.length === 0)
    return 'No Docker networks with subnets (is Docker running? see "gangway status").';
  const rows = r.networks.map((n) => [
    n.routed ? 'routed' : n.wanted ? 'NOT ROUTED' : 'off',
    n.name,
    n.subnets.join(', ') || '-',
    [n.conflict, cliPublicNote(n)].filter(Boolean).join('; '),
  ]);
  const table = formatTable(['STATE', 'NETWORK', 'SUBNETS', 'CONFLICT'], rows);
  const footer = `New networks are ${r.routeNewNetworks ? '' : 'not '}routed automatically.`;
  const joins = r.joins.map(([a, b]) => `Joined: ${a} <-> ${b}`);
  return [...table, '', ...joins, footer].join('\n');
}

async function runNetworks(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, strict: true, options: COMMON_OPTIONS });
  if (values.help) {
    console.log(
      'Usage: gangway networks [--json] [--socket PATH]\n\nLists Docker networks, whether each is routed, and conflicts with host routes.',
    );
    return EXIT.ok;
  }
  const r = await callApi(values.socket ?? defaultSocketPath(), ROUTES.networks);
  console.log(values.json ? JSON.stringify(r, null, 2) : formatNetworks(r));
  return EXIT.ok;
}

async function runRoute(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: { ...COMMON_OPTIONS, 'allow-public': { type: 'boolean' } },
  });
  const usage =
    'Usage: gangway route NETWORK on|off [--allow-public] [--json] [--socket PATH]\n\nChooses whether a Docker network is reachable from the host; the choice is kept by network name.\nA network with public addresses (outside 10/8, 172.16/12, 192.168/16, 100.64/10, 198.18/15, fc00::/7)\nis routed only with --allow-public.';
  if (values.help) {
    console.log(usage);
    return EXIT.ok;
  }
  const [network, onOff] = positionals;
  if (!network || (onOff !== 'on' && onOff !== 'off') || positionals.length !== 2)
    throw new UsageError(usage);
  const r = await callApi(values.socket ?? defaultSocketPath(), ROUTES.route, {
    body: {
      network,
      routed: onOff === 'on',
      ...(values['allow-public'] ? { allowPublic: true } : {}),
    },
  });
  const n = r.networks.find((x) => x.name === network);
  if (values.json) console.log(JSON.stringify(n ?? null, null, 2));
  else if (n && onOff === 'on' && !n.routed)
    console.log(
      `${network}: on, but not routed: ${n.conflict ?? cliPublicNote(n) ?? 'see gangway networks'}`,
    );
  else console.log(`${network}: ${onOff === 'on' ? 'routed' : 'not routed'}`);
  return n && onOff === 'on' && !n.routed ? EXIT.failure : EXIT.ok;
}

function joinUnjoin(joined: boolean) {
  return async (argv: string[]): Promise<number> => {
    const { values, positionals } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: COMMON_OPTIONS,
    });
    const usage = joined
      ? 'Usage: gangway join NET_A NET_B [--json] [--socket PATH]\n\nLets the containers of two Docker networks reach each other (Docker isolates networks by default); the choice is kept by network name.'
      : 'Usage: gangway unjoin NET_A NET_B [--json] [--socket PATH]\n\nIsolates two joined Docker networks from each other again.';
    if (values.help) {
      console.log(usage);
      return EXIT.ok;
    }
    const [a, b] = positionals;
    if (!a || !b || positionals.length !== 2) throw new UsageError(usage);
    if (a === b) throw new UsageError(`a network cannot be joined to itself\n\n${usage}`);
    const r = await callApi(values.socket ?? defaultSocketPath(), ROUTES.join, { body: { a, b, joined } });
    if (values.json) console.log(JSON.stringify({ a, b, joined, joins: r.joins }, null, 2));
    else console.log(`${a} <-> ${b}: ${joined ? 'joined' : 'not joined'}`);
    return EXIT.ok;
  };
}

function upDown(action: 'connect' | 'disconnect') {
  return async (argv: string[]): Promise<number> => {
    const { values } = parseArgs({ args: argv, strict: true, options: COMMON_OPTIONS });
    const name = action === 'connect' ? 'up' : 'down';
    if (values.help) {
      console.log(
        `Usage: gangway ${name} [--json] [--socket PATH]\n\n${action === 'connect' ? "Builds or loads the agent image and starts the agent container in Docker's VM; waits until it is created." : 'Removes the agent container; its firewall rules go with it.'}`,
      );
      return EXIT.ok;
    }
    if (!values.json)
      console.error(
        action === 'connect'
          ? 'Launching the agent in Docker (building its image the first time)...'
          : 'Removing the agent...',
      );
    // Building the image the first time can take minutes (a package install inside the VM).
    const s = await callApi(values.socket ?? defaultSocketPath(), ROUTES[action], { timeoutMs: 600_000 });
    console.log(values.json ? JSON.stringify(s, null, 2) : formatStatus(s));
    return EXIT.ok;
  };
}

async function runDoctorCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, strict: true, options: COMMON_OPTIONS });
  if (values.help) {
    console.log(
      'Usage: gangway doctor [--json] [--socket PATH]\n\nChecks each hop in order (daemon, Docker, agent image and container, handshake, keepalives,\nTUN device, routes, conflicts, network gateways) and says what failed and what to do.\nExit code 0 when nothing failed, 1 when a check failed, 3 when the daemon is unreachable.',
    );
    return EXIT.ok;
  }
  const socket = values.socket ?? defaultSocketPath();
  let d;
  try {
    d = await callApi(socket, ROUTES.diagnostics, { timeoutMs: 30_000 });
  } catch (err) {
    if (!(err instanceof ApiError) || err.code !== 'DAEMON_UNREACHABLE') throw err;
    const down = {
      ok: false,
      checks: [
        {
          id: 'daemon',
          title: 'Gangway daemon running',
          status: 'fail' as const,
          detail: err.message,
          fix: 'start it with "gangway daemon" (as root) or "gangway service install"',
        },
      ],
    };
    console.log(values.json ? JSON.stringify(down, null, 2) : formatDiagnostics(down));
    return EXIT.unreachable;
  }
  console.log(values.json ? JSON.stringify(d, null, 2) : formatDiagnostics(d));
  return d.ok ? EXIT.ok : EXIT.failure;
}

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  service: (argv) => runServiceCommand(argv),
  up: upDown('connect'),
  down: upDown('disconnect'),
  // The daemon's code (dockerode, DNS, the native addon …) loads only for the daemon itself.
  daemon: async (argv) => (await import('../helper/daemon-main.js')).runDaemon(argv),
  status: runStatus,
  networks: runNetworks,
  containers: runContainersCommand,
  route: runRoute,
  join: joinUnjoin(true),
  unjoin: joinUnjoin(false),
  doctor: runDoctorCommand,
  settings: runSettingsCommand,
  logs: runLogsCommand,
  ui: runUiCommand,
  // docker save/load through dockerode: loaded only for this command.
  agent: async (argv) => (await import('../helper/docker/agent-archive.js')).runAgentCommand(argv),
};

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    console.log(USAGE);
    return cmd ? EXIT.ok : EXIT.usage;
  }
  const fn = COMMANDS[cmd];
  if (!fn) {
    console.error(`gangway: unknown command "${cmd}"\n\n${USAGE}`);
    return EXIT.usage;
  }
  try {
    return await fn(rest);
  } catch (err) {
    if (err instanceof UsageError || (err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`gangway ${cmd}: ${(err as Error).message}`);
      return EXIT.usage;
    }
    if (err instanceof ApiError) {
      console.error(`gangway ${cmd}: ${err.message}`);
      return err.code === 'DAEMON_UNREACHABLE' ? EXIT.unreachable : EXIT.failure;
    }
    console.error(`gangway ${cmd}: ${(err as Error).message}`);
    return EXIT.failure;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error(err);
      process.exitCode = EXIT.failure;
    },
  );
}
