// The agent's image, `gangway/agent:<VERSION>`, built by the helper itself from what it ships: no registry
// holds it. The build context is exactly three files, taken from the helper's bundle directory
// (helper/bundle-dir.ts) and packed in memory by tar-stream:
//
//   Dockerfile            gangway-agent.Dockerfile (vm-agent/Dockerfile; ARG BASE picks the base image)
//   gangway-agent.js      the agent, one esbuild bundle (its only package, zod, inlined)
//   gangway_native.node   the Linux addon for the VM's CPU (agent-addon.ts picks it)
//
// The image carries a hash of all of that (and of the base image's name) as a label: when an image with the
// tag and the same hash exists, nothing is built.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import { agentArch, pickAgentAddon, prebuiltAddonPath } from './agent-addon';
import { tarArchive, type TarEntry } from './tar';
import { BUNDLE_FILES } from '../bundle-dir';
import { LineBuffer } from '../../common/line-buffer';
import type { Logger } from '../../common/log';
import { VERSION } from '../version';

export const AGENT_IMAGE_REPO = 'gangway/agent';
export const DEFAULT_AGENT_BASE = 'node:24-bookworm-slim';
/** Image label holding the hash of the build inputs. */
export const INPUTS_LABEL = 'com.gangway.inputs';
export const VERSION_LABEL = 'com.gangway.version';
/** Bump when the way the context is assembled changes in a way the inputs do not show. */
const RECIPE = '2';

export function agentImageTag(version: string = VERSION): string {
  return `${AGENT_IMAGE_REPO}:${version}`;
}

function fileEntry(full: string, as: string, mode: number): TarEntry {
  if (!existsSync(full)) throw new Error(`${full} is missing: build the project first (npm run build)`);
  return { path: as, type: 'file', mode, data: readFileSync(full) };
}

export interface AgentContextOptions {
  /** The helper's bundle directory: holds gangway-agent.js and gangway-agent.Dockerfile. */
  bundleDir: string;
  /** The Linux build of the native addon for the VM's architecture. */
  nativeAddonPath: string;
}

/** The build context's entries, in a stable order: the Dockerfile, the agent's bundle, its addon. */
export function agentContextEntries(opts: AgentContextOptions): TarEntry[] {
  if (!existsSync(opts.nativeAddonPath))
    throw new Error(`the native addon for the agent is missing: ${opts.nativeAddonPath}`);
  return [
    fileEntry(path.join(opts.bundleDir, BUNDLE_FILES.agentDockerfile), 'Dockerfile', 0o644),
    fileEntry(path.join(opts.bundleDir, BUNDLE_FILES.agent), BUNDLE_FILES.agent, 0o644),
    fileEntry(opts.nativeAddonPath, BUNDLE_FILES.addon, 0o755),
  ];
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

/**
 * A fingerprint of every file the agent image may be built from (the agent, its Dockerfile, the addons of
 * both VM architectures and the helper's own), whichever architecture asks; undefined when none can be read.
 * The daemon takes it at start and compares before each build: an app update replaces the bundle that an
 * SMAppService helper runs from while the old helper runs on, and that helper would build the new version's
 * agent, which may not speak its protocol.
 */
export function bundleInputsStamp(bundleDir: string): string | undefined {
  const files = [
    BUNDLE_FILES.agentDockerfile,
    BUNDLE_FILES.agent,
    BUNDLE_FILES.addon,
    ...(['x86_64', 'aarch64'] as const).map((a) => path.relative(bundleDir, prebuiltAddonPath(bundleDir, a))),
  ];
  const h = createHash('sha256');
  let read = 0;
  for (const f of files) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(path.join(bundleDir, f));
    } catch {
      h.update(`${f} -\n`);
      continue;
    }
    read++;
    h.update(`${f} ${createHash('sha256').update(bytes).digest('hex')}\n`);
  }
  return read ? h.digest('hex') : undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Building.

export interface EnsureAgentImageOptions {
  /** The helper's bundle directory (helper/bundle-dir.ts): the agent's files and the addons. */
  bundleDir: string;
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

const MAX_BUILD_LINE = 8 * 1024 * 1024;

/** Reads Docker's JSON-lines build (or pull) stream; progress lines go to onLine; throws on an error. */
export async function followBuildStream(
  stream: NodeJS.ReadableStream,
  onLine: (line: string) => void,
): Promise<{ imageId?: string }> {
  // A stream that ends without a newline still ends in a message. Docker sends one JSON message a line: a
  // line of megabytes is no build's progress, and the daemon is not to hold it without bound.
  const lines = new LineBuffer({ maxPending: MAX_BUILD_LINE, overflow: 'fail' });
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
  for await (const chunk of stream as AsyncIterable<Buffer | string>)
    for (const l of lines.push(chunk)) handle(l);
  handle(lines.end() ?? '');
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
  // A Linux helper's own addon fits a VM of the same CPU; a Mac's never does, so prebuilds come first.
  const nativeAddonPath = pickAgentAddon(
    [prebuiltAddonPath(opts.bundleDir, arch), path.join(opts.bundleDir, BUNDLE_FILES.addon)],
    arch,
  );
  const entries = agentContextEntries({ bundleDir: opts.bundleDir, nativeAddonPath });
  const inputsHash = agentInputsHash(entries, baseImage);
  const have = await inspectLabel(docker, tag);
  if (have?.hash === inputsHash) return { tag, how: 'present', inputsHash, id: have.id };

  const t0 = Date.now();
  opts.log.info('building the agent image', { tag, base: baseImage, files: entries.length });
  const context = await tarArchive(entries);
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
