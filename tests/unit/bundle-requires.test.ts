// The bundles root runs (the service's copy of gangway.js; the agent) must load nothing from outside their
// own directory: a bare require() of a package the bundler left out is looked up in node_modules folders
// above the install directory (/usr/local/lib/node_modules, npm's global folder, among them), which a user
// may own. So the only requires left are Node's own modules and paths relative to the bundle.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../../shared/package-root';

const BUNDLE = join(packageRoot(), 'dist', 'bundle');

function bareRequires(source: string): string[] {
  const builtin = new Set(builtinModules);
  const names = [...source.matchAll(/\brequire\(\s*(['"])([^'"]+)\1\s*\)/g)].map((m) => m[2] ?? '');
  return [
    ...new Set(
      names.filter((n) => !n.startsWith('.') && !n.startsWith('node:') && !builtin.has(n.split('/')[0] ?? n)),
    ),
  ];
}

test('the check finds a bare require and lets builtins and relative paths be', () => {
  const src = `require("fs"); require('node:path'); require("./x.node"); require("stream/web");
    try { c = require("cpu-features")(); } catch {}`;
  assert.deepEqual(bareRequires(src), ['cpu-features']);
});

for (const file of ['gangway.js', 'gangway-agent.js'])
  test(`dist/bundle/${file} requires only Node's modules and files beside it`, () => {
    const path = join(BUNDLE, file);
    assert.ok(existsSync(path), `${path} is built (npm run build)`);
    assert.deepEqual(bareRequires(readFileSync(path, 'utf8')), []);
  });
