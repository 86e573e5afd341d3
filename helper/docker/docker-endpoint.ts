// Where the Docker API is, decided the way the docker CLI decides it (--docker-host, DOCKER_HOST, the
// current context, the platform's usual sockets), so that Gangway talks to the same engine the user's
// `docker` commands do. The helper runs as root: under sudo, the invoking user's ~/.docker is the one that
// names their context, not root's; as a service, the console user's or the installing user's
// (docker-locate.ts).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { listDir, ownerOf, passwdEntries, serviceUserHome, type ServiceUserEnv } from './docker-locate';

export type DockerConnectOptions =
  | { socketPath: string }
  | { protocol: 'http' | 'https'; host: string; port: number; ca?: Buffer; cert?: Buffer; key?: Buffer };

export interface DockerEndpoint {
  source: 'option' | 'env' | 'context' | 'default';
  /** The URL as given or found (unix:///..., tcp://host:port), for logs and status. */
  url: string;
  /** Options for `new Dockerode(...)`. */
  options: DockerConnectOptions;
  context?: string;
  /** Things the user may want to know (an unreadable context, none of the usual sockets exists). */
  warnings: string[];
}

export interface EndpointEnv extends ServiceUserEnv {
  env: NodeJS.ProcessEnv;
  exists: (path: string) => boolean;
  /** The passwd file used to find SUDO_USER's home (macOS has no users there: /Users/<name> then). */
  passwdFile: string;
}

export class DockerEndpointError extends Error {}

const DEFAULT_SOCKET = '/var/run/docker.sock';

/** Where Podman on macOS keeps its machines (recent versions also the default machine's API socket). */
function podmanMachineDir(home: string): string {
  return join(home, '.local', 'share', 'containers', 'podman', 'machine');
}

function defaults(): EndpointEnv {
  return {
    env: process.env,
    platform: process.platform,
    exists: existsSync,
    readFile: (p) => readFileSync(p),
    passwdFile: '/etc/passwd',
    uid: process.getuid?.() ?? -1,
    consoleFile: '/dev/console',
    usersDir: '/Users',
    ownerOf,
    listDir,
  };
}

/** The home of the person who ran the helper: SUDO_USER's when run under sudo; as a root service, the
 *  console or installing user's (docker-locate.ts); else $HOME. */
export function invokingUserHome(
  e: Pick<EndpointEnv, 'env' | 'platform' | 'readFile' | 'passwdFile'> & Partial<ServiceUserEnv>,
): string {
  const user = e.env.SUDO_USER;
  if (user && user !== 'root' && /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(user)) {
    const entry = passwdEntries(e).find((f) => f[0] === user && f[5] && isAbsolute(f[5]));
    if (entry) return entry[5]!;
    // No entry (macOS keeps users in Directory Services): the platform's convention.
    if (e.platform === 'darwin') return `/Users/${user}`;
    return e.env.HOME || homedir();
  }
  const { uid, consoleFile, usersDir, ownerOf: owner, listDir: list } = e;
  if (uid !== undefined && consoleFile && usersDir && owner && list) {
    const home = serviceUserHome({ ...e, uid, consoleFile, usersDir, ownerOf: owner, listDir: list });
    if (home) return home;
  }
  return e.env.HOME || homedir();
}

/** Turns a Docker host URL into dockerode options. Throws DockerEndpointError naming what is wrong. */
export function parseDockerHost(
  url: string,
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer },
): DockerConnectOptions {
  const scheme = /^([a-z]+):\/\//.exec(url)?.[1];
  if (scheme === 'unix') {
    const socketPath = url.slice('unix://'.length);
    if (!isAbsolute(socketPath))
      throw new DockerEndpointError(`${url}: a unix socket needs an absolute path`);
    return { socketPath };
  }
  if (scheme === 'tcp' || scheme === 'http' || scheme === 'https') {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new DockerEndpointError(`${url}: not a valid tcp://host:port address`);
    }
    if (!u.hostname || (u.pathname !== '' && u.pathname !== '/') || u.search || u.username)
      throw new DockerEndpointError(`${url}: expected tcp://host:port and nothing else`);
    const secure = scheme === 'https' || !!tls;
    return {
      protocol: secure ? 'https' : 'http',
      host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: u.port ? Number(u.port) : secure ? 2376 : 2375,
      ...(tls ?? {}),
    };
  }
  throw new DockerEndpointError(
    scheme
      ? `${url}: Gangway cannot reach Docker over ${scheme}:// (use unix:// or tcp://)`
      : `${url}: not a Docker host URL (unix:///path/docker.sock or tcp://host:port)`,
  );
}

/**
 * The warning for a Docker API reached over TCP without TLS: creating the agent container sends the
 * agent's secret through it, readable by anyone on the path. Undefined for unix sockets and TLS.
 */
export function cleartextWarning(ep: Pick<DockerEndpoint, 'url' | 'options'>): string | undefined {
  if (!('protocol' in ep.options) || ep.options.protocol !== 'http') return undefined;
  return `Docker's API at ${ep.url} has no TLS: the agent's secret crosses it in clear when Gangway creates the agent container; use a unix:// socket, or tcp:// with TLS (DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH, or a docker context with TLS)`;
}

