// The pump's CoDel (native/src/aqm.c), compiled here with a small driver (tests/fixtures/aqm-driver.c) and
// fed sequences of (time in the receive queue, clock) per bulk packet: which ones it drops.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, test } from 'node:test';

import { buildCDriver, type CDriver } from '../fixtures/c-driver';

let built: CDriver;
let driver = '';

before(() => {
  built = buildCDriver('aqm-driver', ['aqm.c']);
  driver = built.path;
});
after(() => built.remove());

/** One packet every `stepUs` from `startUs`, each having waited `sojournUs(t)`: the times (µs) of the drops. */
function drops(
  packets: number,
  stepUs: number,
  sojournUs: (tUs: number) => number,
  startUs = 1_000_000,
): number[] {
  const times = Array.from({ length: packets }, (_, i) => startUs + i * stepUs);
  const input = times.map((t) => `${sojournUs(t)} ${t}`).join('\n');
  const out = execFileSync(driver, { input, encoding: 'utf8' }).trim().split('\n');
  assert.equal(out.length, packets);
  return times.filter((_, i) => out[i] === '1');
}

test('a queue that stays under the 1 ms target is never dropped from', () => {
  assert.deepEqual(
    drops(20_000, 10, () => 900),
    [],
  );
});

test('a burst above target that drains within the 10 ms interval is not dropped from', () => {
  // 8 ms of 5 ms waits, then the queue is empty again, over and over.
  assert.deepEqual(
    drops(20_000, 10, (t) => (t % 20_000 < 8_000 ? 5_000 : 0)),
    [],
  );
});

test('a standing queue: the first drop after one interval, then ever closer (interval / sqrt(count))', () => {
  const start = 1_000_000;
  const d = drops(10_000, 10, () => 3_000, start); // 100 ms of packets that each waited 3 ms
  assert.ok(d.length >= 5, `dropped ${d.length}`);
  assert.equal(d[0], start + 10_000, 'first drop one interval after the wait went above target');
  const gaps = d.slice(1).map((t, i) => t - d[i]!);
  // interval / sqrt(1), / sqrt(2), / sqrt(3): 10000, 7071, 5774 µs, rounded up to the 10 µs packet spacing.
  for (const [i, want] of [10_000, 7_071, 5_774].entries())
    assert.ok(Math.abs(gaps[i]! - want) <= 10, `gap ${i + 1}: ${gaps[i]} µs, expected ${want}`);
  for (let i = 1; i < gaps.length; i++) assert.ok(gaps[i]! <= gaps[i - 1]!, 'the drop rate only rises');
});

test('dropping stops as soon as a packet waited less than the target', () => {
  const start = 1_000_000;
  // A standing queue for 50 ms, then short waits.
  const d = drops(10_000, 10, (t) => (t - start < 50_000 ? 3_000 : 100), start);
  assert.ok(d.length > 0);
  assert.ok(
    d.every((t) => t - start < 50_000),
    'no drop once the queue is short',
  );
});

test('an empty queue restarts the clock: a late packet after a quiet spell is not dropped at once', () => {
  const input = [
    '3000 1000000', // above target: the interval starts
    'empty', // the pump found the queue empty
    '3000 1020000', // 20 ms later, above target again: a new interval, no drop
    '3000 1025000',
    '3000 1031000', // one interval after the restart: the first drop
  ].join('\n');
  const out = execFileSync(driver, { input, encoding: 'utf8' }).trim().split('\n');
  assert.deepEqual(out, ['0', '0', '0', '1']);
});
