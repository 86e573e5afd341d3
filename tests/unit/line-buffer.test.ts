// The line splitter under the route monitor, Docker's event follower and the image build's progress: chunks
// that end anywhere (within a line, within a UTF-8 character), and what each overflow policy does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineBuffer, LineOverflowError } from '../../common/line-buffer';

test('a line split across chunks comes out once it ends; several lines in one chunk come out together', () => {
  const b = new LineBuffer();
  assert.deepEqual(b.push('RTM_ADD: Add'), []);
  assert.deepEqual(b.push(' Route\nRTM_DEL'), ['RTM_ADD: Add Route']);
  assert.deepEqual(b.push('ETE\n\none\ntwo\nthr'), ['RTM_DELETE', '', 'one', 'two']);
  assert.equal(b.end(), 'thr');
  assert.equal(b.end(), undefined);
});

test('a UTF-8 character split across byte chunks is decoded whole', () => {
  const bytes = Buffer.from('{"name":"café 🐳"}\n', 'utf8');
  const b = new LineBuffer();
  const out: string[] = [];
  // One byte at a time: every multi-byte character is cut somewhere.
  for (const byte of bytes) out.push(...b.push(Buffer.from([byte])));
  assert.deepEqual(out, ['{"name":"café 🐳"}']);
  assert.equal(b.end(), undefined);
});

test('end() flushes the unterminated last line, and bytes of a character cut short as U+FFFD', () => {
  const b = new LineBuffer();
  assert.deepEqual(b.push(Buffer.from('done\nlast ')), ['done']);
  assert.deepEqual(b.push(Buffer.from([0xe2, 0x82])), []);
  assert.equal(b.end(), 'last \ufffd');
  assert.equal(new LineBuffer().end(), undefined);
});

test("'fail': an unended line past the limit throws, now and on every later push", () => {
  const b = new LineBuffer({ maxPending: 10, overflow: 'fail' });
  assert.deepEqual(b.push('12345'), []);
  assert.deepEqual(b.push('67890'), []);
  assert.throws(
    () => b.push('1'),
    (err) => err instanceof LineOverflowError && err.maxPending === 10,
  );
  assert.throws(() => b.push('ok\n'), LineOverflowError);
  assert.equal(b.end(), undefined);
  // Exactly the limit is allowed, and complete lines are not measured: one chunk of many events is fine.
  const ok = new LineBuffer({ maxPending: 10, overflow: 'fail' });
  assert.deepEqual(ok.push('123456789\n'), ['123456789']);
  assert.deepEqual(ok.push(`${'e'.repeat(8)}\n`.repeat(3)), ['eeeeeeee', 'eeeeeeee', 'eeeeeeee']);
});

test("'drop': a line past the limit is discarded up to its newline and counted; the next lines come through", () => {
  const b = new LineBuffer({ maxPending: 4, overflow: 'drop' });
  assert.deepEqual(b.push('abcd'), []);
  assert.equal(b.dropped, 0);
  assert.deepEqual(b.push('efgh'), []);
  assert.equal(b.dropped, 1);
  // The over-long line's tail is not a line of its own, however many chunks it spans.
  assert.deepEqual(b.push('ijklmnop'), []);
  assert.deepEqual(b.push('qr\nnext\n'), ['next']);
  // Complete lines are not measured, only what is left waiting.
  assert.deepEqual(b.push('a long complete line\nxy'), ['a long complete line']);
  assert.equal(b.dropped, 1);
  assert.equal(b.end(), 'xy');
  // A stream that ends inside a dropped line has no last line.
  const cut = new LineBuffer({ maxPending: 2, overflow: 'drop' });
  assert.deepEqual(cut.push('ok\ntoolong'), ['ok']);
  assert.equal(cut.end(), undefined);
});

test('without a limit a line is held however long it grows', () => {
  const b = new LineBuffer();
  const long = 'x'.repeat(2 * 1024 * 1024);
  assert.deepEqual(b.push(long), []);
  assert.deepEqual(b.push('\n'), [long]);
  assert.equal(b.dropped, 0);
});
