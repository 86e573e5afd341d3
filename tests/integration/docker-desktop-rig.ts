// Docker Desktop's path in the rig: the helper binds 127.0.0.1 (its default), dockerd's host-gateway (what
// host.docker.internal means in the agent's container) is the host namespace's veth address, and there a
// relay like Docker Desktop's UDP proxy forwards to 127.0.0.1 from a port of its own per flow, forgetting
// flows idle for `idleMs`. Used by the docker-desktop-path test and `demo.sh --engine docker-desktop`.
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { DockerdOptions, Dockerd } from '../../rig/dockerd';
import { waitFor } from '../../rig/exec';
import { AGENT_BASE_IMAGE } from '../../rig/images';
import type { Rig } from '../../rig/rig';
import type { RelayEvent } from '../../rig/udp-relay';
import { DIST } from './harness';

const PROXY = join(DIST, 'tests', 'fixtures', 'docker-desktop-proxy.js');

/** dockerd options: `host-gateway` (the agent's host.docker.internal) is the relay in the host namespace. */
export function desktopDockerdOptions(rig: Rig): DockerdOptions {
  return { extraArgs: ['--host-gateway-ip', rig.hostVethIp] };
}

/** Daemon arguments: no --agent-dial (the default host.docker.internal); bind is 127.0.0.1 (startDaemon). */
export function desktopDaemonArgs(dockerd: Dockerd): string[] {
  return ['--docker-host', dockerd.host, '--agent-base-image', AGENT_BASE_IMAGE];
}

export interface DesktopProxy {
  readonly events: RelayEvent[];
  /** Waits for the first event after index `from` that matches. */
  waitEvent<E extends RelayEvent['event']>(
    event: E,
    from?: number,
    timeoutMs?: number,
  ): Promise<Extract<RelayEvent, { event: E }>>;
  output(): string;
}

/** Starts the relay in the rig's host namespace (killed by rig.teardown()). */
export async function startDesktopProxy(rig: Rig, helperPort: number, idleMs: number): Promise<DesktopProxy> {
  const child = rig.spawn(rig.hostNs, process.execPath, [
    PROXY,
    `${rig.hostVethIp}:${helperPort}`,
    `127.0.0.1:${helperPort}`,
    String(idleMs),
  ]);
  const events: RelayEvent[] = [];
  let err = '';
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  if (child.stdout)
    createInterface({ input: child.stdout }).on('line', (l) => {
      try {
        events.push(JSON.parse(l) as RelayEvent);
      } catch {
        err += `${l}\n`;
      }
    });
  const proxy: DesktopProxy = {
    events,
    output: () => `${events.map((e) => JSON.stringify(e)).join('\n')}\n${err}`,
    waitEvent: (event, from = 0, timeoutMs = 15_000) =>
      waitFor(
        `the relay's ${event} event (relay output: ${proxy.output()})`,
        () =>
          events.slice(from).find((e) => e.event === event) as Extract<RelayEvent, { event: typeof event }>,
        timeoutMs,
        50,
      ),
  };
  await proxy.waitEvent('listening', 0, 10_000);
  return proxy;
}
