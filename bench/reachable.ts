// Waiting until the container answers a ping over a path just set up (IPv4 or IPv6, from its address).
import { nsRun, waitFor } from '../rig/exec';
import type { Rig } from '../rig/rig';

export async function waitReachable(rig: Rig, ip: string, what: string, timeoutMs = 10_000): Promise<void> {
  const family = ip.includes(':') ? ['-6'] : [];
  await waitFor(
    `${ip} reachable over ${what}`,
    async () =>
      (await nsRun(rig.hostNs, 'ping', [...family, '-n', '-c', '1', '-W', '1', ip], { allowFail: true }))
        .code === 0,
    timeoutMs,
    100,
  );
}
