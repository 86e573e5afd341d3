// The agent's image, `gangway/agent:<VERSION>`, built by the helper itself from what it ships: no registry
// holds it. The build context is assembled in memory (a small ustar writer below, no shelling out to tar):
//
//   Dockerfile, .dockerignore            vm-agent/Dockerfile (ARG BASE picks the base image)
//   package.json                         a minimal one (name, version, the runtime dependencies)
//   dist/**.js                           the agent's JavaScript: dist/vm-agent/main.js and what it requires,
//                                        found by following the compiled require() calls
//   node_modules/<dep>/                  each package those files require (today only zod), minus typings
//   native/build/Release/gangway_native.node   the Linux addon for the VM (on macOS a prebuilt one)
//
// The image carries a hash of all of that (and of the base image's name) as a label: when an image with the
// tag and the same hash exists, nothing is built.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import { agentArch, pickAgentAddon, prebuiltAddonPath } from './agent-addon';
import type { Logger } from '../../common/log';
import { VERSION } from '../version';

export const AGENT_IMAGE_REPO = 'gangway/agent';
export const DEFAULT_AGENT_BASE = 'node:24-bookworm-slim';
/** Image label holding the hash of the build inputs. */
export const INPUTS_LABEL = 'com.gangway.inputs';
export const VERSION_LABEL = 'com.gangway.version';
/** Bump when the way the context is assembled changes in a way the inputs do not show. */
const RECIPE = '1';

export function agentImageTag(version: string = VERSION): string {
  return `${AGENT_IMAGE_REPO}:${version}`;
}

// ---------------------------------------------------------------------------------------------------------
// A minimal tar (POSIX ustar, with a pax header for paths longer than ustar can hold).

export interface TarEntry {
  /** Relative path inside the archive, '/'-separated, no leading '/'. */
  path: string;
  type: 'file' | 'dir' | 'symlink';
  /** Permission bits (e.g. 0o644). */
  mode: number;
  /** File contents (type 'file'). */
  data?: Buffer;
  /** Link target (type 'symlink'). */
  target?: string;
  /** Seconds since the epoch; default 0, so equal inputs give byte-equal archives. */
  mtime?: number;
  uid?: number;
  gid?: number;
}

const BLOCK = 512;

function writeString(h: Buffer, offset: number, length: number, s: string): void {
  const b = Buffer.from(s, 'utf8');
  if (b.length > length) throw new Error(`tar: "${s}" does not fit in ${length} bytes`);
  b.copy(h, offset);
}

function writeOctal(h: Buffer, offset: number, length: number, n: number): void {
  const s = Math.floor(n).toString(8);
  if (n < 0 || s.length > length - 1) throw new Error(`tar: ${n} does not fit in a ${length}-byte field`);
  writeString(h, offset, length, s.padStart(length - 1, '0') + '\0');
}

/** Splits a path into ustar's prefix (<= 155 bytes) and name (<= 100 bytes), or undefined if it cannot. */
function splitUstarPath(p: string): { prefix: string; name: string } | undefined {
  if (Buffer.byteLength(p) <= 100) return { prefix: '', name: p };
  for (let i = p.indexOf('/'); i > 0; i = p.indexOf('/', i + 1)) {
    const prefix = p.slice(0, i);
    const name = p.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name) return { prefix, name };
  }
  return undefined;
}

