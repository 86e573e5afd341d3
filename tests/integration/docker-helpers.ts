// What the Docker-backed tests, the demo and the control-plane bench all do: set up a rig with a real dockerd,
// start a small web server in a container, read a container's address on a network, fetch from the host
// namespace, run the real CLI.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Status } from '../../common/api';
import { startDockerd, type Dockerd, type DockerdOptions } from '../../rig/dockerd';
import { waitFor } from '../../rig/exec';
import { AGENT_BASE_IMAGE, BUSYBOX_IMAGE, buildRigImages } from '../../rig/images';
import { createRig, type Rig, type RigOptions } from '../../rig/rig';
import { CLI, Workdir, startDaemon, stop, waitForDaemon, type DaemonHandle } from './harness';

const execFileP = promisify(execFile);

/** A container's IPv4 address on one network. */
export async function ipOn(dockerd: Dockerd, container: string, network: string): Promise<string> {
  const r = await dockerd.docker([
    'inspect',
    '-f',
    `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`,
    container,
  ]);
  return r.stdout.trim();
}

/** Runs busybox httpd serving "hi" on port 80 in a new container; returns its address on `network`. */
export async function runWeb(dockerd: Dockerd, name: string, network: string): Promise<string> {
  await dockerd.docker([
    'run',
    '-d',
    '--name',
    name,
    '--network',
    network,
    BUSYBOX_IMAGE,
    'sh',
    '-c',
    'mkdir -p /www && echo hi > /www/index.html && exec httpd -f -p 80 -h /www',
  ]);
  return ipOn(dockerd, name, network);
}

/** Whether an HTTP GET from the rig's host namespace succeeds within `timeoutS`. */
export async function httpOk(rig: Rig, ip: string, timeoutS = 1): Promise<boolean> {
  const r = await rig.exec(rig.hostNs, 'curl', ['-sSf', '--max-time', String(timeoutS), `http://${ip}/`], {
    allowFail: true,
  });
  return r.code === 0;
}

/** Runs the real `gangway` CLI against a daemon's socket; never throws, returns the exit code and output. */
export function gangwayCli(socket: string, ...args: string[]): Promise<{ code: number; out: string }> {
  return execFileP(process.execPath, [CLI, ...args, '--socket', socket], { timeout: 300_000 }).then(
    (r) => ({ code: 0, out: r.stdout + r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
  );
}

/**
 * Daemon arguments for a rig with a real dockerd: follow that engine, have the agent dial the host over the
 * veth (host.docker.internal on Docker Desktop), and build the agent image on the offline base.
 */
export function rigDockerArgs(rig: Rig, dockerd: Dockerd): string[] {
  return [
    '--docker-host',
    dockerd.host,
    '--agent-dial',
    rig.hostVethIp,
    '--agent-base-image',
    AGENT_BASE_IMAGE,
  ];
}

export interface DockerRig {
  rig: Rig;
  dockerd: Dockerd;
  work: Workdir;
}

/**
 * A rig with a real dockerd in its VM namespace, the rig's images loaded, and a work directory. When a step
 * fails, what the earlier steps made is removed before the error is thrown.
 */
export async function startDockerRig(
  opts: RigOptions,
  dockerdOpts: (rig: Rig) => DockerdOptions = () => ({}),
): Promise<DockerRig> {
  const rig = await createRig(opts);
  let dockerd: Dockerd | undefined;
  try {
    dockerd = await startDockerd(rig, dockerdOpts(rig));
    await buildRigImages(dockerd.host);
    return { rig, dockerd, work: new Workdir() };
  } catch (err) {
    await dockerd?.stop();
    await rig.teardown();
    throw err;
  }
}

/** A daemon following the rig's dockerd (see rigDockerArgs), answering on its socket. */
export async function startDockerDaemon(r: DockerRig, extra: string[] = []): Promise<DaemonHandle> {
  const daemon = startDaemon(r.rig, r.work, [...rigDockerArgs(r.rig, r.dockerd), ...extra]);
  await waitForDaemon(daemon);
  return daemon;
}

/** Stops what a Docker-backed test started, in order; any part may be missing (set-up failed early). */
export async function teardownDockerRig(p: {
  daemon?: DaemonHandle | undefined;
  dockerd?: Dockerd | undefined;
  rig?: Rig | undefined;
  work?: Workdir | undefined;
}): Promise<void> {
  if (p.daemon) await stop(p.daemon);
  await p.dockerd?.stop();
  await p.rig?.teardown();
  p.work?.cleanup();
}

/** The daemon's status once it is connected to Docker and has told which engine runs it. */
export function engineDetected(daemon: DaemonHandle): Promise<Status> {
  return waitFor(
    'the daemon to reach Docker and detect its engine',
    async () => {
      const st = await daemon.status();
      return st.docker.state === 'connected' && st.docker.engine ? st : undefined;
    },
    20_000,
    100,
  );
}
