// `gangway doctor`: checks each hop from the CLI to a container, in order, and says what failed and what to
// do. The logic is a function over an injected probe, so every state can be tested with fakes.
import type { AgentFirewall, DiagnosticCheck, Diagnostics, DnsStatus } from '../common/api';
import { formatCidr, nthAddress, parseCidr } from '../common/cidr';
import { orAfter } from './or-after';
import type { ServiceAudit } from './service/service-audit';

export type CheckStatus = DiagnosticCheck['status'];

/** Keepalives older than this mean the agent went quiet: it sends one every 2 s, again after 400 ms when
 *  unanswered, so 4 s is two missed in a row. An idle agent announces longer intervals (common/wire.ts): two of
 *  those, then. */
export const KEEPALIVE_FRESH_MS = 4_000;

export function keepaliveFreshMs(announcedMs: number | null | undefined): number {
  return Math.max(KEEPALIVE_FRESH_MS, 2 * (announcedMs ?? 0));
}

/** At most this many networks' gateways are probed, in parallel, each for at most GATEWAY_TIMEOUT_MS. */
export const MAX_GATEWAY_PROBES = 16;
export const GATEWAY_TIMEOUT_MS = 1_000;

export interface DoctorNetwork {
  name: string;
  wanted: boolean;
  routed: boolean;
  conflict: string | null;
  subnets: { cidr: string; routed: boolean }[];
}

export interface DoctorProbe {
  version: string;
  socket: string;
  settingsWarning: string | null;
  docker: {
    enabled: boolean;
    state: 'connecting' | 'connected' | 'unreachable' | 'disabled';
    endpoint: string | null;
    lastError?: string;
    /** tcp:// without TLS: the agent's secret crosses it in clear. */
    warning?: string;
    /** The engine in effect (engine-choice.ts), once Docker answered. */
    engine?: {
      label: string;
      agentDial: string;
      routesItself: boolean;
      rootless?: boolean | undefined;
      source: 'detected' | 'option';
      evidence: string;
      refusal?: string | undefined;
    };
  };
  /** gangway up was asked for (and not undone by gangway down). */
  agentWanted: boolean;
  agentError: string | null;
  tunnel: {
    state: 'connected' | 'waiting';
    peer: string | null;
    lastHeardAgoMs: number | null;
    configAcked: boolean;
    /** The keepalive interval the agent last announced (null: none, the default 2 s). */
    keepaliveMs?: number | null;
  };
  device: string;
  /** Routes the daemon installed on the TUN device. */
  installedRoutes: string[];
  /** The plan's networks (Docker's networks with subnets). */
  networks: DoctorNetwork[];
  /** Whether the agent image (tag) is in Docker; throws when Docker cannot be asked. */
  agentImage(): Promise<{ tag: string; present: boolean }>;
  /** The agent container's state; throws when Docker cannot be asked. */
  agentContainer(): Promise<{ state: 'absent' | 'running' | 'restarting' | 'exited'; detail?: string }>;
  /** Resolves when Docker answers a ping, throws when it does not in time; absent when Docker is not used. */
  dockerAnswers?: () => Promise<void>;
  /** The agent's report on the VM's firewall (docker exec); absent when Docker is not used. */
  agentFirewall?: () => Promise<{ ok: true; report: AgentFirewall } | { ok: false; error: string }>;
  /** What the installed service runs, and what of it a non-root user could change (service-audit.ts). */
  service?: () => ServiceAudit;
  /** Whether the TUN device is up, with what was seen. */
  tunLink(): Promise<{ up: boolean; detail: string }>;
  /** The host's routes whose device is the TUN device (normalised CIDRs). */
  tunRoutes(): Promise<string[]>;
  /** Whether `ip` answers within `timeoutMs`. */
  probeAddress(ip: string, timeoutMs: number): Promise<boolean>;
  /** Gangway's DNS server; absent when the daemon has none. */
  dns?: {
    status: DnsStatus;
    collisions: { name: string; containers: string[] }[];
    /** Asks the server, over the network, for a name it should know. */
    query(): Promise<{ name: string | null; ok: boolean; detail: string }>;
  };
}

