// The platform files are tested on the exact commands they produce; the Linux one also runs for real in
// the integration tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DarwinNet, parseNetstat, parseRouteReply } from '../../shared/platform/net-darwin';
import { CommandError } from '../../shared/exec';
import { LinuxNet } from '../../shared/platform/net-linux';
import { createNetPlatform } from '../../shared/platform/platform';
import { planRoutes } from '../../helper/routes/route-planner';

/** What macOS's route prints when the kernel takes `route -n add|delete -inet[6] CIDR -interface DEV`. */
function routeSays(args: readonly string[], error?: string): string {
  const [, verb, , cidr, , device] = args;
  const kind = cidr?.endsWith('/128') ? 'host' : 'net';
  return `${verb} ${kind} ${cidr}: gateway ${device}${error ? `: ${error}` : ''}\n`;
}

/** netstat -rn with 172.18.0.0/16 and fd42:20::/64 on utun5, as macOS prints them. */
const NETSTAT_ON_UTUN5 = `Routing tables

Internet:
Destination        Gateway            Flags               Netif Expire
172.18             utun5              USc                 utun5

Internet6:
${'Destination'.padEnd(39)} ${'Gateway'.padEnd(39)} Flags               Netif Expire
${'fd42:20::/64'.padEnd(39)} ${'utun5'.padEnd(39)} USc                 utun5
`;

function recorder() {
  const calls: string[] = [];
  const run = (cmd: string, args: readonly string[]) => {
    calls.push([cmd, ...args].join(' '));
    return Promise.resolve(cmd === 'route' ? routeSays(args) : cmd === 'netstat' ? NETSTAT_ON_UTUN5 : '');
  };
  return { calls, run };
}

test('macOS: utun addressing and routes bound to the interface', async () => {
  const { calls, run } = recorder();
  const net = new DarwinNet(run);
  await net.configureTun('utun5', { local: '10.57.0.1', peer: '10.57.0.2', mtu: 1420 });
  await net.addRoute('172.18.0.0/16', 'utun5');
  await net.addRoute('fd00:1::/64', 'utun5');
  await net.deleteRoute('172.18.0.0/16', 'utun5');
  assert.deepEqual(calls, [
    'ifconfig utun5 inet 10.57.0.1 10.57.0.2 netmask 255.255.255.255 mtu 1420 up',
    'route -n add -inet 172.18.0.0/16 -interface utun5',
    'route -n add -inet6 fd00:1::/64 -interface utun5',
    // Deleted only once the table shows it on utun5 (not another device's route with that prefix).
    'netstat -rn',
    'route -n delete -inet 172.18.0.0/16 -interface utun5',
  ]);
});

