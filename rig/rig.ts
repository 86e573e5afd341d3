// The rig: a simulated Docker VM on one Linux machine, built from network namespaces.
//
//   <id>-host  (the helper; no default route)  --veth--  <id>-vm  (the agent; bridge <id>br)
//                                                              |-- <id>-c0, <id>-c1 ... ("containers")
//
// Every address lives only inside these namespaces; nothing here touches the root namespace's routes.
// Names carry a short per-run id so parallel or crashed runs never collide; `sweepStaleRigs` removes the
// namespaces of runs whose process is gone.
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { nsRun, nsSpawn, run, type RunResult } from './exec';
import { sweepStaleDockerds } from './dockerd';

export interface RigContainer {
  ns: string;
  ip: string;
  /** Its unique-local IPv6 address, in a rig made with `ipv6`. */
  ip6?: string;
}

export interface RigOptions {
  /** How many "container" namespaces to attach to the VM's bridge. */
  containers?: number;
  /** Third octet for the rig's addresses, so two rigs in one test file do not look alike in logs. */
  subnetIndex?: number;
  /**
   * Unique-local IPv6 addresses too (issue 14): on the veth (fd42:200:N::1 and ::2) and on the VM's bridge and
   * its containers (fd42:30:N::/64), with IPv6 forwarding in the VM.
   */
  ipv6?: boolean;
}

export class Rig {
  readonly hostNs: string;
  readonly vmNs: string;
  readonly hostVeth: string;
  readonly vmVeth: string;
  readonly bridge: string;
  readonly hostVethIp: string;
  readonly vmVethIp: string;
  readonly containerSubnet: string;
  readonly bridgeIp: string;
  readonly hostVethIp6: string;
  readonly vmVethIp6: string;
  readonly containerSubnet6: string;
  readonly bridgeIp6: string;
  readonly containers: RigContainer[] = [];
  private readonly procs = new Set<ChildProcess>();
  private readonly extraNs = new Set<string>();

  constructor(
    readonly id: string,
    private readonly opts: Required<RigOptions>,
  ) {
    this.hostNs = `${id}-host`;
    this.vmNs = `${id}-vm`;
    // Interface names are limited to 15 characters.
    this.hostVeth = `${id}h`;
    this.vmVeth = `${id}v`;
    this.bridge = `${id}br`;
    const n = opts.subnetIndex;
    this.hostVethIp = `10.200.${n}.1`;
    this.vmVethIp = `10.200.${n}.2`;
    this.containerSubnet = `172.30.${n}.0/24`;
    this.bridgeIp = `172.30.${n}.1`;
    this.hostVethIp6 = `fd42:200:${n}::1`;
    this.vmVethIp6 = `fd42:200:${n}::2`;
    this.containerSubnet6 = `fd42:30:${n}::/64`;
    this.bridgeIp6 = `fd42:30:${n}::1`;
  }

  /** Runs a command in a namespace of this rig. */
  exec(
    ns: string,
    cmd: string,
    args: string[],
    opts?: { timeoutMs?: number; allowFail?: boolean },
  ): Promise<RunResult> {
    return nsRun(ns, cmd, args, opts);
  }

  /** Starts a process in a namespace; it is killed by teardown(). */
  spawn(ns: string, cmd: string, args: string[], opts?: SpawnOptions): ChildProcess {
    const child = nsSpawn(ns, cmd, args, opts);
    this.procs.add(child);
    child.once('exit', () => this.procs.delete(child));
    return child;
  }

  /** Adds a namespace (e.g. for a spoofing process) that teardown() deletes too. */
  async addNamespace(suffix: string): Promise<string> {
    const ns = `${this.id}-${suffix}`;
    await run('ip', ['netns', 'add', ns]);
    this.extraNs.add(ns);
    await nsRun(ns, 'ip', ['link', 'set', 'lo', 'up']);
    return ns;
  }

