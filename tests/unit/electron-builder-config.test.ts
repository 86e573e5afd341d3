// electron-builder.yml, checked without packaging (Electron cannot be downloaded here): electron-builder's
// own schema validation, the fields the issue asks for, and the file list its extraResources would pack —
// every source present after the build: the helper's bundle directory and the window's files, nothing else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { DebugLogger, log } from 'builder-util';
import { getConfig, validateConfiguration } from 'app-builder-lib/out/util/config/config';
import type { Configuration } from 'app-builder-lib';
import { BUNDLE_FILES } from '../../helper/bundle-dir';

const ROOT = resolve(__dirname, '..', '..', '..');

interface Resource {
  from: string;
  to: string;
  filter?: string[];
}

const load = () => getConfig(ROOT, 'electron-builder.yml', null);

// electron-builder logs ("• loaded configuration") to stdout in pieces, and node's test runner reads stdout
// for its own messages: a piece landing amid one now and then broke the run ("Unable to deserialize cloned
// data"). Its log goes to stderr here.
Object.assign(log, { stream: process.stderr });

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
  // macOS 13+: the SMAppService daemon's plist lands in Contents/Library/LaunchDaemons.
  const extra = (mac.extraFiles ?? []) as Resource[];
  const plist = extra.find((r) => r.to === 'Library/LaunchDaemons/dev.gangway.helper.plist');
  assert.ok(plist, 'mac.extraFiles carries the daemon plist');
  assert.match(readFileSync(join(ROOT, plist.from), 'utf8'), /<key>BundleProgram<\/key>/);
});

test('every extraResources source exists after the build; the helper ships as its bundle directory', async (t) => {
  const c = await load();
  const resources = c.extraResources as Resource[];
  for (const r of resources) assert.ok(existsSync(join(ROOT, r.from)), `${r.from} exists after the build`);
  const packed = packedResources(resources);
  t.diagnostic(`electron-builder would pack ${packed.size} files as resources`);
  // `gangway service install` copies Resources/helper; the daemon builds the agent image from it.
  for (const f of Object.values(BUNDLE_FILES))
    assert.ok(packed.has(join('helper', f)), `helper/${f} is packed`);
  assert.ok(packed.has('dist/ui/index.html'));
  // No loose JavaScript or packages beside the bundles: the helper needs nothing it does not carry.
  assert.deepEqual(
    [...packed].filter((f) => !f.startsWith('helper/') && !f.startsWith('dist/ui/')),
    [],
  );
  assert.ok(![...packed].some((f) => f.endsWith('.map')), 'no source maps');
});
