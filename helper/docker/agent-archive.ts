// `gangway agent export FILE` / `gangway agent import FILE`: the agent image as a file (docker save / docker
// load), for Docker engines that cannot pull the base image (no registry, an air-gapped VM). Export on a
// machine where `gangway up` built the image; import on the other, which then finds the image with the same
// inputs label and builds nothing (the same Gangway version builds the same image, see agent-image.ts).
import { createReadStream, createWriteStream, existsSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import Dockerode from 'dockerode';
import { INPUTS_LABEL, VERSION_LABEL, agentImageTag } from './agent-image';
import { resolveDockerEndpoint } from './docker-endpoint';

export const AGENT_ARCHIVE_USAGE = `Usage: gangway agent export FILE [--docker-host URL]
       gangway agent import FILE [--docker-host URL]

Saves the agent image (${agentImageTag()}) to FILE, or loads it from FILE: for a Docker VM that cannot pull
the agent's base image. "gangway up" builds the image; export it there, import it on the other machine.
  --docker-host URL   Docker's API (default: DOCKER_HOST, the current docker context, the platform socket)`;

export class AgentArchiveError extends Error {
  constructor(
    readonly code: 'NO_IMAGE' | 'FILE' | 'NOT_AN_AGENT_ARCHIVE',
    message: string,
  ) {
    super(message);
  }
}

/** One line of docker load's JSON stream. */
interface LoadMessage {
  stream?: string;
  error?: string;
  errorDetail?: { message?: string };
}

/** Writes the agent image to `file` (through a temp file, so a failed export leaves no partial file). */
export async function exportAgentImage(
  docker: Dockerode,
  file: string,
  tag = agentImageTag(),
): Promise<{ tag: string; id: string; arch: string; bytes: number }> {
  let info: Dockerode.ImageInspectInfo;
  try {
    info = await docker.getImage(tag).inspect();
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode !== 404) throw err;
    throw new AgentArchiveError(
      'NO_IMAGE',
      `this Docker has no ${tag}: run "gangway up" once (it builds the image), then export it`,
    );
  }
  const dir = path.dirname(path.resolve(file));
  if (!existsSync(dir)) throw new AgentArchiveError('FILE', `cannot write ${file}: ${dir} does not exist`);
  const tmp = `${file}.partial-${process.pid}`;
  try {
    const stream = await docker.getImage(tag).get();
    await pipeline(stream, createWriteStream(tmp, { mode: 0o644, flags: 'wx' }));
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  return { tag, id: info.Id, arch: info.Architecture, bytes: statSync(file).size };
}

/** Loads `file` into Docker; it must hold the agent image (by its label), or nothing is claimed. */
export async function importAgentImage(
  docker: Dockerode,
  file: string,
  tag = agentImageTag(),
): Promise<{ tag: string; id: string; arch: string; version: string }> {
  try {
    if (!statSync(file).isFile()) throw new Error('not a regular file');
  } catch (err) {
    throw new AgentArchiveError('FILE', `cannot read ${file}: ${(err as Error).message}`);
  }
  const out = await docker.loadImage(createReadStream(file), { quiet: true });
  let text = '';
  for await (const chunk of out as AsyncIterable<Buffer | string>) text += chunk.toString();
  const loaded: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let msg: LoadMessage;
    try {
      msg = JSON.parse(line) as LoadMessage;
    } catch {
      continue;
    }
    const error = msg.errorDetail?.message ?? msg.error;
    if (error) throw new AgentArchiveError('NOT_AN_AGENT_ARCHIVE', `docker load refused ${file}: ${error}`);
    const name = /^Loaded image(?: ID)?: (\S+)/.exec(msg.stream ?? '')?.[1];
    if (name) loaded.push(name);
  }
  // Judge by what this load said, not by what the engine had before.
  if (!loaded.includes(tag))
    throw new AgentArchiveError(
      'NOT_AN_AGENT_ARCHIVE',
      `${file} holds ${loaded.join(', ') || 'no tagged image'}, not ${tag} (another Gangway version's ` +
        'archive, or another image): export it again with this version',
    );
  const info = await docker.getImage(tag).inspect();
  if (!info.Config?.Labels?.[INPUTS_LABEL])
    throw new AgentArchiveError('NOT_AN_AGENT_ARCHIVE', `${tag} from ${file} was not built by Gangway`);
  return { tag, id: info.Id, arch: info.Architecture, version: info.Config.Labels[VERSION_LABEL] ?? '' };
}

/** `gangway agent …`; returns the exit code (0 ok, 1 failure, 2 usage). */
export async function runAgentCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: { 'docker-host': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    console.log(AGENT_ARCHIVE_USAGE);
    return 0;
  }
  const [verb, file, ...extra] = positionals;
  if ((verb !== 'export' && verb !== 'import') || !file || extra.length) {
    console.error(`gangway agent: expected "export FILE" or "import FILE"\n\n${AGENT_ARCHIVE_USAGE}`);
    return 2;
  }
  const docker = new Dockerode(resolveDockerEndpoint(values['docker-host']).options);
  try {
    if (verb === 'export') {
      const r = await exportAgentImage(docker, file);
      console.log(`saved ${r.tag} (${r.arch}, ${r.id.slice(0, 19)}) to ${file}: ${r.bytes} bytes`);
    } else {
      const r = await importAgentImage(docker, file);
      console.log(`loaded ${r.tag} (${r.arch}, version ${r.version}, ${r.id.slice(0, 19)}) from ${file}`);
    }
    return 0;
  } catch (err) {
    console.error(`gangway agent ${verb}: ${(err as Error).message}`);
    return 1;
  }
}
