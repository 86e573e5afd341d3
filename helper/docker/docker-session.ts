// Everything the daemon holds for one Docker endpoint: the client, the engine choice, the agent container's
// handle, the network watcher and the container index behind DNS, both fed by one event stream. A change of
// endpoint (the dockerHost setting) replaces the session whole and closes the old one, so nothing of the old
// engine (a stream, a half-detected engine, an agent handle) outlives it.
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import Dockerode from 'dockerode';
import type { Logger } from '../../common/log';
import type { EngineKind } from './engine-detect';
import { AgentContainer } from './agent-container';
import {
  cleartextWarning,
  resolveDockerEndpoint,
  type DockerConnectOptions,
  type DockerEndpoint,
} from './docker-endpoint';
import { dockerAnswers, DockerSilentError, unlessDockerSilent } from './docker-answers';
import { DockerEventHub } from './docker-event-hub';
import type { FollowerTiming } from './docker-events';
import { EngineChoice } from './engine-choice';
import { listLibpodBridges } from './libpod-bridges';
import { NetworkWatcher } from './network-watcher';
import { ContainerIndex } from '../dns/container-index';

export interface DockerSessionOptions {
  /** The dockerHost setting (null: DOCKER_HOST, the context, the default socket). */
  dockerHost: string | null;
  /** The service's user, whose Docker context and sockets count when the daemon runs as root. */
  serviceUid?: number | undefined;
  /** --engine and --agent-dial. */
  engine?: EngineKind | undefined;
  agentDial?: string | undefined;
  log: Logger;
  /** The engine choice changed (status shows it). */
  onChange: () => void;
  /** Makes the client (tests pass a fake); default: Dockerode, its requests on `connections`. */
  createClient?: (options: DockerConnectOptions, connections: HttpAgent) => Dockerode;
  /** The event stream's timing (tests shorten it). */
  timing?: FollowerTiming;
  /**
   * Docker is unreachable here and, worked out again, the endpoint is another one (the console user logged in
   * after a boot-time start, `docker context use`, Colima started after the context moved): the daemon opens
   * a new session there. Not called when dockerHost names the endpoint.
   */
  onEndpointMoved?: (url: string) => void;
  /** Works the endpoint out (tests pass their own); default: resolveDockerEndpoint. */
  resolve?: (dockerHost: string | undefined, serviceUid: number | undefined) => DockerEndpoint;
}

export class DockerSession {
  /** The endpoint's URL as given or found, for status and logs. */
  readonly endpoint: string;
  /** Set when the endpoint carries the agent's secret in clear (tcp:// without TLS). */
  readonly warning: string | undefined;
  readonly docker: Dockerode;
  readonly engine: EngineChoice;
  readonly agent: AgentContainer;
  readonly watcher: NetworkWatcher;
  readonly index: ContainerIndex;
  private readonly hub: DockerEventHub;
  private readonly connections: HttpAgent;
  private readonly where: { endpoint: string; context?: string | undefined };
  private closed = false;

  /** Resolves the endpoint and builds the parts; throws when the endpoint cannot be used. */
  constructor(o: DockerSessionOptions) {
    const resolve = o.resolve ?? ((host, uid) => resolveDockerEndpoint(host, { serviceUid: uid }));
    const ep = resolve(o.dockerHost ?? undefined, o.serviceUid);
    for (const w of ep.warnings) o.log.warn(w, {});
    this.endpoint = ep.url;
    this.warning = cleartextWarning(ep);
    if (this.warning) o.log.warn(this.warning, {});
    this.connections = connectionPool(ep.options);
    this.docker = (o.createClient ?? dockerClient)(ep.options, this.connections);
    this.where = { endpoint: ep.url, context: ep.context };
    this.engine = new EngineChoice({
      override: o.engine,
      agentDial: o.agentDial,
      log: o.log,
      onChange: o.onChange,
    });
    this.agent = new AgentContainer(this.docker, { log: o.log });
    this.hub = new DockerEventHub(this.docker, o.timing);
    this.watcher = new NetworkWatcher(this.docker, { log: o.log, hub: this.hub });
    this.index = new ContainerIndex(this.docker, { log: o.log, hub: this.hub });
    const moved = o.onEndpointMoved;
    if (!o.dockerHost && moved) this.followMoves(() => resolve(undefined, o.serviceUid), moved);
  }

