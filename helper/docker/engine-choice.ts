// The engine the daemon works with: detected from Docker when it connects, or set with --engine (which also
// counts as "told": Gangway then acts on OrbStack too). It decides what the agent dials (--agent-dial wins)
// and which extra host entries its container gets.
import type Dockerode from 'dockerode';
import type { Logger } from '../../common/log';
import { engineProfile, probeEngine, type EngineDetection, type EngineKind } from './engine-detect';

export interface EngineStatus {
  kind: EngineKind;
  label: string;
  agentDial: string;
  routesItself: boolean;
  rootless: boolean;
  source: 'detected' | 'option';
  evidence: string;
  /** Why the agent is not started on this engine (refusal()), if it is not. */
  refusal?: string;
}

export interface EngineRefusal {
  code: 'ENGINE_ROUTES_ITSELF' | 'ENGINE_ROOTLESS';
  message: string;
}

const isPodman = (k: EngineKind) => k === 'podman' || k === 'podman-machine';

/** Rootless Podman puts its containers' bridges in a network namespace of the user's (rootless-netns), which
 *  no route through the VM's own namespace reaches; and its agent, in the VM's namespace by
 *  --network host, holds no CAP_NET_ADMIN there, so it cannot create its TUN device. */
function rootlessPodmanRefusal(kind: EngineKind, evidence: string): string {
  const why =
    `Podman runs rootless (${evidence}): its containers live in a network namespace of their own user ` +
    `that Gangway cannot route to, and its agent could not create a TUN device.`;
  return kind === 'podman-machine'
    ? `${why} Make the machine rootful: podman machine stop; podman machine set --rootful; ` +
        `podman machine start. Then connect again.`
    : `${why} Run Podman's service as root (the podman.socket system unit, /run/podman/podman.sock) and ` +
        `point Gangway at it (--docker-host unix:///run/podman/podman.sock).`;
}

export interface EngineChoiceOptions {
  /** --engine: skip detection. */
  override?: EngineKind | undefined;
  /** --agent-dial: what the agent dials, whatever the engine. */
  agentDial?: string | undefined;
  log: Logger;
  onChange: () => void;
  /** How long `docker info` may take before the detection gives up (default PROBE_TIMEOUT_MS). */
  probeTimeoutMs?: number;
}

export class EngineChoice {
  private detected: EngineDetection | undefined;
  private inFlight: Promise<EngineDetection | undefined> | undefined;

  constructor(private readonly o: EngineChoiceOptions) {}

  /** Detects the engine behind `docker` (again: Docker may have been switched to another engine). With
   *  --engine the kind is not detected, but whether it runs rootless still is: no option makes that work. */
  detect(
    docker: Pick<Dockerode, 'info' | 'version'>,
    where: { endpoint: string; context?: string | undefined; platform?: NodeJS.Platform },
  ): Promise<EngineDetection | undefined> {
    const run = probeEngine(docker, where, this.o.probeTimeoutMs).then(
      (d) => {
        const changed = d.kind !== this.detected?.kind || d.rootless !== this.detected?.rootless;
        this.detected = d;
        if (changed) {
          if (!this.o.override)
            this.o.log.info('docker engine detected', {
              engine: d.kind,
              evidence: d.evidence,
              agentDial: this.dial,
              ...(d.rootless ? { rootless: d.rootless } : {}),
            });
          this.o.onChange();
        }
        return this.current;
      },
      (err: unknown) => {
        this.o.log.warn('cannot tell which engine runs Docker', { error: (err as Error).message });
        return this.o.override ? this.current : undefined;
      },
    );
    this.inFlight = run;
    return run;
  }

  /** The engine in effect, waiting for a detection in flight. */
  async settled(): Promise<EngineDetection | undefined> {
    await this.inFlight;
    return this.current;
  }

  get current(): EngineDetection | undefined {
    if (this.o.override)
      return {
        ...engineProfile(this.o.override),
        evidence: 'set with --engine',
        rootless: this.detected?.rootless,
      };
    return this.detected;
  }

  private get dial(): string {
    return this.o.agentDial ?? this.current?.agentDial ?? engineProfile('unknown').agentDial;
  }

  /** What the agent dials (HOST:PORT) and the host entries its container needs. */
  agentTarget(port: number): { server: string; extraHosts: string[] } {
    const extraHosts = this.current?.extraHosts ?? engineProfile('unknown').extraHosts;
    return { server: `${this.dial}:${port}`, extraHosts };
  }

  /** refusal(), once a detection in flight has settled. */
  async settledRefusal(): Promise<EngineRefusal | undefined> {
    await this.settled();
    return this.refusal();
  }

  /** Why the agent should not be started, if it should not: the engine routes container IPs itself
   *  (unless --engine says otherwise), or it is a rootless Podman (whatever the options say). */
  refusal(): EngineRefusal | undefined {
    const e = this.current;
    if (!e) return undefined;
    // The detected kind counts too: --engine linux in front of a rootless Podman changes nothing.
    const podman = isPodman(e.kind)
      ? e.kind
      : this.detected && isPodman(this.detected.kind) && this.detected.kind;
    if (e.rootless && podman)
      return { code: 'ENGINE_ROOTLESS', message: rootlessPodmanRefusal(podman, e.rootless) };
    if (!e.routesItself || this.o.override) return undefined;
    return {
      code: 'ENGINE_ROUTES_ITSELF',
      message:
        `${e.label} already routes container IPs to this machine, so Gangway leaves it alone. ` +
        `To use Gangway's tunnel anyway, start the daemon with --engine ${e.kind}.`,
    };
  }

  status(): EngineStatus | undefined {
    const e = this.current;
    if (!e) return undefined;
    const refusal = this.refusal();
    return {
      kind: e.kind,
      label: e.label,
      agentDial: this.dial,
      routesItself: e.routesItself,
      rootless: e.rootless !== undefined,
      source: this.o.override ? 'option' : 'detected',
      evidence: e.evidence,
      ...(refusal ? { refusal: refusal.message } : {}),
    };
  }
}
