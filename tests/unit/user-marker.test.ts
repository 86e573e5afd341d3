// The app's remembered yes/no (src-main/user-marker.ts): a file in a real temporary folder, there or not, and
// a folder it cannot write costing nothing but the memory.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserMarker } from '../../src-main/user-marker';

const dir = mkdtempSync(join(tmpdir(), 'gw-marker-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('set writes or removes the file; a new marker on the same file reads it back', () => {
  const file = join(dir, 'helper-removed');
  const m = new UserMarker(() => file);
  assert.equal(m.get(), false);
  m.set(true);
  assert.equal(existsSync(file), true);
  assert.equal(new UserMarker(() => file).get(), true, 'the next launch remembers');
  m.set(false);
  assert.equal(existsSync(file), false);
  assert.equal(new UserMarker(() => file).get(), false);
});

test('a folder that cannot be written: remembered for this run, no error', () => {
  const m = new UserMarker(() => join(dir, 'missing', 'sub', 'marker'));
  m.set(true);
  assert.equal(m.get(), true);
  assert.equal(existsSync(join(dir, 'missing')), false);
});
