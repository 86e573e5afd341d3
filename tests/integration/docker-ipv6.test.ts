// IPv6 end to end against a real dockerd with Docker's IPv6 firewall (ip6tables): `gangway up` starts the
// real agent container; from the host namespace, containers are reached over IPv6 by address and by name
// (AAAA from Gangway's DNS), a dual-stack container on both families, an --internal IPv6 network too, a join
// opens Docker's IPv6 isolation, PTR answers for a routed IPv6 subnet, and `gangway down` leaves no IPv6 route
// and no ip6tables rule of ours.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { callApi } from '../../client/api-client';
import { ROUTES } from '../../common/api-routes';
import { waitFor } from '../../rig/exec';
import type { DaemonHandle } from './harness';
import { waitConnected } from './harness';
import {
  gangwayCli,
  httpOk,
  ipOn,
  runWeb,
  startDockerDaemon,
  startDockerRig,
  teardownDockerRig,
  type DockerRig,
} from './docker-helpers';

const HOST_TUNNEL_IP = '10.57.0.1';
const SUBNETS = { dual: 'fd42:70::/64', sealed: 'fd42:71::/64', other: 'fd42:72::/64' };

async function ip6On(r: DockerRig, container: string, network: string): Promise<string> {
  const f = `{{(index .NetworkSettings.Networks "${network}").GlobalIPv6Address}}`;
  return (await r.dockerd.docker(['inspect', '-f', f, container])).stdout.trim();
}

/** An HTTP GET over IPv6 from the rig's host namespace (-g: the brackets are not a curl glob). */
async function http6(r: DockerRig, ip: string, timeoutS = 1): Promise<boolean> {
  const res = await r.rig.exec(
    r.rig.hostNs,
    'curl',
    ['-6', '-gsSf', '--max-time', String(timeoutS), `http://[${ip}]/`],
    { allowFail: true },
  );
  return res.code === 0;
}

async function dig(r: DockerRig, ...args: string[]): Promise<string> {
  const res = await r.rig.exec(
    r.rig.hostNs,
    'dig',
    ['+short', '+time=1', '+tries=1', `@${HOST_TUNNEL_IP}`, ...args],
    { allowFail: true },
  );
  return res.stdout.trim();
}

/** Our rules (by their comment) in the VM's ip6tables, whichever backend has them. */
async function ourIp6Rules(r: DockerRig): Promise<string[]> {
  const out: string[] = [];
  for (const tool of ['ip6tables-legacy-save', 'ip6tables-nft-save']) {
    const { stdout } = await r.rig.exec(r.rig.vmNs, tool, [], { allowFail: true });
    out.push(...stdout.split('\n').filter((l) => /--comment "?gangway"?( |$)/.test(l)));
  }
  return out;
}

