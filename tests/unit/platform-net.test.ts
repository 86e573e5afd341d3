// The platform files are tested on the exact commands they produce; the Linux one also runs for real in
// the integration tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DarwinNet, parseNetstat } from '../../shared/platform/net-darwin';
import { CommandError } from '../../shared/exec';
import { LinuxNet } from '../../shared/platform/net-linux';
import { createNetPlatform } from '../../shared/platform/platform';
import { planRoutes } from '../../helper/routes/route-planner';

function recorder() {
  const calls: string[] = [];
  const run = (cmd: string, args: readonly string[]) => {
    calls.push([cmd, ...args].join(' '));
    return Promise.resolve('');
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
    'route -q -n add -inet 172.18.0.0/16 -interface utun5',
    'route -q -n add -inet6 fd00:1::/64 -interface utun5',
    'route -q -n delete -inet 172.18.0.0/16 -interface utun5',
  ]);
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

test("macOS: netstat -rn's abbreviated destinations become CIDRs", () => {
  const out = `Routing tables

Internet:
Destination        Gateway            Flags        Netif Expire
default            192.168.1.1        UGScg          en0
10/8               link#20            UCS          utun3
127                127.0.0.1          UCS            lo0
192.168.1          link#6             UCS            en0      !

Internet6:
Destination                             Gateway                         Flags         Netif Expire
default                                 fe80::%utun0                    UGcIg         utun0
fd00:1::/64                             link#21                         UCS           utun5
`;
  assert.deepEqual(parseNetstat(out), [
    { destination: '0.0.0.0/0', device: 'en0' },
    { destination: '10.0.0.0/8', device: 'utun3' },
    { destination: '127.0.0.0/8', device: 'lo0' },
    { destination: '192.168.1.0/24', device: 'en0' },
    { destination: '::/0', device: 'utun0' },
    { destination: 'fd00:1::/64', device: 'utun5' },
  ]);
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
    'route -q -n add -inet6 fd42:20::/64 -interface utun5',
    'route -q -n delete -inet6 fd42:20::/64 -interface utun5',
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
