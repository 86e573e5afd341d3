import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, appendFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { createLogger } from '../../common/log';
import { LogFile } from '../../helper/logs/log-file';
import { formatLogEntry } from '../../cli/logs-cli';
import { parseLogLines, readLogs } from '../../helper/logs/log-reader';

const dir = mkdtempSync(join(tmpdir(), 'gangway-logs-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('log file', () => {
  test('rotates by size, keeps N old files, and never loses the newest lines', () => {
    const path = join(dir, 'rot', 'gangway.log');
    const file = new LogFile(path, { maxBytes: 2_000, keep: 2 });
    const log = createLogger('daemon', (l) => file.write(l), 'debug');
    for (let i = 0; i < 200; i++) log.info('line', { i });
    file.close();
    assert.ok(existsSync(`${path}.1`) && existsSync(`${path}.2`));
    assert.equal(existsSync(`${path}.3`), false, 'only `keep` rotated files');
    for (const f of [path, `${path}.1`, `${path}.2`])
      assert.ok(readFileSync(f).length <= 2_000, `${f} is within the size limit`);
    const entries = readLogs(path, { limit: 10, level: 'debug' });
    assert.deepEqual(
      entries.map((e) => e.i),
      [190, 191, 192, 193, 194, 195, 196, 197, 198, 199],
    );
    // Reading across the rotation boundary: more than the current file holds.
    const many = readLogs(path, { limit: 1000, level: 'debug' });
    const is = many.map((e) => e.i as number);
    assert.deepEqual(
      is,
      [...is].sort((a, b) => a - b),
      'oldest first, no duplicates',
    );
    assert.equal(is.at(-1), 199);
    assert.ok(is.length > 20 && is.length < 200, `${is.length} entries in current + 2 rotated files`);
  });

  test('a new LogFile appends to what is there', () => {
    const path = join(dir, 'append.log');
    writeFileSync(
      path,
      `${JSON.stringify({ time: '2026-01-01T00:00:00.000Z', level: 'info', component: 'x', msg: 'old' })}\n`,
    );
    const file = new LogFile(path);
    file.write(
      `${JSON.stringify({ time: '2026-01-01T00:00:01.000Z', level: 'warn', component: 'x', msg: 'new' })}\n`,
    );
    file.close();
    assert.deepEqual(
      readLogs(path, { limit: 10, level: 'debug' }).map((e) => e.msg),
      ['old', 'new'],
    );
  });

  test('a log directory that cannot be made is a clear error at start', () => {
    const blocker = join(dir, 'blocker');
    writeFileSync(blocker, 'x');
    // The directory cannot be made: the daemon reports that at start (before anything else runs).
    assert.throws(() => new LogFile(join(blocker, 'sub', 'g.log')), /ENOTDIR|EEXIST/);
  });
});

describe('log reader', () => {
  const path = join(dir, 'mixed.log');
  const line = (time: string, level: string, msg: string) =>
    `${JSON.stringify({ time, level, component: 'daemon', msg })}\n`;
  writeFileSync(
    path,
    [
      line('2026-01-01T00:00:01.000Z', 'debug', 'a'),
      'not json at all\n',
      line('2026-01-01T00:00:02.000Z', 'info', 'b'),
      '{"time":"x","level":"shout","component":"c","msg":"bad level"}\n',
      line('2026-01-01T00:00:03.000Z', 'warn', 'c'),
      line('2026-01-01T00:00:04.000Z', 'error', 'd'),
    ].join(''),
  );
  appendFileSync(path, '{"time":"2026-01-01T00:00:05.000Z","level":"info","comp'); // torn by a crash

  test('skips torn and foreign lines', () => {
    assert.deepEqual(
      readLogs(path, { limit: 100, level: 'debug' }).map((e) => e.msg),
      ['a', 'b', 'c', 'd'],
    );
    assert.equal(parseLogLines('{}\n{"level":1}\n').length, 0);
  });

  test('filters by level and by time', () => {
    assert.deepEqual(
      readLogs(path, { limit: 100, level: 'warn' }).map((e) => e.msg),
      ['c', 'd'],
    );
    assert.deepEqual(
      readLogs(path, { limit: 100, level: 'debug', since: '2026-01-01T00:00:02.000Z' }).map((e) => e.msg),
      ['c', 'd'],
    );
    assert.deepEqual(readLogs(join(dir, 'missing.log'), { limit: 5, level: 'debug' }), []);
  });

  test('formats an entry on one line with its fields', () => {
    const s = formatLogEntry({
      time: '2026-01-01T00:00:00.000Z',
      level: 'warn',
      component: 'daemon',
      msg: 'network not routed',
      network: 'my net',
      n: 3,
    });
    assert.equal(s, '2026-01-01T00:00:00.000Z WARN  daemon network not routed network="my net" n=3');
  });
});
