// Automatic routes from a real dockerd in the rig's VM: networks created, switched off and on, removed,
// conflicting with a host route, and settings surviving a daemon restart. The agent runs as a plain
// process in the VM namespace here (the agent container has its own test).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Network } from '../../common/api';
import { callApi } from '../../client/api-client';
import { ROUTES } from '../../common/api-routes';
import type { Dockerd } from '../../rig/dockerd';
import { waitFor } from '../../rig/exec';
import type { Rig } from '../../rig/rig';
import type { Workdir } from './harness';
import {
  startAgent,
  startDaemon,
  stop,
  waitConnected,
  type DaemonHandle,
  type Proc,
  waitForDaemon,
} from './harness';
import { gangwayCli, httpOk, runWeb, startDockerRig } from './docker-helpers';

describe('routes follow Docker networks', { timeout: 240_000 }, () => {
  let rig: Rig;
  let dockerd: Dockerd;
  let work: Workdir;
  let daemon: DaemonHandle;
  let agent: Proc;

  const networks = async () => (await callApi(daemon.socket, ROUTES.networks)).networks;
  const network = async (name: string): Promise<Network | undefined> =>
    (await networks()).find((n) => n.name === name);
  const gangway = (...args: string[]) => gangwayCli(daemon.socket, ...args);
  const hostRoutes = async () => (await rig.exec(rig.hostNs, 'ip', ['route', 'show'])).stdout;

  function start(): void {
    daemon = startDaemon(rig, work, ['--docker-host', dockerd.host]);
  }

  before(async () => {
    ({ rig, dockerd, work } = await startDockerRig({ containers: 0, subnetIndex: 9 }));
    start();
    await waitForDaemon(daemon);
    agent = startAgent(rig, daemon);
    await waitConnected(daemon, 15_000, agent);
  });

  after(async () => {
    await dockerd?.stop();
    await rig?.teardown();
    work?.cleanup();
  });

  test('a created network is routed and its container answers by IP; the time is recorded', async () => {
    const t0 = Date.now();
    await dockerd.docker(['network', 'create', 'web-net']);
    const ip = await runWeb(dockerd, 'web1', 'web-net');
    await waitFor('the container to answer through Gangway', () => httpOk(rig, ip, 1), 10_000, 50);
    console.log(`# docker network create -> first HTTP answer from the host: ${Date.now() - t0} ms`);
    const n = await network('web-net');
    assert.equal(n?.routed, true);
    assert.match(await hostRoutes(), new RegExp(`${n.subnets[0]!.replace(/[./]/g, '\\$&')} dev gw0`));
  });

  test('gangway route off makes the network unreachable, on makes it reachable again', async () => {
    const ip = (
      await dockerd.docker([
        'inspect',
        '-f',
        '{{(index .NetworkSettings.Networks "web-net").IPAddress}}',
        'web1',
      ])
    ).stdout.trim();
    const off = await gangway('route', 'web-net', 'off');
    assert.equal(off.code, 0, off.out);
    assert.equal((await network('web-net'))?.routed, false);
    assert.equal(await httpOk(rig, ip, 1), false);
    const on = await gangway('route', 'web-net', 'on');
    assert.equal(on.code, 0, on.out);
    await waitFor('reachable again', () => httpOk(rig, ip, 1), 5_000, 50);
    const unknown = await gangway('route', 'no-such-net', 'on');
    assert.equal(unknown.code, 1);
    assert.match(unknown.out, /no network named "no-such-net"/);
  });

  test('settings survive a daemon restart', async () => {
    await gangway('route', 'web-net', 'off');
    await stop(daemon);
    start();
    await waitConnected(daemon, 10_000, agent);
    await waitFor('the network list', async () => (await network('web-net')) !== undefined, 5_000);
    assert.equal((await network('web-net'))?.wanted, false);
    assert.equal((await network('web-net'))?.routed, false);
    await gangway('route', 'web-net', 'on');
    assert.equal((await network('web-net'))?.routed, true);
  });

  test('a network overlapping a host route is a conflict: not routed, the host route untouched', async () => {
    // A "LAN" on the host owning 172.29.5.0/24 (a veth pair: this kernel has no dummy interfaces).
    await rig.exec(rig.hostNs, 'ip', ['link', 'add', 'lan0', 'type', 'veth', 'peer', 'name', 'lan0p']);
    await rig.exec(rig.hostNs, 'ip', ['link', 'set', 'lan0p', 'up']);
    await rig.exec(rig.hostNs, 'ip', ['addr', 'add', '172.29.5.1/24', 'dev', 'lan0']);
    await rig.exec(rig.hostNs, 'ip', ['link', 'set', 'lan0', 'up']);
    const before = await hostRoutes();
    await dockerd.docker(['network', 'create', '--subnet', '172.29.5.0/24', 'clash']);
    const n = await waitFor('the conflicting network to be listed', () => network('clash'), 5_000);
    assert.equal(n.routed, false);
    assert.match(n.conflict ?? '', /172\.29\.5\.0\/24.*lan0/);
    assert.equal(await hostRoutes(), before, 'the host routing table is unchanged');
    const listed = await gangway('networks');
    assert.match(listed.out, /NOT ROUTED\s+clash/);
  });

  test('a network with public addresses is not routed until --allow-public; the choice is kept', async () => {
    // Any Compose file can ask for this subnet: routed, it would send the host's traffic for Google's DNS
    // into the VM. Only routing tables are checked here: nothing is ever sent to these addresses.
    await dockerd.docker(['network', 'create', '--subnet', '8.8.0.0/16', 'pub']);
    const n = await waitFor('the public network to be listed', () => network('pub'), 5_000);
    assert.deepEqual(
      [n.wanted, n.routed, n.publicSubnets, n.allowPublic],
      [true, false, ['8.8.0.0/16'], false],
    );
    assert.doesNotMatch(await hostRoutes(), /8\.8\.0\.0\/16/);
    const listed = await gangway('networks');
    assert.match(
      listed.out,
      /pub\s+8\.8\.0\.0\/16\s+public addresses: not routed automatically \(gangway route pub on --allow-public\)/,
    );
    const settingsFile = join(daemon.stateDir, 'settings.json');
    const savedBefore = readFileSync(settingsFile, 'utf8');

    const refused = await gangway('route', 'pub', 'on');
    assert.equal(refused.code, 1, refused.out);
    assert.match(
      refused.out,
      /holds public addresses \(8\.8\.0\.0\/16\).*gangway route pub on --allow-public/,
    );
    assert.equal(readFileSync(settingsFile, 'utf8'), savedBefore, 'nothing saved');
    assert.doesNotMatch(await hostRoutes(), /8\.8\.0\.0\/16/);

    const on = await gangway('route', 'pub', 'on', '--allow-public');
    assert.equal(on.code, 0, on.out);
    assert.equal((await network('pub'))?.routed, true);
    assert.match(await hostRoutes(), /8\.8\.0\.0\/16 dev gw0/);
    const saved = JSON.parse(readFileSync(settingsFile, 'utf8')) as { networks: Record<string, unknown> };
    assert.deepEqual(saved.networks.pub, { routed: true, allowPublic: true });

    // Kept across a restart, like every per-network choice.
    await stop(daemon);
    start();
    await waitConnected(daemon, 10_000, agent);
    await waitFor(
      'the public network routed again',
      async () => (await network('pub'))?.routed === true,
      5_000,
    );
    assert.match(await hostRoutes(), /8\.8\.0\.0\/16 dev gw0/);

    // Off drops the permission: on again needs the explicit word again.
    assert.equal((await gangway('route', 'pub', 'off')).code, 0);
    await waitFor('the route to go', async () => !/8\.8\.0\.0\/16/.test(await hostRoutes()), 5_000, 50);
    assert.equal((await gangway('route', 'pub', 'on')).code, 1);
    await dockerd.docker(['network', 'rm', 'pub']);
  });

  test('a network wider than Docker makes by itself waits for "gangway route NET on"', async () => {
    // 100.64.0.0/10 (shared address space) is private to Gangway's rules but wider than /16: a whole range
    // of the host's traffic. Only routing tables are checked: nothing is sent to these addresses.
    await dockerd.docker(['network', 'create', '--subnet', '100.64.0.0/10', 'wide']);
    const n = await waitFor('the wide network to be listed', () => network('wide'), 5_000);
    assert.deepEqual([n.wanted, n.routed], [false, false]);
    assert.match(
      n.conflict ?? '',
      /100\.64\.0\.0\/10 is wider than any network Docker makes.*gangway route wide on/,
    );
    assert.doesNotMatch(await hostRoutes(), /100\.64\.0\.0\/10/);
    assert.match((await gangway('networks')).out, /off\s+wide\s+100\.64\.0\.0\/10\s+100\.64/);

    const on = await gangway('route', 'wide', 'on');
    assert.equal(on.code, 0, on.out);
    await waitFor('the route', async () => /100\.64\.0\.0\/10 dev gw0/.test(await hostRoutes()), 5_000, 50);
    const after = await network('wide');
    assert.deepEqual([after?.wanted, after?.routed, after?.conflict ?? null], [true, true, null]);

    assert.equal((await gangway('route', 'wide', 'off')).code, 0);
    await waitFor('the route to go', async () => !/100\.64\.0\.0\/10/.test(await hostRoutes()), 5_000, 50);
    await dockerd.docker(['network', 'rm', 'wide']);
  });

  test('names with quotes, $(...), ; and unicode are data, never executed', async () => {
    const names = ['q"uote\'s', '$(touch /tmp/gangway-pwned)', 'semi;colon', 'ünï-cødé-网络'];
    for (const name of names) await dockerd.docker(['network', 'create', name]);
    await waitFor(
      'all odd names to be listed',
      async () => {
        const listed = new Set((await networks()).map((n) => n.name));
        return names.every((n) => listed.has(n));
      },
      5_000,
    );
    for (const name of names) {
      const r = await gangway('route', name, 'off');
      assert.equal(r.code, 0, r.out);
      assert.equal((await network(name))?.routed, false);
    }
    const { code } = await rig.exec(rig.hostNs, 'test', ['-e', '/tmp/gangway-pwned'], { allowFail: true });
    assert.notEqual(code, 0, 'a network name was executed');
  });

  test('docker network rm removes the route', async () => {
    const subnet = (await network('web-net'))!.subnets[0]!;
    await dockerd.docker(['rm', '-f', 'web1']);
    await dockerd.docker(['network', 'rm', 'web-net']);
    await waitFor('the route to go', async () => !(await hostRoutes()).includes(subnet), 5_000, 50);
  });
});
