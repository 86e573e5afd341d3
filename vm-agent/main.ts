#!/usr/bin/env node
// gangway-agent: the VM side of the tunnel. Opens its TUN, dials the helper, proves the shared secret,
// applies the configuration it is sent (addresses, MTU), keeps the flow alive, and re-dials forever.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { createLogger, type Logger } from '../common/log';
import { formatEndpoint, type Endpoint } from '../common/control-port';
import { native, type Pump } from '../native/index';
import { LinuxNet } from '../shared/platform/net-linux';
import { runCommand } from '../shared/exec';
import { parseAgentCredential } from '../common/agent-credential';
import { TunnelClient } from './tunnel-client';
import { Firewall } from './firewall';
import { FirewallUpkeep } from './firewall-upkeep';
import { firewallReport } from './firewall-backend';
import { readFileSync, writeFileSync } from 'node:fs';
import { DeadlineLoop } from '../shared/deadline-loop';
import { macLikePump, tunPlan } from '../shared/pump-mode';
import { configureTun6, ipv6Forwarding, ipv6Of } from './tun-ipv6';
import { defaultQueues, parseQueues, runningQueues } from '../shared/pump-queues';

/**
 * The safety net where the ruleset watch cannot see (firewall-upkeep.ts): the helper asks for a check whenever
 * Docker changed something (see the config handler); this catches what Docker does not announce (a firewall
 * reload in the VM). Each check costs the agent about 0.024 CPU-s (iptables-save and ip6tables-save): every
 * 60 s that alone broke the idle target (#15.4).
 */
const FIREWALL_CHECK_S = 300;

const USAGE = `Usage: gangway-agent --server HOST:PORT --secret-file FILE [--tun-name NAME] [--no-offload] [--queues N]

  --server HOST:PORT   the helper's UDP endpoint (e.g. host.docker.internal:2611)
  --secret-file FILE   the per-install secret the helper created
  --tun-name NAME      TUN device name (default gwa0)
  --no-offload         do not use TUN offloads
  --queues N           pump queues, each a thread pair (default one per CPU, at most 4; 1 forces one)
  --no-firewall        do not add iptables rules (when the VM needs none)
  --firewall-check-seconds N
                       how often our rules are checked without being asked where no change is announced (5..3600,
                       default ${FIREWALL_CHECK_S}): the legacy iptables backend; nf_tables announces every change.
                       The helper asks after each Docker network or container event
  --no-firewall-watch  do not watch nf_tables for changes: the timer above and the helper's word only
  --firewall-report    print where Docker's chains are and how many of our rules are there (JSON), and exit`;

function parseServer(s: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(s);
  const port = Number(m?.[3]);
  if (!m || port < 1 || port > 65535) throw new Error(`--server takes HOST:PORT, got "${s}"`);
  return { host: m[1] ?? m[2] ?? '', port };
}

async function resolve(host: string, port: number): Promise<Endpoint> {
  if (isIP(host)) return { address: host, port };
  const r = await lookup(host);
  return { address: r.address, port };
}

