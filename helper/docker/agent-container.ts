// The agent's container in Docker's VM: `gangway-agent`, --net host, NET_ADMIN, SYS_NICE and /dev/net/tun
// only (never --privileged), restarted by Docker unless stopped. SYS_NICE lets the pump's threads take the
// larger CPU share they ask for (nice -10, native/src/pump.c) against the containers' own load; without it
// they stayed at 0 in the VM while the helper's ran at -10. In the container's own PID namespace it reaches
// no other process.
//
// The secret never appears in `docker inspect`: no environment variable, no argument. The container is
// created, the secret file is copied into it (PUT /containers/<id>/archive, a tar holding
// /run/gangway/secret with mode 0600) and only then started; the agent gets `--secret-file` pointing there.
// The file lives in the container's own writable layer, so Docker's restarts find it again. With a source of
// per-container secrets (the daemon's AgentKeys), a running container is kept only while its key is the
// current one, and every container created gets a fresh key, so a copied secret dies with its container.
//
// up() is idempotent: the settings (image ID, command, host config, a fingerprint of the secret) are hashed
// into a label; a running or restarting container with the same hash is left alone, anything else of ours
// is stopped and removed and a fresh one made. Containers are found by label (com.gangway.role=agent), so an
// older version's container is found whatever it was called. Removal stops the agent first (SIGTERM, with a
// timeout) so that it removes its iptables rules; a SIGKILL would leave them behind.
import { createHash } from 'node:crypto';
import type Dockerode from 'dockerode';
import type { Logger } from '../../common/log';
import { DEFAULT_PORT } from '../config';
import { VERSION } from '../version';
import { tarArchive } from './tar';
import { type AgentCredential, formatAgentCredential } from '../../common/agent-credential';
import { INSTALL_KEY_ID } from '../../common/wire';

/** Per-container secrets: the current one (if still valid), and a fresh one for a new container. */
export interface AgentSecretSource {
  current(): AgentCredential | undefined;
  mint(): Promise<AgentCredential>;
}

export const AGENT_CONTAINER_NAME = 'gangway-agent';
export const ROLE_LABEL = 'com.gangway.role';
export const ROLE_AGENT = 'agent';
export const CONTAINER_VERSION_LABEL = 'com.gangway.version';
/** Hash of the container's settings, to tell whether an existing container is the one wanted. */
export const SPEC_LABEL = 'com.gangway.spec';
export const SECRET_PATH = '/run/gangway/secret';
/** Seconds Docker waits after SIGTERM before SIGKILL when we stop the agent. */
export const DEFAULT_STOP_TIMEOUT_S = 10;

export interface AgentUpOptions {
  /** Image tag or ID (e.g. gangway/agent:0.1.0 from ensureAgentImage). */
  image: string;
  /** What the agent dials, HOST:PORT. Default host.docker.internal:<port>. */
  server?: string;
  /** The helper's UDP port, for the default server. Default 2611. */
  port?: number;
  /**
   * The per-install secret (raw bytes; written hex-encoded, as the helper's own secret file), or a source of
   * per-container secrets.
   */
  secret: Buffer | AgentSecretSource;
  tunName?: string;
  /** `--add-host` entries; default host.docker.internal:host-gateway (the engine decides: engine-detect.ts). */
  extraHosts?: string[];
  /** More agent arguments (e.g. --no-offload). */
  extraArgs?: string[];
}

export interface AgentStatus {
  state: 'absent' | 'running' | 'restarting' | 'exited';
  id?: string;
  /** Docker's own state word (running, restarting, exited, created, paused, dead ...). */
  dockerState?: string;
  version?: string;
  image?: string;
  startedAt?: string;
  restartCount?: number;
  lastExit?: { code: number; at: string; error?: string };
}

export interface AgentUpResult {
  id: string;
  /** created: a new container was started; unchanged: the running one already matched. */
  action: 'created' | 'unchanged';
  /** Containers of ours that were removed first (other version or settings). */
  replaced: string[];
}

export function defaultServer(port: number = DEFAULT_PORT): string {
  return `host.docker.internal:${port}`;
}

/** A fingerprint of the secret for the spec label: shows that it changed, reveals nothing of it. */
function secretFingerprint(secret: Buffer): string {
  return createHash('sha256')
    .update('gangway agent secret fingerprint\0')
    .update(secret)
    .digest('hex')
    .slice(0, 16);
}

