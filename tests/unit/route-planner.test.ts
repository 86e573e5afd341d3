// The route planner's rules: what the user wants, and what the host's routing table allows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatCidr, overlaps, parseCidr } from '../../common/cidr';
import type { HostRoute } from '../../shared/platform/net-platform';
import {
  isBroadSubnet,
  isNetworkWanted,
  isPublicSubnet,
  planRoutes,
  publicRouteRefusal,
  tunnelSubnetClash,
  type PlanInput,
  type PlannedNetwork,
  type RouteSettings,
} from '../../helper/routes/route-planner';

const on: RouteSettings = { routeNewNetworks: true, networks: {} };
const net = (name: string, ...subnets: string[]): PlannedNetwork => ({ id: `id-${name}`, name, subnets });
const route = (destination: string, device: string): HostRoute => ({ destination, device });

/** A laptop: Wi-Fi LAN, a default route, the tunnel's own peer route. */
const LAPTOP: HostRoute[] = [
  route('0.0.0.0/0', 'en0'),
  route('::/0', 'en0'),
  route('192.168.1.0/24', 'en0'),
  route('10.57.0.2/32', 'gw0'),
];

function plan(networks: PlannedNetwork[], extra: Partial<PlanInput> = {}) {
  return planRoutes({
    networks,
    settings: on,
    tunnelSubnet: '10.57.0.0/30',
    device: 'gw0',
    hostRoutes: LAPTOP,
    ...extra,
  });
}

test('new networks are routed by default; a per-name setting overrides the default both ways', () => {
  const nets = [net('bridge', '172.17.0.0/16'), net('web', '172.18.0.0/16'), net('db', '172.19.0.0/16')];
  const p = plan(nets, { settings: { routeNewNetworks: true, networks: { db: { routed: false } } } });
  assert.deepEqual(p.routes, ['172.17.0.0/16', '172.18.0.0/16']);
  assert.deepEqual(
    p.networks.map((n) => [n.name, n.wanted, n.routed]),
    [
      ['bridge', true, true],
      ['web', true, true],
      ['db', false, false],
    ],
  );
  const q = plan(nets, { settings: { routeNewNetworks: false, networks: { web: { routed: true } } } });
  assert.deepEqual(q.routes, ['172.18.0.0/16']);
});

test('names are only keys: "constructor", "__proto__" and shell syntax get the default', () => {
  const s: RouteSettings = { routeNewNetworks: false, networks: {} };
  for (const name of ['constructor', '__proto__', 'toString', '$(reboot)', 'a;b', 'ünï "q"'])
    assert.equal(isNetworkWanted(s, name), false, name);
  const p = plan([net('$(reboot); rm -rf /', '172.20.0.0/16')]);
  assert.equal(p.networks[0]?.name, '$(reboot); rm -rf /');
  assert.deepEqual(p.routes, ['172.20.0.0/16']);
});

