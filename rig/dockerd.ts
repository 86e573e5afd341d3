// A real dockerd (Debian's docker.io, Docker 20.10) running inside the rig's VM namespace.
//
// How it is started, and why:
// - `nsenter --net=/run/netns/<vm>`, not `ip netns exec`: the latter remounts /sys, and dockerd then fails
//   with "Devices cgroup isn't mounted".
// - `unshare --mount --propagation slave`: dockerd gets its own mount namespace, so its overlay, shm and
//   netns mounts never appear in the root mount table and vanish by themselves once dockerd, containerd,
//   the shims and the containers are dead (a crashed run leaves no mounts behind). Consequence: Docker's
//   netns files (exec-root/netns/*) are empty files outside; enter a container's network namespace through
//   /proc/<.State.Pid>/ns/net instead.
// - Everything per run lives under /tmp/gangway-rig/<rig id>/: data-root, exec-root (the managed
//   containerd's socket and state are under exec-root/containerd, so two runs never share one), the API
//   socket, the log, daemon.json (so the host's /etc/docker/daemon.json is never read) and the trust key
//   (daemon.json's "deprecated-key-path"; otherwise 20.10 writes /etc/docker/key.json).
// - `--cgroup-parent gangway-rig-<id>` (relative: it nests under the shim's own cgroup, so containers
//   stay inside whatever cgroup the test runs in) lets us find a crashed run's container processes.
// - Address pools are Docker's defaults minus 172.30.0.0/16, which the rig's own bridge uses.
//
// iptables flavour (checked on this machine, Debian 12): dockerd 20.10 has no setting for it; it runs the
// `iptables` it finds on PATH, which is the Debian alternative /usr/sbin/iptables -> iptables-nft
// (xtables-nft-multi, priority 20 over legacy's 10). So Docker's chains (DOCKER, DOCKER-USER,
// DOCKER-ISOLATION-STAGE-1/2, nat DOCKER + MASQUERADE) live in nf_tables in the VM namespace;
// `iptables-legacy-save` there is empty. Merely listing with `iptables-legacy -L` instantiates empty legacy
// tables, after which iptables-nft prints "# Warning: iptables-legacy tables present": detect with the
// *-save tools (see iptablesFlavour), which have no such side effect.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { openSync, closeSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, rmdir, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { nsRun, run, waitFor, type RunResult } from './exec';
import type { Rig } from './rig';

/** Docker's client from the docker.io package: the same version as the daemon. */
export const DEFAULT_DOCKER_CLI = '/usr/bin/docker';
export const RIG_RUN_ROOT = '/tmp/gangway-rig';

const DEFAULT_POOLS = [
  'base=172.17.0.0/16,size=16',
  'base=172.18.0.0/15,size=16',
  'base=172.20.0.0/14,size=16',
  'base=172.24.0.0/14,size=16',
  'base=172.28.0.0/15,size=16',
  'base=172.31.0.0/16,size=16',
  'base=192.168.0.0/16,size=20',
];

export interface DockerdOptions {
  /** Default: overlay2, falling back to vfs if overlay2 does not start. */
  storageDriver?: 'overlay2' | 'vfs';
  /** `--default-address-pool` values; default: Docker's own minus the rig's 172.30.0.0/16. */
  addressPools?: string[];
  extraArgs?: string[];
  /** Which iptables dockerd finds first on its PATH (links in its run directory); default: the system's
   *  `iptables` alternative (nft here). */
  iptables?: 'legacy' | 'nft';
  dockerCli?: string;
  startTimeoutMs?: number;
  /** Docker's IPv6 firewall: `docker network create --ipv6 --subnet fd42:…/64` networks get ip6tables chains
   *  (DOCKER-USER, isolation) as IPv4 ones do. 20.10 keeps "ip6tables" behind "experimental" (Engine 27 made
   *  it the default); per-network --ipv6 needs nothing more. */
  ipv6?: boolean;
}

export class Dockerd {
  readonly dir: string;
  readonly socketPath: string;
  readonly host: string;
  readonly logPath: string;
  readonly cgroupParent: string;
  readonly dockerCli: string;
  storageDriver: 'overlay2' | 'vfs';
  private child: ChildProcess | undefined;

