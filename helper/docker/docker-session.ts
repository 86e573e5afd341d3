// Everything the daemon holds for one Docker endpoint: the client, the engine choice, the agent container's
// handle, the network watcher and the container index behind DNS, both fed by one event stream. A change of
// endpoint (the dockerHost setting) replaces the session whole and closes the old one, so nothing of the old
// engine (a stream, a half-detected engine, an agent handle) outlives it.
import Dockerode from 'dockerode';
import type { Logger } from '../../common/log';
import type { EngineKind } from './engine-detect';
import { AgentContainer } from './agent-container';
import { cleartextWarning, resolveDockerEndpoint, type DockerConnectOptions } from './docker-endpoint';
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
  /** Makes the client (tests pass a fake); default: Dockerode. */
  createClient?: (options: DockerConnectOptions) => Dockerode;
  /** The event stream's timing (tests shorten it). */
  timing?: FollowerTiming;
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
  private readonly where: { endpoint: string; context?: string | undefined };
  private closed = false;

  /** Resolves the endpoint and builds the parts; throws when the endpoint cannot be used. */
  constructor(o: DockerSessionOptions) {
    const ep = resolveDockerEndpoint(o.dockerHost ?? undefined, { serviceUid: o.serviceUid });
    for (const w of ep.warnings) o.log.warn(w, {});
    this.endpoint = ep.url;
    this.warning = cleartextWarning(ep);
    if (this.warning) o.log.warn(this.warning, {});
    this.docker = (o.createClient ?? ((opts) => new Dockerode(opts)))(ep.options);
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

  /** Closes the event stream and stops polling; the listeners on the watcher and the index are dropped. */
  async close(): Promise<void> {
    this.closed = true;
    this.watcher.removeAllListeners();
    this.index.removeAllListeners();
    await this.watcher.stop();
    await this.hub.stop();
  }
}
