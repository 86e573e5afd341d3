// The configuration the agent accepts (joins of bridge pairs, checksum offload), its acknowledgement, and the
// join API's request body.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tunnelConfigSchema } from '../../common/tunnel-config';
import { joinRequestSchema, networksResponseSchema } from '../../common/api';
import {
  ACK_FILLS_CHECKSUMS,
  decodeAckBody,
  decodeKeepaliveBody,
  encodeAckBody,
  encodeKeepaliveBody,
  peerForgetsAfterMs,
} from '../../common/wire';

const base = { seq: 1, mtu: 1420, hostAddress: '10.57.0.1', agentAddress: '10.57.0.2', routes: [] };

test('joins of bridge names are accepted; absent joins (an older helper) mean none', () => {
  const joins = [
    ['br-0123456789ab', 'docker0'],
    ['my_br.1', 'x-y'],
  ];
  assert.deepEqual(tunnelConfigSchema.parse({ ...base, joins }).joins, joins);
  assert.deepEqual(tunnelConfigSchema.parse(base).joins, []);
});

test('joins with names that are not interface names, or too many pairs, are rejected', () => {
  const bad = [
    [['br-0123456789abc', 'docker0']], // 16 characters
    [['', 'docker0']],
    [['br0; reboot', 'docker0']],
    [['$(x)', 'docker0']],
    [['br0 -j DROP', 'docker0']],
    [['br0']],
    [['br0', 'br1', 'br2']],
    [[1, 'br1']],
    'br0',
    Array.from({ length: 1025 }, (_, i) => [`a${i}`, `b${i}`]),
  ];
  for (const joins of bad)
    assert.equal(tunnelConfigSchema.safeParse({ ...base, joins }).success, false, JSON.stringify(joins));
  const max = Array.from({ length: 1024 }, (_, i) => [`a${i}`, `b${i}`]);
  assert.equal(tunnelConfigSchema.safeParse({ ...base, joins: max }).success, true);
});

test('checksumOffload: a boolean, absent (an older helper, a Mac) when not offered', () => {
  assert.equal(tunnelConfigSchema.parse({ ...base, checksumOffload: true }).checksumOffload, true);
  assert.equal(tunnelConfigSchema.parse(base).checksumOffload, undefined);
  for (const v of ['true', 1, null])
    assert.equal(tunnelConfigSchema.safeParse({ ...base, checksumOffload: v }).success, false, String(v));
});

test('fields this agent does not know (a newer helper) are dropped; the ones it knows are still checked', () => {
  const newer = { ...base, joins: [['br0', 'br1']], keepaliveMaxMs: 10_000, routeMetric: 7, nat: { x: [1] } };
  assert.deepEqual(tunnelConfigSchema.parse(newer), {
    ...base,
    joins: [['br0', 'br1']],
    keepaliveMaxMs: 10_000,
  });
  for (const bad of [
    { mtu: 100 },
    { hostAddress: 'nope' },
    { joins: [['br0; reboot', 'br1']] },
    { keepaliveMaxMs: 1 },
    { hostAddress6: 'fd57::1' },
  ])
    assert.equal(tunnelConfigSchema.safeParse({ ...newer, ...bad }).success, false, JSON.stringify(bad));
});

test('CONFIG_ACK: 4 bytes from agents that were not offered checksum offload, a flags byte after it', () => {
  assert.deepEqual(encodeAckBody(7), Buffer.from([0, 0, 0, 7]));
  assert.deepEqual(decodeAckBody(encodeAckBody(7)), { seq: 7, fillsChecksums: false });
  assert.deepEqual(decodeAckBody(encodeAckBody(7, ACK_FILLS_CHECKSUMS)), { seq: 7, fillsChecksums: true });
  assert.deepEqual(decodeAckBody(encodeAckBody(7, 0)), { seq: 7, fillsChecksums: false });
  assert.deepEqual(decodeAckBody(Buffer.from([0, 0, 0, 7, 0xfe])), { seq: 7, fillsChecksums: false });
  for (const n of [0, 3]) assert.equal(decodeAckBody(Buffer.alloc(n)), undefined, `${n} bytes`);
  // A newer agent's longer acknowledgement is still one: its seq and flags are read, the rest ignored.
  assert.deepEqual(decodeAckBody(Buffer.from([0, 0, 0, 7, ACK_FILLS_CHECKSUMS, 0xaa, 0xbb])), {
    seq: 7,
    fillsChecksums: true,
  });
});

