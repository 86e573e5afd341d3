// The Docker building blocks against a real dockerd in the rig: the network watcher follows creates,
// removals and a dockerd restart; network names are handled as data; and the route planner and reconciler
// run against the rig host namespace's real routing table (every route command runs inside that namespace,
// through `ip netns exec`, on a TUN device made for the test).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import Dockerode from 'dockerode';
import { resolveDockerEndpoint } from '../../helper/docker/docker-endpoint';
import { DockerSession } from '../../helper/docker/docker-session';
import { createLogger } from '../../common/log';
import {
  NetworkWatcher,
  type DockerActivity,
  type DockerNetwork,
  type WatcherStatus,
} from '../../helper/docker/network-watcher';
import { runCommand, type Runner } from '../../shared/exec';
import { LinuxNet } from '../../shared/platform/net-linux';
import { planRoutes } from '../../helper/routes/route-planner';
import { RouteReconciler } from '../../helper/routes/route-reconciler';
import { startDockerd, type Dockerd } from '../../rig/dockerd';
import { waitFor } from '../../rig/exec';
import { BUSYBOX_IMAGE, buildRigImages } from '../../rig/images';
import { createRig, type Rig } from '../../rig/rig';

const log = (m: string) => console.log(`# ${m}`);
const SUBNET_INDEX = 41;
const TUN = 'gwtest0';
const MARKER = '/tmp/gangway-watcher-injection-marker';