function header(
  fields: {
    name: string;
    prefix: string;
    mode: number;
    size: number;
    mtime: number;
    uid: number;
    gid: number;
  },
  typeflag: string,
  linkname = '',
): Buffer {
  const h = Buffer.alloc(BLOCK);
  writeString(h, 0, 100, fields.name);
  writeOctal(h, 100, 8, fields.mode & 0o7777);
  writeOctal(h, 108, 8, fields.uid);
  writeOctal(h, 116, 8, fields.gid);
  writeOctal(h, 124, 12, fields.size);
  writeOctal(h, 136, 12, fields.mtime);
  h.fill(' ', 148, 156); // the checksum is computed with its own field as spaces
  writeString(h, 156, 1, typeflag);
  writeString(h, 157, 100, linkname);
  writeString(h, 257, 6, 'ustar\0');
  writeString(h, 263, 2, '00');
  writeString(h, 265, 32, 'root');
  writeString(h, 297, 32, 'root');
  writeString(h, 345, 155, fields.prefix);
  let sum = 0;
  for (const byte of h) sum += byte;
  writeString(h, 148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return h;
}

function padded(data: Buffer): Buffer[] {
  const rest = data.length % BLOCK;
  return rest ? [data, Buffer.alloc(BLOCK - rest)] : [data];
}

/** A pax extended-header record: "<len> key=value\n", where len counts the whole record. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body);
  while (String(len).length + Buffer.byteLength(body) !== len)
    len = String(len).length + Buffer.byteLength(body);
  return `${len}${body}`;
}

/** Builds a tar archive (ustar; pax headers for long names) in memory. */
export function tarArchive(entries: TarEntry[]): Buffer {
  const out: Buffer[] = [];
  for (const e of entries) {
    if (!e.path || e.path.startsWith('/') || e.path.split('/').includes('..'))
      throw new Error(`tar: bad entry path "${e.path}"`);
    const p = e.type === 'dir' && !e.path.endsWith('/') ? `${e.path}/` : e.path;
    const data = e.type === 'file' ? (e.data ?? Buffer.alloc(0)) : Buffer.alloc(0);
    const base = { mode: e.mode, mtime: e.mtime ?? 0, uid: e.uid ?? 0, gid: e.gid ?? 0 };
    const linkname = e.type === 'symlink' ? (e.target ?? '') : '';
    if (e.type === 'symlink' && !linkname) throw new Error(`tar: symlink "${e.path}" has no target`);
    let split = splitUstarPath(p);
    const pax: string[] = [];
    if (!split) {
      pax.push(paxRecord('path', p));
      split = { prefix: '', name: p.slice(-100).replace(/^[^/]*\//, '') || 'long-name' };
    }
    if (Buffer.byteLength(linkname) > 100) pax.push(paxRecord('linkpath', linkname));
    if (pax.length) {
      const body = Buffer.from(pax.join(''), 'utf8');
      out.push(header({ ...base, name: 'PaxHeader', prefix: '', mode: 0o644, size: body.length }, 'x'));
      out.push(...padded(body));
    }
    const typeflag = e.type === 'file' ? '0' : e.type === 'dir' ? '5' : '2';
    out.push(header({ ...base, ...split, size: data.length }, typeflag, linkname.slice(0, 100)));
    if (data.length) out.push(...padded(data));
  }
  out.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(out);
}

// ---------------------------------------------------------------------------------------------------------
// The build context.

/** The files under dist/ the agent loads, and the packages they require (following compiled requires). */
export function agentRuntimeClosure(
  contextRoot: string,
  entry = 'dist/vm-agent/main.js',
): { files: string[]; packages: string[] } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const queue = [path.join(contextRoot, entry)];
  if (!existsSync(queue[0]!))
    throw new Error(`${queue[0]} is missing: build the project first (npm run build)`);
  const builtin = new Set(builtinModules);
  while (queue.length) {
    const file = queue.pop()!;
    const rel = path.relative(contextRoot, file);
    if (files.has(rel)) continue;
    files.add(rel);
    const src = readFileSync(file, 'utf8');
    for (const m of src.matchAll(/\brequire\(\s*["']([^"']+)["']\s*\)/g)) {
      const spec = m[1]!;
      if (spec.startsWith('node:') || builtin.has(spec)) continue;
      if (spec.startsWith('.')) {
        const base = path.resolve(path.dirname(file), spec);
        const found = [base, `${base}.js`, path.join(base, 'index.js')].find(
          (c) => existsSync(c) && statSync(c).isFile(),
        );
        if (!found) throw new Error(`${rel} requires "${spec}", which is not in dist/`);
        if (path.relative(contextRoot, found).startsWith('..'))
          throw new Error(`${rel} requires "${spec}", outside the package`);
        queue.push(found);
      } else {
        const parts = spec.split('/');
        packages.add(spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!);
      }
    }
  }
  return { files: [...files].sort(), packages: [...packages].sort() };
}

/** Files of an installed package and of its dependencies, minus typings, TypeScript sources and maps. */
function packageEntries(contextRoot: string, name: string, seen: Set<string>, out: TarEntry[]): void {
  if (seen.has(name)) return;
  seen.add(name);
  const dir = path.join(contextRoot, 'node_modules', name);
  const pkgFile = path.join(dir, 'package.json');
  if (!existsSync(pkgFile)) throw new Error(`the agent needs the package "${name}", not found at ${dir}`);
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules') walk(full);
      } else if (e.isFile() && !/\.(?:[cm]?ts|map|md)$/.test(e.name)) {
        out.push(fileEntry(contextRoot, full));
      }
    }
  };
  walk(dir);
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { dependencies?: Record<string, string> };
  for (const dep of Object.keys(pkg.dependencies ?? {})) packageEntries(contextRoot, dep, seen, out);
}