test('keepaliveMaxMs: whole milliseconds from 1 s to 60 s, absent from older helpers', () => {
  assert.equal(tunnelConfigSchema.parse({ ...base, keepaliveMaxMs: 10_000 }).keepaliveMaxMs, 10_000);
  assert.equal(tunnelConfigSchema.parse(base).keepaliveMaxMs, undefined);
  for (const v of [999, 60_001, 1.5, '10000', null, -1])
    assert.equal(tunnelConfigSchema.safeParse({ ...base, keepaliveMaxMs: v }).success, false, String(v));
});

test('a keepalive body: 4 bytes of milliseconds; none from older agents; 1-3 bytes are malformed', () => {
  assert.deepEqual(encodeKeepaliveBody(10_000), Buffer.from([0, 0, 0x27, 0x10]));
  assert.equal(decodeKeepaliveBody(encodeKeepaliveBody(4_000)), 4_000);
  assert.equal(decodeKeepaliveBody(Buffer.alloc(0)), undefined);
  for (const n of [1, 3]) assert.ok(Number.isNaN(decodeKeepaliveBody(Buffer.alloc(n))), `${n} bytes`);
  // A newer agent's longer body: its first four bytes are the interval, the rest a later version's.
  assert.equal(decodeKeepaliveBody(Buffer.concat([encodeKeepaliveBody(4_000), Buffer.from([1, 2])])), 4_000);
  // The helper keeps a silent peer 2.5 intervals, never less than its minimum.
  assert.equal(peerForgetsAfterMs(10_000), 25_000);
  assert.equal(peerForgetsAfterMs(2_000), 5_000);
  assert.equal(peerForgetsAfterMs(1_000, 3_000), 3_000);
});

test('the join request: two names and a boolean, nothing else', () => {
  assert.deepEqual(joinRequestSchema.parse({ a: 'x', b: 'y', joined: true }), {
    a: 'x',
    b: 'y',
    joined: true,
  });
  for (const body of [
    { a: 'x', b: 'y' },
    { a: '', b: 'y', joined: true },
    { a: 'x', b: 'y', joined: 'yes' },
    { a: 'x', b: 'y', joined: false, extra: 1 },
    { a: 'x'.repeat(513), b: 'y', joined: true },
    null,
  ])
    assert.equal(joinRequestSchema.safeParse(body).success, false, JSON.stringify(body));
});

test('the networks response carries the joins by name', () => {
  const r = networksResponseSchema.parse({ routeNewNetworks: true, networks: [], joins: [['a', 'b']] });
  assert.deepEqual(r.joins, [['a', 'b']]);
});

test('IPv6 tunnel addresses: optional, IPv6 only, both or neither', () => {
  const v6 = { ...base, hostAddress6: 'fd57:6177::1', agentAddress6: 'fd57:6177::2' };
  assert.equal(tunnelConfigSchema.parse(v6).agentAddress6, 'fd57:6177::2');
  assert.equal(tunnelConfigSchema.parse(base).hostAddress6, undefined);
  assert.equal(tunnelConfigSchema.safeParse({ ...base, hostAddress6: 'fd57:6177::1' }).success, false);
  assert.equal(tunnelConfigSchema.safeParse({ ...v6, agentAddress6: '10.0.0.2' }).success, false);
  assert.equal(tunnelConfigSchema.safeParse({ ...v6, hostAddress6: 'fd57::1; rm -rf /' }).success, false);
});
