// The three ways from the host namespace to a container: plain routing over the veth, Gangway (daemon +
// agent), and wireguard-go on both ends. Each path installs the host's route to the container subnet on
// setup and removes it on teardown, so only one path is ever active; `routeDevice` tells which one is.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AGENT,
  CLI,
  Workdir,
  startAgent,
  startDaemon,
  stop,
  waitConnected,
  waitForDaemon,
  type DaemonHandle,
  type Proc,
} from '../tests/integration/harness';
import { nsRun, waitFor } from '../rig/exec';
import type { Rig } from '../rig/rig';
import { Arm64Agent } from './arm64-agent';
import { maclikeDaemonEnv } from './maclike-path';
import { waitReachable } from './reachable';
import { threadCount } from './cpu';
import type { PathName } from './types';

export const MTU = 1420;

/** The container's IPv6 address: the target of the IPv6 paths (`direct-ipv6`, `gangway-ipv6`). */
export function target6(rig: Rig): string {
  const ip6 = rig.containers[0]?.ip6;
  if (!ip6) throw new Error('the rig has no IPv6 addresses (createRig({ ipv6: true }))');
  return ip6;
}

export interface BenchPath {
  readonly name: PathName;
  /** Installs the route (and starts the tunnel processes). Leaves nothing behind when it throws. */
  setup(): Promise<void>;
  /** The device the host's route to the containers must use. */
  expectedDevice(): string;
  /** Processes whose CPU counts as the tunnel's (empty for direct routing). */
  pids(): number[];
  /** Extra facts for the JSON report (offload state, counters). */
  info(): Promise<Record<string, unknown>>;
  /** Removes the route and stops the processes. Never throws. */
  teardown(): Promise<void>;
  /** Facts only known once the processes stopped (e.g. the agent's final counters). */
  finalInfo?(): Record<string, unknown>;
}

/** `ip route get IP` in the host namespace: the device, or undefined when there is no route. */
export async function routeDevice(rig: Rig, ip: string): Promise<{ device?: string; text: string }> {
  const r = await nsRun(rig.hostNs, 'ip', ['route', 'get', ip], { allowFail: true });
  const text = (r.stdout || r.stderr).trim().split('\n')[0] ?? '';
  if (r.code !== 0) return { text };
  return { device: /\bdev (\S+)/.exec(text)?.[1], text };
}

/** Checks that no path's route to the containers is left in the host namespace. */
export async function assertNoRoute(rig: Rig, ip: string): Promise<void> {
  const r = await routeDevice(rig, ip);
  if (r.device) throw new Error(`a route to ${ip} is still installed before setup: ${r.text}`);
}

export function describeProcess(pid: number): { pid: number; comm: string; threads: number } {
  let comm = '?';
  try {
    comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    // gone
  }
  return { pid, comm, threads: threadCount(pid) };
}

/** Plain routing over the veth to the container's IPv4 address (`direct`) or its IPv6 one (`direct-ipv6`). */
class DirectPath implements BenchPath {
  private installed = false;
  private readonly family: string[];
  private readonly subnet: string;
  private readonly via: string;
  private readonly target: string;
  constructor(
    private readonly rig: Rig,
    readonly name: 'direct' | 'direct-ipv6',
  ) {
    const v6 = name === 'direct-ipv6';
    this.family = v6 ? ['-6'] : [];
    this.subnet = v6 ? rig.containerSubnet6 : rig.containerSubnet;
    this.via = v6 ? rig.vmVethIp6 : rig.vmVethIp;
    this.target = v6 ? target6(rig) : rig.containers[0]!.ip;
  }

  async setup(): Promise<void> {
    const { rig } = this;
    await nsRun(rig.hostNs, 'ip', [
      ...this.family,
      'route',
      'add',
      this.subnet,
      'via',
      this.via,
      'dev',
      rig.hostVeth,
    ]);
    this.installed = true;
    await waitReachable(rig, this.target, 'the veth');
  }
  expectedDevice(): string {
    return this.rig.hostVeth;
  }
  pids(): number[] {
    return [];
  }
  info(): Promise<Record<string, unknown>> {
    return Promise.resolve({ via: this.via });
  }
  async teardown(): Promise<void> {
    if (!this.installed) return;
    await nsRun(this.rig.hostNs, 'ip', [...this.family, 'route', 'del', this.subnet, 'via', this.via], {
      allowFail: true,
    });
    this.installed = false;
  }
}

/** Whether the Gangway daemon and agent can run: the build output and the native addon exist. */
export function gangwayMissing(): string | undefined {
  const addon = join(__dirname, '..', '..', 'native', 'build', 'Release', 'gangway_native.node');
  if (!existsSync(CLI) || !existsSync(AGENT))
    return `the build output is missing (${CLI}); run npm run build`;
  if (!existsSync(addon)) return `the native addon is not built (${addon}); run npm run build:native`;
  return undefined;
}

type GangwayPathName =
  'gangway' | 'gangway-nooffload' | 'gangway-arm64' | 'gangway-maclike' | 'gangway-1q' | 'gangway-ipv6';