  constructor(
    readonly rig: Rig,
    private readonly opts: DockerdOptions,
  ) {
    this.dir = path.join(RIG_RUN_ROOT, rig.id);
    this.socketPath = path.join(this.dir, 'docker.sock');
    this.host = `unix://${this.socketPath}`;
    this.logPath = path.join(this.dir, 'dockerd.log');
    this.cgroupParent = cgroupParentFor(rig.id);
    this.dockerCli = opts.dockerCli ?? DEFAULT_DOCKER_CLI;
    this.storageDriver = opts.storageDriver ?? 'overlay2';
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Runs the docker CLI against this daemon. */
  docker(args: string[], opts?: { timeoutMs?: number; allowFail?: boolean }): Promise<RunResult> {
    return run(this.dockerCli, ['--config', path.join(this.dir, 'cli'), '-H', this.host, ...args], {
      timeoutMs: opts?.timeoutMs ?? 60_000,
      allowFail: opts?.allowFail,
    });
  }

  /** Which iptables holds Docker's chains in the VM namespace: 'nft', 'legacy', or 'none'. */
  async iptablesFlavour(): Promise<'nft' | 'legacy' | 'none'> {
    for (const flavour of ['nft', 'legacy'] as const) {
      const { stdout } = await nsRun(this.rig.vmNs, `iptables-${flavour}-save`, ['-t', 'filter'], {
        allowFail: true,
      });
      if (stdout.includes(':DOCKER-USER')) return flavour;
    }
    return 'none';
  }

  /** Starts dockerd and waits until its API answers. */
  async start(): Promise<void> {
    await mkdir(path.join(this.dir, 'cli'), { recursive: true });
    await writeFile(path.join(this.dir, 'owner'), `${process.pid}\n`);
    const config = {
      'deprecated-key-path': path.join(this.dir, 'key.json'),
      ...(this.opts.ipv6 ? { experimental: true, ip6tables: true } : {}),
    };
    await writeFile(path.join(this.dir, 'daemon.json'), JSON.stringify(config));
    try {
      await this.startOnce();
    } catch (err) {
      // Only a storage-driver failure (e.g. /tmp on overlayfs, where overlay2 cannot nest) earns a retry.
      const driverFailed = /error initializing graphdriver/.test((err as Error).message);
      if (this.opts.storageDriver || !driverFailed) throw err;
      this.storageDriver = 'vfs';
      await this.startOnce();
    }
  }

  private async startOnce(): Promise<void> {
    const d = this.dir;
    const args = [
      `--net=/run/netns/${this.rig.vmNs}`,
      ...['unshare', '--mount', '--propagation', 'slave', 'dockerd'],
      ...['--config-file', path.join(d, 'daemon.json')],
      ...['--data-root', path.join(d, 'data'), '--exec-root', path.join(d, 'exec')],
      ...['--pidfile', path.join(d, 'dockerd.pid'), '-H', this.host],
      ...['--storage-driver', this.storageDriver, '--iptables=true', '--cgroup-parent', this.cgroupParent],
      ...(this.opts.addressPools ?? DEFAULT_POOLS).flatMap((p) => ['--default-address-pool', p]),
      ...(this.opts.extraArgs ?? []),
    ];
    const env = this.opts.iptables ? await this.iptablesPath(this.opts.iptables) : process.env;
    const log = openSync(this.logPath, 'a');
    // nsenter and unshare exec without forking, so this child *is* dockerd.
    const child = spawn('nsenter', args, { stdio: ['ignore', log, log], env });
    closeSync(log);
    this.child = child;
    let exited = false;
    child.once('exit', () => (exited = true));
    child.once('error', () => (exited = true)); // e.g. nsenter missing
    try {
      // waitFor retries on errors, so an early exit ends the wait as a value, not a throw.
      const timeoutMs = this.opts.startTimeoutMs ?? 30_000;
      const what = `dockerd to answer on ${this.socketPath}`;
      await waitFor(what, async () => exited || ping(this.socketPath), timeoutMs, 100);
      if (exited) throw new Error(`dockerd exited with ${String(child.exitCode ?? child.signalCode)}`);
    } catch (err) {
      const tail = (await readFile(this.logPath, 'utf8').catch(() => '')).split('\n').slice(-40).join('\n');
      await this.shutdown(false);
      await killRunLeftovers(this.rig.id);
      throw new Error(`${(err as Error).message}\n--- ${this.logPath} (tail) ---\n${tail}`);
    }
  }

  /** An environment whose PATH finds `flavour`'s iptables tools first, under the plain names dockerd runs. */
  private async iptablesPath(flavour: 'legacy' | 'nft'): Promise<NodeJS.ProcessEnv> {
    const bin = path.join(this.dir, `iptables-${flavour}`);
    await mkdir(bin, { recursive: true });
    for (const tool of ['iptables', 'ip6tables'])
      for (const suffix of ['', '-save', '-restore'])
        await symlink(`/usr/sbin/${tool}-${flavour}${suffix}`, path.join(bin, `${tool}${suffix}`)).catch(
          (err: NodeJS.ErrnoException) => {
            if (err.code !== 'EEXIST') throw err;
          },
        );
    return { ...process.env, PATH: `${bin}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}` };
  }

  /** Stops dockerd, removes its containers, leftovers and temp dir. Never throws. */
  async stop(): Promise<void> {
    try {
      await this.shutdown(true);
    } catch {
      // best effort; the sweep below catches what is left
    }
    await cleanupRun(this.rig.id);
  }

  /** Stops dockerd gracefully and starts it on the same data, like Docker restarting in its VM: containers
   *  with a restart policy come back, Docker re-creates its iptables chains. */
  async restart(): Promise<void> {
    await this.halt();
    await this.startOnce();
  }

  /** The first half of restart(): dockerd gone, its containers and data kept for start(). */
  async halt(): Promise<void> {
    await this.shutdown(false);
    await killRunLeftovers(this.rig.id);
  }

  /** The second half of restart(): dockerd again on the data halt() kept. */
  async resume(): Promise<void> {
    await this.startOnce();
  }

  /** SIGTERM, wait, SIGKILL. With removeContainers, first `docker rm -f` everything (PID 1 of a
   *  container without --init ignores SIGTERM, and dockerd would wait 10 s per container). */
  private async shutdown(removeContainers: boolean): Promise<void> {
    const child = this.child;
    if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    if (removeContainers) {
      const ps = await this.docker(['ps', '-aq'], { allowFail: true, timeoutMs: 10_000 });
      const ids = ps.stdout.split(/\s+/).filter(Boolean);
      if (ids.length) await this.docker(['rm', '-f', ...ids], { allowFail: true, timeoutMs: 30_000 });
    }
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await gone;
    clearTimeout(t);
  }
}

export async function startDockerd(rig: Rig, opts: DockerdOptions = {}): Promise<Dockerd> {
  await sweepStaleDockerds();
  const d = new Dockerd(rig, opts);
  try {
    await d.start();
  } catch (err) {
    await cleanupRun(rig.id);
    throw err;
  }
  return d;
}

function cgroupParentFor(id: string): string {
  return `gangway-rig-${id}`;
}

/** Rig ids look like `gw<pid in base 36><4 hex>` (newRigId in rig.ts); nothing else is ever swept. */
const RIG_ID = /^gw([0-9a-z]+)[0-9a-f]{4}$/;

/** Owner pid of a run: the `owner` file, else the pid encoded in the rig id (see newRigId in rig.ts). */
async function ownerAlive(id: string): Promise<boolean> {
  const text = await readFile(path.join(RIG_RUN_ROOT, id, 'owner'), 'utf8').catch(() => '');
  const m = RIG_ID.exec(id);
  const pid = text.trim() ? Number(text.trim()) : m?.[1] ? parseInt(m[1], 36) : NaN;
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Removes what crashed runs left: their processes (dockerd, containerd, shims, containers), cgroups,
 *  shim sockets, mounts and directories. Runs whose owner still lives are left alone. */
export async function sweepStaleDockerds(): Promise<void> {
  const ids = new Set<string>(await readdir(RIG_RUN_ROOT).catch(() => []));
  for (const dir of await findRunCgroups()) ids.add(path.basename(dir).slice('gangway-rig-'.length));
  for (const id of ids) if (RIG_ID.test(id) && !(await ownerAlive(id))) await cleanupRun(id);
}

/** Kills every process of a run, then removes its cgroups, mounts and directory. Never throws. */
async function cleanupRun(id: string): Promise<void> {
  try {
    await killRunLeftovers(id);
    for (const cg of (await findRunCgroups()).filter((p) => path.basename(p) === cgroupParentFor(id))) {
      await removeCgroupTree(cg);
    }
    const dir = path.join(RIG_RUN_ROOT, id);
    // Only reachable if a mount escaped dockerd's private mount namespace; rm must never cross a mount.
    for (const m of await mountsUnder(dir)) await run('umount', ['-l', m], { allowFail: true });
    if ((await mountsUnder(dir)).length === 0) await rm(dir, { recursive: true, force: true });
  } catch {
    // never throw from cleanup
  }
}

/** Daemons that may belong to a run. Other processes naming the run's socket (a helper under test, a
 *  `docker events` stream) are the test's own business and are not touched here. */
const DAEMON_NAMES = /^(nsenter|unshare|dockerd|containerd|containerd-shim.*|docker-proxy)$/;

/** Processes of a run: its daemons (their command line names its directory) and whatever is in its
 *  cgroup (the containers). The sockets of killed shims go too. */
async function killRunLeftovers(id: string): Promise<void> {
  const dir = path.join(RIG_RUN_ROOT, id) + '/';
  const cgroupMark = `/${cgroupParentFor(id)}/`;
  const pids = (await readdir('/proc').catch(() => [])).filter(
    (p) => /^\d+$/.test(p) && Number(p) !== process.pid,
  );
  const victims: number[] = [];
  const shimSockets: string[] = [];
  for (const pid of pids) {
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
    const cgroups = await readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => '');
    const daemon = DAEMON_NAMES.test(path.basename(cmdline[0] ?? '')) && cmdline.some((a) => a.includes(dir));
    if (!daemon && !cgroups.includes(cgroupMark)) continue;
    victims.push(Number(pid));
    const sock = shimSocket(cmdline);
    if (sock) shimSockets.push(sock);
  }
  for (const pid of victims) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  if (victims.length) await new Promise((r) => setTimeout(r, 200));
  for (const s of shimSockets) await rm(s, { force: true });
}

/** containerd 1.6 puts a shim's socket at /run/containerd/s/sha256(<address>/<namespace>/<id>); a
 *  killed shim leaves it behind. */
function shimSocket(cmdline: string[]): string | undefined {
  if (!path.basename(cmdline[0] ?? '').startsWith('containerd-shim')) return undefined;
  const arg = (name: string) => cmdline[cmdline.indexOf(name) + 1];
  const [ns, cid, address] = [arg('-namespace'), arg('-id'), arg('-address')];
  if (!ns || !cid || !address) return undefined;
  return `/run/containerd/s/${createHash('sha256').update(`${address}/${ns}/${cid}`).digest('hex')}`;
}

/** Every `gangway-rig-*` cgroup directory, in every hierarchy, at most a few levels deep (the relative
 *  cgroup parent nests under the test's own cgroup, e.g. memory:/process_api/<session>/). */
async function findRunCgroups(): Promise<string[]> {
  const mounts = (await readFile('/proc/self/mountinfo', 'utf8').catch(() => ''))
    .split('\n')
    .filter((l) => / - cgroup2? /.test(l))
    .map((l) => l.split(' ')[4] ?? '');
  const found: string[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const p = path.join(dir, e.name);
      if (e.name.startsWith('gangway-rig-')) found.push(p);
      else if (depth < 3) await walk(p, depth + 1);
    }
  };
  for (const m of mounts) if (m) await walk(m, 0);
  return found;
}

/** Kills what is left in a cgroup tree and removes its directories, leaves first. */
async function removeCgroupTree(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) if (e.isDirectory()) await removeCgroupTree(path.join(dir, e.name));
  const procs = await readFile(path.join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
  for (const pid of procs.split('\n').filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // gone
    }
  }
  await waitFor('cgroup to empty', () => rmdir(dir).then(() => true), 2_000, 50).catch(() => undefined);
}

async function mountsUnder(dir: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  return text
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m === dir || m.startsWith(dir + '/'))
    .sort((a, b) => b.length - a.length);
}

/** GET /_ping on the API socket: true once dockerd serves requests. */
function ping(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath, path: '/_ping', timeout: 1_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
  });
}
