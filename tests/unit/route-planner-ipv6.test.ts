// IPv6 in the route planner (issue 14): unique-local subnets route like RFC 1918 ones, global ones need the
// user's explicit word, the IPv6 tunnel subnet is never shadowed, and IPv6 subnets wait while IPv6 is off.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isPrivateSubnet } from '../../common/private-ranges';
import type { HostRoute } from '../../shared/platform/net-platform';
import {
  planRoutes,
  publicRouteRefusal,
  tunnelSubnetClash,
  type PlanInput,
  type PlannedNetwork,
} from '../../helper/routes/route-planner';

const net = (name: string, ...subnets: string[]): PlannedNetwork => ({ id: `id-${name}`, name, subnets });
const route = (destination: string, device: string): HostRoute => ({ destination, device });

/** A laptop with IPv6: a global /64 on Wi-Fi, an IPv6 default route, link-local on every device. */
const LAPTOP6: HostRoute[] = [
  route('0.0.0.0/0', 'en0'),
  route('::/0', 'en0'),
  route('2001:db8:aa::/64', 'en0'),
  route('fe80::/64', 'en0'),
  route('fd57:6177::/64', 'gw0'),
];

function plan(networks: PlannedNetwork[], extra: Partial<PlanInput> = {}) {
  return planRoutes({
    networks,
    settings: { routeNewNetworks: true, networks: {} },
    tunnelSubnet: '10.57.0.0/30',
    tunnelSubnet6: 'fd57:6177::/64',
    ipv6Off: null,
    device: 'gw0',
    hostRoutes: LAPTOP6,
    ...extra,
  });
}

test('the private-range rule for IPv6: all of fc00::/7 is private, nothing outside it', () => {
  for (const c of ['fc00::/7', 'fd42:1::/64', 'fc00:1::/48', 'fdff:ffff::/32', 'fd00::1/128'])
    assert.equal(isPrivateSubnet(c), true, c);
  for (const c of ['fc00::/6', '2001:db8::/64', 'fe80::/64', '2a00:1450::/32', '::/0', 'fe00::/7'])
    assert.equal(isPrivateSubnet(c), false, c);
});

test('a unique-local Docker subnet is routed beside its IPv4 one (dual stack)', () => {
  const p = plan([net('app', '172.20.0.0/16', 'fd42:20::/64'), net('v6only', 'fc00:7::/64')]);
  assert.deepEqual(p.routes, ['172.20.0.0/16', 'fc00:7::/64', 'fd42:20::/64']);
  assert.deepEqual(
    p.networks.map((n) => [n.name, n.routed, n.publicSubnets]),
    [
      ['app', true, []],
      ['v6only', true, []],
    ],
  );
});

test('a global IPv6 subnet needs --allow-public, as public IPv4 does', () => {
  const nets = [net('glob', '2001:db8:77::/64')];
  const p = plan(nets);
  assert.deepEqual(p.routes, []);
  assert.deepEqual(p.networks[0]!.publicSubnets, ['2001:db8:77::/64']);
  assert.match(
    publicRouteRefusal({ name: 'glob', subnets: ['2001:db8:77::/64'] }, true, false) ?? '',
    /holds public addresses \(2001:db8:77::\/64\).*gangway route glob on --allow-public/,
  );
  const allowed = plan(nets, {
    settings: { routeNewNetworks: true, networks: { glob: { routed: true, allowPublic: true } } },
  });
  assert.deepEqual(allowed.routes, ['2001:db8:77::/64']);
});

test('IPv6 conflicts: the host LAN /64, the IPv6 tunnel subnet, link-local', () => {
  const p = plan(
    [
      net('lan', '2001:db8:aa::/80'),
      net('tun', 'fd57:6177::/96'),
      net('ll', 'fe80:1::/64'),
      net('ok', 'fd42:9::/64'),
    ],
    { settings: { routeNewNetworks: true, networks: { lan: { routed: true, allowPublic: true } } } },
  );
  assert.deepEqual(p.routes, ['fd42:9::/64']);
  const c = Object.fromEntries(p.networks.map((n) => [n.name, n.conflict]));
  assert.match(
    c.lan!,
    /2001:db8:aa::\/80 is not routed: it lies inside the host route 2001:db8:aa::\/64 via en0/,
  );
  // Our own device's route to the tunnel subnet is no conflict, but the tunnel subnet itself is.
  assert.match(c.tun!, /overlaps Gangway's tunnel subnet fd57:6177::\/64/);
  assert.match(c.ll!, /link-local/);
  assert.equal(c.ok, undefined);
});

test('while IPv6 is off (MTU below 1280) IPv6 subnets are not routed, and each says why', () => {
  const why = 'IPv6 is off: the inner MTU 1200 is below 1280';
  const p = plan([net('dual', '172.21.0.0/16', 'fd42:21::/64')], { ipv6Off: why, tunnelSubnet6: null });
  assert.deepEqual(p.routes, ['172.21.0.0/16']);
  const n = p.networks[0]!;
  assert.equal(n.routed, true);
  assert.equal(n.conflict, `fd42:21::/64 is not routed: ${why}`);
  // Static routes too.
  const s = plan([], { ipv6Off: why, staticRoutes: ['fd00:5::/64'] });
  assert.deepEqual(s.routes, []);
  assert.match(s.static[0]!.conflict!, /IPv6 is off/);
});

test('tunnelSubnetClash for an IPv6 tunnel subnet: Docker networks and host routes', () => {
  const nets = [{ name: 'app', subnets: ['fd42:20::/64'] }];
  assert.equal(tunnelSubnetClash('fd57:6177::/64', nets, LAPTOP6, 'gw0'), undefined);
  assert.match(
    tunnelSubnetClash('fd42::/16', nets, LAPTOP6, 'gw0') ?? '',
    /Docker network "app" \(fd42:20::\/64\)/,
  );
  assert.match(
    tunnelSubnetClash('fd99::/64', nets, [...LAPTOP6, route('fd99::/48', 'utun3')], 'gw0') ?? '',
    /host's route to fd99::\/48 via utun3/,
  );
});
