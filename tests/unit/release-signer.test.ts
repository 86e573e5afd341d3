// A release build's own signer (src-main/release-signer.ts): read from its package.json, and what the install
// goes by when codesign reports the executable on disk signed by someone else, by nobody, or not verifying.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { APP_IDENTIFIER, expectedSigner, judgeSignature } from '../../src-main/release-signer';
import { packageRoot } from '../../shared/package-root';

test('the signer a package.json names; none for a build not meant to be signed', () => {
  assert.deepEqual(expectedSigner({ gangwaySigner: { team: 'AB12CD34EF' } }), {
    team: 'AB12CD34EF',
    identifier: 'dev.gangway.app',
  });
  for (const pkg of [{}, null, { gangwaySigner: {} }, { gangwaySigner: { team: '' } }])
    assert.equal(expectedSigner(pkg), undefined, JSON.stringify(pkg));
  assert.throws(() => expectedSigner({ gangwaySigner: { team: 'abc"; x' } }), /no Team ID/);
  // The repository's own package.json names none: development builds are unsigned.
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as unknown;
  assert.equal(expectedSigner(pkg), undefined);
  // The identifier is electron-builder's appId.
  const yml = readFileSync(join(packageRoot(), 'electron-builder.yml'), 'utf8');
  assert.match(yml, new RegExp(`^appId: ${APP_IDENTIFIER.replace(/\./g, '\\.')}$`, 'm'));
});

test('a release holds what codesign sees to its own signer: a swapped executable is broken, never unsigned', () => {
  const release = { team: 'AB12CD34EF', identifier: 'dev.gangway.app' };
  assert.deepEqual(judgeSignature(release, { ...release }), { ...release, broken: undefined });
  assert.deepEqual(judgeSignature(release, { ...release, broken: 'a sealed resource is missing' }), {
    ...release,
    broken: 'a sealed resource is missing',
  });
  // The executable replaced by an ad-hoc or unsigned one, or re-signed by another team.
  for (const seen of [
    {},
    { identifier: 'Electron' },
    { team: 'ZZZZZZZZZZ', identifier: 'dev.gangway.app' },
  ]) {
    const j = judgeSignature(release, seen);
    assert.equal(j.team, 'AB12CD34EF', 'the install still pins the release team');
    assert.match(j.broken ?? '', /^its executable is signed by .* not AB12CD34EF \(dev\.gangway\.app\)$/);
  }
  // A build that names no signer goes by what codesign saw.
  assert.deepEqual(judgeSignature(undefined, { team: 'AB12CD34EF', identifier: 'x' }), {
    team: 'AB12CD34EF',
    identifier: 'x',
  });
  assert.deepEqual(judgeSignature(undefined, {}), {});
});
