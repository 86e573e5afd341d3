import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  attributeStays,
  formatSched,
  formatShare,
  parseTimehist,
  summarizeSched,
  threadClass,
} from '../../bench/sched';

// 36 turns of a real `perf sched timehist --state` during bench:hops' 4-stream load (gangway-1q): the helper
// is process 12023 and the agent 12046, each with its pump threads (gw-tun2udp-0, gw-udp2tun-0), beside
// iperf3 and ksoftirqd.
const text = readFileSync(
  join(__dirname, '..', '..', '..', 'bench', 'samples', 'perf-sched-timehist.txt'),
  'utf8',
);
const roles = new Map([
  [12023, 'helper'],
  [12046, 'agent'],
]);
const AGENT_TUN2UDP = 12053;

test('perf sched timehist: every turn of a thread is read, with how it left the CPU', () => {
  const turns = parseTimehist(text);
  assert.equal(turns.length, 36);
  // "15657.084059 [0000]  gw-tun2udp-0[12053/12046]  0.632  0.193  0.026  W"
  assert.deepEqual(
    turns.find((t) => t.tid === AGENT_TUN2UDP),
    {
      t: 15657.084059,
      cpu: 0,
      comm: 'gw-tun2udp-0',
      tid: AGENT_TUN2UDP,
      pid: 12046,
      waitMs: 0.632,
      schDelayMs: 0.193,
      runMs: 0.026,
      outState: 'W',
      queuedMs: 0.193, // no turn before it in the sample: its sch delay
    },
  );
  // A main thread prints its tid alone: it is its own process.
  const ksoftirqd = turns.find((t) => t.comm === 'ksoftirqd/0');
  assert.equal(ksoftirqd?.pid, 14);
  assert.equal(ksoftirqd?.outState, 'S');
});

test('a turn after a preemption (W) or a runnable exit (R) waited all its wait time; after sleep, its sch delay', () => {
  const mine = parseTimehist(text).filter((t) => t.tid === AGENT_TUN2UDP);
  // The sample's lines of that thread (wait, sch delay, state out): .632 .193 W, .052 0 W, .026 0 W,
  // .062 0 W, .016 0 S, .024 .002 W, .018 0 S, .088 .010 W, .107 0 S.
  assert.deepEqual(
    mine.map((t) => Math.round(t.queuedMs * 1000)),
    [193, 52, 26, 62, 16, 2, 18, 10, 107],
  );
});

test('perf sched timehist: without --state, or malformed, or with other columns', () => {
  const lines = [
    '   15106.624169 [0000]  gw-tun2udp-0[9682/9639]             0.184      0.167      0.064 ',
    '   15106.625169 [0000]  gw-tun2udp-0[9682/9639]             0.284      0.000      0.064 ',
    'garbage',
    '   15106.624169 [0000]  gw-tun2udp-0[9682/9639]  0.184  0.167  0.064  0.001  S', // a 4th time
    '   15106.624169 [0000]  a name [with] spaces[77/70]  1.000  0.500  0.250  S',
    '   15106.624169 [0000]  <idle>   0.000  0.000  0.187  I',
  ];
  const turns = parseTimehist(lines.join('\n'));
  assert.deepEqual(
    turns.map((t) => [t.comm, t.tid, t.pid, t.queuedMs, t.outState]),
    [
      ['gw-tun2udp-0', 9682, 9639, 0.167, undefined],
      ['gw-tun2udp-0', 9682, 9639, 0, undefined], // no state: a preemption's wait counts as sleep
      ['a name [with] spaces', 77, 70, 0.5, 'S'],
    ],
  );
});

