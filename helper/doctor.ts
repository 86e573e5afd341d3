// `gangway doctor`: checks each hop from the CLI to a container, in order, and says what failed and what to
// do. The logic is a function over an injected probe, so every state can be tested with fakes.
import type { DiagnosticCheck, Diagnostics, DnsStatus } from '../common/api';
import { formatCidr, nthAddress, parseCidr } from '../common/cidr';

export type CheckStatus = DiagnosticCheck['status'];

/** Keepalives older than this mean the agent went quiet. */
export const KEEPALIVE_FRESH_MS = 3_000;
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
  };
  /** gangway up was asked for (and not undone by gangway down). */
  agentWanted: boolean;
  agentError: string | null;
  tunnel: {
    state: 'connected' | 'waiting';
    peer: string | null;
    lastHeardAgoMs: number | null;
    configAcked: boolean;
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
  handshake: 'Tunnel handshake done',
  keepalive: 'Keepalives fresh',
  tun: 'TUN device up',
  routes: 'Routes present',
  conflicts: 'No route conflicts',
  gateways: 'Network gateways answer through the tunnel',
  dns: 'DNS',
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

/** Runs every check in order; a check whose prerequisite failed (or was skipped) is skipped. */
export async function runDoctor(p: DoctorProbe): Promise<Diagnostics> {
  const checks = new Map<CheckId, DiagnosticCheck>();
  const set = (id: CheckId, status: CheckStatus, detail: string, fix?: string) =>
    checks.set(id, { id, title: TITLES[id], status, detail, ...(fix ? { fix } : {}) });
  const good = (id: CheckId) => {
    const s = checks.get(id)?.status;
    return s === 'ok' || s === 'warn';
  };
  const skipUnless = (id: CheckId, deps: CheckId[]): boolean => {
    const bad = deps.find((d) => !good(d));
    if (!bad) return false;
    set(id, 'skip', `skipped: "${TITLES[bad]}" did not pass`);
    return true;
  };

  // 1. The daemon: it answers, so it runs (the CLI reports an unreachable socket itself).
  if (p.settingsWarning)
    set(
      'daemon',
      'warn',
      `gangwayd ${p.version} on ${p.socket}; settings: ${p.settingsWarning}`,
      'fix or remove the settings file named above, then restart the daemon',
    );
  else set('daemon', 'ok', `gangwayd ${p.version} on ${p.socket}`);

  // 2. Docker.
  const d = p.docker;
  if (!d.enabled || d.state === 'disabled')
    set(
      'docker',
      'skip',
      'the daemon does not follow Docker (--no-docker, or the endpoint could not be used)',
      'start the daemon without --no-docker (see its log for why Docker could not be used)',
    );
  else if (d.state === 'connected') set('docker', 'ok', `connected to ${d.endpoint ?? '?'}`);
  else
    set(
      'docker',
      'fail',
      `${d.state} (${d.endpoint ?? '?'})${d.lastError ? `: ${d.lastError}` : ''}`,
      `start Docker (or its VM), or point the daemon at it with --docker-host / DOCKER_HOST; the daemon reconnects by itself`,
    );
  const dockerUsed = d.enabled && d.state !== 'disabled';

  // 3. The agent image.
  if (!skipUnless('image', ['docker'])) {
    try {
      const img = await p.agentImage();
      if (img.present) set('image', 'ok', img.tag);
      else
        set(
          'image',
          'fail',
          `${img.tag} is not in Docker${p.agentError ? `; last launch: ${p.agentError}` : ''}`,
          'run "gangway up" (it builds or loads the image)',
        );
    } catch (err) {
      set('image', 'fail', `cannot ask Docker: ${msg(err)}`, 'check that Docker answers (docker info)');
    }
  }

  // 4. The agent container.
  if (!skipUnless('agent', ['docker'])) {
    try {
      const a = await p.agentContainer();
      if (a.state === 'running') set('agent', 'ok', `running${a.detail ? ` (${a.detail})` : ''}`);
      else
        set(
          'agent',
          'fail',
          `container ${a.state === 'absent' ? 'absent' : `not running (${a.state})`}${a.detail ? `: ${a.detail}` : ''}${p.agentError ? `; last launch: ${p.agentError}` : ''}`,
          p.agentWanted
            ? 'run "gangway up" to recreate it (see "docker logs gangway-agent" for why it stopped)'
            : 'run "gangway up" to launch the agent',
        );
    } catch (err) {
      set('agent', 'fail', `cannot ask Docker: ${msg(err)}`, 'check that Docker answers (docker info)');
    }
  }

  // 5. Handshake. Without Docker the agent is run by hand: the tunnel is checked on its own.
  if (!(dockerUsed ? skipUnless('handshake', ['agent']) : false)) {
    const t = p.tunnel;
    if (t.peer && t.configAcked) set('handshake', 'ok', `session with ${t.peer}, configuration applied`);
    else if (t.peer)
      set(
        'handshake',
        'fail',
        `session with ${t.peer}, but the agent has not applied the configuration`,
        'see "docker logs gangway-agent"; "gangway down && gangway up" restarts the agent',
      );
    else
      set(
        'handshake',
        'fail',
        'no tunnel session: the agent never completed the handshake',
        'check that the agent can reach the daemon on its UDP port (--agent-dial, firewall) and shares its secret; see "docker logs gangway-agent"',
      );
  }

  // 6. Keepalives.
  if (!skipUnless('keepalive', ['handshake'])) {
    const ago = p.tunnel.lastHeardAgoMs;
    if (ago !== null && ago < KEEPALIVE_FRESH_MS)
      set('keepalive', 'ok', `last heard ${(ago / 1000).toFixed(1)} s ago`);
    else
      set(
        'keepalive',
        'fail',
        ago === null ? 'never heard from the agent' : `last heard ${(ago / 1000).toFixed(1)} s ago`,
        'the agent went quiet: check that it runs ("docker ps") and that UDP between the VM and the host is not blocked',
      );
  }

  // 7. The TUN device.
  try {
    const l = await p.tunLink();
    if (l.up) set('tun', 'ok', `${p.device}: ${l.detail}`);
    else
      set(
        'tun',
        'fail',
        `${p.device}: ${l.detail}`,
        `bring it up ("ip link set ${p.device} up") or restart the daemon`,
      );
  } catch (err) {
    set('tun', 'fail', `${p.device}: ${msg(err)}`, 'restart the daemon (it creates the TUN device)');
  }

  // 8. Routes.
  if (!skipUnless('routes', ['tun'])) {
    try {
      const have = new Set((await p.tunRoutes()).map(norm));
      const want = p.installedRoutes.map(norm);
      const missing = want.filter((r) => !have.has(r));
      if (want.length === 0) set('routes', 'ok', 'no routes wanted');
      else if (missing.length === 0) set('routes', 'ok', `${want.join(', ')} on ${p.device}`);
      else
        set(
          'routes',
          'fail',
          `missing on ${p.device}: ${missing.join(', ')} (something removed them)`,
          `run "gangway down && gangway up", or restart the daemon, to install the routes again`,
        );
    } catch (err) {
      set('routes', 'fail', `cannot read the routing table: ${msg(err)}`, 'restart the daemon');
    }
  }

  // 9. Conflicts.
  if (!skipUnless('conflicts', ['docker'])) {
    const blocked = p.networks.filter((n) => n.wanted && !n.routed && n.conflict);
    if (blocked.length === 0) set('conflicts', 'ok', `${p.networks.length} network(s), none blocked`);
    else
      set(
        'conflicts',
        'warn',
        blocked.map((n) => `${n.name}: ${n.conflict ?? '?'}`).join('; '),
        'these networks overlap host routes (a VPN, a LAN): recreate them with another subnet, or change Docker\'s default-address-pools; "gangway networks" lists them',
      );
  }

  // 10. Gateways through the tunnel.
  if (!skipUnless('gateways', ['keepalive', 'routes'])) {
    const targets: { name: string; ip: string }[] = [];
    for (const n of p.networks)
      for (const s of n.subnets) {
        const ip = s.routed ? gatewayOf(s.cidr) : undefined;
        if (ip && targets.length < MAX_GATEWAY_PROBES) targets.push({ name: n.name, ip });
      }
    if (targets.length === 0) set('gateways', 'skip', 'no routed IPv4 network');
    else {
      const answers = await Promise.all(
        targets.map((t) => p.probeAddress(t.ip, GATEWAY_TIMEOUT_MS).catch(() => false)),
      );
      const silent = targets.filter((_, i) => !answers[i]);
      if (silent.length === 0) set('gateways', 'ok', targets.map((t) => `${t.name} ${t.ip}`).join(', '));
      else
        set(
          'gateways',
          'fail',
          `no answer from ${silent.map((t) => `${t.name} ${t.ip}`).join(', ')}`,
          'the tunnel carries no traffic to these networks: see "docker logs gangway-agent" (forwarding, firewall rules in the VM)',
        );
    }
  }

  // 11. DNS: the server answers a name it should know, and the OS sends the suffix to it.
  await checkDns(p.dns, set);

  const list = CHECK_ORDER.map((id) => checks.get(id)!);
  return { ok: !list.some((c) => c.status === 'fail'), checks: list };
}

async function checkDns(
  dns: DoctorProbe['dns'],
  set: (id: CheckId, status: CheckStatus, detail: string, fix?: string) => void,
): Promise<void> {
  if (!dns) return void set('dns', 'skip', 'the daemon runs without DNS');
  const st = dns.status;
  if (!st.enabled) return void set('dns', 'skip', 'DNS is off (dnsPort 0)');
  if (!st.listen)
    return void set(
      'dns',
      'fail',
      st.lastError ?? 'the DNS server is not listening',
      'another program may use that port: choose another DNS port: gangway settings set dnsPort=N',
    );
  const q = await dns.query().catch((err: unknown) => ({ name: null, ok: false, detail: msg(err) }));
  if (!q.ok)
    return void set(
      'dns',
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
    return void set(
      'dns',
      'warn',
      [...parts, `not registered with the OS: ${st.lastError ?? 'unknown reason'}`].join('; '),
      `names under ${st.suffix} resolve only when asked from ${st.listen} directly (dig @ADDR -p PORT NAME)`,
    );
  parts.push(`registered: ${st.resolver}`);
  if (collide.length)
    return void set(
      'dns',
      'warn',
      parts.join('; '),
      'rename a container, or give it its own name with the dev.gangway.name label',
    );
  set('dns', 'ok', parts.join('; '));
}
