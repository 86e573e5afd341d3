// The IPv6 paths (issue 14): the same host -> container measurement over the rig's unique-local addresses.
// `direct-ipv6` (DirectPath in paths.ts) routes the container's IPv6 subnet over the veth; `gangway-ipv6`
// through the daemon and the agent. Their ratio is IPv6's cost through Gangway, comparable with the IPv4 ratio of the same run.
import { nsRun } from '../rig/exec';
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
import { waitReachable } from './reachable';

/** The inner MTU of the IPv4 gangway path (paths.ts), so the two ratios compare like with like. */
const MTU = 1420;

/** The container's IPv6 address: the target of the IPv6 paths. */
export function target6(rig: Rig): string {
  const ip6 = rig.containers[0]?.ip6;
  if (!ip6) throw new Error('the rig has no IPv6 addresses (createRig({ ipv6: true }))');
  return ip6;
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
      await waitReachable(rig, target6(rig), 'Gangway');
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