function fileEntry(contextRoot: string, full: string, as?: string): TarEntry {
  const st = statSync(full);
  return {
    path: (as ?? path.relative(contextRoot, full)).split(path.sep).join('/'),
    type: 'file',
    mode: st.mode & 0o111 ? 0o755 : 0o644,
    data: readFileSync(full),
  };
}

export interface AgentContextOptions {
  /** The package root: holds vm-agent/Dockerfile, dist/, node_modules/, package.json. */
  contextRoot: string;
  /** The Linux build of the native addon for the VM's architecture. */
  nativeAddonPath: string;
}

/** The build context's entries, in a stable order. */
export function agentContextEntries(opts: AgentContextOptions): TarEntry[] {
  const { contextRoot } = opts;
  const closure = agentRuntimeClosure(contextRoot);
  const rootPkg = JSON.parse(readFileSync(path.join(contextRoot, 'package.json'), 'utf8')) as {
    name?: string;
    version?: string;
    dependencies?: Record<string, string>;
  };
  const dependencies: Record<string, string> = {};
  for (const p of closure.packages) {
    const range = rootPkg.dependencies?.[p];
    if (!range) throw new Error(`the agent requires "${p}", which is not a dependency in package.json`);
    dependencies[p] = range;
  }
  const pkg = { name: rootPkg.name, version: rootPkg.version, private: true, type: 'commonjs', dependencies };
  const entries: TarEntry[] = [
    fileEntry(contextRoot, path.join(contextRoot, 'vm-agent', 'Dockerfile'), 'Dockerfile'),
    { path: '.dockerignore', type: 'file', mode: 0o644, data: Buffer.from('Dockerfile\n.dockerignore\n') },
    {
      path: 'package.json',
      type: 'file',
      mode: 0o644,
      data: Buffer.from(`${JSON.stringify(pkg, null, 2)}\n`),
    },
    ...closure.files.map((f) => fileEntry(contextRoot, path.join(contextRoot, f))),
  ];
  const seen = new Set<string>();
  for (const p of closure.packages) packageEntries(contextRoot, p, seen, entries);
  if (!existsSync(opts.nativeAddonPath))
    throw new Error(`the native addon for the agent is missing: ${opts.nativeAddonPath}`);
  entries.push(fileEntry(contextRoot, opts.nativeAddonPath, 'native/build/Release/gangway_native.node'));
  return entries;
}

/** Hash of everything the image is made of: the base image's name and each entry's path, mode and bytes. */
export function agentInputsHash(entries: TarEntry[], baseImage: string): string {
  const h = createHash('sha256').update(`recipe ${RECIPE}\nbase ${baseImage}\n`);
  for (const e of [...entries].sort((a, b) => a.path.localeCompare(b.path))) {
    const content = createHash('sha256')
      .update(e.data ?? e.target ?? '')
      .digest('hex');
    h.update(`${e.path} ${e.type} ${e.mode.toString(8)} ${content}\n`);
  }
  return h.digest('hex');
}

// ---------------------------------------------------------------------------------------------------------
// Building.

export interface EnsureAgentImageOptions extends AgentContextOptions {
  /** Default node:24-bookworm-slim; offline rigs pass gangway-rig/agent-base:latest. */
  baseImage?: string;
  log: Logger;
  /** Each line of the build's output. */
  onProgress?: (line: string) => void;
  /** Default gangway/agent:<VERSION>. */
  tag?: string;
}

export interface AgentImageResult {
  tag: string;
  how: 'present' | 'built';
  inputsHash: string;
  /** The image's ID. */
  id: string;
}

/** One message of Docker's JSON build stream. */
interface BuildMessage {
  stream?: string;
  status?: string;
  progress?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { ID?: string };
}