const TITLES = {
  daemon: 'Gangway daemon running',
  docker: 'Docker reachable',
  image: 'Agent image present',
  agent: 'Agent container running',
  firewall: "Agent's firewall rules where Docker's chains are",
  handshake: 'Tunnel handshake done',
  keepalive: 'Keepalives fresh',
  tun: 'TUN device up',
  routes: 'Routes present',
  conflicts: 'No route conflicts',
  gateways: 'Network gateways answer through the tunnel',
  dns: 'DNS',
  service: 'Service runs root-owned files',
} as const;
export type CheckId = keyof typeof TITLES;
export const CHECK_ORDER = Object.keys(TITLES) as CheckId[];

function msg(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The first host address of an IPv4 subnet (Docker's bridge gateway), or undefined for IPv6 / bad input. */
export function gatewayOf(cidr: string): string | undefined {
  const c = parseCidr(cidr);
  if (!c || c.family !== 4 || c.prefix >= 31) return undefined;
  return nthAddress(c, 1);
}

function norm(cidr: string): string {
  const c = parseCidr(cidr);
  return c ? formatCidr(c) : cidr;
}

function engineText(e: NonNullable<DoctorProbe['docker']['engine']>): string {
  const how = e.source === 'option' ? 'set with --engine' : e.evidence;
  return `engine ${e.label} (${how}), the agent dials ${e.agentDial}`;
}

/** One check's outcome. */
interface Outcome {
  status: CheckStatus;
  detail: string;
  fix?: string;
}

const outcome = (status: CheckStatus, detail: string, fix?: string): Outcome => ({
  status,
  detail,
  ...(fix ? { fix } : {}),
});

const askDockerFailed = (err: unknown): Outcome =>
  outcome('fail', `cannot ask Docker: ${msg(err)}`, 'check that Docker answers (docker info)');

/** Whether the daemon follows Docker at all (without it the agent is run by hand). */
const dockerUsed = (p: DoctorProbe) => p.docker.enabled && p.docker.state !== 'disabled';

/**
 * The checks, in the order they run and are shown. A check runs only when every check it needs passed (ok or
 * warn); otherwise it is skipped and names the first one that did not.
 */
const CHECKS: {
  id: CheckId;
  needs: (p: DoctorProbe) => CheckId[];
  run: (p: DoctorProbe) => Promise<Outcome>;
}[] = [
  {
    // The daemon answers, so it runs (the CLI reports an unreachable socket itself).
    id: 'daemon',
    needs: () => [],
    run: (p) =>
      Promise.resolve(
        p.settingsWarning
          ? outcome(
              'warn',
              `gangwayd ${p.version} on ${p.socket}; settings: ${p.settingsWarning}`,
              'the warning says what was not used; fields of a newer Gangway come back into use with it, anything else: fix or remove the settings file named above, then restart the daemon',
            )
          : outcome('ok', `gangwayd ${p.version} on ${p.socket}`),
      ),
  },
  {
    id: 'docker',
    needs: () => [],
    run: (p) => {
      const d = p.docker;
      if (!dockerUsed(p))
        return Promise.resolve(
          outcome(
            'skip',
            'the daemon does not follow Docker (--no-docker, or the endpoint could not be used)',
            'start the daemon without --no-docker (see its log for why Docker could not be used)',
          ),
        );
      if (d.state === 'connected' && d.warning)
        return Promise.resolve(
          outcome(
            'warn',
            `connected to ${d.endpoint ?? '?'}, without TLS: the agent's secret crosses it in clear`,
            'use a unix:// socket, or tcp:// with TLS (DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH, or a docker context with TLS)',
          ),
        );
      if (d.state === 'connected' && d.engine?.rootless && d.engine.refusal)
        return Promise.resolve(
          outcome(
            'fail',
            `connected to ${d.endpoint ?? '?'}; ${engineText(d.engine)}, rootless: Gangway cannot work with it`,
            d.engine.refusal,
          ),
        );
      if (d.state === 'connected' && d.engine?.routesItself && d.engine.source === 'detected')
        return Promise.resolve(
          outcome(
            'warn',
            `connected to ${d.endpoint ?? '?'}; ${engineText(d.engine)}: it routes container IPs itself, so Gangway does not start its agent`,
            `nothing to do: containers are reachable through ${d.engine.label}; to use Gangway's tunnel anyway, start the daemon with --engine`,
          ),
        );
      if (d.state === 'connected') return connectedAndAnswering(p);
      return Promise.resolve(
        outcome(
          'fail',
          `${d.state} (${d.endpoint ?? '?'})${d.lastError ? `: ${d.lastError}` : ''}${d.warning ? `; ${d.warning}` : ''}`,
          `start Docker (or its VM), or point the daemon at it with --docker-host / DOCKER_HOST; the daemon reconnects by itself`,
        ),
      );
    },
  },
  {
    id: 'image',
    needs: () => ['docker'],
    run: async (p) => {
      const img = await p.agentImage().catch(askDockerFailed);
      if ('status' in img) return img;
      return img.present
        ? outcome('ok', img.tag)
        : outcome(
            'fail',
            `${img.tag} is not in Docker${p.agentError ? `; last launch: ${p.agentError}` : ''}`,
            'run "gangway up" (it builds or loads the image)',
          );
    },
  },
  {
    id: 'agent',
    needs: () => ['docker'],
    run: async (p) => {
      const a = await p.agentContainer().catch(askDockerFailed);
      if ('status' in a) return a;
      if (a.state === 'running') return outcome('ok', `running${a.detail ? ` (${a.detail})` : ''}`);
      return outcome(
        'fail',
        `container ${a.state === 'absent' ? 'absent' : `not running (${a.state})`}${a.detail ? `: ${a.detail}` : ''}${p.agentError ? `; last launch: ${p.agentError}` : ''}`,
        p.agentWanted
          ? 'run "gangway up" to recreate it (see "docker logs gangway-agent" for why it stopped)'
          : 'run "gangway up" to launch the agent',
      );
    },
  },
  {
    // The VM's firewall, as the agent sees it.
    id: 'firewall',
    needs: () => ['agent'],
    run: async (p) => {
      const r = p.agentFirewall
        ? await p.agentFirewall()
        : { ok: false as const, error: 'Docker is not used: the agent runs by hand' };
      if (!r.ok) return outcome('skip', `cannot ask the agent: ${r.error}`);
      if (r.report.backend === 'none')
        return outcome(
          'fail',
          r.report.problem ?? "Docker's chains are in neither iptables backend",
          'routed networks (docker network create -o com.docker.network.bridge.gateway_mode_ipv4=routed), or dockerd with its iptables firewall backend',
        );
      if (r.report.rules === 0)
        return outcome(
          'warn',
          `Docker's chains are in ${r.report.command}, but none of the agent's rules are there yet`,
          'wait for the agent to connect (it writes its rules then); see "docker logs gangway-agent"',
        );
      return outcome(
        'ok',
        `${r.report.rules} rules in ${r.report.command} (${r.report.dockerUser ? 'DOCKER-USER' : 'FORWARD'}), where Docker's chains are` +
          (r.report.rules6 ? `; ${r.report.rules6} IPv6 rules in its ip6tables` : ''),
      );
    },
  },
  {
    // Without Docker the agent is run by hand: the tunnel is checked on its own.
    id: 'handshake',
    needs: (p) => (dockerUsed(p) ? ['agent'] : []),
    run: (p) => {
      const t = p.tunnel;
      if (t.peer && t.configAcked)
        return Promise.resolve(outcome('ok', `session with ${t.peer}, configuration applied`));
      if (t.peer)
        return Promise.resolve(
          outcome(
            'fail',
            `session with ${t.peer}, but the agent has not applied the configuration`,
            'see "docker logs gangway-agent"; "gangway down && gangway up" restarts the agent',
          ),
        );
      return Promise.resolve(
        outcome(
          'fail',
          'no tunnel session: the agent never completed the handshake',
          'check that the agent can reach the daemon on its UDP port (--agent-dial, firewall) and shares its secret; see "docker logs gangway-agent"',
        ),
      );
    },
  },
  {
    id: 'keepalive',
    needs: () => ['handshake'],
    run: (p) => {
      const ago = p.tunnel.lastHeardAgoMs;
      if (ago !== null && ago < keepaliveFreshMs(p.tunnel.keepaliveMs))
        return Promise.resolve(outcome('ok', `last heard ${(ago / 1000).toFixed(1)} s ago`));
      return Promise.resolve(
        outcome(
          'fail',
          ago === null ? 'never heard from the agent' : `last heard ${(ago / 1000).toFixed(1)} s ago`,
          'the agent went quiet: check that it runs ("docker ps") and that UDP between the VM and the host is not blocked',
        ),
      );
    },
  },
  {
    id: 'tun',
    needs: () => [],
    run: async (p) => {
      let l;
      try {
        l = await p.tunLink();
      } catch (err) {
        return outcome('fail', `${p.device}: ${msg(err)}`, 'restart the daemon (it creates the TUN device)');
      }
      return l.up
        ? outcome('ok', `${p.device}: ${l.detail}`)
        : outcome(
            'fail',
            `${p.device}: ${l.detail}`,
            `bring it up ("ip link set ${p.device} up") or restart the daemon`,
          );
    },
  },
  {
    id: 'routes',
    needs: () => ['tun'],
    run: async (p) => {
      let have;
      try {
        have = new Set((await p.tunRoutes()).map(norm));
      } catch (err) {
        return outcome('fail', `cannot read the routing table: ${msg(err)}`, 'restart the daemon');
      }
      const want = p.installedRoutes.map(norm);
      const missing = want.filter((r) => !have.has(r));
      if (want.length === 0) return outcome('ok', 'no routes wanted');
      if (missing.length === 0) return outcome('ok', `${want.join(', ')} on ${p.device}`);
      return outcome(
        'fail',
        `missing on ${p.device}: ${missing.join(', ')} (something removed them)`,
        `run "gangway down && gangway up", or restart the daemon, to install the routes again`,
      );
    },
  },
  {
    id: 'conflicts',
    needs: () => ['docker'],
    run: (p) => {
      const blocked = p.networks.filter((n) => n.wanted && !n.routed && n.conflict);
      if (blocked.length === 0)
        return Promise.resolve(outcome('ok', `${p.networks.length} network(s), none blocked`));
      return Promise.resolve(
        outcome(
          'warn',
          blocked.map((n) => `${n.name}: ${n.conflict ?? '?'}`).join('; '),
          'these networks overlap host routes (a VPN, a LAN): recreate them with another subnet, or change Docker\'s default-address-pools; "gangway networks" lists them',
        ),
      );
    },
  },
  {
    id: 'gateways',
    needs: () => ['keepalive', 'routes'],
    run: async (p) => {
      const targets: { name: string; ip: string }[] = [];
      for (const n of p.networks)
        for (const s of n.subnets) {
          const ip = s.routed ? gatewayOf(s.cidr) : undefined;
          if (ip && targets.length < MAX_GATEWAY_PROBES) targets.push({ name: n.name, ip });
        }
      if (targets.length === 0) return outcome('skip', 'no routed IPv4 network');
      const answers = await Promise.all(
        targets.map((t) => p.probeAddress(t.ip, GATEWAY_TIMEOUT_MS).catch(() => false)),
      );
      const silent = targets.filter((_, i) => !answers[i]);
      if (silent.length === 0) return outcome('ok', targets.map((t) => `${t.name} ${t.ip}`).join(', '));
      return outcome(
        'fail',
        `no answer from ${silent.map((t) => `${t.name} ${t.ip}`).join(', ')}`,
        'the tunnel carries no traffic to these networks: see "docker logs gangway-agent" (forwarding, firewall rules in the VM)',
      );
    },
  },
  // The server answers a name it should know, and the OS sends the suffix to it.
  { id: 'dns', needs: () => [], run: (p) => checkDns(p.dns) },
  // The service runs nothing a non-root user could change (an install from before the root-owned copy).
  { id: 'service', needs: () => [], run: (p) => Promise.resolve(checkService(p.service)) },
];

/**
 * The event stream says connected, but a VM that is frozen or asleep keeps it open without a word: ask. Without
 * this, the checks after it would each wait for Docker, and the doctor with them.
 */
async function connectedAndAnswering(p: DoctorProbe): Promise<Outcome> {
  const d = p.docker;
  try {
    await p.dockerAnswers?.();
  } catch (err) {
    return outcome(
      'fail',
      `connected to ${d.endpoint ?? '?'}, but ${msg(err)}`,
      'wake Docker (Docker Desktop: Resume in its menu; Colima, Podman: start its VM); the daemon goes on when it answers',
    );
  }
  return outcome('ok', `connected to ${d.endpoint ?? '?'}${d.engine ? `; ${engineText(d.engine)}` : ''}`);
}

/** How long one check may take: what it waits for (Docker, a process) may never answer. */
export const CHECK_TIMEOUT_MS = 10_000;

const bounded = (check: Promise<Outcome>): Promise<Outcome> =>
  orAfter(check, CHECK_TIMEOUT_MS, () =>
    outcome(
      'fail',
      `no answer within ${CHECK_TIMEOUT_MS / 1000} s`,
      'see the daemon log; if Docker is involved, check that it answers (docker info)',
    ),
  );

/** Runs every check in order; a check whose prerequisite failed (or was skipped) is skipped. */
export async function runDoctor(p: DoctorProbe): Promise<Diagnostics> {
  const checks: DiagnosticCheck[] = [];
  const good = (id: CheckId) => {
    const s = checks.find((c) => c.id === id)?.status;
    return s === 'ok' || s === 'warn';
  };
  for (const c of CHECKS) {
    const bad = c.needs(p).find((d) => !good(d));
    let o: Outcome;
    if (bad) o = outcome('skip', `skipped: "${TITLES[bad]}" did not pass`);
    else {
      try {
        o = await bounded(c.run(p));
      } catch (err) {
        o = outcome('fail', `the check itself failed: ${msg(err)}`, 'see the daemon log');
      }
    }
    checks.push({ id: c.id, title: TITLES[c.id], ...o });
  }
  return { ok: !checks.some((c) => c.status === 'fail'), checks };
}

async function checkDns(dns: DoctorProbe['dns']): Promise<Outcome> {
  if (!dns) return outcome('skip', 'the daemon runs without DNS');
  const st = dns.status;
  if (!st.enabled) return outcome('skip', 'DNS is off (dnsPort 0)');
  if (!st.listen)
    return outcome(
      'fail',
      st.lastError ?? 'the DNS server is not listening',
      'another program may use that port: choose another DNS port: gangway settings set dnsPort=N',
    );
  const q = await dns.query().catch((err: unknown) => ({ name: null, ok: false, detail: msg(err) }));
  if (!q.ok)
    return outcome(
      'fail',
      `the server on ${st.listen} did not answer: ${q.detail}`,
      'see the daemon log ("dns" entries)',
    );
  const parts = [`${st.listen} answers (${q.detail})`];
  const collide = dns.collisions.slice(0, 5).map((c) => `${c.name} (${c.containers.join(', ')})`);
  if (collide.length)
    parts.push(
      `name collisions, resolving to every container's address: ${collide.join('; ')}${dns.collisions.length > 5 ? ' ...' : ''}`,
    );
  if (!st.resolver)
    return outcome(
      'warn',
      [...parts, `not registered with the OS: ${st.lastError ?? 'unknown reason'}`].join('; '),
      `names under ${st.suffix} resolve only when asked from ${st.listen} directly (dig @ADDR -p PORT NAME)`,
    );
  parts.push(`registered: ${st.resolver}`);
  if (collide.length)
    return outcome(
      'warn',
      parts.join('; '),
      'rename a container, or give it its own name with the dev.gangway.name label',
    );
  return outcome('ok', parts.join('; '));
}

function checkService(audit: DoctorProbe['service']): Outcome {
  if (!audit) return outcome('skip', 'not checked');
  let a: ServiceAudit;
  try {
    a = audit();
  } catch (err) {
    return outcome('skip', `cannot read the service: ${msg(err)}`);
  }
  if (!a.installed) return outcome('skip', `no service installed (${a.path})`);
  if (a.problems.length)
    return outcome(
      'warn',
      `${a.path} runs ${a.programs.join(' ')}, which a user other than root can change: ${a.problems.join('; ')}`,
      'install the service again: "sudo gangway service install" copies the helper into a root-owned directory and runs that copy',
    );
  return outcome('ok', `${a.path} runs ${a.programs.join(' ')}, which only root can change`);
}