/** The daemon and the agent, in one of their variants; `gangway-ipv6` measures the container's IPv6 address
 *  (the daemon also routes the rig's IPv6 container subnet), every other one its IPv4 address. */
class GangwayPath implements BenchPath {
  private work: Workdir | undefined;
  private daemon: DaemonHandle | undefined;
  private agent: Proc | undefined;
  private device = 'gw0';
  private agentStopLog: string | undefined;

  constructor(
    private readonly rig: Rig,
    readonly name: GangwayPathName,
    private readonly daemonArgs: readonly string[] = [],
  ) {}
  private arm64: Arm64Agent | undefined;

  private get v6(): boolean {
    return this.name === 'gangway-ipv6';
  }

  private get extra(): string[] {
    if (this.name === 'gangway-1q') return ['--queues', '1']; // one thread pair each side, as before #15.1
    return this.name === 'gangway-nooffload' ? ['--no-offload'] : [];
  }

  async setup(): Promise<void> {
    const missing = gangwayMissing();
    if (missing) throw new Error(missing);
    const { rig } = this;
    this.work = new Workdir();
    this.daemon = startDaemon(
      rig,
      this.work,
      [
        '--mtu',
        String(MTU),
        ...this.extra,
        ...(this.v6 ? ['--route', rig.containerSubnet6] : []),
        ...this.daemonArgs,
      ],
      undefined,
      undefined,
      this.name === 'gangway-maclike' ? maclikeDaemonEnv() : undefined,
    );
    const daemon = this.daemon;
    const explain = (err: unknown) =>
      new Error(
        `${(err as Error).message}\n--- daemon output:\n${daemon.output().slice(-3000)}` +
          (this.agent ? `\n--- agent output:\n${this.agent.output().slice(-3000)}` : ''),
      );
    try {
      const s = await waitForDaemon(daemon);
      this.device = s.tunnel.device;
      if (this.name === 'gangway-arm64') {
        this.arm64 = await Arm64Agent.prepare((m) => process.stderr.write(`  ${m}\n`));
        this.agent = this.arm64.start(rig, daemon, this.extra);
      } else {
        this.agent = startAgent(rig, daemon, this.extra);
      }
      await waitConnected(daemon, this.arm64 ? 120_000 : 15_000);
      await waitReachable(rig, this.v6 ? target6(rig) : rig.containers[0]!.ip, 'Gangway');
    } catch (err) {
      throw explain(err);
    }
  }
  expectedDevice(): string {
    return this.device;
  }
  finalInfo(): Record<string, unknown> {
    if (!this.agentStopLog) return {};
    try {
      return { agentStopped: JSON.parse(this.agentStopLog) as unknown };
    } catch {
      return { agentStopped: this.agentStopLog };
    }
  }
  pids(): number[] {
    return [this.daemon?.child.pid, this.agent?.child.pid].filter((p): p is number => typeof p === 'number');
  }
  async info(): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    try {
      const s = await this.daemon!.status();
      out.daemon = { tunnel: s.tunnel, routes: s.routes, pump: s.counters.pump };
    } catch (err) {
      out.daemonStatusError = (err as Error).message;
    }
    const started = this.agent
      ?.output()
      .split('\n')
      .find((l) => l.includes('agent started'));
    if (started) out.agentStarted = started;
    return out;
  }
  /** Stops the agent and the daemon; returns their output tails for the report. */
  async teardown(): Promise<void> {
    if (this.agent) {
      await stop(this.agent).catch(() => undefined);
      // The agent has no status API: its counters are in its last log line.
      this.agentStopLog = this.agent
        .output()
        .split('\n')
        .find((l) => l.includes('agent stopped'));
    }
    if (this.daemon) await stop(this.daemon).catch(() => undefined);
    this.agent = undefined;
    this.daemon = undefined;
    this.work?.cleanup();
    this.work = undefined;
    this.arm64?.cleanup();
    this.arm64 = undefined;
    // If the daemon died without removing its route, the TUN (and so the route) went with it; make sure.
    await nsRun(this.rig.hostNs, 'ip', ['route', 'del', this.rig.containerSubnet, 'dev', this.device], {
      allowFail: true,
    });
    if (this.v6)
      await nsRun(
        this.rig.hostNs,
        'ip',
        ['-6', 'route', 'del', this.rig.containerSubnet6, 'dev', this.device],
        {
          allowFail: true,
        },
      );
  }
}

const WG_SUBNET = { host: '10.58.0.1', vm: '10.58.0.2', prefix: 30 };
const WG_PORT = 51820;

function wgKeyPair(): { priv: string; pub: string } {
  const priv = execFileSync('wg', ['genkey'], { encoding: 'utf8', timeout: 5_000 }).trim();
  const pub = execFileSync('wg', ['pubkey'], { input: `${priv}\n`, encoding: 'utf8', timeout: 5_000 }).trim();
  return { priv, pub };
}

class WireguardPath implements BenchPath {
  readonly name = 'wireguard' as const;
  private dir: string | undefined;
  private procs: Proc[] = [];
  private readonly hostIf: string;
  private readonly vmIf: string;