describe('Docker watcher, planner and reconciler against a real dockerd', { timeout: 300_000 }, () => {
  let rig: Rig | undefined;
  let dockerd: Dockerd | undefined;
  let watcher: NetworkWatcher | undefined;
  const statuses: WatcherStatus[] = [];
  const activity: DockerActivity[] = [];
  let listCalls = 0;

  const current = (): DockerNetwork[] => watcher!.networks;
  const byName = (name: string) => current().find((n) => n.name === name);
  /** Waits (bounded) for the watcher's snapshot to satisfy `pred`; returns how long it took. */
  const snapshotWithin = async (what: string, pred: () => boolean, ms: number): Promise<number> => {
    const t = Date.now();
    await waitFor(what, () => pred(), ms, 20);
    return Date.now() - t;
  };

  before(async () => {
    rmSync(MARKER, { force: true });
    rig = await createRig({ containers: 0, subnetIndex: SUBNET_INDEX });
    dockerd = await startDockerd(rig);
    await buildRigImages(dockerd.host);
    const endpoint = resolveDockerEndpoint(dockerd.host);
    const docker = new Dockerode(endpoint.options);
    watcher = new NetworkWatcher(
      {
        listNetworks: (o) => {
          listCalls++;
          return docker.listNetworks(o);
        },
        getEvents: (o) => docker.getEvents(o),
      },
      { requestTimeoutMs: 5_000 },
    );
    watcher.on('status', (s) => statuses.push(s));
    watcher.on('activity', (a) => activity.push(a));
    watcher.start();
    await waitFor('the watcher to connect', () => watcher!.status.state === 'connected', 10_000, 20);
  });

  after(async () => {
    await watcher?.stop();
    await dockerd?.stop();
    if (rig)
      await rig.exec(rig.hostNs, 'ip', ['tuntap', 'del', 'dev', TUN, 'mode', 'tun'], { allowFail: true });
    await rig?.teardown();
    rmSync(MARKER, { force: true });
  });

  test("the first snapshot has Docker's default bridge as docker0", () => {
    const bridge = byName('bridge');
    assert.ok(bridge, JSON.stringify(current()));
    assert.equal(bridge.bridge, 'docker0');
    assert.deepEqual(bridge.subnets, ['172.17.0.0/16']);
    assert.ok(!current().some((n) => n.name === 'host' || n.name === 'none'));
  });

  test('a new network appears within 2 s with its subnets and bridge; removing it makes it disappear', async () => {
    const d = dockerd!;
    const create = await d.docker([
      'network',
      'create',
      '--ipv6',
      '--subnet',
      '10.99.0.0/24',
      '--subnet',
      'fd00:99::/64',
      'gw-dual',
    ]);
    const id = create.stdout.trim();
    const ms = await snapshotWithin('gw-dual in the snapshot', () => !!byName('gw-dual'), 2_000);
    log(`gw-dual seen ${ms} ms after docker network create returned`);
    assert.deepEqual(byName('gw-dual'), {
      id,
      name: 'gw-dual',
      driver: 'bridge',
      internal: false,
      subnets: ['10.99.0.0/24', 'fd00:99::/64'],
      bridge: `br-${id.slice(0, 12)}`,
    });
    // The name the watcher computed is the device dockerd made in the VM.
    await rig!.exec(rig!.vmNs, 'ip', ['link', 'show', 'dev', `br-${id.slice(0, 12)}`]);

    await d.docker([
      'network',
      'create',
      '--internal',
      '-o',
      'com.docker.network.bridge.name=gwcustom0',
      'gw-custom',
    ]);
    await snapshotWithin('gw-custom in the snapshot', () => !!byName('gw-custom'), 2_000);
    assert.equal(byName('gw-custom')?.bridge, 'gwcustom0');
    assert.equal(byName('gw-custom')?.internal, true);

    await d.docker(['network', 'rm', 'gw-dual', 'gw-custom']);
    const gone = await snapshotWithin(
      'the networks to go',
      () => !byName('gw-dual') && !byName('gw-custom'),
      2_000,
    );
    log(`removed networks gone from the snapshot after ${gone} ms`);
  });

  test('odd network names are data: whatever Docker accepts is reported exactly, nothing is executed', async () => {
    const d = dockerd!;
    const candidates = [
      'ünïcødé-网络',
      `it's`,
      'say"hi"',
      `$(touch ${MARKER})`,
      '`touch /tmp/x`',
      'a;b',
      'a b',
      '-leading-dash',
      'x'.repeat(200),
    ];
    const accepted: string[] = [];
    const refused: string[] = [];
    for (const name of candidates) {
      // `--` so a name is never read as an option; execFile, so never a shell.
      const r = await d.docker(['network', 'create', '--', name], { allowFail: true });
      (r.code === 0 ? accepted : refused).push(name);
    }
    log(`Docker accepted ${JSON.stringify(accepted)}; refused ${JSON.stringify(refused)}`);
    assert.ok(accepted.length >= 3, 'Docker 20.10 accepts unicode, quotes and shell syntax in network names');
    await snapshotWithin('every accepted name', () => accepted.every((n) => !!byName(n)), 2_000);
    for (const name of accepted) assert.equal(byName(name)?.name, name);
    assert.ok(!existsSync(MARKER), 'a network name was executed');
    // The planner keys settings by these names; they stay data there too.
    const plan = planRoutes({
      networks: current(),
      settings: {
        routeNewNetworks: false,
        networks: Object.fromEntries(accepted.map((n) => [n, { routed: true }])),
      },
      tunnelSubnet: '10.57.0.0/30',
      device: TUN,
      hostRoutes: [],
    });
    assert.deepEqual(
      plan.networks
        .filter((n) => n.routed)
        .map((n) => n.name)
        .sort(),
      [...accepted].sort(),
    );
    await d.docker(['network', 'rm', '--', ...accepted]);
    await snapshotWithin('the odd names to go', () => accepted.every((n) => !byName(n)), 2_000);
  });

  test('container start and die are reported as activity', async () => {
    const from = activity.length;
    await dockerd!.docker(['run', '--rm', '--name', 'gw-activity', BUSYBOX_IMAGE, 'true']);
    await waitFor(
      'start and die of gw-activity',
      () => {
        const seen = activity.slice(from).filter((a) => a.type === 'container' && a.name === 'gw-activity');
        return seen.some((a) => a.action === 'start') && seen.some((a) => a.action === 'die');
      },
      2_000,
      20,
    );
  });

  test('a Docker session: one event stream feeds its networks and containers, and closing it closes the stream', async () => {
    const streams: NodeJS.ReadableStream[] = [];
    const session = new DockerSession({
      dockerHost: dockerd!.host,
      log: createLogger('test', () => undefined),
      onChange: () => undefined,
      createClient: (opts) => {
        const d = new Dockerode(opts);
        const getEvents = d.getEvents.bind(d) as (o: object) => Promise<NodeJS.ReadableStream>;
        (d as { getEvents: unknown }).getEvents = async (o: object) => {
          const s = await getEvents(o);
          streams.push(s);
          return s;
        };
        return d;
      },
    });
    const name = 'gw-session';
    try {
      session.start();
      await waitFor('the session to connect', () => session.watcher.status.state === 'connected', 10_000, 20);
      await dockerd!.docker(['network', 'create', '--subnet', '172.29.7.0/24', 'gw-session-net']);
      await dockerd!.docker([
        'run',
        '-d',
        '--name',
        name,
        '--network',
        'gw-session-net',
        BUSYBOX_IMAGE,
        'sleep',
        '3600',
      ]);
      await waitFor(
        'the network in the session',
        () => session.watcher.networks.some((n) => n.name === 'gw-session-net'),
        2_000,
        20,
      );
      await waitFor(
        'the container in the index',
        () => session.index.containers.some((c) => c.name === name),
        2_000,
        20,
      );
      assert.equal(streams.length, 1, 'one event stream for the watcher and the index');
    } finally {
      await session.close();
      await dockerd!.docker(['rm', '-f', name], { allowFail: true });
      await dockerd!.docker(['network', 'rm', 'gw-session-net'], { allowFail: true });
    }
    assert.equal((streams[0] as NodeJS.ReadableStream & { destroyed?: boolean }).destroyed, true);
    assert.equal(streams.length, 1, 'a closed session does not reconnect');
  });

  test('dockerd restarting: the watcher reports unreachable, reconnects and re-lists within 10 s', async () => {
    const d = dockerd!;
    const from = statuses.length;
    const lists = listCalls;
    const t0 = Date.now();
    await d.restart();
    const back = Date.now();
    await waitFor(
      'the watcher to reconnect',
      () => watcher!.status.state === 'connected' && listCalls > lists,
      10_000,
      20,
    );
    log(
      `dockerd restart took ${back - t0} ms; watcher connected again ${Date.now() - back} ms after dockerd answered`,
    );
    const seen = statuses.slice(from).map((s) => s.state);
    assert.equal(seen[0], 'unreachable', seen.join(' -> '));
    assert.equal(seen.at(-1), 'connected');
    assert.ok(byName('bridge'), 'the default bridge is still (again) listed');
    // Events are followed again on the new connection.
    await d.docker(['network', 'create', 'gw-after-restart']);
    await snapshotWithin('gw-after-restart', () => !!byName('gw-after-restart'), 2_000);
  });

  test("route planner and reconciler on the rig host's real routing table: a LAN clash is reported, the rest routed", async () => {
    const r = rig!;
    const d = dockerd!;
    // Overlaps the rig's veth network (10.200.41.0/30 on the host side): the host's "LAN".
    const clash = await d.docker(
      ['network', 'create', '--subnet', `10.200.${SUBNET_INDEX}.0/24`, 'gw-clash'],
      {
        allowFail: true,
      },
    );
    log(
      `docker network create gw-clash (overlapping the rig's veth): ${clash.code === 0 ? 'accepted' : clash.stderr.trim()}`,
    );
    await d.docker(['network', 'create', '--subnet', '10.98.0.0/24', 'gw-routed']);
    await snapshotWithin(
      'gw-routed',
      () => !!byName('gw-routed') && (clash.code !== 0 || !!byName('gw-clash')),
      2_000,
    );
    const networks = current();
    if (clash.code !== 0)
      networks.push({
        ...byName('gw-routed')!,
        id: 'synthetic',
        name: 'gw-clash',
        subnets: [`10.200.${SUBNET_INDEX}.0/24`],
      });

    await r.exec(r.hostNs, 'ip', ['tuntap', 'add', 'dev', TUN, 'mode', 'tun']);
    await r.exec(r.hostNs, 'ip', ['link', 'set', TUN, 'up']);
    const inHost: Runner = (cmd, args) => runCommand('ip', ['netns', 'exec', r.hostNs, cmd, ...args]);
    const net = new LinuxNet(inHost);
    const before = await r.exec(r.hostNs, 'ip', ['-j', 'route', 'show', 'table', 'all']);

    const plan = planRoutes({
      networks,
      settings: { routeNewNetworks: true, networks: {} },
      tunnelSubnet: '10.57.0.0/30',
      device: TUN,
      hostRoutes: await net.listRoutes(),
    });
    const clashPlan = plan.networks.find((n) => n.name === 'gw-clash')!;
    assert.equal(clashPlan.routed, false);
    assert.match(
      clashPlan.conflict!,
      new RegExp(`10\\.200\\.${SUBNET_INDEX}\\.0/30 via ${r.hostVeth} lies inside it`),
    );
    assert.ok(
      plan.routes.includes('10.98.0.0/24') && plan.routes.includes('172.17.0.0/16'),
      plan.routes.join(),
    );

    const reconciler = new RouteReconciler(net, TUN);
    const res = await reconciler.reconcile({
      networks,
      settings: { routeNewNetworks: true, networks: {} },
      tunnelSubnet: '10.57.0.0/30',
    });
    assert.deepEqual(res.errors, []);
    const onTun = async () =>
      (await net.listRoutes())
        .filter((x) => x.device === TUN)
        .map((x) => x.destination)
        .sort();
    assert.deepEqual(await onTun(), [...plan.routes].sort());
    const vethRoute = (await net.listRoutes()).find((x) => x.device === r.hostVeth);
    assert.equal(vethRoute?.destination, `10.200.${SUBNET_INDEX}.0/30`);

    // The network goes away in Docker; the next reconcile removes exactly its route.
    await d.docker(['network', 'rm', 'gw-routed']);
    await snapshotWithin('gw-routed to go', () => !byName('gw-routed'), 2_000);
    const again = await reconciler.reconcile({
      networks: current(),
      settings: { routeNewNetworks: true, networks: {} },
      tunnelSubnet: '10.57.0.0/30',
    });
    assert.deepEqual(again.deleted, ['10.98.0.0/24']);
    await reconciler.close();
    assert.deepEqual(await onTun(), []);
    const after = await r.exec(r.hostNs, 'ip', ['-j', 'route', 'show', 'table', 'all']);
    assert.equal(after.stdout, before.stdout, 'the host namespace routing table is back to what it was');
  });
});