/** Client TLS files from a directory (ca.pem, cert.pem, key.pem), or undefined when there are none. */
function readTls(e: EndpointEnv, dir: string): { ca?: Buffer; cert?: Buffer; key?: Buffer } | undefined {
  const files = { ca: 'ca.pem', cert: 'cert.pem', key: 'key.pem' } as const;
  const out: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {};
  for (const [k, f] of Object.entries(files) as [keyof typeof files, string][])
    if (e.exists(join(dir, f))) out[k] = e.readFile(join(dir, f));
  return Object.keys(out).length ? out : undefined;
}

function fromContext(e: EndpointEnv, home: string, warnings: string[]): DockerEndpoint | undefined {
  const configDir = e.env.DOCKER_CONFIG || join(home, '.docker');
  let name = e.env.DOCKER_CONTEXT;
  if (!name) {
    try {
      const config = JSON.parse(e.readFile(join(configDir, 'config.json')).toString('utf8')) as unknown;
      const current = (config as { currentContext?: unknown } | null)?.currentContext;
      if (typeof current === 'string') name = current;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        warnings.push(`ignored ${join(configDir, 'config.json')}: ${(err as Error).message}`);
    }
  }
  if (!name || name === 'default') return undefined;
  // The CLI stores each context under the sha256 of its name, so any name maps to a safe directory.
  const id = createHash('sha256').update(name).digest('hex');
  const metaFile = join(configDir, 'contexts', 'meta', id, 'meta.json');
  let host: unknown;
  try {
    const meta = JSON.parse(e.readFile(metaFile).toString('utf8')) as {
      Endpoints?: { docker?: { Host?: unknown } };
    };
    host = meta.Endpoints?.docker?.Host;
  } catch (err) {
    warnings.push(`docker context "${name}" is unreadable (${metaFile}: ${(err as Error).message})`);
    return undefined;
  }
  if (typeof host !== 'string' || !host) {
    warnings.push(`docker context "${name}" has no Docker endpoint (${metaFile})`);
    return undefined;
  }
  const tls = readTls(e, join(configDir, 'contexts', 'tls', id, 'docker'));
  return { source: 'context', url: host, context: name, options: parseDockerHost(host, tls), warnings };
}

function defaultSocket(e: EndpointEnv, home: string, warnings: string[]): DockerEndpoint {
  const candidates = [DEFAULT_SOCKET];
  if (e.platform === 'darwin')
    candidates.push(
      join(home, '.docker', 'run', 'docker.sock'),
      join(home, '.colima', 'default', 'docker.sock'),
      join(home, '.orbstack', 'run', 'docker.sock'),
      join(home, '.rd', 'docker.sock'),
      // A Podman machine's Docker-compatible API (podman-mac-helper links /var/run/docker.sock to it): the
      // default machine's socket, then where Podman 4 kept it (per machine, then under qemu).
      join(podmanMachineDir(home), 'podman.sock'),
      join(podmanMachineDir(home), 'podman-machine-default', 'podman.sock'),
      join(podmanMachineDir(home), 'qemu', 'podman.sock'),
    );
  // Docker Desktop for Linux keeps its socket in the user's home.
  else candidates.push(join(home, '.docker', 'desktop', 'docker.sock'));
  const found = candidates.find((p) => e.exists(p));
  if (!found)
    warnings.push(
      `no Docker socket found (looked at ${candidates.join(', ')})` +
        (e.platform === 'darwin'
          ? '; for a Podman machine whose socket is elsewhere (some versions use the per-user temporary folder), run `sudo podman-mac-helper install`, or give --docker-host unix://<the path `podman machine inspect --format {{.ConnectionInfo.PodmanSocket.Path}}` prints>'
          : ''),
    );
  const socketPath = found ?? DEFAULT_SOCKET;
  return { source: 'default', url: `unix://${socketPath}`, options: { socketPath }, warnings };
}

/** Resolves the Docker endpoint: the --docker-host option, DOCKER_HOST, the current context, the default. */
export function resolveDockerEndpoint(
  option: string | undefined,
  env: Partial<EndpointEnv> = {},
): DockerEndpoint {
  const e = { ...defaults(), ...env };
  const warnings: string[] = [];
  if (option) return { source: 'option', url: option, options: parseDockerHost(option), warnings };
  const envHost = e.env.DOCKER_HOST;
  if (envHost) {
    const tls =
      e.env.DOCKER_TLS_VERIFY && e.env.DOCKER_TLS_VERIFY !== '0'
        ? (readTls(e, e.env.DOCKER_CERT_PATH || join(invokingUserHome(e), '.docker')) ?? {})
        : undefined;
    return { source: 'env', url: envHost, options: parseDockerHost(envHost, tls), warnings };
  }
  const home = invokingUserHome(e);
  return fromContext(e, home, warnings) ?? defaultSocket(e, home, warnings);
}