  async setup(): Promise<void> {
    const { hostNs, vmNs } = this;
    await run('ip', ['netns', 'add', hostNs]);
    await run('ip', ['netns', 'add', vmNs]);
    for (const ns of [hostNs, vmNs]) await nsRun(ns, 'ip', ['link', 'set', 'lo', 'up']);
    await nsRun(hostNs, 'ip', ['link', 'add', this.hostVeth, 'type', 'veth', 'peer', 'name', this.vmVeth]);
    await nsRun(hostNs, 'ip', ['link', 'set', this.vmVeth, 'netns', vmNs]);
    await nsRun(hostNs, 'ip', ['addr', 'add', `${this.hostVethIp}/30`, 'dev', this.hostVeth]);
    await nsRun(hostNs, 'ip', ['link', 'set', this.hostVeth, 'up']);
    await nsRun(vmNs, 'ip', ['addr', 'add', `${this.vmVethIp}/30`, 'dev', this.vmVeth]);
    await nsRun(vmNs, 'ip', ['link', 'set', this.vmVeth, 'up']);
    await nsRun(vmNs, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    await nsRun(vmNs, 'ip', ['link', 'add', this.bridge, 'type', 'bridge']);
    await nsRun(vmNs, 'ip', ['addr', 'add', `${this.bridgeIp}/24`, 'dev', this.bridge]);
    await nsRun(vmNs, 'ip', ['link', 'set', this.bridge, 'up']);
    if (this.opts.ipv6) {
      // nodad: usable at once; nothing else on these links could hold the same address.
      await nsRun(hostNs, 'ip', [
        '-6',
        'addr',
        'add',
        `${this.hostVethIp6}/64`,
        'dev',
        this.hostVeth,
        'nodad',
      ]);
      await nsRun(vmNs, 'ip', ['-6', 'addr', 'add', `${this.vmVethIp6}/64`, 'dev', this.vmVeth, 'nodad']);
      await nsRun(vmNs, 'ip', ['-6', 'addr', 'add', `${this.bridgeIp6}/64`, 'dev', this.bridge, 'nodad']);
      await nsRun(vmNs, 'sysctl', ['-qw', 'net.ipv6.conf.all.forwarding=1']);
    }
    for (let i = 0; i < this.opts.containers; i++) await this.addContainer(i);
  }

  private async addContainer(i: number): Promise<void> {
    const ns = `${this.id}-c${i}`;
    const ip = this.bridgeIp.replace(/\.1$/, `.${10 + i}`);
    const outside = `${this.id}c${i}`;
    await run('ip', ['netns', 'add', ns]);
    this.extraNs.add(ns);
    await nsRun(ns, 'ip', ['link', 'set', 'lo', 'up']);
    await nsRun(this.vmNs, 'ip', ['link', 'add', outside, 'type', 'veth', 'peer', 'name', 'eth0']);
    await nsRun(this.vmNs, 'ip', ['link', 'set', 'eth0', 'netns', ns]);
    await nsRun(this.vmNs, 'ip', ['link', 'set', outside, 'master', this.bridge, 'up']);
    await nsRun(ns, 'ip', ['addr', 'add', `${ip}/24`, 'dev', 'eth0']);
    await nsRun(ns, 'ip', ['link', 'set', 'eth0', 'up']);
    await nsRun(ns, 'ip', ['route', 'add', 'default', 'via', this.bridgeIp]);
    if (this.opts.ipv6) {
      const ip6 = this.bridgeIp6.replace(/::1$/, `::${10 + i}`);
      await nsRun(ns, 'ip', ['-6', 'addr', 'add', `${ip6}/64`, 'dev', 'eth0', 'nodad']);
      await nsRun(ns, 'ip', ['-6', 'route', 'add', 'default', 'via', this.bridgeIp6]);
      this.containers.push({ ns, ip, ip6 });
      return;
    }
    this.containers.push({ ns, ip });
  }

  /**
   * Drops `percent`% of the packets in each direction on the host-VM veth (0 removes the loss). Uses netem
   * where the kernel has it; otherwise (as on this machine's kernel, built without sch_netem) an iptables
   * random drop on both ends of the veth, which loses whole packets just the same.
   */
  async setLoss(percent: number): Promise<'netem' | 'iptables'> {
    const ends = [
      [this.hostNs, this.hostVeth],
      [this.vmNs, this.vmVeth],
    ] as const;
    for (const [ns, dev] of ends) {
      await nsRun(ns, 'tc', ['qdisc', 'del', 'dev', dev, 'root'], { allowFail: true });
      await nsRun(ns, 'iptables', ['-t', 'mangle', '-F', 'GANGWAY-LOSS'], { allowFail: true });
    }
    if (percent <= 0) return 'netem';
    const netem = await nsRun(
      this.hostNs,
      'tc',
      ['qdisc', 'add', 'dev', this.hostVeth, 'root', 'netem', 'loss', `${percent}%`],
      {
        allowFail: true,
      },
    );
    if (netem.code === 0) {
      await nsRun(this.vmNs, 'tc', [
        'qdisc',
        'add',
        'dev',
        this.vmVeth,
        'root',
        'netem',
        'loss',
        `${percent}%`,
      ]);
      return 'netem';
    }
    for (const [ns, dev] of ends) {
      await nsRun(ns, 'iptables', ['-t', 'mangle', '-N', 'GANGWAY-LOSS'], { allowFail: true });
      const drop = [
        '-m',
        'statistic',
        '--mode',
        'random',
        '--probability',
        String(percent / 100),
        '-j',
        'DROP',
      ];
      await nsRun(ns, 'iptables', ['-t', 'mangle', '-A', 'GANGWAY-LOSS', '-o', dev, ...drop]);
      await nsRun(ns, 'iptables', ['-t', 'mangle', '-C', 'POSTROUTING', '-j', 'GANGWAY-LOSS'], {
        allowFail: true,
      }).then((r) =>
        r.code === 0
          ? undefined
          : nsRun(ns, 'iptables', ['-t', 'mangle', '-A', 'POSTROUTING', '-j', 'GANGWAY-LOSS']),
      );
    }
    return 'iptables';
  }

  /** Kills every process the rig started and deletes its namespaces. Never throws. */
  async teardown(): Promise<void> {
    for (const p of this.procs) p.kill('SIGKILL');
    await Promise.all(
      [...this.procs].map((p) => new Promise((r) => (p.exitCode !== null ? r(null) : p.once('exit', r)))),
    );
    for (const ns of [...this.extraNs, this.vmNs, this.hostNs]) {
      await killNamespaceProcesses(ns);
      await run('ip', ['netns', 'delete', ns], { allowFail: true });
    }
  }
}

/** Kills whatever still runs inside a namespace (e.g. a daemon started by a test that then crashed). */
async function killNamespaceProcesses(ns: string): Promise<void> {
  const { stdout } = await run('ip', ['netns', 'pids', ns], { allowFail: true });
  for (const pid of stdout.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Rig ids look like `gw<pid36><rand>`: the pid lets a later run know whether the owner still lives. */
function newRigId(): string {
  return `gw${process.pid.toString(36)}${randomBytes(2).toString('hex')}`.slice(0, 11);
}

/** Deletes namespaces left behind by rigs whose process has died (a crashed or killed test run). */
export async function sweepStaleRigs(): Promise<void> {
  // A crashed run's dockerd leaves containers outside the namespaces (own netns, own cgroup): see dockerd.ts.
  await sweepStaleDockerds();
  const { stdout } = await run('ip', ['netns', 'list'], { allowFail: true });
  for (const line of stdout.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const m = /^gw([0-9a-z]+?)([0-9a-f]{4})-/.exec(name);
    if (!m?.[1]) continue;
    const pid = parseInt(m[1], 36);
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
    if (!alive) {
      await killNamespaceProcesses(name);
      await run('ip', ['netns', 'delete', name], { allowFail: true });
    }
  }
}

export async function createRig(options: RigOptions = {}): Promise<Rig> {
  await sweepStaleRigs();
  const rig = new Rig(newRigId(), {
    containers: options.containers ?? 2,
    subnetIndex: options.subnetIndex ?? 7,
    ipv6: options.ipv6 ?? false,
  });
  try {
    await rig.setup();
  } catch (err) {
    await rig.teardown();
    throw err;
  }
  return rig;
}
