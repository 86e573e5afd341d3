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
import { checkPrebuild } from '../../scripts/prebuild-check';

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

/** What electron-builder copies as resources for one platform and CPU: the root list, then the platform's
 *  own (it merges both), with the \${arch} macro expanded as it does. */
function resourcesFor(c: Configuration, platform: 'mac' | 'linux', arch: 'x64' | 'arm64'): Resource[] {
  const own = (c[platform]?.extraResources ?? []) as Resource[];
  return [...(c.extraResources as Resource[]), ...own].map((r) => ({
    ...r,
    from: r.from.replaceAll('${arch}', arch),
  }));
}

/** The few glob shapes the config uses: "**\/*", "**\/*.ext", a plain relative path, and "!" to exclude. */
function passes(file: string, filter: string[] | undefined): boolean {
  if (!filter) return true;
  const match = (p: string) =>
    p === '**/*' || p === file || (p.startsWith('**/*.') && file.endsWith(p.slice(4)));
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
  const resources = resourcesFor(c, 'linux', process.arch === 'arm64' ? 'arm64' : 'x64');
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

test("prebuilds: the darwin addon for each Mac CPU as the helper's, both Linux ones for the agent image", async () => {
  const c = await load();
  for (const arch of ['arm64', 'x64'] as const) {
    for (const platform of ['mac', 'linux'] as const) {
      const resources = resourcesFor(c, platform, arch);
      const packed = packedResources(resources);
      // Exactly one source lands on the helper's addon: the platform's own, never the build machine's.
      const addon = resources.filter(
        (r) =>
          r.to === `helper/${BUNDLE_FILES.addon}` ||
          (r.to === 'helper' && passes(BUNDLE_FILES.addon, r.filter)),
      );
      assert.equal(addon.length, 1, `${platform} ${arch}: one helper addon`);
      if (platform === 'mac') {
        assert.equal(addon[0]!.from, `prebuilds/darwin-${arch}/gangway_native.node`);
        assert.deepEqual(checkPrebuild(join(ROOT, addon[0]!.from), `darwin-${arch}`), []);
      }
      for (const linux of ['linux-x64', 'linux-arm64'] as const) {
        const to = `helper/prebuilds/${linux}/gangway_native.node`;
        assert.ok(packed.has(to), `${platform} ${arch}: ${to} is packed`);
        assert.deepEqual(
          checkPrebuild(join(ROOT, 'dist/bundle/prebuilds', linux, 'gangway_native.node'), linux),
          [],
          'and is what its folder says',
        );
      }
    }
  }
  // getConfig normalises files to one FileSet whose filter is the list.
  const files = (c.files as { filter?: string[] }[]).flatMap((f) => f.filter ?? []);
  assert.ok(files.includes('!node_modules/@ryoppippi/**'), 'zig, a build tool, is not packed');
});
