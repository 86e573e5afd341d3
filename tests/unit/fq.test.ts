// The TUN -> UDP thread's FQ-CoDel (native/src/fq.c), compiled with a small driver (tests/fixtures/
// fq-driver.c) and fed packets (an id, a flow hash, a length, the time it was queued) and dequeues: the
// order it sends them in, what it drops, and the flow hash of real packet headers.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, test } from 'node:test';

import { buildCDriver, type CDriver } from '../fixtures/c-driver';
import { ipv4Icmp, ipv4Udp, ipv6Icmp, ipv6Udp } from '../fixtures/ip-packets';

let built: CDriver;

before(() => {
  built = buildCDriver('fq-driver', ['fq.c', 'aqm.c']);
});
after(() => built.remove());

const BULK = 1400;
const SMALL = 84; // a ping

/** Runs the commands through a fresh FQ: one answer line each. */
function drive(commands: string[], slots = 256, quantum = 2 * BULK): string[] {
  const out = execFileSync(built.path, [String(slots), String(quantum)], {
    input: commands.join('\n') + '\n',
    encoding: 'utf8',
  });
  const lines = out.trim().split('\n');
  assert.equal(lines.length, commands.length);
  return lines;
}

const enq = (id: number, hash: number, len: number, nowUs = 0) => `e ${id} ${hash} ${len} ${nowUs}`;
const deq = (n: number): string[] => Array.from({ length: n }, () => 'd 0');
/** The ids a run of dequeues returned ('-' when empty). */
const sent = (lines: string[]) =>
  lines.filter((l) => !/^(ok|full|drop \d+)$/.test(l)).map((l) => l.split(' ')[0]!);

test("one flow's packets leave in the order they came", () => {
  const cmds = [...Array.from({ length: 20 }, (_, i) => enq(i, 7, BULK)), ...deq(21)];
  assert.deepEqual(sent(drive(cmds)), [...Array.from({ length: 20 }, (_, i) => String(i)), '-']);
});

test('a sparse flow (a ping) goes before the backlog of a bulk flow', () => {
  const cmds = [
    ...Array.from({ length: 30 }, (_, i) => enq(i, 1, BULK)),
    ...deq(5), // the bulk flow is under way (and has used its first quantum)
    enq(100, 2, SMALL),
    'd 0',
    'd 0',
  ];
  assert.deepEqual(sent(drive(cmds)), ['0', '1', '2', '3', '4', '100', '5']);
});

test('two bulk flows take turns, a quantum (two packets here) each', () => {
  const cmds = [
    ...Array.from({ length: 10 }, (_, i) => enq(i, 1, BULK)),
    ...Array.from({ length: 10 }, (_, i) => enq(100 + i, 2, BULK)),
    ...deq(20),
  ];
  const order = sent(drive(cmds)).map((id) => (Number(id) >= 100 ? 'B' : 'A'));
  assert.equal(order.join(''), 'AABBAABBAABBAABBAABB');
});

test('a flow that empties while new goes behind the old flows: one packet at a time does not keep it first', () => {
  // B (bulk, ids 0-9) has had its first turn; then G sends one small packet, is sent, and is found empty, four
  // times. RFC 8290: G, emptied while new, moves behind B on the old list, so its next packet waits for B's
  // turn (B3 before G1); left off the lists instead, it would come back new each time, ahead of B.
  const cmds = [...Array.from({ length: 10 }, (_, i) => enq(i, 7, BULK)), ...deq(2)];
  for (let i = 0; i < 4; i++) cmds.push(enq(100 + i, 9, SMALL), ...deq(2));
  const order = sent(drive(cmds)).map((id) => (Number(id) >= 100 ? `G${Number(id) - 100}` : `B${id}`));
  assert.deepEqual(order, ['B0', 'B1', 'G0', 'B2', 'B3', 'G1', 'G2', 'B4', 'G3', 'B5']);
});

test('CoDel per flow: a standing bulk queue is dropped from, the ping flow beside it never', () => {
  // 500 ms: every 100 µs one bulk packet of flow 1 is sent after waiting 8 ms (above the 5 ms target); every
  // 1 ms a ping of its own flow waits as long.
  const cmds: string[] = [];
  let id = 0;
  const pings = new Set<string>();
  for (let t = 0; t < 500_000; t += 100) {
    if (t % 1000 === 0) {
      pings.add(String(id));
      cmds.push(enq(id++, 1000 + t, SMALL, t));
    }
    cmds.push(enq(id++, 1, BULK, t), `d ${t + 8000}`);
  }
  const lines = drive(cmds, 4096, 2 * BULK);
  const out = sent(lines);
  const dropped = Number(lines.at(-1)!.split(' ')[1]);
  // The first drop one 100 ms interval in, then 100 / sqrt(n) ms apart: 5 by 400 ms.
  assert.ok(dropped >= 4 && dropped <= 8, `CoDel dropped ${dropped} bulk packets`);
  const delivered = new Set(out);
  for (const p of pings) assert.ok(delivered.has(p), `ping ${p} was not dropped`);
});

test('a full pool takes no more packets, and a dequeue frees a slot: DRR order across new flows', () => {
  const cmds = [
    ...Array.from({ length: 5 }, (_, i) => enq(i, 1, BULK)),
    ...Array.from({ length: 2 }, (_, i) => enq(10 + i, 2, BULK)),
    enq(20, 3, SMALL), // the last of the 8 slots
    enq(21, 4, SMALL),
    'd 0',
    enq(21, 4, SMALL),
    ...deq(9),
  ];
  const lines = drive(cmds, 8);
  assert.deepEqual(lines.slice(7, 9), ['ok', 'full']);
  assert.equal(lines[10], 'ok');
  // New flows in the order they came, each for a quantum (two bulk packets); flow 1 then finishes as an old
  // flow.
  assert.deepEqual(sent(lines), ['0', '1', '10', '11', '20', '21', '2', '3', '4', '-']);
});

