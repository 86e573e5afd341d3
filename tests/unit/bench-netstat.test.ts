// /proc/net/snmp parsing, on a real sample (bench/samples/proc-net-snmp.txt).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSnmpUdp, udpDelta } from '../../bench/netstat';

const sample = (f: string) => readFileSync(join(__dirname, '..', '..', '..', 'bench', 'samples', f), 'utf8');

test('the Udp line pair, not UdpLite', () => {
  const c = parseSnmpUdp(sample('proc-net-snmp.txt'));
  assert.equal(c.InDatagrams, 65);
  assert.equal(c.OutDatagrams, 66);
  assert.equal(c.RcvbufErrors, 0);
  assert.equal(c.MemErrors, 0);
  assert.equal(Object.keys(c).length, 9);
  assert.deepEqual(parseSnmpUdp(''), {});
});

test('deltas of the drop counters', () => {
  const before = { InDatagrams: 10, RcvbufErrors: 1, InErrors: 1, NoPorts: 5 };
  const after = { InDatagrams: 1010, RcvbufErrors: 40, InErrors: 40, NoPorts: 9 };
  assert.deepEqual(udpDelta(before, after), { InDatagrams: 1000, InErrors: 39, RcvbufErrors: 39 });
});
