// The host end of the tunnel for the agent's IPv6 tests, run as its own process in the rig's host namespace:
// the helper's real data plane (TUN, pump, tunnel server) pushing a configuration with
// hostAddress6/agentAddress6, and the host's IPv6 side (the TUN's address, a route per IPv6 subnet) set by
// hand with `ip -6`, as the helper's IPv6 work (another branch) will do.
//
// argv: <secret file> <bind address> <port> <tunnel subnet> <host address6> <agent address6> <IPv6 route>...
// stdin: one JSON line per change of the joins ([["br-a","br-b"]]), pushed to the agent as a new configuration.
// stdout: "connected", "acked <seq>" lines.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseAgentCredential } from '../../common/agent-credential';
import { createLogger } from '../../common/log';
import { native } from '../../native/index';
import { runCommand } from '../../shared/exec';
import { DeadlineLoop } from '../../shared/deadline-loop';
import { LinuxNet } from '../../shared/platform/net-linux';
import { openDataPlane, planeParams } from '../../helper/data-plane';

async function main(): Promise<void> {
  const [secretFile, bind, port, subnet, host6, agent6, ...routes6] = process.argv.slice(2);
  if (!secretFile || !bind || !port || !subnet || !host6 || !agent6) throw new Error('usage: see the file');
  const credential = parseAgentCredential(readFileSync(secretFile, 'utf8'));
  if (!credential) throw new Error(`no secret in ${secretFile}`);
  const log = createLogger('ipv6-host');
  // IPv6 off in the plane: this file sets the host's IPv6 side by hand, with the addresses it was given.
  const p = planeParams({ tunnelSubnet: subnet, tunnelSubnet6: null, port: Number(port), mtu: 1420 });
  let joins: [string, string][] = [];
  const plane = await openDataPlane(p, {
    native: native(),
    net: new LinuxNet(runCommand),
    log,
    secret: credential.secret,
    tunName: 'gw6h',
    offload: true,
    queues: 1,
    bind,
    config: () => ({
      mtu: p.mtu,
      hostAddress: p.hostAddress,
      agentAddress: p.agentAddress,
      hostAddress6: host6,
      agentAddress6: agent6,
      routes: [],
      joins,
    }),
    onChange: () => undefined,
  });
  plane.tunnel.on('connected', () => console.log('connected'));
  plane.tunnel.on('configAcked', (seq) => console.log(`acked ${seq}`));
  // Replies from the containers carry their IPv6 addresses as inner sources.
  plane.pump.setAllowedSources([`${p.agentAddress}/32`, `${agent6}/128`, ...routes6]);
  await runCommand('ip', ['-6', 'addr', 'replace', host6, 'peer', agent6, 'dev', plane.device, 'nodad']);
  for (const r of routes6) await runCommand('ip', ['-6', 'route', 'replace', r, 'dev', plane.device]);
  const ticker = new DeadlineLoop(
    () => {
      plane.tunnel.tick();
      return plane.tunnel.msUntilDue();
    },
    { minMs: 20, maxMs: 1_000 },
  );
  ticker.start();
  createInterface({ input: process.stdin }).on('line', (line) => {
    joins = JSON.parse(line) as [string, string][];
    plane.tunnel.pushConfig();
    ticker.poke();
  });
  console.log('ready');
  await new Promise<void>((r) => process.once('SIGTERM', () => r()));
  ticker.stop();
  await plane.close();
}

main().catch((err: unknown) => {
  console.error(String(err));
  process.exitCode = 1;
});
