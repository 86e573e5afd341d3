// Parsing iputils ping output captured in the rig (bench/samples/ping-*.txt).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePing, pingArgs, summarizePing } from '../../bench/ping';

const sample = (f: string) => readFileSync(join(__dirname, '..', '..', '..', 'bench', 'samples', f), 'utf8');
const close = (a: number, b: number) => Math.abs(a - b) < 1e-9;

test('every reply RTT is parsed, with the summary counts', () => {
  const p = parsePing(sample('ping-20.txt'));
  assert.equal(p.rtts.length, 20);
  assert.equal(p.rtts[0], 0.324);
  assert.equal(p.rtts[1], 0.089);
  assert.equal(p.transmitted, 20);
  assert.equal(p.received, 20);
  const s = summarizePing(p);
  assert.equal(s.lossPct, 0);
  assert.equal(s.maxMs, 0.324);
  assert.ok(close(s.avgMs, 0.08775), String(s.avgMs)); // ping's own summary says avg 0.087
  assert.ok(close(s.p50Ms, 0.0695), String(s.p50Ms));
  assert.ok(close(s.p99Ms, 0.286), String(s.p99Ms));
});

test('lost replies show as loss; RTTs are only the replies that came', () => {
  const p = parsePing(sample('ping-loss.txt'));
  assert.equal(p.rtts.length, 20);
  assert.equal(p.transmitted, 37);
  assert.equal(p.received, 20);
  const s = summarizePing(p);
  assert.ok(close(s.lossPct, (100 * 17) / 37));
  assert.ok(close(s.p50Ms, 0.0765), String(s.p50Ms));
});

test('an unreachable target gives no RTTs, not an error', () => {
  const p = parsePing(sample('ping-unreachable.txt'));
  assert.deepEqual(p.rtts, []);
  const s = summarizePing(p);
  assert.equal(s.count, 0);
  assert.ok(Number.isNaN(s.p50Ms));
});

test('duplicate replies are not counted twice', () => {
  const out = [
    '64 bytes from 10.0.0.2: icmp_seq=1 ttl=64 time=0.101 ms',
    '64 bytes from 10.0.0.2: icmp_seq=1 ttl=64 time=0.205 ms (DUP!)',
    '64 bytes from 10.0.0.2: icmp_seq=2 ttl=64 time=1.50 ms',
  ].join('\n');
  assert.deepEqual(parsePing(out).rtts, [0.101, 1.5]);
});

test('ping arguments: numeric, interval, exact count, bounded wait', () => {
  assert.deepEqual(pingArgs('172.30.9.10', 200, 0.01), [
    '-n',
    '-i',
    '0.01',
    '-c',
    '200',
    '-W',
    '1',
    '172.30.9.10',
  ]);
});

test('IPv6 replies are parsed too (the address holds colons)', () => {
  const out = [
    'PING fd42:30:9::10 (fd42:30:9::10) 56 data bytes',
    '64 bytes from fd42:30:9::10: icmp_seq=1 ttl=63 time=0.081 ms',
    '64 bytes from fd42:30:9::10: icmp_seq=2 ttl=63 time=0.120 ms',
    '',
    '2 packets transmitted, 2 received, 0% packet loss, time 1001ms',
  ].join('\n');
  assert.deepEqual(parsePing(out), { rtts: [0.081, 0.12], transmitted: 2, received: 2 });
});