/** The create options for the agent's container (pure; the spec label is added by specHash's caller). */
export function agentContainerSpec(
  o: AgentUpOptions,
  version: string = VERSION,
): Dockerode.ContainerCreateOptions & { HostConfig: Dockerode.HostConfig } {
  const server = o.server ?? defaultServer(o.port);
  const cmd = ['--server', server, '--secret-file', SECRET_PATH];
  if (o.tunName) cmd.push('--tun-name', o.tunName);
  cmd.push(...(o.extraArgs ?? []));
  return {
    name: AGENT_CONTAINER_NAME,
    Image: o.image,
    Cmd: cmd,
    Labels: { [ROLE_LABEL]: ROLE_AGENT, [CONTAINER_VERSION_LABEL]: version },
    HostConfig: {
      NetworkMode: 'host',
      CapAdd: ['NET_ADMIN', 'SYS_NICE'],
      Privileged: false,
      Devices: [{ PathOnHost: '/dev/net/tun', PathInContainer: '/dev/net/tun', CgroupPermissions: 'rwm' }],
      RestartPolicy: { Name: 'unless-stopped', MaximumRetryCount: 0 },
      // Docker Desktop and friends define host.docker.internal themselves; plain Linux engines need this.
      ExtraHosts: o.extraHosts ?? ['host.docker.internal:host-gateway'],
      LogConfig: { Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '2' } },
    },
  };
}

/** The label value identifying a spec: its settings, the image's ID (a rebuilt tag counts as a change) and
 *  the secret's fingerprint. */
export function specHash(spec: Dockerode.ContainerCreateOptions, imageId: string, secret: Buffer): string {
  return createHash('sha256')
    .update(JSON.stringify({ spec, imageId, secret: secretFingerprint(secret) }))
    .digest('hex');
}

/** What the spec hash fingerprints: the secret, and the key id of a per-container one. */
function credentialBytes(c: AgentCredential): Buffer {
  return c.keyId.equals(INSTALL_KEY_ID) ? c.secret : Buffer.concat([c.keyId, c.secret]);
}

/** The tar put into the container before it starts: /run/gangway/ (0700) and the secret (0600). */
export function secretArchive(secret: Buffer | AgentCredential): Promise<Buffer> {
  const cred = Buffer.isBuffer(secret) ? { keyId: INSTALL_KEY_ID, secret } : secret;
  const dir = SECRET_PATH.slice(1, SECRET_PATH.lastIndexOf('/'));
  return tarArchive([
    { path: dir, type: 'dir', mode: 0o700, mtime: Math.floor(Date.now() / 1000) },
    {
      path: SECRET_PATH.slice(1),
      type: 'file',
      mode: 0o600,
      data: Buffer.from(formatAgentCredential(cred)),
      mtime: Math.floor(Date.now() / 1000),
    },
  ]);
}

function statusCode(err: unknown): number | undefined {
  return (err as { statusCode?: number } | null)?.statusCode;
}

interface Found {
  id: string;
  name: string;
  ours: boolean;
  state: string;
  labels: Record<string, string>;
}

export interface AgentContainerOptions {
  log: Logger;
  /** Seconds between SIGTERM and SIGKILL when stopping the agent. Default 10. */
  stopTimeoutS?: number;
  version?: string;
}

export class AgentContainer {
  /** Calls run one after another: the daemon may ask for up and down close together. */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly stopTimeoutS: number;
  private readonly version: string;

