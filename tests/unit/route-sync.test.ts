// Route sync against the real planner and reconciler on a fake routing table: what it announces to the
// pump and the agent (once per change), what it tells DNS, the joined bridges, and /v1/networks after down.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../common/log';
import type { HostRoute, LinkState, NetPlatform } from '../../shared/platform/net-platform';
import { RouteReconciler } from '../../helper/routes/route-reconciler';
import { RouteSync } from '../../helper/routes/route-sync';
import type { DockerNetwork } from '../../helper/docker/network-watcher';
import { defaultSettings } from '../../helper/settings/settings-store';
import type { RoutedNetwork } from '../../helper/dns/name-table';

class FakeNet implements NetPlatform {
  table: HostRoute[] = [
    { destination: '0.0.0.0/0', device: 'en0' },
    { destination: '192.168.1.0/24', device: 'en0' },
  ];
  configureTun(): Promise<void> {
    return Promise.resolve();
  }
  configureTun6(): Promise<void> {
    return Promise.resolve();
  }
  addRoute(cidr: string, device: string): Promise<void> {
    this.table.push({ destination: cidr, device });
    return Promise.resolve();
  }
  deleteRoute(cidr: string, device: string): Promise<void> {
    this.table = this.table.filter((r) => !(r.destination === cidr && r.device === device));
    return Promise.resolve();
  }
  linkState(): Promise<LinkState> {
    return Promise.resolve({ up: true, detail: 'up' });
  }
  listRoutes(): Promise<HostRoute[]> {
    return Promise.resolve(this.table.map((r) => ({ ...r })));
  }
}

const net = (name: string, subnet: string, bridge = `br-${name}`): DockerNetwork => ({
  id: `id-${name}`,
  name,
  driver: 'bridge',
  internal: false,
  subnets: [subnet],
  bridge,
});

function rig() {
  const f = new FakeNet();
  const reconciler = new RouteReconciler(f, 'gw0');
  const state = {
    networks: [net('app', '172.20.0.0/16')],
    settings: defaultSettings(),
    routing: true,
    announced: [] as string[][],
    routed: [] as RoutedNetwork[][],
    changes: 0,
  };
  const sync = new RouteSync({
    reconciler: () => reconciler,
    settings: () => state.settings,
    networks: () => state.networks,
    routing: () => state.routing,
    tunnelSubnet: () => '10.57.0.0/30',
    tunnelSubnet6: () => 'fd57:6177::/64',
    ipv6Off: () => null,
    staticRoutes: [],
    announce: (installed) => state.announced.push([...installed]),
    routedNetworks: (r) => state.routed.push(r),
    changed: () => state.changes++,
    log: createLogger('test', () => undefined),
  });
  return { f, sync, state };
}

test('announces installed routes once per change and tells DNS which networks are routed', async () => {
  const { sync, state, f } = rig();
  await sync.sync();
  await sync.sync();
  assert.deepEqual(state.announced, [['172.20.0.0/16']], 'the same routes are announced once');
  assert.deepEqual(state.routed.at(-1), [{ name: 'app', subnets: ['172.20.0.0/16'] }]);
  assert.equal(state.changes, 1);
  assert.deepEqual(sync.routes, [{ cidr: '172.20.0.0/16', installed: true }]);
  assert.ok(f.table.some((r) => r.destination === '172.20.0.0/16' && r.device === 'gw0'));

  // A network clashing with the LAN is planned (with its conflict) but not routed or announced.
  state.networks = [...state.networks, net('lan', '192.168.1.0/24')];
  await sync.sync();
  assert.equal(state.announced.length, 1);
  assert.equal(state.changes, 2, 'the new network changes what status shows');
  const lan = sync.networks().networks.find((n) => n.name === 'lan');
  assert.equal(lan?.routed, false);
  assert.match(lan?.conflict ?? '', /192\.168\.1\.0\/24/);

  // The data plane closed and reopened: the same routes are announced again.
  sync.forgetAnnounced();
  await sync.sync();
  assert.equal(state.announced.length, 2);
});

test('after down nothing is routed, and the networks are still listed with the choices', async () => {
  const { sync, state, f } = rig();
  await sync.sync();
  state.routing = false;
  state.settings = { ...state.settings, networks: { app: { routed: false } } };
  await sync.sync();
  assert.deepEqual(state.announced.at(-1), []);
  assert.equal(
    f.table.some((r) => r.device === 'gw0'),
    false,
  );
  const n = sync.networks();
  assert.deepEqual(
    n.networks.map((x) => [x.name, x.wanted, x.routed]),
    [['app', false, false]],
  );
});

test('joined pairs become bridge pairs only for networks that exist and have plain bridge names', () => {
  const { sync, state } = rig();
  state.networks = [
    net('a', '172.21.0.0/16'),
    net('b', '172.22.0.0/16'),
    net('odd', '172.23.0.0/16', 'br;rm -rf'),
  ];
  state.settings = {
    ...state.settings,
    joins: [
      ['a', 'b'],
      ['a', 'gone'],
      ['a', 'odd'],
    ],
  };
  assert.deepEqual(sync.joinedBridges(), [['br-a', 'br-b']]);
});
