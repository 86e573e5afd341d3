// A throwaway machine that runs a real systemd as its PID 1, for testing `gangway service` where the test
// machine's own PID 1 is not systemd.
//
//   rootfs   Debian bookworm from debootstrap (minbase + systemd, dbus, iproute2), built once into
//            /var/cache/gangway-rig/systemd-rootfs-<hash of the recipe>/ and never written to again:
//            each boot runs it with --volatile=overlay, so whatever the test writes lives in a tmpfs that
//            goes away with the machine.
//   boot     systemd-nspawn -b --private-network --register=no --keep-unit: its own network namespace (no
//            link to the machine's network at all), no machined or host systemd needed. Paths given as
//            binds (node, the checkout) appear read-only at the same place inside.
//   cgroups  nspawn puts its supervisor and the container under its own cgroup in the systemd hierarchies
//            (name=systemd and, on hybrid hosts, cgroup2 at /sys/fs/cgroup/unified). A small wrapper moves it
//            into a fresh child of the test's own cgroup first, so the container's tree stays in one place
//            that stop() empties and removes.
//   exec     nsenter into every namespace of the container's PID 1, with a clean environment.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, readlink, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run, waitFor, type RunResult } from './exec';
import { IMAGE_CACHE_DIR } from './images';

const SUITE = 'bookworm';
const MIRROR = 'http://deb.debian.org/debian';
const INCLUDE = ['systemd', 'systemd-sysv', 'dbus', 'iproute2'];
/** Bump when the recipe changes in a way the debootstrap arguments do not show. */
const RECIPE_VERSION = '1';
const PATH_ENV = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const READY_MARK = '.gangway-rootfs-complete';

export interface RootfsResult {
  dir: string;
  /** cached: the directory was there; built: debootstrap ran now. */
  how: 'cached' | 'built';
  ms: number;
}

function debootstrapArgs(target: string): string[] {
  return ['--variant=minbase', `--include=${INCLUDE.join(',')}`, SUITE, target, MIRROR];
}

/** The rootfs directory for the current recipe, running debootstrap (a few minutes, needs the mirror)
 *  when it is not cached yet. */
export async function ensureSystemdRootfs(
  opts: { cacheDir?: string; progress?: (m: string) => void } = {},
): Promise<RootfsResult> {
  const t0 = Date.now();
  const cacheDir = opts.cacheDir ?? IMAGE_CACHE_DIR;
  const hash = createHash('sha256')
    .update(`recipe ${RECIPE_VERSION}\n${debootstrapArgs('TARGET').join('\n')}`)
    .digest('hex')
    .slice(0, 16);
  const dir = path.join(cacheDir, `systemd-rootfs-${hash}`);
  if (existsSync(path.join(dir, READY_MARK))) return { dir, how: 'cached', ms: Date.now() - t0 };
  await mkdir(cacheDir, { recursive: true });
  const tmp = await mkdtemp(path.join(cacheDir, 'tmp-systemd-rootfs-'));
  try {
    const root = path.join(tmp, 'root');
    opts.progress?.(`debootstrap ${debootstrapArgs(root).join(' ')}`);
    await run('debootstrap', debootstrapArgs(root), { timeoutMs: 900_000 }).catch((err: Error) => {
      throw /\(ENOENT\)/.test(err.message)
        ? new Error('debootstrap is not installed (apt-get install debootstrap)')
        : err;
    });
    await writeFile(path.join(root, READY_MARK), `${new Date().toISOString()}\n`);
    await rm(dir, { recursive: true, force: true }); // an unfinished one from a crashed run
    await rename(root, dir).catch((err: NodeJS.ErrnoException) => {
      // Another run finished the same recipe first: use theirs.
      if (!existsSync(path.join(dir, READY_MARK))) throw err;
    });
    await pruneOtherRootfs(cacheDir, dir);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return { dir, how: 'built', ms: Date.now() - t0 };
}

async function pruneOtherRootfs(cacheDir: string, keep: string): Promise<void> {
  for (const f of await readdir(cacheDir)) {
    const p = path.join(cacheDir, f);
    if (/^systemd-rootfs-[0-9a-f]{16}$/.test(f) && p !== keep) await rm(p, { recursive: true, force: true });
  }
}

/** Why a machine cannot be started here at all (before trying), or undefined. */
export async function systemdMachineUnavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'needs root';
  if (process.platform !== 'linux') return 'needs Linux';
  for (const [bin, pkg] of [
    ['systemd-nspawn', 'systemd-container'],
    ['nsenter', 'util-linux'],
  ] as const) {
    const r = await run(bin, ['--version'], { allowFail: true }).catch(() => undefined);
    if (!r || r.code !== 0) return `${bin} is not installed (apt-get install ${pkg})`;
  }
  return undefined;
}

export interface BootOptions {
  rootfs: string;
  /** Host paths bound read-only at the same path inside. */
  bindsReadOnly: string[];
  /** Device nodes bound read-write (e.g. /dev/net/tun). */
  devices?: string[];
  /** How long systemd may take to reach running/degraded (default 60 s). */
  bootTimeoutMs?: number;
}