test('making room in a full pool: the flow with the most bytes loses its oldest packet, a ping nothing', () => {
  const make = (id: number, hash: number, len: number) => `E ${id} ${hash} ${len} 0`;
  const cmds = [
    ...Array.from({ length: 5 }, (_, i) => make(i, 1, BULK)), // flow 1: 7000 bytes
    ...Array.from({ length: 2 }, (_, i) => make(10 + i, 2, BULK)), // flow 2: 2800 bytes
    make(20, 3, SMALL), // the last of the 8 slots
    make(21, 4, SMALL),
    make(22, 4, SMALL),
    make(23, 5, BULK),
    ...deq(9),
  ];
  const lines = drive(cmds, 8);
  // Flow 1 stays the fattest (7000, 5600, then 4200 bytes against 2800).
  assert.deepEqual(lines.slice(7, 11), ['ok', 'drop 0', 'drop 1', 'drop 2']);
  assert.deepEqual(sent(lines), ['3', '4', '10', '11', '20', '21', '22', '23', '-']);
});

test('making room in a full pool: the fattest flow is found on the old list too, after its turn', () => {
  const make = (id: number, hash: number, len: number) => `E ${id} ${hash} ${len} 0`;
  const cmds = [
    ...Array.from({ length: 6 }, (_, i) => make(i, 1, BULK)), // flow 1: 8400 bytes
    make(10, 2, BULK),
    ...deq(3), // flow 1 sends its quantum (0, 1) and goes to the old list; flow 2 sends 10
    ...Array.from({ length: 4 }, (_, i) => make(20 + i, 3, SMALL)), // flow 3, new: the last 4 slots
    make(30, 4, BULK),
  ];
  const lines = drive(cmds, 8);
  assert.deepEqual(sent(lines.slice(7, 10)), ['0', '1', '10']);
  assert.deepEqual(lines.slice(10, 14), ['ok', 'ok', 'ok', 'ok']);
  // Flow 1 (5600 bytes, old list) is fatter than flow 3 (4 pings, new list).
  assert.equal(lines[14], 'drop 2');
});

test('the flow hash: one TCP or UDP flow hashes alike, another port or address differently', () => {
  const hex = (b: Buffer) => `h ${b.toString('hex')}`;
  const payloads = [Buffer.alloc(10, 1), Buffer.alloc(900, 2)];
  const [a1, a2, port, addr, v6a, v6b, v6port] = drive([
    ...payloads.map((p) => hex(ipv4Udp('10.0.0.1', '10.0.0.2', 4000, 53, p))),
    hex(ipv4Udp('10.0.0.1', '10.0.0.2', 4001, 53, payloads[0]!)),
    hex(ipv4Udp('10.0.0.3', '10.0.0.2', 4000, 53, payloads[0]!)),
    ...payloads.map((p) => hex(ipv6Udp('fd00::1', 'fd00::2', 4000, 53, p))),
    hex(ipv6Udp('fd00::1', 'fd00::2', 4002, 53, payloads[0]!)),
  ]);
  assert.equal(a1, a2, 'the payload is not part of the flow');
  // The two fragments of one datagram: ports in the first only.
  const first = ipv4Udp('10.0.0.1', '10.0.0.2', 4000, 53, payloads[1]!);
  first.writeUInt16BE(0x2000, 6); // more fragments, offset 0
  const second = ipv4Udp('10.0.0.1', '10.0.0.2', 0x0707, 0x0707, payloads[1]!);
  second.writeUInt16BE(0x00b9, 6); // offset 1480 bytes: its first bytes are payload
  const [f1, f2] = drive([hex(first), hex(second)]);
  assert.equal(f1, f2, "a datagram's fragments share a queue");
  assert.equal(v6a, v6b);
  for (const other of [port, addr]) assert.notEqual(other, a1);
  assert.notEqual(v6port, v6a);
});

test("the flow hash: a ping's echoes share a queue (by identifier, not checksum); another ping's differ", () => {
  const hex = (b: Buffer) => `h ${b.toString('hex')}`;
  const v4 = (seq: number, id: number) => hex(ipv4Icmp('10.0.0.1', '10.0.0.2', seq, id));
  const v6 = (seq: number, id: number) => hex(ipv6Icmp('fd00::1', 'fd00::2', seq, id));
  const seqs = Array.from({ length: 16 }, (_, i) => i + 1);
  // Sixteen echoes with 16 checksums: by checksum they would scatter over the queues.
  const one = drive([...seqs.map((s) => v4(s, 0x1234)), ...seqs.map((s) => v6(s, 0x1234))]);
  assert.equal(new Set(one.slice(0, 16)).size, 1, 'IPv4 echoes of one ping: one flow');
  assert.equal(new Set(one.slice(16)).size, 1, 'ICMPv6 echoes of one ping: one flow');
  const sum = (seq: number) => ipv4Icmp('10.0.0.1', '10.0.0.2', seq, 1).readUInt16BE(22);
  assert.notEqual(sum(1), sum(2), 'the checksums differ');
  // Other pings (identifiers) spread: 16 sessions over nearly as many of the 1024 queues (FQ_FLOWS).
  const ids = drive(seqs.map((id) => v4(1, id * 7919)));
  assert.ok(new Set(ids.map((h) => Number(h) & 1023)).size >= 12, `16 identifiers in ${ids.join(',')}`);
});
