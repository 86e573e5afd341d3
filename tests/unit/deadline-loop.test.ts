// The loop that runs the tunnel's timers only when due: sleeps what the step asks within its bounds, runs at
// once on poke(), and leaves no timer once stopped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeadlineLoop } from '../../shared/deadline-loop';

test('sleeps as long as the step asks (clamped to maxMs), runs at once on poke, and stops', async () => {
  let runs = 0;
  const loop = new DeadlineLoop(
    () => {
      runs++;
      return Infinity;
    },
    { minMs: 20, maxMs: 400 },
  );
  loop.start();
  assert.equal(runs, 1, 'start runs the step');
  await sleep(150);
  assert.equal(runs, 1, 'nothing due: no wake before maxMs');
  loop.poke();
  await sleep(20);
  assert.equal(runs, 2, 'poke runs the step at once');
  await sleep(500);
  assert.equal(runs, 3, 'woken again after maxMs');
  loop.stop();
  loop.poke();
  await sleep(500);
  assert.equal(runs, 3, 'stopped: no more runs, and poke does nothing');
});

test('a step that is always due runs no more often than minMs', async () => {
  let runs = 0;
  const loop = new DeadlineLoop(
    () => {
      runs++;
      return 0;
    },
    { minMs: 50, maxMs: 1_000 },
  );
  loop.start();
  await sleep(300);
  loop.stop();
  assert.ok(runs >= 3 && runs <= 7, `${runs} runs in 300 ms at minMs 50`);
});

test('dueIn moves the next wake to when the step is due: sooner, or later without waking for nothing', async () => {
  const runs: number[] = [];
  const t0 = Date.now();
  const loop = new DeadlineLoop(
    () => {
      runs.push(Date.now() - t0);
      return 150;
    },
    { minMs: 20, maxMs: 10_000 },
  );
  loop.start();
  loop.dueIn(5_000); // an answer arrived: nothing due for 5 s
  await sleep(400);
  assert.equal(runs.length, 1, `no wake at 150 ms once postponed: runs at ${runs.join(', ')} ms`);
  loop.dueIn(50);
  await sleep(120);
  assert.equal(runs.length, 2, `woken sooner: runs at ${runs.join(', ')} ms`);
  loop.stop();
  loop.dueIn(10);
  await sleep(100);
  assert.equal(runs.length, 2, 'stopped: dueIn does nothing');
});

test('the loop drives whatever timer it is given: clamped starts, poke as start(0), stop as stop()', () => {
  const calls: string[] = [];
  let fire: () => void = () => undefined;
  let due = 5;
  const loop = new DeadlineLoop(() => due, {
    minMs: 20,
    maxMs: 1_000,
    timer: (f) => {
      fire = f;
      return { start: (ms) => calls.push(`start ${ms}`), stop: () => calls.push('stop') };
    },
  });
  loop.start(); // runs the step (5 ms: below minMs)
  due = Infinity;
  fire(); // the timer fired: nothing due, so maxMs
  loop.dueIn(300);
  loop.poke();
  loop.stop();
  loop.poke(); // stopped: no start
  loop.dueIn(50);
  assert.deepEqual(calls, ['start 20', 'start 1000', 'start 300', 'start 0', 'stop']);
});
