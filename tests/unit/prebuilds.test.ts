// The four prebuilt addons that `npm run prebuilds` cross-compiles with zig (CI builds them in its setup):
// each is what its folder says, by its own header bytes, and exports node's entry point. The darwin files
// are linked here but can only be loaded on a Mac; the Linux build for this machine's CPU is loaded for real.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import {
  PREBUILD_TARGETS,
  checkPrebuild,
  prebuildPath,
  readBinaryFacts,
  type PrebuildTarget,
} from '../../scripts/prebuild-check';
import { pickAgentAddon } from '../../helper/docker/agent-addon';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const dir = mkdtempSync(path.join(tmpdir(), 'gangway-prebuilds-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A copy of `target`'s prebuild with one same-length string replaced, as another file. */
function patched(target: PrebuildTarget, from: string, to: string): string {
  const b = readFileSync(prebuildPath(ROOT, target));
  const at = b.indexOf(from, 0, 'latin1');
  assert.ok(at >= 0, `${from} is in the ${target} prebuild`);
  b.write(to, at, 'latin1');
  const file = path.join(dir, `${target}-${to}.node`);
  writeFileSync(file, b);
  return file;
}

for (const target of PREBUILD_TARGETS) {
  test(`prebuilds/${target}: its header says ${target}, a loadable library exporting napi_register_module_v1`, () => {
    const file = prebuildPath(ROOT, target);
    assert.deepEqual(checkPrebuild(file, target), []);
    const facts = readBinaryFacts(readFileSync(file));
    assert.equal(facts.format, target.startsWith('darwin') ? 'mach-o' : 'elf');
    if (target.startsWith('linux')) assert.ok(facts.glibc[0] === 2 && facts.glibc[1] >= 2, 'asks for glibc');
  });
}

test('a file in the wrong folder, a missing export, a too new glibc, junk: each named', () => {
  assert.match(
    checkPrebuild(prebuildPath(ROOT, 'darwin-arm64'), 'darwin-x64').join('\n'),
    /is darwin-arm64, not darwin-x64/,
  );
  assert.match(
    checkPrebuild(prebuildPath(ROOT, 'linux-arm64'), 'linux-x64').join('\n'),
    /is linux-arm64, not linux-x64/,
  );
  assert.match(
    checkPrebuild(prebuildPath(ROOT, 'linux-x64'), 'darwin-x64').join('\n'),
    /is linux-x64, not darwin-x64/,
  );
  const renamedMac = patched('darwin-arm64', '_napi_register_module_v1', '_napi_register_module_v9');
  assert.deepEqual(checkPrebuild(renamedMac, 'darwin-arm64'), [
    `${renamedMac}: does not export napi_register_module_v1`,
  ]);
  const renamedElf = patched('linux-x64', 'napi_register_module_v1', 'napi_register_module_v9');
  assert.deepEqual(checkPrebuild(renamedElf, 'linux-x64'), [
    `${renamedElf}: does not export napi_register_module_v1`,
  ]);
  const newGlibc = patched('linux-arm64', 'GLIBC_2.17', 'GLIBC_2.99');
  assert.match(checkPrebuild(newGlibc, 'linux-arm64').join('\n'), /needs GLIBC_2\.99, newer than .* 2\.36/);
  const junk = path.join(dir, 'junk.node');
  writeFileSync(junk, Buffer.alloc(100, 7));
  assert.match(checkPrebuild(junk, 'linux-x64').join('\n'), /not a 64-bit Mach-O or ELF file/);
  assert.match(checkPrebuild(path.join(dir, 'none.node'), 'linux-x64')[0]!, /ENOENT.*npm run prebuilds/);
});

test('the agent image takes each Linux prebuild for its CPU, never a darwin one', () => {
  const linux = (a: 'x64' | 'arm64') => prebuildPath(ROOT, `linux-${a}`);
  const darwin = prebuildPath(ROOT, 'darwin-arm64');
  assert.equal(pickAgentAddon([darwin, linux('arm64')], 'aarch64'), linux('arm64'));
  assert.equal(pickAgentAddon([darwin, linux('arm64'), linux('x64')], 'x86_64'), linux('x64'));
  assert.throws(() => pickAgentAddon([darwin], 'aarch64'), /a macOS \(Mach-O\) binary/);
});

test(
  "the Linux prebuild for this machine's CPU loads in node and exposes the addon's API",
  {
    skip: process.platform !== 'linux' || !['x64', 'arm64'].includes(process.arch),
  },
  () => {
    const mod = { exports: {} as Record<string, unknown> };
    process.dlopen(mod, prebuildPath(ROOT, `linux-${process.arch}` as PrebuildTarget));
    assert.equal(typeof mod.exports.openTun, 'function');
    assert.equal(typeof mod.exports.createPump, 'function');
  },
);