describe(
  'IPv6 end to end: a real dockerd with ip6tables, the agent container, routes, DNS, joins',
  { timeout: 300_000 },
  () => {
    let r: DockerRig | undefined;
    let daemon: DaemonHandle | undefined;
    const ip6: Record<string, string> = {};
    let dualIp4 = '';

    const gangway = (...args: string[]) => gangwayCli(daemon!.socket, ...args);
    const hostRoutes6 = async () => (await r!.rig.exec(r!.rig.hostNs, 'ip', ['-6', 'route', 'show'])).stdout;

    before(async () => {
      r = await startDockerRig({ containers: 0, subnetIndex: 70 }, () => ({ ipv6: true }));
      const d = r.dockerd;
      await d.docker([
        'network',
        'create',
        '--ipv6',
        '--subnet',
        '172.31.70.0/24',
        '--subnet',
        SUBNETS.dual,
        'dual6',
      ]);
      await d.docker(['network', 'create', '--ipv6', '--internal', '--subnet', SUBNETS.sealed, 'sealed6']);
      await d.docker(['network', 'create', '--ipv6', '--subnet', SUBNETS.other, 'other6']);
      await runWeb(d, 'dual', 'dual6');
      await runWeb(d, 'inner', 'sealed6');
      await runWeb(d, 'peer', 'other6');
      dualIp4 = await ipOn(d, 'dual', 'dual6');
      ip6.dual = await ip6On(r, 'dual', 'dual6');
      ip6.inner = await ip6On(r, 'inner', 'sealed6');
      ip6.peer = await ip6On(r, 'peer', 'other6');
      for (const [k, v] of Object.entries(ip6)) assert.match(v, /^fd42:7\d::/, `${k} has no IPv6 address`);
      daemon = await startDockerDaemon(r);
      const up = await gangway('up');
      assert.equal(up.code, 0, `${up.out}\n${daemon.output().slice(-2000)}`);
      await waitConnected(daemon, 60_000);
    });

    after(async () => {
      await teardownDockerRig({ daemon, dockerd: r?.dockerd, rig: r?.rig, work: r?.work });
    });

    test('the IPv6 subnets are routed into the tunnel; the tunnel has its IPv6 ends', async () => {
      await waitFor(
        'the three IPv6 routes on the host',
        async () => {
          const t = await hostRoutes6();
          return Object.values(SUBNETS).every((s) => t.includes(s));
        },
        15_000,
        100,
      ).catch(async (err: Error) => {
        throw new Error(`${err.message}\n${await hostRoutes6()}\n${daemon!.output().slice(-2000)}`);
      });
      const routes6 = await hostRoutes6();
      for (const s of Object.values(SUBNETS))
        assert.match(routes6, new RegExp(`${s.replace('::/64', '::/64 dev gw')}`));
      const st = await callApi(daemon!.socket, ROUTES.status);
      assert.ok(st.tunnel.hostAddress6 && st.tunnel.agentAddress6, JSON.stringify(st.tunnel));
    });

    test('curl -6 reaches a container by address, and a dual-stack one on both families', async () => {
      await waitFor(`[${ip6.dual}] from the host`, () => http6(r!, ip6.dual!), 15_000, 100);
      assert.ok(await httpOk(r!.rig, dualIp4), `the dual-stack container's IPv4 address ${dualIp4}`);
    });

    test('an --internal IPv6 network is reached', async () => {
      await waitFor(`[${ip6.inner}] on the internal network`, () => http6(r!, ip6.inner!), 15_000, 100);
    });

    test('by name: AAAA from live IPv6 addresses, reached with curl -6; PTR for the routed IPv6 subnet', async () => {
      const name = 'dual.gangway.internal';
      await waitFor(`${name} AAAA`, async () => (await dig(r!, 'AAAA', name)) === ip6.dual, 10_000, 200);
      assert.equal(await dig(r!, 'A', name), dualIp4, 'the same name answers A too');
      const viaName = await r!.rig.exec(
        r!.rig.hostNs,
        'curl',
        [
          '-6',
          '-gsSf',
          '--max-time',
          '2',
          '--resolve',
          `${name}:80:[${await dig(r!, 'AAAA', name)}]`,
          `http://${name}/`,
        ],
        { allowFail: true },
      );
      assert.equal(viaName.code, 0, viaName.stderr);
      const ptr = await dig(r!, '-x', ip6.dual!);
      assert.match(ptr, /dual\.gangway\.internal\.?/, `PTR of ${ip6.dual}: ${ptr}`);
    });

    test('a join over IPv6 lets two IPv6 networks reach each other', async () => {
      const fromPeer = async () =>
        (
          await r!.dockerd.docker(['exec', 'peer', 'timeout', '1', 'wget', '-qO-', `http://[${ip6.dual}]/`], {
            allowFail: true,
          })
        ).code === 0;
      assert.equal(await fromPeer(), false, 'Docker isolates other6 from dual6 over IPv6 before the join');
      const j = await gangway('join', 'other6', 'dual6');
      assert.equal(j.code, 0, j.out);
      await waitFor('other6 to reach dual6 over IPv6', fromPeer, 5_000, 50);
    });

    test('down leaves no IPv6 route and no ip6tables rule of ours', async () => {
      assert.notEqual((await ourIp6Rules(r!)).length, 0, 'the agent installed ip6tables rules while up');
      const down = await gangway('down');
      assert.equal(down.code, 0, down.out);
      await waitFor(
        'the IPv6 routes to go',
        async () => !/fd42:7\d::/.test(await hostRoutes6()),
        10_000,
        100,
      );
      await waitFor(
        'our ip6tables rules to go',
        async () => (await ourIp6Rules(r!)).length === 0,
        10_000,
        200,
      );
    });
  },
);
