// Base images for the rig, built without any registry (none is reachable here): a root filesystem is
// assembled from this machine's own files and `docker import`ed.
//
//   gangway-rig/busybox:latest     busybox-static with all its applets (sh, httpd, nc, wget, ping, ip ...).
//                                  Beware: this busybox's `wget -T N` segfaults (1.35.0-4+deb12u1);
//                                  use `timeout N wget ...` instead.
//   gangway-rig/agent-base:latest  node (the agent is a node program), iptables in both flavours
//                                  (iptables-nft and iptables-legacy, plain `iptables` = nft as on Debian 12),
//                                  iproute2's ip, dash as sh, and busybox's small tools
//
// Copying from the host (binaries plus what `ldd` lists, plus the xtables modules) takes seconds and needs
// no network; debootstrap would need Debian's mirror and minutes. The tarballs are cached in
// /var/cache/gangway-rig/ under a hash of the recipe and of every input file's path, size and mtime, and the
// hash is stored as an image label, so an engine that already has the image skips the import.
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import {
  chmod,
  copyFile,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readlink,
  realpath,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';
import { run } from './exec';
import { DEFAULT_DOCKER_CLI } from './dockerd';

export const BUSYBOX_IMAGE = 'gangway-rig/busybox:latest';
export const AGENT_BASE_IMAGE = 'gangway-rig/agent-base:latest';
export const IMAGE_CACHE_DIR = '/var/cache/gangway-rig';
const HASH_LABEL = 'gangway.rig.inputs';
/** Bump when a recipe changes in a way the input files do not show. */
const RECIPE_VERSION = '2';
const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

type Entry =
  | { type: 'file'; from: string }
  | { type: 'symlink'; target: string }
  | { type: 'dir'; mode: number }
  | { type: 'text'; text: string };
/** Absolute path inside the image -> what goes there. */
type Rootfs = Map<string, Entry>;

export interface BuildImagesOptions {
  dockerCli?: string;
  cacheDir?: string;
  /** Called with a line for each long step. */
  progress?: (message: string) => void;
}

export interface ImageResult {
  tag: string;
  inputsHash: string;
  /** present: the engine already had it; cached: imported from the cached tarball; built: assembled now. */
  how: 'present' | 'cached' | 'built';
  ms: number;
}

/** Builds (or finds) both rig images in the engine at dockerHost (`unix://...`). */
export async function buildRigImages(
  dockerHost: string,
  opts: BuildImagesOptions = {},
): Promise<ImageResult[]> {
  const results: ImageResult[] = [];
  results.push(await ensureImage(dockerHost, BUSYBOX_IMAGE, busyboxRootfs, ['CMD ["sh"]'], opts));
  results.push(await ensureImage(dockerHost, AGENT_BASE_IMAGE, agentBaseRootfs, ['CMD ["node"]'], opts));
  return results;
}

async function ensureImage(
  dockerHost: string,
  tag: string,
  recipe: () => Promise<Rootfs>,
  changes: string[],
  opts: BuildImagesOptions,
): Promise<ImageResult> {
  const t0 = Date.now();
  const say = (m: string) => opts.progress?.(`${tag}: ${m}`);
  const docker = (args: string[], allowFail = false) =>
    run(opts.dockerCli ?? DEFAULT_DOCKER_CLI, ['-H', dockerHost, ...args], { timeoutMs: 300_000, allowFail });
  const rootfs = await recipe();
  const hash = await inputsHash(rootfs);
  const have = await docker(
    ['image', 'inspect', '--format', `{{index .Config.Labels "${HASH_LABEL}"}}`, tag],
    true,
  );
  if (have.code === 0 && have.stdout.trim() === hash) {
    say('already present');
    return { tag, inputsHash: hash, how: 'present', ms: Date.now() - t0 };
  }
  const cacheDir = opts.cacheDir ?? IMAGE_CACHE_DIR;
  const tarball = path.join(cacheDir, `${tag.replace(/[/:]/g, '_')}-${hash.slice(0, 16)}.tar`);
  let how: ImageResult['how'] = 'cached';
  if (!(await exists(tarball))) {
    how = 'built';
    say(`assembling ${rootfs.size} files into ${tarball}`);
    await writeTarball(rootfs, tarball);
    await pruneOtherVersions(tarball);
  }
  say(`importing ${Math.round((await stat(tarball)).size / 1e6)} MB`);
  const changeArgs = [...changes, `ENV ${PATH_ENV}`, `LABEL ${HASH_LABEL}=${hash}`].flatMap((c) => [
    '--change',
    c,
  ]);
  await docker(['import', ...changeArgs, tarball, tag]);
  say(`${how} in ${Date.now() - t0} ms`);
  return { tag, inputsHash: hash, how, ms: Date.now() - t0 };
}

async function busyboxRootfs(): Promise<Rootfs> {
  const fs: Rootfs = new Map();
  const busybox = await realpath('/bin/busybox'); // from busybox-static: no shared libraries
  fs.set('/bin/busybox', { type: 'file', from: busybox });
  for (const applet of await busyboxApplets(busybox))
    fs.set(`/bin/${applet}`, { type: 'symlink', target: 'busybox' });
  fs.set('/www/index.html', { type: 'text', text: 'gangway-rig busybox\n' });
  addBasics(fs);
  return fs;
}

async function agentBaseRootfs(): Promise<Rootfs> {
  const fs: Rootfs = new Map();
  // Keep the host's merged-/usr layout (/lib -> usr/lib ...) so library paths from ldd resolve as they do here.
  for (const top of ['/bin', '/sbin', '/lib', '/lib64']) {
    const st = await lstat(top).catch(() => undefined);
    if (st?.isSymbolicLink()) fs.set(top, { type: 'symlink', target: await readlink(top) });
  }
  const nftMulti = await findBinary('xtables-nft-multi');
  const legacyMulti = await findBinary('xtables-legacy-multi');
  const dash = await findBinary('dash');
  const binaries = [process.execPath, nftMulti, legacyMulti, await findBinary('ip'), dash];
  const libs = await sharedLibs(binaries);
  const libxtables = libs.find((l) => path.basename(l).startsWith('libxtables.so'));
  if (!libxtables) throw new Error(`ldd ${nftMulti} does not list libxtables`);
  // iptables loads its matches and targets (libxt_*.so) with dlopen: ldd cannot see them.
  const xtablesDir = path.join(path.dirname(await realpath(libxtables)), 'xtables');
  const modules = (await readdir(xtablesDir))
    .filter((f) => f.endsWith('.so'))
    .map((f) => path.join(xtablesDir, f));
  for (const p of [...binaries, ...libs, ...modules, ...(await sharedLibs(modules))])
    await addHostPath(fs, p);
  for (const p of [
    '/etc/ethertypes',
    '/etc/protocols',
    '/etc/services',
    ...(await filesUnder('/etc/iproute2')),
  ]) {
    if (await exists(p)) await addHostPath(fs, p);
  }
  // The alternatives Debian would set up: plain iptables is nft (like dockerd here); both flavours callable.
  const sbin = '/usr/sbin';
  for (const fam of ['iptables', 'ip6tables']) {
    for (const suffix of ['', '-save', '-restore']) {
      fs.set(`${sbin}/${fam}${suffix}`, { type: 'symlink', target: path.basename(nftMulti) });
      fs.set(`${sbin}/${fam}-nft${suffix}`, { type: 'symlink', target: path.basename(nftMulti) });
      fs.set(`${sbin}/${fam}-legacy${suffix}`, { type: 'symlink', target: path.basename(legacyMulti) });
    }
  }
  // The shell is dash, not busybox: Debian's busybox ash prefers its own applets to PATH, so `sh -c ip`
  // would run busybox's ip instead of iproute2's. busybox still gives small tools; real binaries win.
  fs.set('/usr/bin/sh', { type: 'symlink', target: path.basename(dash) });
  const busybox = await realpath('/bin/busybox');
  fs.set('/usr/bin/busybox', { type: 'file', from: busybox });
  for (const applet of await busyboxApplets(busybox)) {
    if (!fs.has(`/usr/bin/${applet}`) && !fs.has(`/usr/sbin/${applet}`)) {
      fs.set(`/usr/bin/${applet}`, { type: 'symlink', target: 'busybox' });
    }
  }
  addBasics(fs);
  return fs;
}

function addBasics(fs: Rootfs): void {
  fs.set('/etc/passwd', { type: 'text', text: 'root:x:0:0:root:/root:/bin/sh\n' });
  fs.set('/etc/group', { type: 'text', text: 'root:x:0:\n' });
  fs.set('/tmp', { type: 'dir', mode: 0o1777 });
  fs.set('/root', { type: 'dir', mode: 0o700 });
  fs.set('/run', { type: 'dir', mode: 0o755 });
}

/** Adds a host file at the same place, keeping each symlink hop (libfoo.so.1 -> libfoo.so.1.2.3).
 *  Directories are resolved first, so /lib/x/libc.so.6 lands at /usr/lib/x/libc.so.6 under merged /usr. */
async function addHostPath(fs: Rootfs, p: string): Promise<void> {
  const real = path.join(await realpath(path.dirname(p)), path.basename(p));
  if (fs.has(real)) return;
  const st = await lstat(real);
  if (st.isSymbolicLink()) {
    const target = await readlink(real);
    fs.set(real, { type: 'symlink', target });
    await addHostPath(fs, path.resolve(path.dirname(real), target));
  } else if (st.isFile()) {
    fs.set(real, { type: 'file', from: real });
  }
}

/** Every shared library the files need, transitively (ldd asks the real loader). */
async function sharedLibs(files: string[]): Promise<string[]> {
  const { stdout } = await run('ldd', files, { allowFail: true });
  const libs = new Set<string>();
  for (const line of stdout.split('\n')) {
    const m = /=>\s+(\/\S+)/.exec(line) ?? /^\s+(\/\S+)\s+\(0x/.exec(line);
    if (m?.[1]) libs.add(m[1]);
  }
  return [...libs];
}

async function findBinary(name: string): Promise<string> {
  for (const dir of ['/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    const p = path.join(dir, name);
    if (await exists(p)) return p;
  }
  throw new Error(`${name} not found; install iptables and iproute2 (apt-get install iptables iproute2)`);
}

async function busyboxApplets(busybox: string): Promise<string[]> {
  const { stdout } = await run(busybox, ['--list']);
  return stdout.split('\n').filter((a) => /^[\w.[-]+$/.test(a) && a !== 'busybox');
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath ?? e.path, e.name));
}

/** Hash of the recipe's result: paths, symlink targets, texts, and each host file's size and mtime
 *  (package-managed files change both when upgraded; hashing 100 MB of node each run would cost more). */
async function inputsHash(fs: Rootfs): Promise<string> {
  const h = createHash('sha256').update(`recipe ${RECIPE_VERSION}\n`);
  for (const [p, e] of [...fs].sort(([a], [b]) => a.localeCompare(b))) {
    if (e.type === 'file') {
      const st = await stat(e.from);
      h.update(`${p} file ${e.from} ${st.size} ${st.mtimeMs} ${st.mode}\n`);
    } else h.update(`${p} ${JSON.stringify(e)}\n`);
  }
  return h.digest('hex');
}

/** Writes the tree into a temp dir next to the cache, tars it (owned by root), and renames into place. */
async function writeTarball(fs: Rootfs, tarball: string): Promise<void> {
  await mkdir(path.dirname(tarball), { recursive: true });
  const tmp = await mkdtemp(path.join(path.dirname(tarball), 'tmp-'));
  try {
    const root = path.join(tmp, 'root');
    await mkdir(root, { mode: 0o755 });
    for (const [p, e] of [...fs].sort(([a], [b]) => a.localeCompare(b))) {
      const dest = path.join(root, p);
      await mkdir(path.dirname(dest), { recursive: true });
      if (e.type === 'file') {
        await copyFile(e.from, dest, constants.COPYFILE_FICLONE);
        await chmod(dest, (await stat(e.from)).mode & 0o7777);
      } else if (e.type === 'symlink') await symlink(e.target, dest);
      else if (e.type === 'text') await writeFile(dest, e.text, { mode: 0o644 });
      else {
        await mkdir(dest, { recursive: true });
        await chmod(dest, e.mode);
      }
    }
    const out = path.join(tmp, 'image.tar');
    await run(
      'tar',
      ['--numeric-owner', '--owner=0', '--group=0', '--sort=name', '-C', root, '-cf', out, '.'],
      {
        timeoutMs: 300_000,
      },
    );
    await rename(out, tarball);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Drops cached tarballs of the same image built from older inputs (`<image>-<hash>.tar`). */
async function pruneOtherVersions(tarball: string): Promise<void> {
  const dir = path.dirname(tarball);
  const prefix = path.basename(tarball).replace(/-[0-9a-f]{16}\.tar$/, '-');
  for (const f of await readdir(dir)) {
    if (
      f.startsWith(prefix) &&
      /^[0-9a-f]{16}\.tar$/.test(f.slice(prefix.length)) &&
      path.join(dir, f) !== tarball
    ) {
      await rm(path.join(dir, f), { force: true });
    }
  }
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}