test('a subnet wider than Docker makes by itself waits for the user; their word routes it', () => {
  for (const c of ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/15', 'fd00::/8', 'fd42::/32'])
    assert.ok(isBroadSubnet(c), c);
  for (const c of ['172.18.0.0/16', '10.1.2.0/24', 'fd42:1::/48', 'fd42:1:2::/64', '0.0.0.0/0', 'junk'])
    assert.ok(!isBroadSubnet(c), c);
  // (10.0.0.0/8 would also overlap the tunnel's 10.57.0.0/30: a conflict of its own.)
  const nets = [
    net('big', '100.64.0.0/10', 'fd42:9::/64'),
    net('web', '172.18.0.0/16'),
    net('v6', 'fd00::/8'),
  ];
  const p = plan(nets);
  assert.deepEqual(p.routes, ['172.18.0.0/16'], 'neither broad network, nor the /64 of one of them');
  const big = p.networks.find((n) => n.name === 'big')!;
  assert.equal(big.wanted, false);
  assert.match(
    big.conflict ?? '',
    /100\.64\.0\.0\/10 is wider than any network Docker makes.*gangway route big on/,
  );
  assert.equal(isNetworkWanted(on, 'big', ['10.0.0.0/8']), false);
  assert.equal(isNetworkWanted(on, 'web', ['172.18.0.0/16']), true);
  // The user's word: routed, with nothing left to explain.
  const chosen = plan(nets, { settings: { routeNewNetworks: true, networks: { big: { routed: true } } } });
  assert.deepEqual(chosen.routes, ['100.64.0.0/10', '172.18.0.0/16', 'fd42:9::/64']);
  assert.equal(chosen.networks.find((n) => n.name === 'big')?.conflict, undefined);
  // With new networks not routed anyway, there is nothing particular to say about the broad one.
  const off = plan(nets, { settings: { routeNewNetworks: false, networks: {} } });
  assert.equal(off.networks.find((n) => n.name === 'big')?.conflict, undefined);
});

test('default routes are not conflicts, and are never planned', () => {
  const p = plan([net('a', '172.18.0.0/16', 'fd00:18::/64')]);
  assert.deepEqual(p.routes, ['172.18.0.0/16', 'fd00:18::/64']);
  assert.equal(p.networks[0]?.conflict, undefined);
  assert.ok(!p.routes.some((r) => r.endsWith('/0')));
});

test("a full-tunnel VPN's halves of the default route are not conflicts, like the default route", () => {
  // wg-quick on macOS (darwin.bash, add_route for a /0 allowed IP), OpenVPN's def1 and Tunnelblick leave the
  // default route in place and override it with two /1 routes on their utun.
  const vpn = [
    ...LAPTOP,
    route('0.0.0.0/1', 'utun3'),
    route('128.0.0.0/1', 'utun3'),
    route('::/1', 'utun3'),
    route('8000::/1', 'utun3'),
    route('10.8.0.0/24', 'utun3'),
  ];
  const p = plan([net('app', '172.18.0.0/16', 'fd00:18::/64'), net('vpnnet', '10.8.0.0/24')], {
    hostRoutes: vpn,
  });
  assert.deepEqual(p.routes, ['172.18.0.0/16', 'fd00:18::/64']);
  assert.equal(p.networks[0]?.conflict, undefined);
  // The VPN's own, more specific routes still are.
  assert.match(p.networks[1]!.conflict!, /the host already routes 10\.8\.0\.0\/24 via utun3/);
  // Gangway never installs such a half itself: each holds a reserved range.
  const halves = plan([], { staticRoutes: ['0.0.0.0/1', '128.0.0.0/1', '::/1', '8000::/1'] });
  assert.deepEqual(halves.routes, []);
  assert.ok(halves.static.every((s) => !s.routed && /overlaps the/.test(s.conflict ?? '')));
  // The tunnel subnet may sit under them too.
  assert.equal(tunnelSubnetClash('10.57.0.0/30', [], vpn, 'gw0'), undefined);
  // A /2 is an ordinary route.
  assert.match(
    plan([net('b', '172.18.0.0/16')], { hostRoutes: [...LAPTOP, route('128.0.0.0/2', 'utun3')] }).networks[0]!
      .conflict!,
    /inside the host route 128\.0\.0\.0\/2 via utun3/,
  );
});

test('a subnet inside a LAN or VPN route is a conflict naming the route and its device', () => {
  const hostRoutes = [...LAPTOP, route('172.16.0.0/12', 'utun3')];
  const p = plan([net('corp', '172.18.0.0/16'), net('ok', '192.168.32.0/20')], { hostRoutes });
  assert.deepEqual(p.routes, ['192.168.32.0/20']);
  const corp = p.networks[0]!;
  assert.equal(corp.routed, false);
  assert.match(
    corp.conflict!,
    /172\.18\.0\.0\/16 is not routed: it lies inside the host route 172\.16\.0\.0\/12 via utun3/,
  );
});

test('an equal route on another device is a conflict (routing it would replace that route)', () => {
  const p = plan([net('lan', '192.168.1.0/24')]);
  assert.deepEqual(p.routes, []);
  assert.match(p.networks[0]!.conflict!, /the host already routes 192\.168\.1\.0\/24 via en0/);
});

test('a more specific host route inside the subnet is a conflict: its addresses are not ours', () => {
  const hostRoutes = [...LAPTOP, route('192.168.16.5/32', 'en0'), route('192.168.17.0/24', 'eth1')];
  const p = plan([net('n', '192.168.16.0/20')], { hostRoutes });
  assert.deepEqual(p.routes, []);
  // Most specific first.
  assert.match(
    p.networks[0]!.conflict!,
    /the host route 192\.168\.16\.5\/32 via en0 lies inside it; the host route 192\.168\.17\.0\/24 via eth1 lies inside it/,
  );
});

test("routes already on Gangway's own device are not conflicts", () => {
  const hostRoutes = [...LAPTOP, route('172.18.0.0/16', 'gw0'), route('172.18.3.0/24', 'gw0')];
  const p = plan([net('a', '172.18.0.0/16')], { hostRoutes });
  assert.deepEqual(p.routes, ['172.18.0.0/16']);
});

test('overlapping the tunnel subnet, a reserved range, or being /0 is a conflict', () => {
  const p = plan([
    net('tun', '10.57.0.0/16'),
    net('lo', '127.0.0.0/16'),
    net('ll', '169.254.0.0/16'),
    net('mc', '224.1.0.0/16'),
    net('ll6', 'fe80::/64'),
    net('all', '0.0.0.0/0'),
  ]);
  assert.deepEqual(p.routes, []);
  const c = Object.fromEntries(p.networks.map((n) => [n.name, n.conflict]));
  assert.match(c.tun!, /overlaps Gangway's tunnel subnet 10\.57\.0\.0\/30/);
  assert.match(c.lo!, /loopback/);
  assert.match(c.ll!, /link-local/);
  assert.match(c.mc!, /multicast/);
  assert.match(c.ll6!, /link-local/);
  assert.match(c.all!, /would replace the default route/);
});

test('dual stack: the IPv4 subnet is routed while a conflicting IPv6 subnet is reported', () => {
  const hostRoutes = [...LAPTOP, route('fd00::/8', 'utun4')];
  const p = plan([net('dual', '172.21.0.0/16', 'fd00:21::/64')], { hostRoutes });
  const n = p.networks[0]!;
  assert.equal(n.routed, true);
  assert.deepEqual(p.routes, ['172.21.0.0/16']);
  assert.deepEqual(
    n.subnets.map((s) => [s.cidr, s.routed]),
    [
      ['172.21.0.0/16', true],
      ['fd00:21::/64', false],
    ],
  );
  assert.match(n.conflict!, /fd00:21::\/64 is not routed: it lies inside the host route fd00::\/8 via utun4/);
});

test('conflicts are reported for networks the user did not enable, too', () => {
  const p = plan([net('lan', '192.168.1.0/24')], { settings: { routeNewNetworks: false, networks: {} } });
  assert.equal(p.networks[0]?.wanted, false);
  assert.match(p.networks[0].conflict!, /192\.168\.1\.0\/24 via en0/);
});

test('routes are normalised, unique, IPv4 first and sorted; static routes follow the same rules', () => {
  const p = plan([net('b', 'fd00:0:0:1::/64', '172.30.0.0/16'), net('a', '172.19.0.0/16')], {
    staticRoutes: ['172.19.0.0/16', '10.10.0.0/16', '192.168.1.128/25'],
  });
  assert.deepEqual(p.routes, ['10.10.0.0/16', '172.19.0.0/16', '172.30.0.0/16', 'fd00:0:0:1::/64']);
  assert.deepEqual(
    p.static.map((s) => [s.cidr, s.routed]),
    [
      ['172.19.0.0/16', true],
      ['10.10.0.0/16', true],
      ['192.168.1.128/25', false],
    ],
  );
});

test('many clashes are summarised; unreadable host routes and devices are handled', () => {
  const hostRoutes = [
    route('garbage', 'en0'),
    route('10.1.1.0/24', ''),
    ...[2, 3, 4, 5].map((i) => route(`10.1.${i}.0/24`, 'en0')),
  ];
  const p = plan([net('n', '10.1.0.0/16')], { hostRoutes });
  assert.match(p.networks[0]!.conflict!, /via an unknown device/);
  assert.match(p.networks[0]!.conflict!, /\(and 2 more\)/);
});

test('public subnets are never routed automatically; private and reserved ranges are (issue 11)', () => {
  const nets = [
    net('google', '8.8.0.0/16'),
    net('v6doc', '2001:db8::/64'),
    net('rfc1918', '10.9.0.0/16', '172.31.0.0/16', '192.168.200.0/24'),
    net('cgnat', '100.64.5.0/24'),
    net('bench', '198.18.0.0/16'),
    net('ula', 'fd12:3456::/64'),
    // Straddles the edge of 172.16.0.0/12: part of it is public.
    net('edge', '172.0.0.0/10'),
  ];
  const p = plan(nets);
  assert.deepEqual(p.routes, [
    '10.9.0.0/16',
    '100.64.5.0/24',
    '172.31.0.0/16',
    '192.168.200.0/24',
    '198.18.0.0/16',
    'fd12:3456::/64',
  ]);
  const byName = Object.fromEntries(p.networks.map((n) => [n.name, n]));
  for (const name of ['google', 'v6doc', 'edge']) {
    // edge is also wider than Docker makes by itself: it waits for the user's word either way.
    assert.equal(byName[name]!.wanted, name !== 'edge', `${name} is wanted by default`);
    assert.equal(byName[name]!.routed, false, `${name} is not routed`);
    assert.equal(byName[name]!.allowPublic, false);
  }
  assert.deepEqual(byName.google!.publicSubnets, ['8.8.0.0/16']);
  assert.deepEqual(byName.edge!.publicSubnets, ['172.0.0.0/10']);
  for (const name of ['rfc1918', 'cgnat', 'bench', 'ula']) assert.deepEqual(byName[name]!.publicSubnets, []);
  // Only the user's explicit word routes them; turning the network off still wins.
  const allowed = plan(nets, {
    settings: {
      routeNewNetworks: true,
      networks: { google: { routed: true, allowPublic: true }, v6doc: { routed: false, allowPublic: true } },
    },
  });
  assert.ok(allowed.routes.includes('8.8.0.0/16'));
  assert.ok(!allowed.routes.includes('2001:db8::/64'));
  assert.ok(!allowed.routes.includes('172.0.0.0/10'));
  // --route on the daemon's command line is the administrator's explicit word.
  assert.deepEqual(plan([], { staticRoutes: ['8.8.4.0/24'] }).routes, ['8.8.4.0/24']);
  // Reserved ranges stay conflicts, not "public".
  assert.equal(isPublicSubnet('127.0.0.0/8'), false);
  assert.equal(isPublicSubnet('224.0.0.0/4'), false);
  assert.equal(isPublicSubnet('1.1.1.0/24'), true);
});

test('turning a public network on needs --allow-public, and the refusal names the way out', () => {
  const n = { name: 'pub', subnets: ['172.18.0.0/16', '8.8.0.0/16'] };
  assert.match(
    publicRouteRefusal(n, true, false) ?? '',
    /network "pub" holds public addresses \(8\.8\.0\.0\/16\).*gangway route pub on --allow-public/,
  );
  assert.equal(publicRouteRefusal(n, true, true), undefined);
  assert.equal(publicRouteRefusal(n, false, false), undefined, 'turning it off needs no confirmation');
  assert.equal(publicRouteRefusal({ name: 'p', subnets: ['10.1.0.0/16'] }, true, false), undefined);
});

test('invalid subnets are reported, not routed', () => {
  const p = plan([net('x', 'not-a-cidr')]);
  assert.deepEqual(p.routes, []);
  assert.match(p.networks[0]!.conflict!, /not a valid subnet/);
});

test('property: no planned route overlaps a non-default route on another device or the tunnel', () => {
  let seed = 42;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const randomCidr = () => {
    const prefix = 8 + rnd(25);
    const addr = (BigInt(10 + rnd(3)) << 24n) | BigInt(rnd(2 ** 24));
    const mask = ((1n << 32n) - 1n) ^ ((1n << BigInt(32 - prefix)) - 1n);
    return formatCidr({ family: 4, network: addr & mask, prefix });
  };
  for (let i = 0; i < 500; i++) {
    const hostRoutes = [
      route('0.0.0.0/0', 'en0'),
      ...Array.from({ length: rnd(5) }, () => route(randomCidr(), rnd(2) ? 'en0' : 'gw0')),
    ];
    const networks = Array.from({ length: 1 + rnd(4) }, (_, k) => net(`n${k}`, randomCidr()));
    const p = plan(networks, { hostRoutes, tunnelSubnet: '11.0.0.0/30' });
    for (const r of p.routes) {
      const c = parseCidr(r)!;
      assert.ok(c.prefix > 0);
      for (const h of hostRoutes) {
        const hc = parseCidr(h.destination)!;
        if (h.device !== 'gw0' && hc.prefix > 0) assert.ok(!overlaps(c, hc), `${r} vs ${h.destination}`);
      }
    }
    for (const n of p.networks)
      for (const s of n.subnets) assert.equal(p.routes.includes(s.cidr), s.routed && n.wanted, s.cidr);
  }
});

test('tunnelSubnetClash: Docker networks and host routes, but not default routes or our own device', () => {
  const nets = [{ name: 'app', subnets: ['172.18.0.0/16'] }];
  const routes = [
    { destination: '0.0.0.0/0', device: 'eth0' },
    { destination: '192.168.1.0/24', device: 'eth0' },
    { destination: '10.57.0.2/32', device: 'gw0' },
  ];
  assert.equal(tunnelSubnetClash('10.57.0.0/30', nets, routes, 'gw0'), undefined);
  assert.equal(tunnelSubnetClash('10.58.0.0/30', [], [], 'gw0'), undefined);
  assert.equal(
    tunnelSubnetClash('172.18.5.0/30', nets, routes, 'gw0'),
    'it overlaps Docker network "app" (172.18.0.0/16)',
  );
  assert.equal(
    tunnelSubnetClash('192.168.0.0/16', nets, routes, 'gw0'),
    "it overlaps the host's route to 192.168.1.0/24 via eth0",
  );
  assert.equal(tunnelSubnetClash('nonsense', nets, routes, 'gw0'), 'not a CIDR');
});
