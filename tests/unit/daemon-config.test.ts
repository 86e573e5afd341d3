import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError, defaultConfig, parseDaemonArgs, type DaemonConfig } from '../../helper/config';

const base = defaultConfig('linux');

test('defaults, then the config file, then flags', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-cfg-'));
  const file = join(dir, 'c.json');
  writeFileSync(file, JSON.stringify({ port: 3000, mtu: 1400, routes: ['172.20.0.0/16'] }));
  const cfg = parseDaemonArgs(
    ['--config', file, '--port', '4000', '--route', '172.18.0.0/16', '--route', '172.19.0.0/16'],
    base,
  );
  assert.ok(cfg !== 'help');
  assert.equal(cfg.port, 4000);
  assert.equal(cfg.mtu, 1400);
  assert.deepEqual(cfg.routes, ['172.18.0.0/16', '172.19.0.0/16']);
  assert.equal(cfg.bind, '127.0.0.1');
  assert.ok(cfg.mtu <= 1420 && base.mtu <= 1420);
});

test('bad values are usage errors that name the field', () => {
  const bad: [string[], RegExp][] = [
    [['--port', '70000'], /port/],
    [['--port', 'abc'], /--port takes a whole number/],
    [['--route', '172.18.0.1/16'], /routes\.0: not a CIDR/],
    [['--route', '$(reboot)'], /routes\.0/],
    [['--bind', 'localhost; rm'], /bind/],
    [['--tunnel-subnet', '10.0.0.0/31'], /tunnelSubnet/],
    [['--tunnel-subnet', '1.1.2.0/30'], /tunnelSubnet: the tunnel subnet must lie in a private range/],
    [['--dns-suffix', 'co.uk'], /dnsSuffix: "co\.uk" is a public suffix/],
    [['--tun-name', 'a'.repeat(16)], /tunName/],
    [['--frobnicate'], /Unknown option/],
    [['--socket-owner', 'alice'], /--socket-owner takes UID:GID/],
  ];
  for (const [args, re] of bad)
    assert.throws(
      () => parseDaemonArgs(args, base),
      (e: Error) => e instanceof UsageError && re.test(e.message),
      args.join(' '),
    );
});

test('a config file that is not JSON, or has unknown keys, is refused clearly', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-cfg-'));
  writeFileSync(join(dir, 'bad.json'), '{ port: ');
  assert.throws(() => parseDaemonArgs(['--config', join(dir, 'bad.json')], base), /not valid JSON/);
  writeFileSync(join(dir, 'unknown.json'), '{"prot": 1}');
  assert.throws(() => parseDaemonArgs(['--config', join(dir, 'unknown.json')], base), /prot/);
});

test('--socket-owner names the user who may use the control socket', () => {
  const cfg = parseDaemonArgs(['--socket-owner', '1000:1000'], base);
  assert.ok(cfg !== 'help');
  assert.deepEqual(cfg.socketOwner, { uid: 1000, gid: 1000 });
});

test('--engine takes a known engine kind; --agent-dial is unset unless given (the engine decides)', () => {
  const cfg = parseDaemonArgs(['--engine', 'orbstack'], base);
  assert.ok(cfg !== 'help');
  assert.equal(cfg.engine, 'orbstack');
  assert.equal(cfg.agentDial, undefined);
  const dial = parseDaemonArgs(['--agent-dial', 'host.lima.internal'], base);
  assert.ok(dial !== 'help');
  assert.equal(dial.agentDial, 'host.lima.internal');
  assert.throws(() => parseDaemonArgs(['--engine', 'vmware'], base), UsageError);
});

test('--tunnel-subnet6: unique-local by default, "off" turns IPv6 off, a global subnet is refused', () => {
  assert.equal(base.tunnelSubnet6, 'fd57:6177::/64');
  const off = parseDaemonArgs(['--tunnel-subnet6', 'off'], base);
  assert.ok(off !== 'help');
  assert.equal(off.tunnelSubnet6, null);
  const own = parseDaemonArgs(['--tunnel-subnet6', 'fd00:57::/120'], base);
  assert.ok(own !== 'help');
  assert.equal(own.tunnelSubnet6, 'fd00:57::/120');
  assert.throws(
    () => parseDaemonArgs(['--tunnel-subnet6', '2001:db8::/64'], base),
    (e: Error) =>
      e instanceof UsageError &&
      /tunnelSubnet6: the IPv6 tunnel subnet must lie in the unique-local range fc00::\/7/.test(e.message),
  );
});

test('--queues: unset sizes the pump to the CPUs; 1 to 8 is taken; anything else names the field', () => {
  assert.equal(base.queues, undefined);
  const one = parseDaemonArgs(['--queues', '1'], base);
  assert.ok(one !== 'help');
  assert.equal(one.queues, 1);
  assert.throws(() => parseDaemonArgs(['--queues', '9'], base), /queues: .*8/);
  assert.throws(() => parseDaemonArgs(['--queues', '0'], base), /queues: .*1/);
  assert.throws(() => parseDaemonArgs(['--queues', 'many'], base), /--queues takes a whole number/);
  // macOS utun has one queue: more is refused before the pump would refuse it, from a config file too.
  assert.throws(
    () => parseDaemonArgs(['--queues', '2'], base, 'darwin'),
    /--queues 2: the pump has one queue on darwin/,
  );
  assert.equal((parseDaemonArgs(['--queues', '1'], base, 'darwin') as DaemonConfig).queues, 1);
  assert.throws(() => parseDaemonArgs([], { ...base, queues: 4 }, 'darwin'), /one queue on darwin/);
  assert.equal((parseDaemonArgs(['--queues', '2'], base, 'linux') as DaemonConfig).queues, 2);
});