  /**
   * After each failed attempt to reach Docker (the follower retries with backoff, at most every 5 s), works
   * the endpoint out again; a different one is reported once. Costs a few stats and file reads per attempt,
   * and no timer of its own: nothing runs while Docker answers.
   */
  private followMoves(resolve: () => DockerEndpoint, moved: (url: string) => void): void {
    let reported = false;
    this.hub.attach({
      filters: { type: [], event: [] },
      openSession: () => ({ list: () => Promise.resolve(), onLine: () => undefined }),
      onConnected: () => undefined,
      onDisconnected: () => {
        if (reported || this.closed) return;
        let url: string;
        try {
          url = resolve().url;
        } catch {
          return; // a context unusable for now: looked at again at the next attempt
        }
        if (url === this.endpoint) return;
        reported = true;
        // Not from inside the follower's loop: the daemon closes this session, which waits for that loop.
        setImmediate(() => moved(url));
      },
    });
  }

  /** Opens the one event stream (the watcher and the index list, then follow it). */
  start(): void {
    if (!this.closed) this.hub.start();
  }

  /** Detects the engine (again: Docker may have been switched), then polls networks if its events lack them. */
  detectEngine(): void {
    void this.engine.detect(this.docker, this.where).then(() => {
      if (this.closed) return;
      const profile = this.engine.current;
      this.watcher.pollNetworks(profile?.networkEvents === false ? 2_000 : undefined);
      this.watcher.bridgeNames(
        profile?.libpodBridgeNames ? (signal) => listLibpodBridges(this.docker, signal) : undefined,
      );
    });
  }

  /** Resolves when Docker answers a ping; throws DockerSilentError when it does not in time (noteSilence). */
  answers(): Promise<void> {
    return this.noteSilence(dockerAnswers(this.docker));
  }

  /** The work's result, or DockerSilentError once a ping beside it goes unanswered (unlessDockerSilent). */
  unlessSilent<T>(work: Promise<T>, late: (err: unknown) => void): Promise<T> {
    return this.noteSilence(unlessDockerSilent(this.docker, work, late));
  }

  /**
   * Docker did not answer: the event stream, which a frozen VM keeps open, is ended with that reason, so the
   * status says Docker is unreachable now rather than at the next re-list, and reconnecting says when it is
   * back (and what waits for that runs: the agent's launch, its removal).
   */
  private noteSilence<T>(asked: Promise<T>): Promise<T> {
    return asked.catch((err: unknown) => {
      if (err instanceof DockerSilentError && !this.closed) this.hub.interrupt(err);
      throw err;
    });
  }

  /** Closes the event stream and stops polling; the listeners on the watcher and the index are dropped. */
  async close(): Promise<void> {
    this.closed = true;
    this.watcher.removeAllListeners();
    this.index.removeAllListeners();
    await this.watcher.stop();
    await this.hub.stop();
  }

  /**
   * Ends the requests still open on Docker (the work of an `up` or `down` that a frozen VM never answers): they
   * fail at once. For a stopping daemon, after the control server has answered their callers: otherwise the
   * open sockets would hold the process until its "still running" exit.
   */
  endRequests(): void {
    this.connections.destroy();
  }
}

/**
 * The session's own connections to Docker, so that closing it can end them. Node's global agent is shared with
 * everything else in the process; these are Node's defaults for it (keep-alive, idle sockets closed after 5 s).
 */
function connectionPool(options: DockerConnectOptions): HttpAgent {
  const settings = { keepAlive: true, scheduling: 'lifo', timeout: 5_000 } as const;
  return 'protocol' in options && options.protocol === 'https'
    ? new HttpsAgent(settings)
    : new HttpAgent(settings);
}

function dockerClient(options: DockerConnectOptions, connections: HttpAgent): Dockerode {
  // docker-modem takes `agent` (its README's custom agent); @types/dockerode does not list it.
  const withAgent: Dockerode.DockerOptions = Object.assign({}, options, { agent: connections });
  return new Dockerode(withAgent);
}
