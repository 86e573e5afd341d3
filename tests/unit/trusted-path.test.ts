// Root's PATH: only directories no user but root can change, in the caller's order (helper/service/trusted-path.ts).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { narrowPathForRoot, trustedPath } from '../../helper/service/trusted-path';

const isRoot = process.getuid?.() === 0;

test("a user's directories, relative and empty entries are left out; root's keep their order", () => {
  const userOwned = new Set(['/opt/homebrew/bin', '/Users/me/bin']);
  const check = (d: string) =>
    !d.startsWith('/') ? [`${d} is not an absolute path`] : userOwned.has(d) ? [`${d} is owned by me`] : [];
  const t = trustedPath('/opt/homebrew/bin:/usr/bin::.:/bin:/Users/me/bin:/usr/bin:/usr/sbin', check);
  assert.equal(t.path, '/usr/bin:/bin:/usr/sbin');
  assert.deepEqual(
    t.dropped.map((d) => d.dir),
    ['/opt/homebrew/bin', '(empty: the current directory)', '.', '/Users/me/bin'],
  );
  assert.match(t.dropped[0]?.why ?? '', /owned by me/);
});

test("nothing of the caller's left (or no PATH): the system directories that pass", () => {
  const check = (d: string) => (d === '/sbin' || d.startsWith('/home') ? ['not root'] : []);
  assert.equal(trustedPath('/home/u/bin', check).path, '/usr/sbin:/usr/bin:/bin');
  assert.equal(trustedPath(undefined, check).path, '/usr/sbin:/usr/bin:/bin');
});

test('not root: PATH is left as it is', () => {
  const before = process.env.PATH;
  assert.deepEqual(narrowPathForRoot(false), []);
  assert.equal(process.env.PATH, before);
});

test('on the real file system (as root): a directory owned by nobody is left out', { skip: !isRoot }, () => {
  const work = mkdtempSync(join(tmpdir(), 'gw-path-'));
  after(() => rmSync(work, { recursive: true, force: true }));
  const theirs = join(work, 'theirs');
  mkdirSync(theirs, { mode: 0o755 });
  chownSync(theirs, 65534, 65534);
  writeFileSync(join(theirs, 'ip'), '#!/bin/sh\n', { mode: 0o755 });
  const t = trustedPath(`${theirs}:/usr/bin:/bin`);
  assert.equal(t.path, '/usr/bin:/bin', 'the distribution directories pass');
  assert.deepEqual(
    t.dropped.map((d) => d.dir),
    [theirs],
  );
  assert.match(t.dropped[0]?.why ?? '', new RegExp(theirs), 'for its own owner first');
  const saved = process.env.PATH;
  try {
    process.env.PATH = `${theirs}:/usr/bin:/bin`;
    assert.deepEqual(
      narrowPathForRoot(true).map((d) => d.dir),
      [theirs],
    );
    assert.equal(process.env.PATH, '/usr/bin:/bin');
  } finally {
    process.env.PATH = saved;
  }
});