async function run(log: Logger): Promise<number> {
  const { values } = parseArgs({
    strict: true,
    options: {
      server: { type: 'string' },
      'secret-file': { type: 'string' },
      'tun-name': { type: 'string' },
      'no-offload': { type: 'boolean' },
      queues: { type: 'string' },
      'no-firewall': { type: 'boolean' },
      'firewall-check-seconds': { type: 'string' },
      'no-firewall-watch': { type: 'boolean' },
      'firewall-report': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values['firewall-report']) {
    // Run by the helper with `docker exec` for status and doctor.
    console.log(JSON.stringify(await firewallReport(runCommand)));
    return 0;
  }
  if (!values.server || !values['secret-file']) {
    console.error(`gangway-agent: --server and --secret-file are required\n\n${USAGE}`);
    return 2;
  }
  const { host, port } = parseServer(values.server);
  const checkS = Number(values['firewall-check-seconds'] ?? FIREWALL_CHECK_S);
  if (!Number.isInteger(checkS) || checkS < 5 || checkS > 3600)
    throw new Error(
      `--firewall-check-seconds takes a whole number from 5 to 3600, got "${values['firewall-check-seconds']}"`,
    );
  const secretFile = values['secret-file'];
  const secret = parseAgentCredential(readFileSync(secretFile, 'utf8'));
  if (!secret)
    throw new Error(`${secretFile} does not hold a Gangway secret (hex, or "KEYID SECRET" in hex)`);
  // The mac-like pump (bench only) has one queue, as macOS utun does.
  const asked = values.queues === undefined ? defaultQueues() : parseQueues(values.queues);
  if (asked instanceof Error) {
    console.error(`gangway-agent: ${asked.message}\n\n${USAGE}`);
    return 2;
  }
  const net = new LinuxNet(runCommand);
  // GANGWAY_PUMP_MACLIKE=1 (bench only, shared/pump-mode.ts): one packet per syscall, no offloads, one queue.
  const { queues, options } = tunPlan(macLikePump(), !values['no-offload'], asked);
  const tun = native().openTun(values['tun-name'] ?? 'gwa0', options);
  enableForwarding(log);

  let server = await resolveForever(host, port, log);
  // The pump's control callback needs the client, and the client needs the pump: the holder breaks the cycle.
  const holder: { client?: TunnelClient; ticker?: DeadlineLoop } = {};
  const pump: Pump = native().createPump({
    tun,
    bindAddress: server.address.includes(':') ? '::' : '0.0.0.0',
    bindPort: 0,
    // An upper bound only: the helper's configuration sets the TUN's MTU, which decides packet sizes.
    mtu: 9000,
    queues,
    onControl: (data, address, p) => {
      const c = holder.client;
      if (!c) return;
      c.handle(data, address, p);
      holder.ticker?.dueIn(c.msUntilDue());
    },
  });
  const queuesRunning = runningQueues(pump, queues, log);
  // Anti-spoofing: data from the helper must come from the host's tunnel address, known once configured.
  pump.setAllowedSources([]);
  const client = new TunnelClient(pump, secret, server, {
    checksumOffload: tun.offload,
    activity: () => pump.dataPackets(),
  });
  holder.client = client;
  let applied = '';
  let hostAddress: string | undefined;
  /** The host's IPv6 tunnel address while IPv6 is on (the configuration carried both addresses). */
  let hostAddress6: string | undefined;
  /** Bridge pairs whose containers may reach each other (gangway join), from the latest configuration. */
  let joins: [string, string][] = [];
  let appliedJoins = '';
  const firewall = values['no-firewall']
    ? undefined
    : new FirewallUpkeep(new Firewall(runCommand, log), log, {
        checkMs: checkS * 1000,
        openWatch: values['no-firewall-watch']
          ? undefined
          : (changed) => new (native().RulesetWatch)(changed),
      });
  const ensureFirewall = () => {
    if (!firewall || !hostAddress) return;
    firewall
      .ensure({ tun: tun.name, hostAddress, joins, ...(hostAddress6 ? { hostAddress6 } : {}) })
      .catch((err: unknown) => log.error('cannot apply firewall rules', { error: String(err) }));
  };
  const checkFirewall = () => {
    firewall
      ?.dockerChanged()
      .catch((err: unknown) => log.error('cannot apply firewall rules', { error: String(err) }));
  };
  client.on('state', (state) => {
    log.info(`tunnel ${state}`, { server: formatEndpoint(server), device: tun.name });
    if (state === 'dialing') {
      // The helper may have moved (VM restart, new host IP): look the name up again before dialling on.
      resolve(host, port).then(
        (fresh) => {
          if (fresh.address !== server.address) {
            server = fresh;
            client.dial(fresh);
          }
        },
        (err: unknown) => log.warn('cannot resolve the helper', { host, error: String(err) }),
      );
    }
  });
  client.on('config', (cfg) => {
    const v6 = ipv6Of(cfg, log);
    pump.setAllowedSources([`${cfg.hostAddress}/32`, ...(v6 ? [`${v6.peer}/128`] : [])]);
    // The latest configuration's joins win, whichever address change finishes last.
    joins = cfg.joins;
    const key = `${cfg.agentAddress} ${cfg.hostAddress} ${cfg.mtu} ${v6?.local ?? '-'} ${v6?.peer ?? '-'}`;
    if (key === applied) {
      // Only the joins may have changed: the addresses stay, the firewall follows.
      if (JSON.stringify(joins) !== appliedJoins) {
        appliedJoins = JSON.stringify(joins);
        ensureFirewall();
        log.info('joins applied', { joins });
      } else {
        // The helper re-sends its configuration after each Docker network or container event (it follows
        // Docker's events; the agent has no Docker socket): Docker may have rewritten its chains, so look.
        checkFirewall();
      }
      return;
    }
    net
      .configureTun(tun.name, { local: cfg.agentAddress, peer: cfg.hostAddress, mtu: cfg.mtu })
      // Without IPv6 nothing of it is touched (a VM may have IPv6 off), unless an earlier configuration had it.
      .then(() =>
        v6 || hostAddress6
          ? configureTun6(runCommand, tun.name, v6).then(
              () => v6,
              (err: unknown) => {
                // A VM with IPv6 disabled (disable_ipv6=1) still gets its IPv4 tunnel.
                log.warn('cannot give the tunnel its IPv6 address: IPv6 stays off', { error: String(err) });
                return undefined;
              },
            )
          : undefined,
      )
      .then(
        (on6) => {
          applied = key;
          hostAddress = cfg.hostAddress;
          hostAddress6 = on6?.peer;
          if (on6 && ipv6Forwarding() === false)
            log.warn(
              'IPv6 forwarding is off in the VM: containers cannot answer over IPv6 until a Docker network ' +
                'with IPv6 exists (docker network create --ipv6 ...; Docker turns forwarding on then)',
              { sysctl: 'net.ipv6.conf.all.forwarding' },
            );
          appliedJoins = JSON.stringify(joins);
          ensureFirewall();
          log.info('configuration applied', {
            device: tun.name,
            address: cfg.agentAddress,
            peer: cfg.hostAddress,
            mtu: cfg.mtu,
            ...(on6 ? { address6: on6.local, peer6: on6.peer } : {}),
          });
        },
        (err: unknown) => log.error('cannot apply the configuration', { error: String(err) }),
      );
  });
  client.dial(server);
  let gsoRefused = false;
  const ticker = new DeadlineLoop(
    () => {
      client.tick();
      // Piggybacks on the keepalives' wake-ups rather than a timer of its own, and reads the one counter
      // only: building the counters objects on every tick was 7% of the idle agent's CPU.
      if (!gsoRefused && pump.udpGsoFallbacks() > 0) {
        gsoRefused = true;
        log.warn('the kernel refused UDP GSO: sending one datagram per packet from now on', {
          counter: 'udpGsoFallback',
        });
      }
      return client.msUntilDue();
    },
    // Every deadline moved earlier is announced (dueIn, poke): the bound only caps a silent one. The addon's
    // timer, because each answered keepalive moves the next wake-up later (its 400 ms retry is off), which with
    // setTimeout still woke the process at the old time (shared/deadline-loop.ts).
    { minMs: 20, maxMs: 60_000, timer: (fire) => new (native().Timer)(fire) },
  );
  holder.ticker = ticker;
  ticker.start();
  // A (re-)dial makes a HELLO due at once.
  client.on('state', () => ticker.poke());
  log.info('agent started', {
    server: formatEndpoint(server),
    device: tun.name,
    offload: tun.offload,
    macLike: tun.macLike,
    queues: queuesRunning,
    localPort: pump.localPort(),
  });

  // `docker kill -s USR1 gangway-agent`: what the pump did so far, and whether offloads are on (a VM's kernel,
  // or qemu emulating one, may refuse them; the pump then carries on without).
  const logCounters = () =>
    log.info('agent counters', {
      offload: tun.offload,
      stats: pump.stats(),
      ...(firewall ? { firewallChanges: firewall.changesSeen } : {}),
    });
  process.on('SIGUSR1', logCounters);

  await new Promise<void>((r) => {
    process.once('SIGTERM', () => r());
    process.once('SIGINT', () => r());
  });
  ticker.stop();
  process.off('SIGUSR1', logCounters);
  await firewall?.stop();
  pump.close();
  log.info('agent stopped', { stats: pump.stats() });
  return 0;
}

/** Containers answer the host through us: forwarding must be on in the VM. Docker turns it on itself, and in
 *  the agent's container /proc/sys is read-only (EROFS even for the same value): write only when it is off. */
function enableForwarding(log: Logger): void {
  const file = '/proc/sys/net/ipv4/ip_forward';
  try {
    if (readFileSync(file, 'utf8').trim() === '1') return;
    writeFileSync(file, '1');
  } catch (err) {
    log.warn('cannot turn on IPv4 forwarding in the VM: containers cannot answer through the tunnel', {
      error: String(err),
    });
  }
}

async function resolveForever(host: string, port: number, log: Logger): Promise<Endpoint> {
  for (let delay = 250; ; delay = Math.min(delay * 2, 5_000)) {
    try {
      return await resolve(host, port);
    } catch (err) {
      log.warn('cannot resolve the helper; retrying', { host, error: String(err), retryMs: delay });
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

if (require.main === module) {
  const log = createLogger('agent');
  run(log).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      log.error('agent failed', { error: (err as Error).message });
      process.exitCode = 1;
    },
  );
}
