// The IPv6 paths (issue 14): the same host -> container measurement over the rig's unique-local addresses.
// `direct-ipv6` routes the container's IPv6 subnet over the veth; `gangway-ipv6` through the daemon and the
// agent. Their ratio is IPv6's cost through Gangway, comparable with the IPv4 ratio of the same run.
import { nsRun, waitFor } from '../rig/exec';
import type { Rig } from '../rig/rig';
import {
  Workdir,
  startAgent,
  startDaemon,
  stop,
  waitConnected,
  waitForDaemon,
  type DaemonHandle,
  type Proc,
} from '../tests/integration/harness';
import type { BenchPath } from './paths';

/** The inner MTU of the IPv4 gangway path (paths.ts), so the two ratios compare like with like. */
const MTU = 1420;

/** The container's IPv6 address: the target of the IPv6 paths. */
export function target6(rig: Rig): string {
  const ip6 = rig.containers[0]?.ip6;
  if (!ip6) throw new Error('the rig has no IPv6 addresses (createRig({ ipv6: true }))');
  return ip6;
}

async function waitReachable6(rig: Rig, what: string, timeoutMs = 10_000): Promise<void> {
  const ip = target6(rig);
  await waitFor(
    `${ip} reachable over ${what}`,
    async () =>
      (await nsRun(rig.hostNs, 'ping', ['-6', '-n', '-c', '1', '-W', '1', ip], { allowFail: true })).code ===
      0,
    timeoutMs,
    100,
  );
}

export class DirectIpv6Path implements BenchPath {
  readonly name = 'direct-ipv6' as const;
  private installed = false;
  constructor(private readonly rig: Rig) {}

  async setup(): Promise<void> {
    const { rig } = this;
    await nsRun(rig.hostNs, 'ip', [
      '-6',
      'route',
      'add',
      rig.containerSubnet6,
      'via',
      rig.vmVethIp6,
      'dev',
      rig.hostVeth,
    ]);
    this.installed = true;
    await waitReachable6(rig, 'the veth');
  }
  expectedDevice(): string {
    return this.rig.hostVeth;
  }
  pids(): number[] {
    return [];
  }
  info(): Promise<Record<string, unknown>> {
    return Promise.resolve({ via: this.rig.vmVethIp6 });
  }
  async teardown(): Promise<void> {
    if (!this.installed) return;
    const { rig } = this;
    await nsRun(rig.hostNs, 'ip', ['-6', 'route', 'del', rig.containerSubnet6, 'via', rig.vmVethIp6], {
      allowFail: true,
    });
    this.installed = false;
  }
}

export class GangwayIpv6Path implements BenchPath {
  readonly name = 'gangway-ipv6' as const;
  private work: Workdir | undefined;
  private daemon: DaemonHandle | undefined;
  private agent: Proc | undefined;
  private device = 'gw0';
  constructor(private readonly rig: Rig) {}

  async setup(): Promise<void> {
    const { rig } = this;
    this.work = new Workdir();
    const daemon = startDaemon(rig, this.work, ['--mtu', String(MTU), '--route', rig.containerSubnet6]);
    this.daemon = daemon;
    try {
      const s = await waitForDaemon(daemon);
      this.device = s.tunnel.device;
      this.agent = startAgent(rig, daemon);
      await waitConnected(daemon, 15_000);
      await waitReachable6(rig, 'Gangway');
    } catch (err) {
      throw new Error(
        `${(err as Error).message}\n--- daemon output:\n${daemon.output().slice(-3000)}` +
          (this.agent ? `\n--- agent output:\n${this.agent.output().slice(-3000)}` : ''),
      );
    }
  }
  expectedDevice(): string {
    return this.device;
  }
  pids(): number[] {
    return [this.daemon?.child.pid, this.agent?.child.pid].filter((p): p is number => typeof p === 'number');
  }
  async info(): Promise<Record<string, unknown>> {
    try {
      const s = await this.daemon!.status();
      return { daemon: { tunnel: s.tunnel, routes: s.routes, pump: s.counters.pump } };
    } catch (err) {
      return { daemonStatusError: (err as Error).message };
    }
  }
  async teardown(): Promise<void> {
    if (this.agent) await stop(this.agent).catch(() => undefined);
    if (this.daemon) await stop(this.daemon).catch(() => undefined);
    this.agent = undefined;
    this.daemon = undefined;
    this.work?.cleanup();
    this.work = undefined;
    // The TUN (and its routes) went with the daemon; make sure.
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