/** Reads Docker's JSON-lines build (or pull) stream; progress lines go to onLine; throws on an error. */
export async function followBuildStream(
  stream: NodeJS.ReadableStream,
  onLine: (line: string) => void,
): Promise<{ imageId?: string }> {
  let rest = '';
  let imageId: string | undefined;
  let error: string | undefined;
  const handle = (text: string) => {
    if (!text.trim()) return;
    let msg: BuildMessage;
    try {
      msg = JSON.parse(text) as BuildMessage;
    } catch {
      onLine(text.trim());
      return;
    }
    if (msg.error || msg.errorDetail) {
      error ??= msg.errorDetail?.message || msg.error || 'unknown error';
      return;
    }
    if (msg.aux?.ID) imageId = msg.aux.ID;
    const line = msg.stream ?? (msg.status ? `${msg.status}${msg.progress ? ` ${msg.progress}` : ''}` : '');
    for (const l of line.split('\n')) if (l.trim()) onLine(l.trimEnd());
  };
  for await (const chunk of stream as AsyncIterable<Buffer | string>) {
    rest += chunk.toString();
    const lines = rest.split('\n');
    rest = lines.pop() ?? '';
    for (const l of lines) handle(l);
  }
  handle(rest);
  if (error !== undefined) throw new Error(error.trim());
  return { imageId };
}

async function inspectLabel(
  docker: Dockerode,
  tag: string,
): Promise<{ id: string; hash?: string } | undefined> {
  try {
    const info = await docker.getImage(tag).inspect();
    return { id: info.Id, hash: info.Config?.Labels?.[INPUTS_LABEL] };
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return undefined;
    throw err;
  }
}

/** Makes sure the agent image exists for this version and these inputs; builds it when not. */
export async function ensureAgentImage(
  docker: Dockerode,
  opts: EnsureAgentImageOptions,
): Promise<AgentImageResult> {
  const tag = opts.tag ?? agentImageTag();
  const baseImage = opts.baseImage ?? DEFAULT_AGENT_BASE;
  const arch = await agentArch(docker, baseImage);
  const nativeAddonPath = pickAgentAddon(
    [prebuiltAddonPath(opts.contextRoot, arch), opts.nativeAddonPath],
    arch,
  );
  const entries = agentContextEntries({ ...opts, nativeAddonPath });
  const inputsHash = agentInputsHash(entries, baseImage);
  const have = await inspectLabel(docker, tag);
  if (have?.hash === inputsHash) return { tag, how: 'present', inputsHash, id: have.id };

  const t0 = Date.now();
  opts.log.info('building the agent image', { tag, base: baseImage, files: entries.length });
  const context = tarArchive(entries);
  const stream = await docker.buildImage(Readable.from([context]), {
    t: tag,
    dockerfile: 'Dockerfile',
    buildargs: { BASE: baseImage },
    labels: { [INPUTS_LABEL]: inputsHash, [VERSION_LABEL]: VERSION },
    rm: true,
    forcerm: true,
  });
  const tail: string[] = [];
  try {
    await followBuildStream(stream, (line) => {
      tail.push(line);
      if (tail.length > 20) tail.shift();
      opts.onProgress?.(line);
    });
  } catch (err) {
    throw new Error(`cannot build the agent image ${tag} (base ${baseImage}): ${(err as Error).message}`);
  }
  const built = await inspectLabel(docker, tag);
  if (built?.hash !== inputsHash)
    throw new Error(`the agent image ${tag} was not built; the build said:\n${tail.join('\n')}`);
  opts.log.info('agent image built', { tag, ms: Date.now() - t0, contextBytes: context.length });
  await pruneOldAgentImages(docker, built.id, opts.log);
  return { tag, how: 'built', inputsHash, id: built.id };
}

/** Removes older gangway/agent images (other versions, or the one this build replaced). Images still used by
 *  a container stay (Docker refuses without force); never throws. */
async function pruneOldAgentImages(docker: Dockerode, keepId: string, log: Logger): Promise<void> {
  try {
    const images = await docker.listImages({ filters: { reference: [AGENT_IMAGE_REPO] } });
    const dangling = await docker.listImages({ filters: { dangling: ['true'], label: [INPUTS_LABEL] } });
    const byId = new Map([...images, ...dangling].map((img) => [img.Id, img]));
    for (const img of byId.values()) {
      if (img.Id === keepId) continue;
      try {
        await docker.getImage(img.Id).remove({ noprune: false });
        log.info('removed an old agent image', { id: img.Id.slice(0, 19), tags: img.RepoTags ?? [] });
      } catch (err) {
        log.debug('kept an old agent image', { id: img.Id.slice(0, 19), error: (err as Error).message });
      }
    }
  } catch (err) {
    log.debug('cannot list old agent images', { error: (err as Error).message });
  }
}
