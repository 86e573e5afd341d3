#!/usr/bin/env node
// Runs the compiled node:test files of one suite (unit | integration | all), one file at a time: the
// integration files build network namespaces and a dockerd, and the machine has two cores. node's test
// runner prints the closing summary (tests, pass, fail) that CI reads.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const suite = process.argv[2] ?? 'all';
const dirs = suite === 'all' ? ['unit', 'integration', 'e2e'] : [suite];
const files = [];
for (const d of dirs) {
  const dir = join('dist', 'tests', d);
  let entries = [];
  try {
    entries = readdirSync(dir);
  } catch {
    continue;
  }
  for (const f of entries.sort())
    if (f.endsWith('.test.js') && statSync(join(dir, f)).isFile()) files.push(join(dir, f));
}
const only = process.env.GANGWAY_TEST_FILTER;
const selected = only ? files.filter((f) => f.includes(only)) : files;
if (selected.length === 0) {
  console.error(`no test files found for suite "${suite}" (did the build run?)`);
  process.exit(1);
}
const reporter = 'spec';
const r = spawnSync(
  process.execPath,
  ['--test', '--test-concurrency=1', `--test-reporter=${reporter}`, '--enable-source-maps', ...selected],
  { stdio: 'inherit' },
);
process.exit(r.status ?? 1);
