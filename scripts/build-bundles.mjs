#!/usr/bin/env node
// Builds the self-contained helper into dist/bundle (helper/bundle-dir.ts says what each file is for):
//   gangway.js                 the CLI and the daemon, every package inlined (dockerode, zod …)
//   gangway-agent.js           the agent, every package inlined
//   gangway-agent.Dockerfile   vm-agent/Dockerfile
//   gangway_native.node        this machine's build of the addon, loaded from beside the bundles
//   prebuilds/linux-*/gangway_native.node   Linux builds for Docker's VM, when the checkout has them
// `gangway service install` copies exactly this directory; the agent image holds the agent's three files.
// Also dist/launchd/dev.gangway.helper.plist: the SMAppService daemon the signed macOS app carries in
// Contents/Library/LaunchDaemons (src-main/daemon-service-plist.ts; tsc has compiled it by now).
// Type-checking is tsc's job (npm run build runs it first); esbuild only bundles.
import { build } from 'esbuild';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'bundle');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const common = {
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: ['node20'],
  // The bundles find their addon beside themselves and know their version without a package.json.
  define: { GANGWAY_BUNDLE: 'true', GANGWAY_VERSION: JSON.stringify(version) },
  // ssh2 (through dockerode) tries its optional native crypto and cpu-features and falls back to
  // JavaScript when they are missing; neither is needed for a local Docker socket. cpu-features becomes a
  // module that throws, not an external: a bare require() left in the bundle would search node_modules
  // folders above the install directory (npm's global /usr/local/lib/node_modules among them, which users
  // often make their own), and root would run whatever a user put there. sshcrypto.node is required by a
  // relative path, inside the bundle's own directory.
  external: ['*.node'],
  plugins: [
    {
      name: 'optional-native-stubs',
      setup(b) {
        b.onResolve({ filter: /^cpu-features$/ }, (a) => ({ path: a.path, namespace: 'stub' }));
        b.onLoad({ filter: /.*/, namespace: 'stub' }, (a) => ({
          contents: `throw new Error(${JSON.stringify(`${a.path} is not part of the Gangway bundle`)});`,
          loader: 'js',
        }));
      },
    },
  ],
  legalComments: 'eof',
  logLevel: 'warning',
};
await build({ ...common, entryPoints: [join(root, 'cli', 'gangway.ts')], outfile: join(out, 'gangway.js') });
await build({
  ...common,
  entryPoints: [join(root, 'vm-agent', 'main.ts')],
  outfile: join(out, 'gangway-agent.js'),
});
copyFileSync(join(root, 'vm-agent', 'Dockerfile'), join(out, 'gangway-agent.Dockerfile'));

const addon = join(root, 'native', 'build', 'Release', 'gangway_native.node');
if (existsSync(addon)) copyFileSync(addon, join(out, 'gangway_native.node'));
else console.warn(`build-bundles: ${addon} is missing (npm run build:native); the bundles will not run`);
const prebuilds = join(root, 'prebuilds');
// The agent's image takes a prebuild before this machine's addon (helper/docker/agent-image.ts), so a prebuild
// older than the addon's sources would run old native code in the VM against new JavaScript (an agent that
// dies with "Timer is not a constructor", say). Said loudly, not refused: it only matters for the agent.
const sources = [
  join(root, 'native', 'binding.gyp'),
  ...readdirSync(join(root, 'native', 'src')).map((n) => join(root, 'native', 'src', n)),
];
const newestSource = Math.max(...sources.map((f) => statSync(f).mtimeMs));
if (existsSync(prebuilds))
  for (const d of readdirSync(prebuilds).filter((n) => /^linux-(x64|arm64)$/.test(n))) {
    const f = join(prebuilds, d, 'gangway_native.node');
    if (!existsSync(f)) continue;
    if (statSync(f).mtimeMs < newestSource)
      console.warn(
        `build-bundles: prebuilds/${d} is older than native/src: the agent image would carry the old addon. Run: npm run prebuilds`,
      );
    mkdirSync(join(out, 'prebuilds', d), { recursive: true });
    copyFileSync(f, join(out, 'prebuilds', d, 'gangway_native.node'));
  }
const { smAppServicePlist, SM_SERVICE_NAME } = createRequire(import.meta.url)(
  join(root, 'dist', 'src-main', 'daemon-service-plist.js'),
);
mkdirSync(join(root, 'dist', 'launchd'), { recursive: true });
writeFileSync(join(root, 'dist', 'launchd', SM_SERVICE_NAME), smAppServicePlist());
console.log(`built dist/bundle (gangway.js, gangway-agent.js) for version ${version}`);
