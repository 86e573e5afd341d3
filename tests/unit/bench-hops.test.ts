// bench/hops.ts: reading tcpdump's lines (plain ICMP and tunnel datagrams in hex) and splitting each echo's
// trip into segments between capture points.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseTcpdump, parseTunnelDump, segments, stays } from '../../bench/hops';

test('plain ICMP lines: time, kind, sequence number', () => {
  const text = [
    '1764608000.000100 IP 10.57.0.1 > 172.30.11.10: ICMP echo request, id 7, seq 1, length 64',
    '1764608000.000350 IP 172.30.11.10 > 10.57.0.1: ICMP echo reply, id 7, seq 1, length 64',
    'tcpdump: listening on gw0',
  ].join('\n');
  assert.deepEqual(parseTcpdump(text), [
    { t: 1764608000.0001, kind: 'request', seq: 1 },
    { t: 1764608000.00035, kind: 'reply', seq: 1 },
  ]);
});

test('tunnel datagrams: the inner echo is read from the hex dump; other datagrams are skipped', () => {
  // outer IPv4/UDP, inner IPv4 (protocol 1) carrying an echo request (type 8) with sequence 0x0102.
  const outer = '4500 0070 0000 4000 4011 0000 0ac8 0b01 0ac8 0b02 ';
  const udp = 'c350 c351 005c 0000 ';
  const inner = '4500 0054 0000 4000 4001 0000 0a39 0001 ac1e 0b0a 0800 0000 0007 0102';
  const tcpInner = '4500 0054 0000 4000 4006 0000 0a39 0001 ac1e 0b0a 0800 0000 0007 0103';
  const dump = (t: string, hex: string) => {
    const words = hex.trim().split(/\s+/);
    const lines = [`${t} IP 10.200.11.1.50000 > 10.200.11.2.50001: UDP, length 84`];
    for (let i = 0; i < words.length; i += 8)
      lines.push(`\t0x${(i * 2).toString(16).padStart(4, '0')}:  ${words.slice(i, i + 8).join(' ')}`);
    return lines.join('\n');
  };
  const text = [dump('1.000010', outer + udp + inner), dump('1.000020', outer + udp + tcpInner)].join('\n');
  assert.deepEqual(parseTunnelDump(text), [{ t: 1.00001, kind: 'request', seq: 0x0102 }]);
});

test('segments: requests forward, the turn, replies backward, and the whole trip', () => {
  const hop = (name: string, req: number, rep: number) => ({
    name,
    seen: [
      { t: req, kind: 'request' as const, seq: 1 },
      { t: rep, kind: 'reply' as const, seq: 1 },
    ],
  });
  const s = segments([hop('a', 0, 0.0001), hop('b', 0.00003, 0.00008), hop('c', 0.00004, 0.00005)]);
  assert.deepEqual(
    s.map((x) => [x.name, Math.round(x.p50Us), x.count]),
    [
      ['request a → b', 30, 1],
      ['request b → c', 10, 1],
      ['turn at c', 10, 1],
      ['reply c → b', 30, 1],
      ['reply b → a', 20, 1],
      ['whole trip at a', 100, 1],
    ],
  );
});

test('stays: each echo of a kind seen at both points, from the first to the second, in either direction', () => {
  const hops = [
    {
      name: 'gw0',
      seen: [
        { t: 10.0, kind: 'request' as const, seq: 1 },
        { t: 10.5, kind: 'reply' as const, seq: 1 },
        { t: 11.0, kind: 'request' as const, seq: 2 }, // never seen at the second point
      ],
    },
    {
      name: 'veth',
      seen: [
        { t: 10.1, kind: 'request' as const, seq: 1 },
        { t: 10.4, kind: 'reply' as const, seq: 1 },
        { t: 12.0, kind: 'request' as const, seq: 3 }, // never seen at the first
      ],
    },
  ];
  assert.deepEqual(stays(hops, 0, 1, 'request'), [{ a: 10.0, b: 10.1 }]);
  assert.deepEqual(stays(hops, 1, 0, 'reply'), [{ a: 10.4, b: 10.5 }]);
  assert.deepEqual(stays(hops, 0, 1, 'reply'), [], 'a reply leaves gw0 after veth: no stay that way');
});
