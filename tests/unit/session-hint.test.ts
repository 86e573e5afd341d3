// The record of the live tunnel session that lets a helper restarted after a crash tell its agent at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../common/log';
import { SessionHintFile } from '../../helper/session-hint';

function fixture() {
  const dir = mkdtempSync(join(tmpdir(), 'gangway-hint-'));
  const lines: string[] = [];
  const file = join(dir, 'tunnel-session.json');
  const hint = new SessionHintFile(
    file,
    createLogger('test', (l) => lines.push(l)),
  );
  return { dir, file, hint, lines, done: () => rmSync(dir, { recursive: true, force: true }) };
}

test('a recorded session is read back once, from a file only root can read', async () => {
  const f = fixture();
  try {
    const sessionId = Buffer.from('0123456789abcdef', 'hex');
    await f.hint.save({ sessionId, peer: { address: '127.0.0.1', port: 40123 } });
    assert.equal(statSync(f.file).mode & 0o777, 0o600);
    const back = f.hint.take();
    assert.deepEqual(back, { sessionId, peer: { address: '127.0.0.1', port: 40123 } });
    assert.equal(existsSync(f.file), false, 'used once');
    assert.equal(f.hint.take(), undefined);
    await f.hint.save({ sessionId, peer: { address: 'fd57:6177::2', port: 1 } });
    f.hint.clear();
    assert.equal(f.hint.take(), undefined, 'cleared after a farewell');
  } finally {
    f.done();
  }
});

test('a corrupt or hostile record is ignored, said in the log, and removed', () => {
  const f = fixture();
  try {
    const bad = [
      'not json',
      '{}',
      JSON.stringify({ sessionId: '0123', address: '127.0.0.1', port: 1 }),
      JSON.stringify({ sessionId: '0123456789abcdeg', address: '127.0.0.1', port: 1 }),
      JSON.stringify({ sessionId: '0123456789abcdef', address: 'helper.example.com', port: 1 }),
      JSON.stringify({ sessionId: '0123456789abcdef', address: '127.0.0.1', port: 0 }),
      JSON.stringify({ sessionId: '0123456789abcdef', address: '127.0.0.1', port: 70_000 }),
      JSON.stringify({ sessionId: '0123456789abcdef', address: '127.0.0.1', port: 1, extra: true }),
    ];
    for (const text of bad) {
      writeFileSync(f.file, text);
      assert.equal(f.hint.take(), undefined, text);
      assert.equal(existsSync(f.file), false, `removed: ${text}`);
    }
    assert.equal(f.lines.filter((l) => l.includes('unreadable tunnel session record')).length, bad.length);
  } finally {
    f.done();
  }
});

test('a record that cannot be written is logged, not thrown', async () => {
  const f = fixture();
  try {
    const hint = new SessionHintFile(
      join(f.dir, 'missing', 'tunnel-session.json'),
      createLogger('test', (l) => f.lines.push(l)),
    );
    await hint.save({ sessionId: Buffer.alloc(8), peer: { address: '10.0.0.2', port: 5 } });
    assert.ok(f.lines.some((l) => l.includes('cannot record the tunnel session')));
  } finally {
    f.done();
  }
});
