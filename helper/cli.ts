#!/usr/bin/env node
// `gangway`: the command-line entry point. Each command is a small function; exit codes are stable:
// 0 ok, 1 failure, 2 usage error, 3 daemon unreachable.
import { parseArgs } from 'node:util';
import { statusSchema, type Status } from '../common/api';
import { createLogger } from '../common/log';
import { native } from '../native/index';
import { ApiClientError, callApi } from './api-client';
import { DAEMON_USAGE, UsageError, defaultConfig, parseDaemonArgs } from './config';
import { Daemon } from './daemon';
import { createNetPlatform } from './platform/platform';

const USAGE = `Usage: gangway <command> [options]

Commands:
  daemon    run the helper in the foreground (needs root)
  status    show the tunnel's state, peer and counters

Run "gangway <command> --help" for a command's options.`;

export const EXIT = { ok: 0, failure: 1, usage: 2, unreachable: 3 } as const;

async function runDaemon(argv: string[]): Promise<number> {
  const cfg = parseDaemonArgs(argv);
  if (cfg === 'help') {
    console.log(DAEMON_USAGE);
    return EXIT.ok;
  }
  const log = createLogger('daemon');
  const daemon = new Daemon(cfg, { native: native(), net: createNetPlatform(), log });
  try {
    await daemon.start();
  } catch (err) {
    log.error('daemon failed to start', { error: (err as Error).message });
    await daemon.stop();
    return EXIT.failure;
  }
  await new Promise<void>((resolve) => {
    const done = (signal: string) => {
      log.info('stopping', { signal });
      resolve();
    };
    process.once('SIGTERM', () => done('SIGTERM'));
    process.once('SIGINT', () => done('SIGINT'));
  });
  await daemon.stop();
  return EXIT.ok;
}

function formatStatus(s: Status): string {
  const lines = [
    `Gangway ${s.version}: ${s.state === 'connected' ? 'connected' : 'waiting for the agent'}`,
    `  peer        ${s.peer ?? '-'}${s.lastHeardMs !== null ? ` (heard ${(s.lastHeardMs / 1000).toFixed(1)} s ago)` : ''}`,
    `  tunnel      ${s.tunnel.device} ${s.tunnel.hostAddress} <-> ${s.tunnel.agentAddress}, mtu ${s.tunnel.mtu}, udp ${s.tunnel.listen}${s.tunnel.offload ? ', offloads on' : ''}`,
    `  routes      ${s.routes.map((r) => (r.installed ? r.cidr : `${r.cidr} (not installed: ${r.error ?? '?'})`)).join(', ') || '-'}`,
  ];
  const p = s.counters.pump;
  lines.push(
    `  traffic     to VM ${p.udpTxPackets ?? 0} pkts / ${p.udpTxBytes ?? 0} B, from VM ${p.tunTxPackets ?? 0} pkts / ${p.tunTxBytes ?? 0} B`,
  );
  const drops = Object.entries({ ...s.counters.pump, ...s.counters.control }).filter(
    ([k, v]) => v > 0 && /^(drop|handshake(?!Ok)|sealed|controlMalformed)/.test(k),
  );
  lines.push(`  rejected    ${drops.map(([k, v]) => `${k}=${v}`).join(' ') || 'none'}`);
  return lines.join('\n');
}

async function runStatus(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: { json: { type: 'boolean' }, socket: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    console.log(
      'Usage: gangway status [--json] [--socket PATH]\n\nShows the tunnel state (connected/waiting), the peer and the counters.',
    );
    return EXIT.ok;
  }
  const socket = values.socket ?? defaultConfig().socket;
  const s = await callApi(socket, 'GET', '/v1/status', statusSchema);
  console.log(values.json ? JSON.stringify(s, null, 2) : formatStatus(s));
  return EXIT.ok;
}

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  daemon: runDaemon,
  status: runStatus,
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
    if (err instanceof ApiClientError) {
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
