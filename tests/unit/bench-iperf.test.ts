// Parsing iperf3 -J output captured in the rig (bench/samples/iperf3-*.json).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { clientArgs, parseIperfJson } from '../../bench/iperf';

const sample = (f: string) => readFileSync(join(__dirname, '..', '..', '..', 'bench', 'samples', f), 'utf8');

test('one stream: receiver throughput and bytes, sender retransmits', () => {
  const r = parseIperfJson(sample('iperf3-P1.out'));
  assert.equal(r.streams, 1);
  assert.equal(r.bitsPerSecond, 12805858697.553978);
  assert.equal(r.bytes, 1601044480);
  assert.equal(r.sentBytes, 1606025216);
  assert.equal(r.retransmits, 778);
  assert.equal(r.seconds, 1.000195);
});

test('four streams: the sum over the streams', () => {
  const r = parseIperfJson(sample('iperf3-P4.out'));
  assert.equal(r.streams, 4);
  assert.equal(r.bitsPerSecond, 21427456747.622494);
  assert.equal(r.bytes, 2682650624);
  assert.equal(r.retransmits, 4193);
});

test("a failed test throws iperf3's own message", () => {
  assert.throws(
    () => parseIperfJson(sample('iperf3-refused.out')),
    /iperf3: unable to connect to server: Connection refused/,
  );
  assert.throws(() => parseIperfJson(''), /did not print JSON/);
  assert.throws(() => parseIperfJson('{"end":{}}'), /no end.sum_received/);
});

test('client arguments', () => {
  assert.deepEqual(clientArgs('172.30.9.10', 5201, 5, 4), [
    '-c',
    '172.30.9.10',
    '-p',
    '5201',
    '-t',
    '5',
    '-P',
    '4',
    '-J',
    '--connect-timeout',
    '3000',
  ]);
  assert.deepEqual(clientArgs('172.30.9.10', 5201, 5, 1, true).slice(0, 3), ['-R', '-c', '172.30.9.10']);
  assert.deepEqual(clientArgs('172.30.9.10', 5201, 5, 1, true, 'cubic').slice(0, 4), [
    '-R',
    '-C',
    'cubic',
    '-c',
  ]);
  assert.ok(!clientArgs('172.30.9.10', 5201, 5, 1, false, undefined).includes('-C'));
});