test('macOS: route exits 0 when the kernel refuses; its report decides, and a refusal is an error', async () => {
  // route.c: main() does `newroute(argc, argv); exit(0);` for add and delete, and newroute() prints
  // "<cmd> <host|net> <dest>: gateway <gw>" then "\n", or ": <error>\n" when the kernel refused.
  const netstat = (utun5Has: string) => `Routing tables

Internet:
Destination        Gateway            Flags               Netif Expire
default            192.168.1.1        UGScg                 en0
172.18             link#6             UCS                   en0      !
${utun5Has}
`;
  const mac = (answer: (args: readonly string[]) => string, table = netstat('')) =>
    new DarwinNet((cmd, args) => Promise.resolve(cmd === 'route' ? answer(args) : table));

  // Another device already routes it: recorded as installed before, although nothing was added.
  await assert.rejects(
    mac((a) => routeSays(a, 'File exists')).addRoute('172.18.0.0/16', 'utun5'),
    /macOS refused to add the route 172\.18\.0\.0\/16 via utun5: File exists/,
  );
  // The same route already on our own device is what was wanted.
  await mac(
    (a) => routeSays(a, 'File exists'),
    netstat('172.18             utun5              USc                 utun5'),
  ).addRoute('172.18.0.0/16', 'utun5');
  await assert.rejects(
    mac((a) => routeSays(a, 'Network is unreachable')).addRoute('fd00:1::5/128', 'utun5'),
    /refused to add the route fd00:1::5\/128 via utun5: Network is unreachable/,
  );
  await mac((a) => routeSays(a)).addRoute('fd00:1::5/128', 'utun5');

  // A route already gone is not an error; any other refusal is.
  const ours = netstat('172.18             utun5              USc                 utun5');
  await mac((a) => routeSays(a, 'not in table'), ours).deleteRoute('172.18.0.0/16', 'utun5');
  await assert.rejects(
    mac((a) => routeSays(a, 'entry in use'), ours).deleteRoute('172.18.0.0/16', 'utun5'),
    /refused to delete the route 172\.18\.0\.0\/16 via utun5: entry in use/,
  );
  // Not on our device (another's, added after ours went): not touched, whatever route delete would match.
  const asked: string[] = [];
  await new DarwinNet((cmd, args) => {
    asked.push(cmd);
    return Promise.resolve(cmd === 'route' ? routeSays(args) : netstat(''));
  }).deleteRoute('172.18.0.0/16', 'utun5');
  assert.deepEqual(asked, ['netstat']);
  // No report at all (a route that printed nothing, or something else): the table decides, so a route(8)
  // that words its report otherwise neither breaks every add nor passes a refused one as done.
  await assert.rejects(
    mac(() => '').addRoute('172.18.0.0/16', 'utun5'),
    /route printed no result, and the route is not in the table/,
  );
  await assert.rejects(
    mac(() => 'add net 172.19.0.0/16: gateway utun5\n').addRoute('172.18.0.0/16', 'utun5'),
    /route printed no result/,
  );
  await mac(() => '', netstat('172.18             utun5              USc                 utun5')).addRoute(
    '172.18.0.0/16',
    'utun5',
  );
  await mac(() => '').deleteRoute('172.18.0.0/16', 'utun5');
  await assert.rejects(
    mac(() => '', netstat('172.18             utun5              USc                 utun5')).deleteRoute(
      '172.18.0.0/16',
      'utun5',
    ),
    /route printed no result, and the route is still in the table/,
  );
});

test('macOS: parseRouteReply reads the line route.c prints for this route only', () => {
  assert.deepEqual(parseRouteReply('add net 10.5.0.0/16: gateway utun5\n', 'add', '10.5.0.0/16', 'utun5'), {
    ok: true,
  });
  assert.deepEqual(
    parseRouteReply('add net 10.5.0.0/16: gateway utun5: File exists\n', 'add', '10.5.0.0/16', 'utun5'),
    { ok: false, error: 'File exists' },
  );
  assert.deepEqual(
    parseRouteReply(
      'delete host fd00::5/128: gateway utun5: not in table\n',
      'delete',
      'fd00::5/128',
      'utun5',
    ),
    { ok: false, error: 'not in table' },
  );
  // Another device's name that starts like ours is another route.
  assert.equal(
    parseRouteReply('add net 10.5.0.0/16: gateway utun50\n', 'add', '10.5.0.0/16', 'utun5'),
    undefined,
  );
  assert.equal(
    parseRouteReply('delete net 10.5.0.0/16: gateway utun5\n', 'add', '10.5.0.0/16', 'utun5'),
    undefined,
  );
});

test('Linux: iproute2 commands, routes bound to the TUN', async () => {
  const { calls, run } = recorder();
  const net = new LinuxNet(run);
  await net.configureTun('gw0', { local: '10.57.0.1', peer: '10.57.0.2', mtu: 1420 });
  await net.addRoute('172.18.0.0/16', 'gw0');
  await net.deleteRoute('fd00:1::/64', 'gw0');
  assert.deepEqual(calls, [
    'ip -4 addr flush dev gw0',
    'ip -4 addr replace 10.57.0.1 peer 10.57.0.2 dev gw0',
    'ip link set dev gw0 addrgenmode none',
    'ip link set dev gw0 mtu 1420 up',
    'ip -4 route replace 172.18.0.0/16 dev gw0',
    'ip -6 route del fd00:1::/64 dev gw0',
  ]);
});

