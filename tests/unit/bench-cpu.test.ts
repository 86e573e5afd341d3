import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpuPerGB, cpuSeconds, idleCpuSeconds, parseSchedstatNs, parseStatTicks } from '../../bench/cpu';

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
