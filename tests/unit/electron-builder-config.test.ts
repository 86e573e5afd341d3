// electron-builder.yml, checked without packaging (Electron cannot be downloaded here): electron-builder's
// own schema validation, the fields the issue asks for, and the file list its extraResources would pack —
// every source present after the build, and everything the helper and the agent image need among them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { DebugLogger } from 'builder-util';
import { getConfig, validateConfiguration } from 'app-builder-lib/out/util/config/config';
import type { Configuration } from 'app-builder-lib';
import { agentRuntimeClosure } from '../../helper/docker/agent-image';
import { helperModuleClosure, stageHelperModules } from '../../scripts/stage-helper-modules';

const ROOT = resolve(__dirname, '..', '..', '..');

interface Resource {
  from: string;
  to: string;
  filter?: string[];
}

const load = () => getConfig(ROOT, 'electron-builder.yml', null);

/** The few glob shapes the config uses: "**\/*", "**\/*.ext", and "!" to exclude. */
function passes(file: string, filter: string[] | undefined): boolean {
  if (!filter) return true;
  const match = (p: string) => p === '**/*' || (p.startsWith('**/*.') && file.endsWith(p.slice(4)));
  return (
    filter.some((p) => !p.startsWith('!') && match(p)) &&
    !filter.some((p) => p.startsWith('!') && match(p.slice(1)))
  );
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)],
  );
}

/** Resources-relative paths electron-builder would copy, from the built tree. */
function packedResources(resources: Resource[]): Set<string> {
  const out = new Set<string>();
  for (const r of resources) {
    const from = join(ROOT, r.from);
    if (statSync(from).isFile()) {
      out.add(r.to);
      continue;
    }
    for (const f of walk(from)) {
      const rel = relative(from, f);
      if (passes(rel, r.filter)) out.add(join(r.to, rel));
    }
  }
  return out;
}

test("electron-builder's own schema accepts the configuration, and refuses a broken one", async () => {
  const config = await load();
  await validateConfiguration(config, new DebugLogger(false));
  const broken = { ...config, mac: { ...config.mac, notAnOption: true } } as Configuration;
  await assert.rejects(validateConfiguration(broken, new DebugLogger(false)), /configuration object/);
});

test('app id, name, macOS dmg + zip for arm64 and x64 as a menu-bar app, Linux AppImage + deb', async () => {
  const c = await load();
  assert.equal(c.appId, 'dev.gangway.app');
  assert.equal(c.productName, 'Gangway');
  const mac = c.mac!;
  assert.equal((mac.extendInfo as Record<string, unknown> | undefined)?.LSUIElement, true);
  const targets = (mac.target as { target: string; arch: string[] }[]).map((t) => [
    t.target,
    [...t.arch].sort(),
  ]);
  assert.deepEqual(targets, [
    ['dmg', ['arm64', 'x64']],
    ['zip', ['arm64', 'x64']],
  ]);
  assert.deepEqual(c.linux?.target, ['AppImage', 'deb']);
});

test('every extraResources source exists after the build, and the helper and agent have all they need', async () => {
  const c = await load();
  stageHelperModules(ROOT);
  const resources = c.extraResources as Resource[];
  for (const r of resources) assert.ok(existsSync(join(ROOT, r.from)), `${r.from} exists after the build`);
  const packed = packedResources(resources);
  console.log(`# electron-builder would pack ${packed.size} files as resources`);

  // The helper (the service runs dist/cli/gangway.js) and the agent's image context, file by file.
  const helper = agentRuntimeClosure(ROOT, 'dist/cli/gangway.js');
  const agent = agentRuntimeClosure(ROOT, 'dist/vm-agent/main.js');
  for (const f of [...helper.files, ...agent.files]) assert.ok(packed.has(f), `${f} is packed`);
  for (const f of [
    'package.json',
    'vm-agent/Dockerfile',
    'native/build/Release/gangway_native.node',
    'dist/ui/index.html',
  ])
    assert.ok(packed.has(f), `${f} is packed`);
  // Every package the helper requires, with its dependencies; no window-only package.
  const modules = helperModuleClosure(ROOT);
  for (const p of [...helper.packages, ...agent.packages]) assert.ok(modules.includes(p), `${p} is staged`);
  for (const p of modules)
    assert.ok(packed.has(join('node_modules', p, 'package.json')), `node_modules/${p} is packed`);
  assert.ok(!modules.includes('react') && !modules.includes('electron'));
  assert.ok(![...packed].some((f) => f.endsWith('.map')), 'no source maps');
});