export class SystemdMachineBootError extends Error {}

export class SystemdMachine {
  private console = '';
  private exited = false;
  private constructor(
    readonly name: string,
    private readonly nspawn: ChildProcess,
    private readonly cgroupDirs: string[],
    /** PID of the container's systemd, as the host sees it (0 until found). */
    public leader = 0,
  ) {
    const keep = (c: Buffer) => {
      this.console = (this.console + c.toString()).slice(-20_000);
    };
    nspawn.stdout?.on('data', keep);
    nspawn.stderr?.on('data', keep);
    nspawn.on('exit', () => (this.exited = true));
    nspawn.on('error', (err) => {
      this.console += `\n${err.message}`;
      this.exited = true;
    });
  }

  /** Boots the machine and waits until systemd says the system is up. On failure the machine is already
   *  stopped and the error (SystemdMachineBootError) says why. */
  static async boot(o: BootOptions): Promise<SystemdMachine> {
    await reapStaleMachines();
    const name = `gw-${process.pid}-${randomBytes(4).toString('hex')}`;
    const cgroupDirs = await createCgroups(name);
    const args = [
      '--quiet',
      '--directory',
      o.rootfs,
      '--volatile=overlay',
      '--private-network',
      '--register=no',
      '--keep-unit',
      '--boot',
      '--machine',
      name,
      ...o.bindsReadOnly.map((p) => `--bind-ro=${p}`),
      ...(o.devices ?? []).map((p) => `--bind=${p}`),
    ];
    // Joins the new cgroups, then becomes nspawn (which reads its own cgroup when it starts). A constant
    // script: the cgroup files and nspawn's arguments are its positional parameters. Not joining is fatal:
    // nspawn would then build the container's cgroups right in the test's own.
    const script = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"';
    const procs = cgroupDirs.map((d) => path.join(d, 'cgroup.procs'));
    const child = spawn('sh', ['-c', script, 'gangway-nspawn', ...procs, '--', 'systemd-nspawn', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const m = new SystemdMachine(name, child, cgroupDirs);
    try {
      await m.waitBooted(o.bootTimeoutMs ?? 60_000);
      return m;
    } catch (err) {
      const tail = m.consoleTail();
      await m.stop();
      throw new SystemdMachineBootError(`${(err as Error).message}\n--- console ---\n${tail}`);
    }
  }

  private async waitBooted(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    // A loop rather than waitFor: when nspawn exits early there is nothing to wait for.
    const until = Date.now() + Math.min(timeoutMs, 20_000);
    while (!this.leader) {
      if (this.exited) throw new Error('systemd-nspawn exited before systemd started');
      if (Date.now() > until) throw new Error('systemd did not start in the container within 20 s');
      this.leader = (await findLeader(this.nspawn.pid ?? -1)) ?? 0;
      if (!this.leader) await new Promise((r) => setTimeout(r, 100));
    }
    // Until systemd has opened its private bus socket, systemctl fails at once: ask again.
    let last = '';
    while (!this.exited && Date.now() < deadline) {
      const r = await this.exec('systemctl', ['is-system-running', '--wait'], {
        timeoutMs: Math.max(1_000, deadline - Date.now()),
        allowFail: true,
      });
      const state = r.stdout.trim();
      if (state === 'running' || state === 'degraded') return;
      last = `state "${state}"${r.stderr.trim() ? `, ${r.stderr.trim()}` : ''}`;
      // "offline" is also what systemctl says in the first moments of boot, before systemd has created
      // /run/systemd/system (sd_booted): ask again. Maintenance or stopping will not get better.
      if (state === 'maintenance' || state === 'stopping') break;
      await new Promise((res) => setTimeout(res, 200));
    }
    throw new Error(
      this.exited
        ? `systemd-nspawn exited while systemd was starting (${last})`
        : `systemd did not come up within ${timeoutMs} ms (${last})`,
    );
  }

  /** Runs a command inside (all namespaces of the container's PID 1), environment = PATH + env. */
  exec(
    cmd: string,
    args: string[],
    opts: { env?: Record<string, string>; timeoutMs?: number; allowFail?: boolean } = {},
  ): Promise<RunResult> {
    if (!this.leader) throw new Error('the machine is not running');
    const env = Object.entries({ PATH: PATH_ENV, ...opts.env }).map(([k, v]) => `${k}=${v}`);
    return run(
      'nsenter',
      ['--target', String(this.leader), '--all', '--root', '--wd', 'env', '-i', ...env, cmd, ...args],
      { timeoutMs: opts.timeoutMs ?? 30_000, allowFail: opts.allowFail },
    );
  }

  /** A path inside the machine, as the host can read it. */
  hostPath(p: string): string {
    return path.join(`/proc/${this.leader}/root`, p);
  }

  /** Host PIDs of the machine's processes whose command line contains `needle`. */
  async processes(needle: string): Promise<number[]> {
    const found: number[] = [];
    const ns = await readlinkSafe(`/proc/${this.leader}/ns/pid`);
    for (const e of await readdir('/proc')) {
      if (!/^\d+$/.test(e)) continue;
      if ((await readlinkSafe(`/proc/${e}/ns/pid`)) !== ns) continue;
      const cmdline = await readFile(`/proc/${e}/cmdline`, 'utf8').catch(() => '');
      if (cmdline.split('\0').join(' ').includes(needle)) found.push(Number(e));
    }
    return found;
  }

  consoleTail(lines = 40): string {
    return this.console.split('\n').slice(-lines).join('\n');
  }

  /** Powers the machine off (SIGTERM to nspawn is a clean poweroff), SIGKILL after 15 s, then removes its
   *  cgroups and nspawn's runtime leftovers. Never throws. */
  async stop(): Promise<void> {
    if (!this.exited && this.nspawn.pid) {
      this.nspawn.kill('SIGTERM');
      await waitFor('systemd-nspawn to exit', () => this.exited, 15_000, 50).catch(() => {
        this.nspawn.kill('SIGKILL');
        if (this.leader) killQuietly(this.leader);
      });
      await waitFor('systemd-nspawn to exit', () => this.exited, 5_000, 50).catch(() => undefined);
    }
    for (const dir of this.cgroupDirs) await removeCgroupTree(dir);
    await rm(path.join('/run/systemd/nspawn/propagate', this.name), { recursive: true, force: true });
    this.leader = 0;
  }
}

/** The container's PID 1: the child of nspawn that is PID 1 in its own PID namespace and runs systemd. */
async function findLeader(nspawnPid: number): Promise<number | undefined> {
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const status = await readFile(`/proc/${e}/status`, 'utf8').catch(() => '');
    const ppid = /^PPid:\s+(\d+)$/m.exec(status)?.[1];
    if (Number(ppid) !== nspawnPid) continue;
    const nspid = /^NSpid:\s+(.+)$/m.exec(status)?.[1]?.trim().split(/\s+/);
    const comm = (await readFile(`/proc/${e}/comm`, 'utf8').catch(() => '')).trim();
    if (nspid && nspid.length > 1 && nspid[nspid.length - 1] === '1' && comm === 'systemd') return Number(e);
  }
  return undefined;
}

/** This process's own cgroup in each hierarchy nspawn tracks the container in (cgroup2, name=systemd). */
async function cgroupParents(): Promise<string[]> {
  const own = await readFile('/proc/self/cgroup', 'utf8');
  const rel = (re: RegExp) => re.exec(own)?.[1];
  const candidates: [string, string | undefined][] = [];
  if ((await fsType('/sys/fs/cgroup')) === 'cgroup2') candidates.push(['/sys/fs/cgroup', rel(/^0::(.*)$/m)]);
  else {
    candidates.push(['/sys/fs/cgroup/unified', rel(/^0::(.*)$/m)]);
    candidates.push(['/sys/fs/cgroup/systemd', rel(/^\d+:name=systemd:(.*)$/m)]);
  }
  return candidates
    .filter(([mount, sub]) => sub !== undefined && existsSync(path.join(mount, 'cgroup.procs')))
    .map(([mount, sub]) => path.join(mount, sub!));
}

const CGROUP_PREFIX = 'gangway-nspawn-';

async function createCgroups(name: string): Promise<string[]> {
  const dirs: string[] = [];
  for (const parent of await cgroupParents()) {
    const dir = path.join(parent, `${CGROUP_PREFIX}${name}`);
    await mkdir(dir);
    dirs.push(dir);
  }
  return dirs;
}

/** Machines of test processes that died without stopping them (the name holds the test's pid): kills
 *  everything in their cgroups and removes them. */
async function reapStaleMachines(): Promise<void> {
  for (const parent of await cgroupParents()) {
    for (const e of await readdir(parent).catch(() => [])) {
      const m = new RegExp(`^${CGROUP_PREFIX}(gw-(\\d+)-[0-9a-f]+)$`).exec(e);
      if (!m || existsSync(`/proc/${m[2]}`)) continue;
      await removeCgroupTree(path.join(parent, e));
      await rm(path.join('/run/systemd/nspawn/propagate', m[1]!), { recursive: true, force: true });
    }
  }
}

async function fsType(p: string): Promise<string> {
  const r = await run('stat', ['-f', '-c', '%T', p], { allowFail: true });
  return r.stdout.trim();
}

/** Kills what is left in a cgroup tree and removes its directories, leaves first. Never throws. */
async function removeCgroupTree(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) if (e.isDirectory()) await removeCgroupTree(path.join(dir, e.name));
  const procs = await readFile(path.join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
  for (const pid of procs.split('\n').filter(Boolean)) killQuietly(Number(pid));
  await waitFor('cgroup to empty', () => rmdir(dir).then(() => true), 2_000, 50).catch(() => undefined);
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

async function readlinkSafe(p: string): Promise<string> {
  return readlink(p).catch(() => '');
}
