import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_QUEUES_CAP,
  QUEUES_MAX,
  defaultQueues,
  parseQueues,
  runningQueues,
} from '../../shared/pump-queues';

test('default queues: one per CPU on Linux, capped; one on macOS (utun has one queue)', () => {
  assert.equal(defaultQueues('linux', 1), 1);
  assert.equal(defaultQueues('linux', 2), 2);
  assert.equal(defaultQueues('linux', 64), DEFAULT_QUEUES_CAP);
  assert.equal(defaultQueues('darwin', 10), 1);
  assert.equal(defaultQueues('linux', 0), 1);
});

test('--queues N: 1 to the native maximum, else an error naming the flag and the range', () => {
  assert.equal(parseQueues('1', 'linux'), 1);
  assert.equal(parseQueues(String(QUEUES_MAX), 'linux'), QUEUES_MAX);
  for (const bad of ['0', String(QUEUES_MAX + 1), '2.5', '-1', 'two', ''])
    assert.match(
      String(parseQueues(bad, 'linux')),
      new RegExp(`--queues takes a whole number from 1 to ${QUEUES_MAX}`),
    );
});

test('--queues N above 1 off Linux: an error at parse time naming the flag and the one queue; 1 is fine', () => {
  assert.equal(parseQueues('1', 'darwin'), 1);
  assert.equal(parseQueues('4', 'linux'), 4);
  for (const n of ['2', String(QUEUES_MAX)]) {
    const r = parseQueues(n, 'darwin');
    assert.ok(r instanceof Error);
    assert.match(r.message, new RegExp(`^--queues ${n}: the pump has one queue on darwin`));
    assert.match(r.message, /--queues 1/);
  }
  // Out of range is out of range everywhere.
  assert.match(String(parseQueues('0', 'darwin')), /--queues takes a whole number from 1/);
});

test('runningQueues: a pump that fell back to one queue is warned about; a full one is not', () => {
  const warned: Record<string, unknown>[] = [];
  const log = { warn: (_msg: string, fields: Record<string, unknown>) => void warned.push(fields) };
  assert.equal(runningQueues({ queueStats: () => [{}] }, 2, log), 1);
  assert.deepEqual(warned, [{ asked: 2, running: 1 }]);
  assert.equal(runningQueues({ queueStats: () => [{}, {}] }, 2, log), 2);
  assert.equal(runningQueues({ queueStats: () => [{}] }, 1, log), 1);
  assert.equal(warned.length, 1);
});
