// The addon's Timer (native/src/js_timer.c), which the daemon's and the agent's DeadlineLoop use: it fires once,
// moves when started again, keeps the process alive only while armed, reports a throwing callback as an
// uncaught exception, and, what it is for, a deadline moved later costs no wake-up, where setTimeout's costs one.
// The wake-ups are counted as the main thread's voluntary context switches in a child process.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { native } from '../../native/index';
import { DeadlineLoop } from '../../shared/deadline-loop';

const ADDON = require.resolve('../../native/index');

/** Runs `body` in a fresh node with `Timer` (the addon's class) in scope; returns its stdout. */
function child(body: string, timeoutMs = 10_000): string {
  const script = `const { Timer } = require(${JSON.stringify(ADDON)}).native();\n${body}`;
  return execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: timeoutMs });
}

test('fires once; start() again replaces the pending time, later or sooner; stop() disarms', async () => {
  const fired: number[] = [];
  const t0 = Date.now();
  const timer = new (native().Timer)(() => fired.push(Date.now() - t0));
  timer.start(40);
  timer.start(250); // moved later: nothing at 40 ms
  await sleep(150);
  assert.deepEqual(fired, [], 'not at the first time');
  await sleep(250);
  assert.equal(fired.length, 1, `fired once: ${fired.join(', ')}`);
  assert.ok(fired[0]! >= 245, `at the moved time: ${fired[0]} ms`);
  timer.start(5_000);
  timer.start(10); // moved sooner
  await sleep(100);
  assert.equal(fired.length, 2);
  timer.start(30);
  timer.stop();
  await sleep(100);
  assert.equal(fired.length, 2, 'stopped: no call');
});

test('bad arguments are refused with clear errors', () => {
  const { Timer } = native();
  assert.throws(() => new Timer('x' as unknown as () => void), {
    name: 'TypeError',
    message: 'Timer(callback): callback must be a function',
  });
  const t = new Timer(() => undefined);
  for (const bad of [-1, Number.NaN, 2 ** 31, 'soon'])
    assert.throws(() => t.start(bad as number), { name: 'RangeError', message: /start\(ms\)/ });
});

test('an armed timer keeps the process alive and fires even if unreferenced; a stopped one does not', () => {
  assert.equal(child(`new Timer(() => console.log('fired')).start(100);`), 'fired\n');
  const t0 = Date.now();
  assert.equal(child(`const t = new Timer(() => console.log('fired')); t.start(60_000); t.stop();`), '');
  assert.ok(Date.now() - t0 < 5_000, 'the stopped timer did not hold the process');
  // Collected while armed would mean never firing: the armed timer holds its object.
  assert.equal(
    child(`for (let i = 0; i < 20; i++) new Timer(() => console.log('f')).start(200);`, 20_000),
    'f\n'.repeat(20),
  );
});

test('the callback runs like a timer callback: microtasks after it, a throw is an uncaught exception', () => {
  const out = child(`
    process.on('uncaughtException', (e) => console.log('uncaught', e.message));
    new Timer(() => { Promise.resolve().then(() => console.log('microtask')); console.log('callback'); }).start(5);
    new Timer(() => { throw new Error('boom'); }).start(50);
  `);
  assert.equal(out, 'callback\nmicrotask\nuncaught boom\n');
  const r = spawnSync(
    process.execPath,
    [
      '-e',
      `const { Timer } = require(${JSON.stringify(ADDON)}).native(); new Timer(() => { throw new Error('boom'); }).start(5);`,
    ],
    { encoding: 'utf8', timeout: 10_000 },
  );
  assert.notEqual(r.status, 0, 'unhandled, it ends the process as a throwing setTimeout callback would');
  assert.match(r.stderr, /Error: boom/);
});

test('a DeadlineLoop on it runs its steps as on setTimeout', async () => {
  const runs: number[] = [];
  const t0 = Date.now();
  const loop = new DeadlineLoop(
    () => {
      runs.push(Date.now() - t0);
      return runs.length === 1 ? 100 : 60_000; // due in 100 ms at first, then nothing more
    },
    { minMs: 20, maxMs: 10_000, timer: (fire) => new (native().Timer)(fire) },
  );
  loop.start();
  loop.dueIn(300); // an answer moved the deadline later
  await sleep(200);
  assert.equal(runs.length, 1, 'not at the old deadline');
  await sleep(350);
  assert.equal(runs.length, 2, `once at the moved one: ${runs.join(', ')}`);
  loop.poke();
  await sleep(50);
  assert.equal(runs.length, 3, 'poke runs the step at once');
  loop.stop();
  await sleep(250);
  assert.equal(runs.length, 3, 'stopped');
});

// What the timer is for: the keepalive pattern (arm a short retry, the answer moves the deadline far later),
// ten times, with each timer kind, in a child whose main thread does nothing else. With setTimeout the process
// still wakes at each retry time; with the addon's Timer it does not.
test('a deadline moved later costs setTimeout a wake-up each time, and the native Timer none', () => {
  const wakes = (kind: 'native' | 'timeout') =>
    Number(
      child(`
        const { readFileSync } = require('node:fs');
        const switches = () => Number(/voluntary_ctxt_switches:\\s+(\\d+)/.exec(readFileSync('/proc/thread-self/status', 'utf8'))[1]);
        let h;
        const arm = ${
          kind === 'native'
            ? `(() => { const t = new Timer(() => {}); return (ms) => t.start(ms); })()`
            : `(ms) => { clearTimeout(h); h = setTimeout(() => {}, ms); }`
        };
        let round = 0, before = 0, total = 0;
        const next = new Timer(() => {
          // Each round: the retry armed for 40 ms, "answered" at once: moved to 300 ms (past the round's end).
          if (round > 0) total += switches() - before;
          if (round++ === 10) { arm(0); console.log(total); return; }
          arm(40);
          arm(300);
          before = switches();
          next.start(120);
        });
        next.start(50);
      `),
    );
  const native_ = wakes('native');
  const timeout = wakes('timeout');
  console.log(`# wake-ups in 10 rounds: setTimeout ${timeout}, native Timer ${native_}`);
  // Each round sleeps once until the next round either way; setTimeout adds the empty wake at 40 ms.
  assert.ok(timeout >= native_ + 8, `setTimeout ${timeout} wake-ups, native ${native_}, in 10 rounds`);
  assert.ok(native_ <= 13, `native: about one wake-up a round, got ${native_}`);
});
