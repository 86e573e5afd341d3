// Starting the real daemon and agent inside a rig, and reading their status, for integration tests.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Status } from '../../common/api';
import { callApi } from '../../client/api-client';
import { ROUTES } from '../../common/api-routes';
import { waitFor } from '../../rig/exec';
import type { Rig } from '../../rig/rig';

export const DIST = resolve(__dirname, '..', '..');
export const CLI = join(DIST, 'cli', 'gangway.js');
export const AGENT = join(DIST, 'vm-agent', 'main.js');

export interface Proc {
  child: ChildProcess;
  /** Everything the process wrote to stderr/stdout so far (for failure messages). */
  output: () => string;
}

export function track(child: ChildProcess): Proc {
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  return { child, output: () => out };
}

export interface DaemonHandle extends Proc {
  socket: string;
  stateDir: string;
  logFile: string;
  port: number;
  status(): Promise<Status>;
}

export class Workdir {
  readonly dir = mkdtempSync(join(tmpdir(), 'gangway-test-'));
  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** `bind`: the helper's UDP address; the rig's veth by default, 127.0.0.1 behind Docker Desktop's proxy.
 *  `env`: the daemon's environment (default: this process's). */
export function startDaemon(
  rig: Rig,
  work: Workdir,
  extra: string[] = [],
  port = 2611,
  bind = rig.hostVethIp,
  env?: NodeJS.ProcessEnv,
): DaemonHandle {
  const socket = join(work.dir, 'run', 'gangway.sock');
  const stateDir = join(work.dir, 'state');
  const logFile = join(work.dir, 'log', 'gangway.log');
  const child = rig.spawn(
    rig.hostNs,
    process.execPath,
    [
      '--enable-source-maps',
      CLI,
      'daemon',
      '--bind',
      bind,
      '--port',
      String(port),
      // The rig's own "container" namespaces, when it has any (Docker's networks are followed by themselves).
      ...(rig.containers.length > 0 ? ['--route', rig.containerSubnet] : []),
      '--state-dir',
      stateDir,
      '--socket',
      socket,
      '--log-file',
      logFile,
      ...extra,
    ],
    env ? { env } : undefined,
  );
  return {
    ...track(child),
    socket,
    stateDir,
    logFile,
    port,
    status: () => callApi(socket, ROUTES.status),
  };
}

export function startAgent(rig: Rig, daemon: DaemonHandle, extra: string[] = []): Proc {
  const child = rig.spawn(rig.vmNs, process.execPath, [
    '--enable-source-maps',
    AGENT,
    '--server',
    `${rig.hostVethIp}:${daemon.port}`,
    '--secret-file',
    join(daemon.stateDir, 'secret'),
    ...extra,
  ]);
  return track(child);
}

export async function waitForDaemon(d: DaemonHandle, timeoutMs = 10_000): Promise<Status> {
  return waitFor(`the daemon's control socket (output: ${d.output()})`, () => d.status(), timeoutMs);
}

/** Waits until the daemon reports a connected agent that applied its configuration. */
export async function waitConnected(d: DaemonHandle, timeoutMs = 10_000, agent?: Proc): Promise<Status> {
  return waitFor(
    'the agent to connect',
    async () => {
      const s = await d.status();
      return s.state === 'connected' && s.configAcked ? s : undefined;
    },
    timeoutMs,
    50,
  ).catch((err: Error) => {
    throw new Error(
      `${err.message}\n--- daemon output:\n${d.output()}\n--- agent output:\n${agent?.output() ?? '(not given)'}`,
    );
  });
}

export async function stop(
  p: Proc,
  signal: NodeJS.Signals = 'SIGTERM',
  timeoutMs = 5_000,
): Promise<number | null> {
  const { child } = p;
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

/** ping once from a namespace; true if answered within 1 s. */
export async function pingOnce(rig: Rig, ns: string, ip: string): Promise<boolean> {
  const r = await rig.exec(ns, 'ping', ['-c', '1', '-W', '1', ip], { allowFail: true });
  return r.code === 0;
}
