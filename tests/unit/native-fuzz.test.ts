// The addon's fuzz targets (native/fuzz/, scripts/fuzz-targets.ts), each built with libFuzzer and the address
// and undefined-behaviour sanitizers and run for a short, bounded time: the regression inputs first, then new
// ones. What each target checks beyond memory safety is at the top of its file; `npm run fuzz` runs them
// longer.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

import { buildFuzzTarget, FUZZ_TARGETS, runFuzzTarget } from '../../scripts/fuzz-targets';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const SECONDS = 10;
const dir = mkdtempSync(path.join(tmpdir(), 'gangway-fuzz-'));
after(() => rmSync(dir, { recursive: true, force: true }));

for (const target of FUZZ_TARGETS) {
  test(`fuzz ${target.name}: ${SECONDS} s of inputs, none failing a check or a sanitizer`, async () => {
    const program = buildFuzzTarget(ROOT, target, path.join(dir, 'bin'));
    const r = await runFuzzTarget(ROOT, target, program, {
      seconds: SECONDS,
      corpusDir: path.join(dir, 'corpus', target.name),
      workDir: path.join(dir, 'failures', target.name),
    });
    if (r.failure) assert.fail(`${r.failure.report}\nfailing input: ${r.failure.input ?? '(not saved)'}`);
    // A target that stopped early or could not read its inputs would tell nothing.
    assert.ok(r.runs > 10_000, `${r.runs} inputs in ${r.seconds} s`);
  });
}