test('thread classes: the tunnel processes by role and pump direction, kernel threads without their CPU', () => {
  const turns = parseTimehist(text);
  const byComm = (c: string, pid: number) => turns.find((t) => t.comm === c && t.pid === pid)!;
  assert.equal(threadClass(byComm('gw-tun2udp-0', 12046), roles), 'agent gw-tun2udp');
  assert.equal(threadClass(byComm('gw-udp2tun-0', 12023), roles), 'helper gw-udp2tun');
  assert.equal(threadClass(byComm('ksoftirqd/0', 14), roles), 'ksoftirqd');
  assert.equal(threadClass({ ...byComm('ksoftirqd/0', 14), comm: 'kworker/1:3-vir' }, roles), 'kworker');
  assert.equal(threadClass({ ...byComm('gw-tun2udp-0', 12046), comm: 'node' }, roles), 'agent other threads');
  // Not a tunnel process: named as it is.
  assert.equal(threadClass(byComm('gw-tun2udp-0', 12046), new Map()), 'gw-tun2udp-0');
  assert.equal(threadClass(byComm('iperf3', 12103), roles), 'iperf3');
});

test('the summary: the waits per class in µs, their percentiles and CPU time, most CPU first', () => {
  const rows = summarizeSched(parseTimehist(text), roles);
  const row = rows.find((r) => r.name === 'agent gw-tun2udp')!;
  // Its queued times (µs), sorted: 2 10 16 18 26 52 62 107 193; run times 26+9+20+33+58+47+8+15+8 µs.
  assert.equal(row.turns, 9);
  assert.ok(Math.abs(row.p50Us - 26) < 1e-6, `p50 ${row.p50Us}`);
  assert.ok(Math.abs(row.maxUs - 193) < 1e-6);
  assert.ok(row.p99Us > 107 && row.p99Us < 193);
  assert.ok(Math.abs(row.runS - 224e-6) < 1e-9, `run ${row.runS}`);
  for (let i = 1; i < rows.length; i++) assert.ok(rows[i - 1]!.runS >= rows[i]!.runS, 'most CPU first');
  const table = formatSched(rows, 3).split('\n');
  assert.equal(table.length, 2 + 3, 'a header, its rule, and the 3 rows asked for');
  assert.match(
    table[0]!,
    /\| thread \| turns on a CPU \| wait to run p50 µs \| p99 µs \| max µs \| CPU s \|/,
  );
});

test('a stay at a hop splits into its thread waiting, running and neither, by the thread running when it left', () => {
  // The agent's gw-tun2udp-0 in the sample, in µs after 15657.084000: ran 281..339 and left asleep (S);
  // woken, queued 363..365, ran 365..412.
  const turns = parseTimehist(text).filter((t) => t.tid === AGENT_TUN2UDP);
  const at = (us: number) => 15657.084 + us / 1e6;
  const offset = 0; // the stays are given in perf's own clock here
  // A packet that came at 330 and left at 370 (the thread running then: 365..412) waited 2 µs on the
  // thread's wait for a CPU, 14 on its running (330..339, 365..370) and 24 on neither (asleep 339..363).
  const { all } = attributeStays([{ a: at(330), b: at(370) }], turns, offset);
  assert.equal(all.stays, 1);
  assert.ok(Math.abs(all.seconds - 40e-6) < 1e-9);
  assert.ok(Math.abs(all.waitS - 2e-6) < 1e-9, `wait ${all.waitS}`);
  assert.ok(Math.abs(all.runS - 14e-6) < 1e-9, `run ${all.runS}`);
  assert.equal(formatShare(all), '5% / 35% / 60% of 40 µs mean');
  // One that left while the thread was off its CPU (asleep 339..363) was not served by it: left out.
  assert.equal(attributeStays([{ a: at(330), b: at(350) }], turns, offset).all.stays, 0);
  // The offset moves perf's times onto the stays' clock: 1 s later, the same stay is 1 s later.
  assert.equal(attributeStays([{ a: at(330) + 1, b: at(370) + 1 }], turns, 1).all.stays, 1);
  // The slowest 5%: of twenty stays, the slowest one.
  const many = Array.from({ length: 20 }, (_, i) => ({ a: at(370 - i), b: at(370) }));
  const { slowest } = attributeStays(many, turns, offset);
  assert.equal(slowest.stays, 1);
  assert.ok(Math.abs(slowest.seconds - 19e-6) < 1e-9);
  assert.equal(formatShare({ stays: 0, seconds: 0, waitS: 0, runS: 0 }), 'no stays matched');
});
