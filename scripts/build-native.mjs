#!/usr/bin/env node
// Builds the native addon with node-gyp, offline: node-gyp downloads Node's headers unless told where they
// are, and these machines reach no such download. Use the headers that ship with the running Node (Debian's
// nodejs puts them in /usr/include/node; official builds in <prefix>/include/node).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';

const prefix = dirname(dirname(process.execPath));
const args = ['rebuild', '-C', 'native'];
for (const dir of [prefix, '/usr', '/usr/local']) {
  if (existsSync(join(dir, 'include', 'node', 'node_api.h'))) {
    args.push(`--nodedir=${dir}`);
    break;
  }
}
// npm puts its bundled node-gyp on PATH for lifecycle scripts; fall back to npx outside them.
const r = spawnSync('node-gyp', args, { stdio: 'inherit' });
if (r.error) {
  const npx = spawnSync('npx', ['--no-install', 'node-gyp', ...args], { stdio: 'inherit' });
  process.exit(npx.status ?? 1);
}
process.exit(r.status ?? 1);
