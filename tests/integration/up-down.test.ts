// gangway up / down against a real dockerd: the daemon builds the agent image, launches the agent
// container, heals it when it is removed or Docker restarts, and `down` leaves nothing behind.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Dockerd } from '../../rig/dockerd';
import { waitFor } from '../../rig/exec';
import type { Rig } from '../../rig/rig';
import { type Workdir, stop, waitConnected, type DaemonHandle } from './harness';
import {
  gangwayCli,
  httpOk,
  runWeb,
  startDockerDaemon,
  startDockerRig,
  teardownDockerRig,
} from './docker-helpers';

describe('gangway up / down', { timeout: 300_000 }, () => {
  let rig: Rig;
  let dockerd: Dockerd;
  let work: Workdir;
  let daemon: DaemonHandle;
  let webIp = '';

  const gangway = (...args: string[]) => gangwayCli(daemon.socket, ...args);
  const agentContainers = async () =>
    (await dockerd.docker(['ps', '-aq', '--filter', 'label=com.gangway.role=agent'])).stdout.trim();

  before(async () => {
    ({ rig, dockerd, work } = await startDockerRig({ containers: 0, subnetIndex: 12 }));
    daemon = await startDockerDaemon({ rig, dockerd, work });
    await dockerd.docker(['network', 'create', 'app']);
    webIp = await runWeb(dockerd, 'web', 'app');
  });

  after(async () => {
    await teardownDockerRig({ daemon, dockerd, rig, work });
  });

  test('gangway up builds the agent image, launches the agent, and the container answers by IP', async () => {
    const t0 = Date.now();
    const r = await gangway('up');
    assert.equal(r.code, 0, `${r.out}\n${daemon.output()}`);
    await waitConnected(daemon, 15_000);
    await waitFor('the web container through Gangway', () => httpOk(rig, webIp), 10_000, 50);
    console.log(`# gangway up -> first answer: ${Date.now() - t0} ms (includes the image build)`);
    const inspect = (await dockerd.docker(['inspect', 'gangway-agent'])).stdout;
    const info = JSON.parse(inspect) as {
      HostConfig: { Privileged: boolean; NetworkMode: string; CapAdd: string[] };
    }[];
    assert.equal(info[0]?.HostConfig.Privileged, false);
    assert.equal(info[0]?.HostConfig.NetworkMode, 'host');
    assert.deepEqual(info[0]?.HostConfig.CapAdd, ['NET_ADMIN']);
  });

  test('docker rm -f of the agent: relaunched, traffic back within 10 s', async () => {
    await dockerd.docker(['rm', '-f', 'gangway-agent']);
    const t0 = Date.now();
    await waitFor('traffic after the agent was removed', () => httpOk(rig, webIp), 10_000, 100);
    console.log(`# agent removed -> traffic back: ${Date.now() - t0} ms`);
  });

  test('dockerd restarted: containers answer again within 10 s', async () => {
    await dockerd.restart();
    const t0 = Date.now();
    await dockerd.docker(['start', 'web']);
    await waitFor('traffic after the dockerd restart', () => httpOk(rig, webIp), 10_000, 100);
    console.log(`# dockerd restarted -> traffic back: ${Date.now() - t0} ms`);
  });

  test('kill -9 of the helper, started again: no stale routes, reconnects', async () => {
    await stop(daemon, 'SIGKILL');
    const routes = (await rig.exec(rig.hostNs, 'ip', ['route', 'show'])).stdout;
    assert.doesNotMatch(routes, /dev gw0/, 'no route survives the helper');
    daemon = await startDockerDaemon({ rig, dockerd, work });
    // The agent container kept running and re-dials the new helper by itself.
    await waitConnected(daemon, 10_000);
    assert.equal((await daemon.status()).agent.wanted, true, 'the restarted daemon remembers `up`');
    await waitFor('traffic after the helper restart', () => httpOk(rig, webIp), 10_000, 100);
  });

  test('a new UDP port applies without a restart: the agent container is re-created to dial it', async () => {
    const agentInfo = async () =>
      (
        JSON.parse((await dockerd.docker(['inspect', 'gangway-agent'])).stdout) as {
          Id: string;
          Config: { Cmd: string[] };
        }[]
      )[0];
    const before = await agentInfo();
    const t0 = Date.now();
    const r = await gangway('settings', 'set', 'port=2711');
    assert.equal(r.code, 0, `${r.out}\n${daemon.output()}`);
    await waitConnected(daemon, 15_000);
    await waitFor('traffic on the new port', () => httpOk(rig, webIp), 10_000, 100);
    console.log(`# port changed -> traffic back: ${Date.now() - t0} ms (includes re-creating the agent)`);
    const after = await agentInfo();
    assert.notEqual(after?.Id, before?.Id, 'a new agent container');
    assert.ok(after?.Config.Cmd.includes(`${rig.hostVethIp}:2711`), JSON.stringify(after?.Config.Cmd));
    assert.equal((await daemon.status()).tunnel.listen, `${rig.hostVethIp}:2711`);
    const back = await gangway('settings', 'set', 'port=2611');
    assert.equal(back.code, 0, back.out);
    await waitConnected(daemon, 15_000);
  });

  test('a new Docker endpoint applies without a restart', async () => {
    const bad = await gangway('settings', 'set', 'dockerHost=unix:///nonexistent/docker.sock');
    assert.equal(bad.code, 0, bad.out);
    await waitFor(
      'Docker unreachable at the bogus endpoint',
      async () => ((await daemon.status()).docker.state === 'unreachable' ? true : undefined),
      10_000,
      100,
    );
    assert.equal((await daemon.status()).docker.endpoint, 'unix:///nonexistent/docker.sock');
    const good = await gangway('settings', 'set', `dockerHost=${dockerd.host}`);
    assert.equal(good.code, 0, good.out);
    await waitFor(
      'Docker connected again',
      async () => ((await daemon.status()).docker.state === 'connected' ? true : undefined),
      10_000,
      100,
    );
    await waitFor('traffic with the endpoint restored', () => httpOk(rig, webIp), 10_000, 100);
  });

  test('gangway down: no agent container, no Gangway iptables rules in the VM, no routes on the host', async () => {
    const r = await gangway('down');
    assert.equal(r.code, 0, r.out);
    assert.equal(await agentContainers(), '');
    for (const save of ['iptables-nft-save', 'iptables-legacy-save']) {
      const rules = (await rig.exec(rig.vmNs, save, [], { allowFail: true })).stdout;
      assert.doesNotMatch(rules, /gangway/, `${save} still lists Gangway rules`);
    }
    // The TUN stays (the daemon still runs), with the kernel's route to the tunnel peer; no container route.
    const routes = (await rig.exec(rig.hostNs, 'ip', ['route', 'show', 'dev', 'gw0'])).stdout;
    assert.deepEqual(
      routes.split('\n').filter((l) => l && !l.includes('proto kernel')),
      [],
    );
    assert.equal(await httpOk(rig, webIp), false);
  });
});
