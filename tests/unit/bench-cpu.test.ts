import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  clockTicks,
  cpuPerGB,
  cpuSeconds,
  idleCpuSeconds,
  machineSample,
  machineTicks,
  machineWindow,
  parseProcStatCpu,
  parseSchedstatNs,
  parseStatTicks,
} from '../../bench/cpu';

const sample = (f: string) => readFileSync(join(__dirname, '..', '..', '..', 'bench', 'samples', f), 'utf8');

test('utime+stime from /proc/<pid>/stat, also when the name holds spaces and parentheses', () => {
  // A real line of a process named "my yes) x": utime 19, stime 51.
  assert.equal(parseStatTicks(sample('proc-stat-space.txt')), 70);
  const line = '4242 (gw (pump) 1) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 567 0 0 20 0 9 0 100 0 0';
  assert.equal(parseStatTicks(line), 1234 + 567);
  assert.throws(() => parseStatTicks('garbage'), /stat/);
});

test('this process has used some CPU', () => {
  let x = 0;
  for (let i = 0; i < 2e7; i++) x += i; // burn a few ms
  assert.ok(x > 0);
  assert.ok(cpuSeconds(process.pid) > 0);
});

test('CPU seconds per GB', () => {
  assert.equal(cpuPerGB(2, 4e9), 0.5);
  assert.ok(Number.isNaN(cpuPerGB(1, 0)));
});

test("idle CPU: a thread's run time in ns from schedstat; this process counted to the nanosecond", () => {
  assert.equal(parseSchedstatNs('123456789 2000 17\n'), 123456789);
  assert.throws(() => parseSchedstatNs('x'), /schedstat/);
  const a = idleCpuSeconds(process.pid);
  let x = 0;
  for (let i = 0; i < 2e6; i++) x += i % 7;
  const b = idleCpuSeconds(process.pid);
  assert.ok(x > 0 && b > a, `${a} -> ${b}`);
});

test("the machine's CPU from /proc/stat's aggregate line: busy, idle (with iowait) and steal apart", () => {
  // A real head of /proc/stat: cpu  1437 0 1381 176309 79 0 89 0 0 0
  assert.deepEqual(parseProcStatCpu(sample('proc-stat-cpu.txt')), {
    busy: 1437 + 1381 + 89,
    idle: 176309 + 79,
    steal: 0,
  });
  const stolen = 'cpu  10 1 20 300 4 5 6 70 9 0\ncpu0 10 1 20 300 4 5 6 70 9 0\n';
  assert.deepEqual(parseProcStatCpu(stolen), { busy: 10 + 1 + 20 + 5 + 6, idle: 304, steal: 70 });
  assert.throws(() => parseProcStatCpu('cpu0 1 2 3 4 5 6 7 8\n'), /no cpu line/);
  assert.throws(() => parseProcStatCpu('cpu  1 2 x 4 5 6 7 8\n'), /no cpu line/);
});

test("the CPU-bound ceiling: the rate with every available CPU second at the run's cost per byte", () => {
  const hz = clockTicks();
  // 2 CPUs over 5 s: 10 s available, 8 busy. 5 Gbit/s at 80% busy could be at most 6.25 with all of it.
  const m = machineSample({ busy: 0, idle: 0, steal: 0 }, { busy: 8 * hz, idle: 2 * hz, steal: hz }, 5e9);
  assert.deepEqual(m, { busySeconds: 8, availableSeconds: 10, ceilingGbps: 6.25 });
  const none = machineSample({ busy: 5, idle: 5, steal: 0 }, { busy: 5, idle: 9, steal: 0 }, 0);
  assert.ok(Number.isNaN(none.ceilingGbps));
  // This machine: a busy loop inside the window shows up as busy time.
  const a = machineTicks();
  const until = Date.now() + 50;
  let x = 0;
  while (Date.now() < until) x++;
  const b = machineTicks();
  assert.ok(x > 0 && b.busy > a.busy, `${a.busy} -> ${b.busy}`);
});

test('the window inside a transfer: readings a quarter in (at most 1 s) and an eighth before the end', async () => {
  const t0 = Date.now();
  let x = 0;
  const spin = setInterval(() => {
    const until = Date.now() + 5;
    while (Date.now() < until) x++;
  }, 10);
  try {
    const [a, b] = await machineWindow(0.8); // 0.2 s in, 0.1 s before the end
    const took = Date.now() - t0;
    assert.ok(took >= 690 && took < 2000, `${took} ms`);
    assert.ok(x > 0 && b.busy > a.busy, `${a.busy} -> ${b.busy}`);
  } finally {
    clearInterval(spin);
  }
});