test('Linux: a kernel that refuses addrgenmode (no IPv6) still gets its tunnel addressed and up', async () => {
  const calls: string[] = [];
  const net = new LinuxNet((cmd, args) => {
    calls.push([cmd, ...args].join(' '));
    if (args.includes('addrgenmode'))
      return Promise.reject(new CommandError(cmd, args, 'Error: IPv6 is disabled on this device.', 2));
    return Promise.resolve('');
  });
  await net.configureTun('gw0', { local: '10.57.0.1', peer: '10.57.0.2', mtu: 1420 });
  assert.equal(calls.at(-1), 'ip link set dev gw0 mtu 1420 up');
  // Anything else (the runner itself broke) is not swallowed.
  const broken = new LinuxNet((_cmd, args) =>
    args.includes('addrgenmode') ? Promise.reject(new Error('spawn ip ENOENT')) : Promise.resolve(''),
  );
  await assert.rejects(
    broken.configureTun('gw0', { local: '10.57.0.1', peer: '10.57.0.2', mtu: 1420 }),
    /ENOENT/,
  );
});

test('Linux: blackhole, unreachable, prohibit and throw routes are host routes too, and conflict', async () => {
  // `ip -j -4 route show table all` as this kernel printed it for such routes (a throw in a policy table).
  const v4 = JSON.stringify([
    { type: 'throw', dst: '10.23.0.0/16', table: '100', flags: [] },
    { type: 'blackhole', dst: '10.20.0.0/16', flags: [] },
    { type: 'unreachable', dst: '10.21.0.0/16', flags: [] },
    { type: 'prohibit', dst: '10.22.0.0/16', flags: [] },
    { dst: '192.168.1.0/24', dev: 'eth0', protocol: 'kernel', scope: 'link', flags: [] },
    { type: 'local', dst: '127.0.0.1', dev: 'lo', table: 'local', flags: [] },
    { type: 'broadcast', dst: '192.168.1.255', dev: 'eth0', table: 'local', flags: [] },
    { type: 'multicast', dst: '224.0.0.0/4', dev: 'eth0', flags: [] },
  ]);
  const net = new LinuxNet((_cmd, args) => Promise.resolve(args.includes('-4') ? v4 : '[]'));
  const routes = await net.listRoutes();
  assert.deepEqual(routes, [
    { destination: '10.23.0.0/16', device: 'throw' },
    { destination: '10.20.0.0/16', device: 'blackhole' },
    { destination: '10.21.0.0/16', device: 'unreachable' },
    { destination: '10.22.0.0/16', device: 'prohibit' },
    { destination: '192.168.1.0/24', device: 'eth0' },
  ]);
  // A Docker network on a kill switch's blackhole is not routed over it (ip route replace would take it).
  const plan = planRoutes({
    networks: [{ id: 'n', name: 'vpnlike', subnets: ['10.20.0.0/16'] }],
    settings: { routeNewNetworks: true, networks: {} },
    tunnelSubnet: '10.57.0.0/30',
    device: 'gw0',
    hostRoutes: routes,
  });
  assert.equal(plan.networks[0]?.routed, false);
  assert.match(plan.networks[0]?.conflict ?? '', /already routes 10\.20\.0\.0\/16 via blackhole/);
});

/**
 * One `netstat -rn` row as netstat's route.c prints it with -n: destination and gateway "%-*s " (18 wide for
 * IPv4, 39 for IPv6), flags "%-10.10s ", the interface "%14.14s", the expiry " %6s".
 */
function netstatRow(v6: boolean, dst: string, gw: string, flags: string, netif: string, expire = ''): string {
  const w = v6 ? 39 : 18;
  return `${dst.padEnd(w)} ${gw.padEnd(w)} ${flags.slice(0, 10).padEnd(10)} ${netif.padStart(14)} ${expire.padStart(6)}`;
}