  constructor(
    private readonly docker: Dockerode,
    private readonly opts: AgentContainerOptions,
  ) {
    this.stopTimeoutS = opts.stopTimeoutS ?? DEFAULT_STOP_TIMEOUT_S;
    this.version = opts.version ?? VERSION;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Makes sure the agent's container runs with these settings. */
  up(o: AgentUpOptions): Promise<AgentUpResult> {
    return this.serial(() => this.upNow(o));
  }

  /** Stops (gracefully) and removes every agent container of ours. Idempotent. */
  down(): Promise<{ removed: string[] }> {
    return this.serial(async () => {
      const removed: string[] = [];
      for (const c of await this.find()) {
        if (!c.ours) continue;
        await this.remove(c);
        removed.push(c.id);
      }
      return { removed };
    });
  }

  async status(): Promise<AgentStatus> {
    const mine = (await this.find()).filter((c) => c.ours);
    const c = mine.find((x) => x.name === AGENT_CONTAINER_NAME) ?? mine[0];
    if (!c) return { state: 'absent' };
    let info: Dockerode.ContainerInspectInfo;
    try {
      info = await this.docker.getContainer(c.id).inspect();
    } catch (err) {
      if (statusCode(err) === 404) return { state: 'absent' };
      throw err;
    }
    const s = info.State;
    const state: AgentStatus['state'] =
      s.Status === 'running' || s.Status === 'paused'
        ? 'running'
        : s.Status === 'restarting'
          ? 'restarting'
          : 'exited';
    const finished = s.FinishedAt && !s.FinishedAt.startsWith('0001-') ? s.FinishedAt : undefined;
    return {
      state,
      id: info.Id,
      dockerState: s.Status,
      version: info.Config.Labels?.[CONTAINER_VERSION_LABEL],
      image: info.Config.Image,
      startedAt: s.StartedAt && !s.StartedAt.startsWith('0001-') ? s.StartedAt : undefined,
      restartCount: info.RestartCount,
      lastExit: finished
        ? { code: s.ExitCode, at: finished, ...(s.Error ? { error: s.Error } : {}) }
        : undefined,
    };
  }

  private async upNow(o: AgentUpOptions): Promise<AgentUpResult> {
    const given = o.secret;
    if (Buffer.isBuffer(given) && given.length === 0) throw new Error('the agent needs the secret');
    const source: AgentSecretSource = Buffer.isBuffer(given)
      ? {
          current: () => ({ keyId: INSTALL_KEY_ID, secret: given }),
          mint: () => Promise.resolve({ keyId: INSTALL_KEY_ID, secret: given }),
        }
      : given;
    let imageId: string;
    try {
      imageId = (await this.docker.getImage(o.image).inspect()).Id;
    } catch (err) {
      if (statusCode(err) === 404) throw new Error(`the agent image ${o.image} is not in Docker`);
      throw err;
    }
    const spec = agentContainerSpec(o, this.version);
    const current = source.current();
    // No valid key: whatever runs holds a revoked one and is replaced.
    const hash = current ? specHash(spec, imageId, credentialBytes(current)) : undefined;

    const replaced: string[] = [];
    let keep: Found | undefined;
    for (const c of await this.find()) {
      if (!c.ours) {
        throw new Error(
          `a container named ${AGENT_CONTAINER_NAME} exists that Gangway did not create (${c.id.slice(0, 12)}); ` +
            'remove or rename it',
        );
      }
      const same =
        !keep &&
        c.name === AGENT_CONTAINER_NAME &&
        hash !== undefined &&
        c.labels[SPEC_LABEL] === hash &&
        (c.state === 'running' || c.state === 'restarting');
      if (same) keep = c;
      else {
        this.opts.log.info('replacing the agent container', {
          id: c.id.slice(0, 12),
          state: c.state,
          version: c.labels[CONTAINER_VERSION_LABEL],
        });
        await this.remove(c);
        replaced.push(c.id);
      }
    }
    if (keep) return { id: keep.id, action: 'unchanged', replaced };

    // After the old containers are gone: minting revokes their key.
    const credential = await source.mint();
    spec.Labels = { ...spec.Labels, [SPEC_LABEL]: specHash(spec, imageId, credentialBytes(credential)) };
    const container = await this.docker.createContainer(spec);
    try {
      await container.putArchive(await secretArchive(credential), { path: '/' });
      await container.start();
    } catch (err) {
      await container.remove({ force: true }).catch(() => undefined);
      throw err;
    }
    this.opts.log.info('agent container started', {
      id: container.id.slice(0, 12),
      image: o.image,
      server: spec.Cmd?.[1],
    });
    return { id: container.id, action: 'created', replaced };
  }

  /** Our containers (by label) and whatever holds the name. */
  private async find(): Promise<Found[]> {
    const [byLabel, byName] = await Promise.all([
      this.docker.listContainers({ all: true, filters: { label: [`${ROLE_LABEL}=${ROLE_AGENT}`] } }),
      this.docker.listContainers({ all: true, filters: { name: [`^/${AGENT_CONTAINER_NAME}$`] } }),
    ]);
    const out = new Map<string, Found>();
    for (const c of [...byLabel, ...byName]) {
      const labels = c.Labels ?? {};
      out.set(c.Id, {
        id: c.Id,
        name: (c.Names?.[0] ?? '').replace(/^\//, ''),
        ours: labels[ROLE_LABEL] === ROLE_AGENT,
        state: c.State,
        labels,
      });
    }
    return [...out.values()];
  }

  /** SIGTERM and up to stopTimeoutS for the agent to remove its firewall rules, then remove the container. */
  private async remove(c: Found): Promise<void> {
    const container = this.docker.getContainer(c.id);
    if (c.state === 'running' || c.state === 'restarting' || c.state === 'paused') {
      try {
        await container.stop({ t: this.stopTimeoutS });
      } catch (err) {
        // 304: already stopped; 404: already gone. Anything else: removal below still forces it.
        if (statusCode(err) !== 304 && statusCode(err) !== 404)
          this.opts.log.warn('cannot stop the agent container gracefully', {
            id: c.id.slice(0, 12),
            error: (err as Error).message,
          });
      }
    }
    try {
      await container.remove({ force: true });
    } catch (err) {
      if (statusCode(err) !== 404 && !/already in progress/.test((err as Error).message)) throw err;
    }
  }
}
