// The package root is found in one place, by walking up to Gangway's own package.json.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { findPackage, packageRoot, packageVersion } from '../../shared/package-root';

test('walks up past other packages to Gangway’s package.json', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gangway-root-'));
  try {
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'gangway', version: '9.8.7' }));
    const deep = join(dir, 'node_modules', 'other', 'dist', 'helper');
    mkdirSync(deep, { recursive: true });
    writeFileSync(
      join(dir, 'node_modules', 'other', 'package.json'),
      JSON.stringify({ name: 'other', version: '1.0.0' }),
    );
    assert.deepEqual(findPackage(deep), { root: dir, version: '9.8.7' });
    rmSync(join(dir, 'package.json'));
    assert.equal(findPackage(deep)?.root === dir, false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('this build’s root holds dist/ and the version is package.json’s', () => {
  assert.equal(packageRoot(), resolve(__dirname, '..', '..', '..'));
  assert.match(packageVersion(), /^\d+\.\d+\.\d+/);
});
