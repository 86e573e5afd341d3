// The tunnel's parameters (issue 14): the IPv6 ends come from tunnelSubnet6 while the inner MTU is ≥ 1280;
// otherwise IPv6 is off and the reason names the way out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ipv6Refusal, planeParams } from '../../helper/data-plane';
import { tunnelConfigSchema } from '../../common/tunnel-config';

const base = { tunnelSubnet: '10.57.0.0/30', tunnelSubnet6: 'fd57:6177::/64', port: 2611, mtu: 1420 };

test('IPv6 on: the first two addresses of the IPv6 tunnel subnet, normalised', () => {
  const p = planeParams({ ...base, tunnelSubnet6: 'fd57:6177:0::/64' });
  assert.equal(p.subnet6, 'fd57:6177::/64');
  assert.equal(p.hostAddress6, 'fd57:6177::1');
  assert.equal(p.agentAddress6, 'fd57:6177::2');
  assert.equal(p.ipv6Off, null);
  // What the helper sends is what the agent's contract accepts.
  const cfg = {
    seq: 1,
    mtu: p.mtu,
    hostAddress: p.hostAddress,
    agentAddress: p.agentAddress,
    hostAddress6: p.hostAddress6,
    agentAddress6: p.agentAddress6,
    routes: ['fd42:20::/64'],
  };
  assert.equal(tunnelConfigSchema.safeParse(cfg).success, true);
  assert.equal(planeParams({ ...base, mtu: 1280 }).hostAddress6, 'fd57:6177::1');
});

test('IPv6 off below MTU 1280, or when tunnelSubnet6 is off, with the way out', () => {
  const low = planeParams({ ...base, mtu: 1279 });
  assert.deepEqual([low.subnet6, low.hostAddress6, low.agentAddress6], [null, null, null]);
  assert.match(
    low.ipv6Off ?? '',
    /inner MTU 1279 is below IPv6's minimum of 1280.*gangway settings set mtu=1280/,
  );
  const off = planeParams({ ...base, tunnelSubnet6: null });
  assert.equal(off.hostAddress6, null);
  assert.match(off.ipv6Off ?? '', /tunnelSubnet6 is off.*gangway settings set tunnelSubnet6=/);
  assert.equal(ipv6Refusal(base), null);
});