test("macOS: netstat -rn's destinations, in each form netstat prints them, become CIDRs", () => {
  // netstat's netname() drops an IPv4 network's trailing zero octets and domask() prints "/len" only when the
  // mask is not the address's classful one: 10.0.0.0/8 is "10", never "10/8". wg-quick's full-tunnel halves
  // (0/1, 128.0/1, ::/1, 8000::/1) and a split-tunnel VPN route are on utun3, Gangway's own routes on utun5.
  const v4 = [
    netstatRow(false, 'default', '192.168.1.1', 'UGScg', 'en0'),
    netstatRow(false, '0/1', 'utun3', 'USc', 'utun3'),
    netstatRow(false, '10', 'utun3', 'USc', 'utun3'),
    netstatRow(false, '10.5/16', 'utun5', 'USc', 'utun5'),
    netstatRow(false, '127', '127.0.0.1', 'UCS', 'lo0'),
    netstatRow(false, '127.0.0.1', '127.0.0.1', 'UH', 'lo0'),
    netstatRow(false, '128.0/1', 'utun3', 'USc', 'utun3'),
    netstatRow(false, '169.254', 'link#6', 'UCS', 'en0', '!'),
    netstatRow(false, '172.16/12', '10.8.0.1', 'UGSc', 'utun3'),
    netstatRow(false, '172.18', 'utun5', 'USc', 'utun5'),
    netstatRow(false, '192.168.1', 'link#6', 'UCS', 'en0', '!'),
    netstatRow(false, '192.168.1.1/32', 'link#6', 'UCS', 'en0', '!'),
    netstatRow(false, '192.168.1.1', '44:d9:e7:12:34:56', 'UHLWIir', 'en0', '1187'),
    netstatRow(false, '224.0.0/4', 'link#6', 'UmCS', 'en0', '!'),
    netstatRow(false, '255.255.255.255/32', 'link#6', 'UCS', 'en0', '!'),
  ];
  const v6 = [
    netstatRow(true, 'default', 'fe80::%utun0', 'UGcIg', 'utun0'),
    netstatRow(true, '::/1', 'utun3', 'USc', 'utun3'),
    netstatRow(true, '::1', '::1', 'UHL', 'lo0'),
    netstatRow(true, '8000::/1', 'utun3', 'USc', 'utun3'),
    netstatRow(true, 'fd00:1::/64', 'utun5', 'USc', 'utun5'),
    netstatRow(true, 'fe80::%lo0/64', 'fe80::1%lo0', 'UcI', 'lo0'),
    netstatRow(true, 'fe80::1%lo0', 'link#1', 'UHLI', 'lo0'),
  ];
  const out = [
    'Routing tables',
    '',
    'Internet:',
    'Destination        Gateway            Flags               Netif Expire',
    ...v4,
    '',
    'Internet6:',
    `${'Destination'.padEnd(39)} ${'Gateway'.padEnd(39)} Flags               Netif Expire`,
    ...v6,
    '',
  ].join('\n');
  const routes = parseNetstat(out);
  assert.deepEqual(routes, [
    { destination: '0.0.0.0/0', device: 'en0' },
    { destination: '0.0.0.0/1', device: 'utun3' },
    { destination: '10.0.0.0/8', device: 'utun3' },
    { destination: '10.5.0.0/16', device: 'utun5' },
    { destination: '127.0.0.0/8', device: 'lo0' },
    { destination: '127.0.0.1/32', device: 'lo0' },
    { destination: '128.0.0.0/1', device: 'utun3' },
    { destination: '169.254.0.0/16', device: 'en0' },
    { destination: '172.16.0.0/12', device: 'utun3' },
    { destination: '172.18.0.0/16', device: 'utun5' },
    { destination: '192.168.1.0/24', device: 'en0' },
    { destination: '192.168.1.1/32', device: 'en0' },
    { destination: '192.168.1.1/32', device: 'en0' },
    { destination: '224.0.0.0/4', device: 'en0' },
    { destination: '255.255.255.255/32', device: 'en0' },
    { destination: '::/0', device: 'utun0' },
    { destination: '::/1', device: 'utun3' },
    { destination: '::1/128', device: 'lo0' },
    { destination: '8000::/1', device: 'utun3' },
    { destination: 'fd00:1::/64', device: 'utun5' },
    { destination: 'fe80::/64', device: 'lo0' },
    { destination: 'fe80::1/128', device: 'lo0' },
  ]);
  // Planned on that table: a container subnet outside the split-tunnel route is routed although the
  // full-tunnel VPN's halves overlap it; one inside 172.16/12 is not.
  const plan = planRoutes({
    networks: [
      { id: 'a', name: 'app', subnets: ['192.168.32.0/20'] },
      { id: 'b', name: 'corp', subnets: ['172.20.0.0/16'] },
    ],
    settings: { routeNewNetworks: true, networks: {} },
    tunnelSubnet: '10.57.0.0/30',
    device: 'utun5',
    hostRoutes: routes,
  });
  assert.deepEqual(plan.routes, ['192.168.32.0/20']);
  assert.match(plan.networks[1]?.conflict ?? '', /inside the host route 172\.16\.0\.0\/12 via utun3/);
});