  constructor(private readonly rig: Rig) {
    // Distinct names: wireguard-go's control socket (/var/run/wireguard/<name>.sock) is not per namespace.
    this.hostIf = `${rig.id}wh`;
    this.vmIf = `${rig.id}wv`;
  }

  private start(ns: string, ifname: string): Proc {
    const child = this.rig.spawn(ns, 'wireguard-go', [ifname], {
      env: { ...process.env, WG_PROCESS_FOREGROUND: '1' },
    });
    let out = '';
    child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
    const p = { child, output: () => out };
    this.procs.push(p);
    return p;
  }

  async setup(): Promise<void> {
    const { rig } = this;
    this.dir = mkdtempSync(join(tmpdir(), 'gangway-bench-wg-'));
    chmodSync(this.dir, 0o700);
    const h = wgKeyPair();
    const v = wgKeyPair();
    const hostKey = join(this.dir, 'host.key');
    const vmKey = join(this.dir, 'vm.key');
    writeFileSync(hostKey, `${h.priv}\n`, { mode: 0o600 });
    writeFileSync(vmKey, `${v.priv}\n`, { mode: 0o600 });
    const ends = [
      {
        ns: rig.hostNs,
        ifname: this.hostIf,
        key: hostKey,
        addr: WG_SUBNET.host,
        peer: v.pub,
        allowed: `${WG_SUBNET.vm}/32,${rig.containerSubnet}`,
        endpoint: rig.vmVethIp,
      },
      {
        ns: rig.vmNs,
        ifname: this.vmIf,
        key: vmKey,
        addr: WG_SUBNET.vm,
        peer: h.pub,
        allowed: `${WG_SUBNET.host}/32`,
        endpoint: rig.hostVethIp,
      },
    ];
    for (const e of ends) {
      const p = this.start(e.ns, e.ifname);
      await waitFor(
        `wireguard-go ${e.ifname} (output: ${p.output()})`,
        async () => {
          if (p.child.exitCode !== null)
            throw new Error(`wireguard-go exited with ${p.child.exitCode}: ${p.output()}`);
          return (
            (await nsRun(e.ns, 'ip', ['link', 'show', e.ifname], { allowFail: true })).code === 0 &&
            existsSync(`/var/run/wireguard/${e.ifname}.sock`)
          );
        },
        10_000,
        50,
      );
      await nsRun(e.ns, 'wg', [
        'set',
        e.ifname,
        'private-key',
        e.key,
        'listen-port',
        String(WG_PORT),
        'peer',
        e.peer,
        'allowed-ips',
        e.allowed,
        'endpoint',
        `${e.endpoint}:${WG_PORT}`,
      ]);
      await nsRun(e.ns, 'ip', ['addr', 'add', `${e.addr}/${WG_SUBNET.prefix}`, 'dev', e.ifname]);
      await nsRun(e.ns, 'ip', ['link', 'set', e.ifname, 'mtu', String(MTU), 'up']);
    }
    await nsRun(rig.hostNs, 'ip', ['route', 'add', rig.containerSubnet, 'dev', this.hostIf]);
    await waitReachable(rig, rig.containers[0]!.ip, 'wireguard-go');
  }
  expectedDevice(): string {
    return this.hostIf;
  }
  pids(): number[] {
    return this.procs.map((p) => p.child.pid).filter((p): p is number => typeof p === 'number');
  }
  async info(): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = { interfaces: [this.hostIf, this.vmIf] };
    const r = await nsRun(this.rig.hostNs, 'wg', ['show', this.hostIf, 'transfer'], { allowFail: true });
    out.hostTransfer = r.stdout.trim();
    const version = await nsRun(this.rig.hostNs, 'wireguard-go', ['--version'], { allowFail: true });
    out.version = version.stdout.trim();
    return out;
  }
  async teardown(): Promise<void> {
    await nsRun(this.rig.hostNs, 'ip', ['route', 'del', this.rig.containerSubnet, 'dev', this.hostIf], {
      allowFail: true,
    });
    for (const p of this.procs) await stop(p).catch(() => undefined);
    this.procs = [];
    // wireguard-go removes its control socket on SIGTERM, not when killed: make sure it is gone.
    for (const ifname of [this.hostIf, this.vmIf])
      rmSync(`/var/run/wireguard/${ifname}.sock`, { force: true });
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }
}

/** `daemonArgs`: extra flags for the Gangway daemon (the idle bench runs it with --no-docker). */
export function createPath(rig: Rig, name: PathName, daemonArgs: readonly string[] = []): BenchPath {
  switch (name) {
    case 'direct':
      return new DirectPath(rig, 'direct');
    case 'gangway':
    case 'gangway-nooffload':
    case 'gangway-arm64':
    case 'gangway-maclike':
    case 'gangway-1q':
    case 'gangway-ipv6':
      return new GangwayPath(rig, name, daemonArgs);
    case 'wireguard':
      return new WireguardPath(rig);
    case 'direct-ipv6':
      return new DirectPath(rig, 'direct-ipv6');
  }
}
