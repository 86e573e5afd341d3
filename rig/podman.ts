// Debian's podman serving its Docker-compatible API inside the rig's VM namespace (`podman system service`),
// with everything of its own under /tmp/gangway-rig/<rig id>-podman: storage, run state, the CNI network
// configs (never /etc/cni/net.d) and a containers.conf capping ulimits (this machine's hard nofile limit is
// 20000, and nproc is capped too: shared/reference/toolchain.md). Its own mount namespace, like the rig's dockerd.
// Rootless (what `podman machine init` makes on a Mac): the service runs as nobody with a single uid mapping (no
// /etc/subuid entry is needed) and vfs storage, in a pid namespace of its own, so the user namespace's pause
// process that rootless Podman leaves behind ends with the service.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { RIG_RUN_ROOT } from './dockerd';
import { run, waitFor } from './exec';
import type { Rig } from './rig';

/** The user a rootless service runs as. */
const ROOTLESS_UID = 65534;

export interface PodmanOptions {
  rootless?: boolean;
}

export class PodmanService {
  readonly dir: string;
  readonly socketPath: string;
  readonly host: string;
  private child: ChildProcess | undefined;
  private output = '';

  constructor(
    readonly rig: Rig,
    private readonly opts: PodmanOptions = {},
  ) {
    this.dir = path.join(RIG_RUN_ROOT, `${rig.id}-podman`);
    this.socketPath = path.join(this.dir, 'podman.sock');
    this.host = `unix://${this.socketPath}`;
  }

  get log(): string {
    return this.output;
  }

  async start(): Promise<void> {
    const d = this.dir;
    await mkdir(path.join(d, 'net'), { recursive: true });
    await writeFile(path.join(d, 'owner'), `${process.pid}\n`);
    const conf = path.join(d, 'containers.conf');
    const limits = await readFile('/proc/self/limits', 'utf8');
    const hard = (what: string) =>
      /^Max (\S+ )*\S+\s+\S+\s+(\S+)/.exec(
        limits.split('\n').find((l) => l.startsWith(`Max ${what}`)) ?? '',
      )?.[2];
    // nproc at the hard limit (96365 here) still failed with "error setting rlimit type 6"; 4096 works.
    const ulimits = [`nofile=${hard('open files') ?? 20000}`, 'nproc=4096']
      .map(
        (u) =>
          `"${u.replace(/=(\S+)$/, (_m, n: string) => `=${n === 'unlimited' ? '-1' : n}:${n === 'unlimited' ? '-1' : n}`)}"`,
      )
      .join(', ');
    await writeFile(
      conf,
      `[containers]\ndefault_ulimits = [${ulimits}]\n[network]\nnetwork_config_dir = "${d}/net"\n`,
    );
    const storage = [
      ...['--root', path.join(d, 'root'), '--runroot', path.join(d, 'run')],
      ...['--network-config-dir', path.join(d, 'net'), '--cgroup-manager', 'cgroupfs'],
    ];
    const env: NodeJS.ProcessEnv = { ...process.env, CONTAINERS_CONF: conf };
    let asUser: string[] = [];
    if (this.opts.rootless) {
      await mkdir(path.join(d, 'xdg'), { recursive: true, mode: 0o700 });
      for (const p of ['', 'net', 'xdg']) await chown(path.join(d, p), ROOTLESS_UID, ROOTLESS_UID);
      await chmod(d, 0o755);
      storage.push('--storage-driver', 'vfs');
      Object.assign(env, { HOME: d, XDG_RUNTIME_DIR: path.join(d, 'xdg'), USER: 'nobody' });
      asUser = ['--pid', '--fork', '--kill-child', '--mount-proc', 'setpriv', `--reuid=${ROOTLESS_UID}`];
      asUser.push(`--regid=${ROOTLESS_UID}`, '--clear-groups');
    }
    const child = spawn(
      'nsenter',
      [
        `--net=/run/netns/${this.rig.vmNs}`,
        ...['unshare', '--mount', '--propagation', 'slave', ...asUser, 'podman'],
        ...storage,
        ...['system', 'service', '--time=0', this.host],
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env },
    );
    this.child = child;
    child.stdout?.on('data', (c: Buffer) => (this.output += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (this.output += c.toString()));
    await waitFor(
      `podman's API on ${this.socketPath} (${this.output})`,
      () => existsSync(this.socketPath),
      20_000,
      100,
    );
  }

  /** The docker CLI against podman's compat API, as a user with DOCKER_HOST set would run it. */
  docker(args: string[]) {
    return run('docker', ['--config', path.join(this.dir, 'cli'), '-H', this.host, ...args]);
  }

  async stop(): Promise<void> {
    const c = this.child;
    if (c && c.exitCode === null && c.signalCode === null) {
      // Containers a failed test left running: removed through the API first, or their network namespaces
      // (/run/netns/netns-<uuid>, made by podman in the root namespace's list) outlive the service.
      const ids = (await this.docker(['ps', '-aq']).catch(() => ({ stdout: '' }))).stdout.split(/\s+/);
      if (ids.some(Boolean)) await this.docker(['rm', '-f', ...ids.filter(Boolean)]).catch(() => undefined);
      const gone = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      const t = setTimeout(() => c.kill('SIGKILL'), 5_000);
      await gone;
      clearTimeout(t);
    }
    await rm(this.dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** Removes the directories of crashed runs (their owner pid is gone; the podman service died with the
 *  rig's namespace, its mounts with its own mount namespace). */
async function sweepStalePodmanDirs(): Promise<void> {
  for (const name of await readdir(RIG_RUN_ROOT).catch(() => [])) {
    if (!/^gw[0-9a-z]+[0-9a-f]{4}-podman$/.test(name)) continue;
    const dir = path.join(RIG_RUN_ROOT, name);
    const pid = Number((await readFile(path.join(dir, 'owner'), 'utf8').catch(() => '')).trim());
    let alive = false;
    try {
      alive = Number.isInteger(pid) && pid > 0 && process.kill(pid, 0);
    } catch {
      alive = false;
    }
    const mounted = (await readFile('/proc/self/mountinfo', 'utf8')).includes(` ${dir}/`);
    if (!alive && !mounted) await rm(dir, { recursive: true, force: true });
  }
}

export async function startPodman(rig: Rig, opts: PodmanOptions = {}): Promise<PodmanService> {
  await sweepStalePodmanDirs();
  const p = new PodmanService(rig, opts);
  try {
    await p.start();
  } catch (err) {
    await p.stop();
    throw err;
  }
  return p;
}