test('the factory refuses platforms it does not support, with a clear message', () => {
  assert.throws(() => createNetPlatform(undefined, 'win32'), /does not support win32/);
  assert.ok(createNetPlatform(undefined, 'linux') instanceof LinuxNet);
});

test('link state: each platform asks its own tool and parses its answer', async () => {
  const asked: string[] = [];
  const answer = (out: string) => (cmd: string, args: readonly string[]) => {
    asked.push([cmd, ...args].join(' '));
    return Promise.resolve(out);
  };
  const linux = new LinuxNet(answer('[{"ifname":"gw0","flags":["POINTOPOINT","UP"],"operstate":"UNKNOWN"}]'));
  assert.deepEqual(await linux.linkState('gw0'), {
    up: true,
    detail: 'up (flags POINTOPOINT,UP, operstate UNKNOWN)',
  });
  const mac = new DarwinNet(answer('utun5: flags=8050<POINTOPOINT,RUNNING,MULTICAST> mtu 1400'));
  assert.deepEqual(await mac.linkState('utun5'), {
    up: false,
    detail: 'down (flags POINTOPOINT,RUNNING,MULTICAST)',
  });
  assert.deepEqual(asked, ['ip -j link show dev gw0', 'ifconfig utun5']);
});

test('IPv6 tunnel address and routes: macOS ifconfig inet6 / route -inet6 on the utun (argv only)', async () => {
  const { calls, run } = recorder();
  const net = new DarwinNet(run);
  await net.configureTun6('utun5', { local: 'fd57:6177::1', prefix: 64 });
  await net.addRoute('fd42:20::/64', 'utun5');
  await net.deleteRoute('fd42:20::/64', 'utun5');
  assert.deepEqual(calls, [
    'ifconfig utun5 inet6 fd57:6177::1 prefixlen 64',
    'route -n add -inet6 fd42:20::/64 -interface utun5',
    'netstat -rn',
    'route -n delete -inet6 fd42:20::/64 -interface utun5',
  ]);
});

test('IPv6 tunnel address and routes: Linux ip -6 (address without DAD, routes on the TUN)', async () => {
  const { calls, run } = recorder();
  const net = new LinuxNet(run);
  await net.configureTun6('gw0', { local: 'fd57:6177::1', prefix: 64 });
  await net.addRoute('fd42:20::/64', 'gw0');
  assert.deepEqual(calls, [
    'ip -6 addr flush dev gw0 scope global',
    'ip -6 addr replace fd57:6177::1/64 dev gw0 nodad',
    'ip -6 route replace fd42:20::/64 dev gw0',
  ]);
});
