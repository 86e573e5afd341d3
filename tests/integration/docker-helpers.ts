// What the Docker-backed tests, the demo and the control-plane bench all do: start a small web server in a
// container, read a container's address on a network, fetch from the host namespace, run the real CLI.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Dockerd } from '../rig/dockerd';
import { AGENT_BASE_IMAGE, BUSYBOX_IMAGE } from '../rig/images';
import type { Rig } from '../rig/rig';
import { CLI } from './harness';

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
