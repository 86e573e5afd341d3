// The agent's firewall inside a VM with a real dockerd: --internal networks, containers on two networks,
// Docker ≥ 28's raw-table drop (installed by hand: the engine here is 20.10), and Docker recreating its
// chains.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startDockerd, type Dockerd } from '../../rig/dockerd';
import { waitFor } from '../../rig/exec';
import { buildRigImages } from '../../rig/images';
import { createRig, type Rig } from '../../rig/rig';
import {
  Workdir,
  startAgent,
  startDaemon,
  waitConnected,
  waitForDaemon,
  type DaemonHandle,
  type Proc,
} from './harness';
import { httpOk, ipOn, runWeb } from './docker-helpers';

describe('the agent firewall in a Docker VM', { timeout: 240_000 }, () => {
  let rig: Rig;
  let dockerd: Dockerd;
  let work: Workdir;
  let daemon: DaemonHandle;
  let agent: Proc;

  before(async () => {
    rig = await createRig({ containers: 0, subnetIndex: 13 });
    dockerd = await startDockerd(rig);
    await buildRigImages(dockerd.host);
    work = new Workdir();
    daemon = startDaemon(rig, work, ['--docker-host', dockerd.host]);
    await waitForDaemon(daemon);
    // The ruleset watch off and the timer out of the way: only the helper's re-check after a Docker event can
    // heal (the watch heals a flush at once: agent-ipv6.test.ts).
    agent = startAgent(rig, daemon, ['--firewall-check-seconds', '3600', '--no-firewall-watch']);
    await waitConnected(daemon, 15_000, agent);
  });

  after(async () => {
    await dockerd?.stop();
    await rig?.teardown();
    work?.cleanup();
  });

  test('a container on an --internal network answers the host', async () => {
    await dockerd.docker(['network', 'create', '--internal', 'sealed']);
    await runWeb(dockerd, 'inner', 'sealed');
    const ip = await ipOn(dockerd, 'inner', 'sealed');
    await waitFor(`the internal container ${ip}`, () => httpOk(rig, ip), 10_000, 100);
  });

  test('a container on two networks answers on both addresses', async () => {
    await dockerd.docker(['network', 'create', 'front']);
    await dockerd.docker(['network', 'create', 'back']);
    await runWeb(dockerd, 'both', 'front');
    await dockerd.docker(['network', 'connect', 'back', 'both']);
    for (const net of ['front', 'back']) {
      const ip = await ipOn(dockerd, 'both', net);
      await waitFor(`the two-network container on ${net} (${ip})`, () => httpOk(rig, ip), 10_000, 100);
    }
  });

  test("Docker ≥ 28's raw-table drop for direct routing does not stop tunnel traffic", async () => {
    const ip = await ipOn(dockerd, 'both', 'front');
    const bridge = (await dockerd.docker(['network', 'inspect', '-f', '{{.Id}}', 'front'])).stdout
      .trim()
      .slice(0, 12);
    // What Engine 28 installs per container (moby PR #49829): drop what does not arrive on its bridge.
    const drop = ['-t', 'raw', '-A', 'PREROUTING', '-d', `${ip}/32`, '!', '-i', `br-${bridge}`, '-j', 'DROP'];
    await rig.exec(rig.vmNs, 'iptables', drop);
    try {
      // The rule really drops direct routing: from the VM's veth side (a "LAN peer") it is unreachable.
      await rig.exec(rig.hostNs, 'ip', [
        'route',
        'add',
        `${ip}/32`,
        'via',
        rig.vmVethIp,
        'dev',
        rig.hostVeth,
      ]);
      assert.equal(await httpOk(rig, ip), false, 'direct routing is dropped by the raw rule');
      await rig.exec(rig.hostNs, 'ip', ['route', 'del', `${ip}/32`, 'via', rig.vmVethIp]);
      // Through the tunnel, our raw ACCEPT (inserted first) lets it pass. (The daemon saw the /32 as a
      // conflict while it existed; give it a moment to route the network again.)
      await waitFor(
        'reachable through Gangway despite the raw drop',
        async () => ((await httpOk(rig, ip)) ? true : undefined),
        5_000,
      );
    } finally {
      await rig.exec(rig.vmNs, 'iptables', ['-t', 'raw', '-D', ...drop.slice(3)], { allowFail: true });
    }
  });

  test('rules are put back after the Docker event that comes with new chains, without waiting for a timer', async () => {
    await rig.exec(rig.vmNs, 'iptables', ['-F', 'DOCKER-USER']);
    await rig.exec(rig.vmNs, 'iptables', ['-t', 'raw', '-F', 'PREROUTING']);
    // Nothing heals a flush that no Docker event announces (no watch, and the agent's timer is an hour here).
    await new Promise((r) => setTimeout(r, 1_500));
    assert.doesNotMatch((await rig.exec(rig.vmNs, 'iptables', ['-S', 'DOCKER-USER'])).stdout, /gangway/);
    // A container started on a network that exists: no route changes, so only the helper's re-check after
    // the event can reach the agent.
    await runWeb(dockerd, 'recheck', 'front');
    const t0 = Date.now();
    await waitFor(
      'the agent to re-apply its rules',
      async () => /gangway/.test((await rig.exec(rig.vmNs, 'iptables', ['-S', 'DOCKER-USER'])).stdout),
      10_000,
      200,
    );
    console.log(`# rules re-applied ${Date.now() - t0} ms after the Docker event`);
    assert.match((await rig.exec(rig.vmNs, 'iptables', ['-t', 'raw', '-S', 'PREROUTING'])).stdout, /gangway/);
  });
});
