// The agent's IPv6 addressing of its TUN: the commands it runs, and when IPv6 stays off.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../common/log';
import type { Runner } from '../../shared/exec';
import { configureTun6, ipv6Forwarding, ipv6Of } from '../../vm-agent/tun-ipv6';

const quiet = createLogger('test', () => undefined);
const base = {
  seq: 1,
  mtu: 1420,
  hostAddress: '10.57.0.1',
  agentAddress: '10.57.0.2',
  routes: [],
  joins: [],
};

test('IPv6 is on only when the configuration carries both addresses and the MTU reaches 1280', () => {
  assert.equal(ipv6Of(base, quiet), undefined);
  const v6 = { ...base, hostAddress6: 'fd57:6177::1', agentAddress6: 'fd57:6177::2' };
  assert.deepEqual(ipv6Of(v6, quiet), { local: 'fd57:6177::2', peer: 'fd57:6177::1' });
  assert.equal(ipv6Of({ ...v6, mtu: 1279 }, quiet), undefined);
});

test('the TUN gets the address with the host as peer after its old global ones go; off leaves none', async () => {
  const calls: string[] = [];
  const run: Runner = (cmd, args) => {
    calls.push([cmd, ...args].join(' '));
    return Promise.resolve('');
  };
  await configureTun6(run, 'gwa0', { local: 'fd57:6177::2', peer: 'fd57:6177::1' });
  await configureTun6(run, 'gwa0', undefined);
  assert.deepEqual(calls, [
    'ip -6 addr flush dev gwa0 scope global',
    'ip -6 addr replace fd57:6177::2 peer fd57:6177::1 dev gwa0 nodad',
    'ip -6 addr flush dev gwa0 scope global',
  ]);
});

test('IPv6 forwarding is read, never written; a kernel without IPv6 says undefined', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gangway-fwd6-'));
  try {
    const file = join(dir, 'forwarding');
    writeFileSync(file, '0\n');
    assert.equal(ipv6Forwarding(file), false);
    writeFileSync(file, '1\n');
    assert.equal(ipv6Forwarding(file), true);
    assert.equal(ipv6Forwarding(join(dir, 'missing')), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
