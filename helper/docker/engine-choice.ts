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
  source: 'detected' | 'option';
  evidence: string;
}

export interface EngineChoiceOptions {
  /** --engine: skip detection. */
  override?: EngineKind | undefined;
  /** --agent-dial: what the agent dials, whatever the engine. */
  agentDial?: string | undefined;
  log: Logger;
  onChange: () => void;
}

export class EngineChoice {
  private detected: EngineDetection | undefined;
  private inFlight: Promise<EngineDetection | undefined> | undefined;

  constructor(private readonly o: EngineChoiceOptions) {}

  /** Detects the engine behind `docker` (again: Docker may have been switched to another engine). */
  detect(
    docker: Pick<Dockerode, 'info' | 'version'>,
    where: { endpoint: string; context?: string | undefined },
  ): Promise<EngineDetection | undefined> {
    if (this.o.override) return Promise.resolve(this.current);
    const run = probeEngine(docker, where).then(
      (d) => {
        const changed = d.kind !== this.detected?.kind;
        this.detected = d;
        if (changed) {
          this.o.log.info('docker engine detected', {
            engine: d.kind,
            evidence: d.evidence,
            agentDial: this.dial,
          });
          this.o.onChange();
        }
        return d;
      },
      (err: unknown) => {
        this.o.log.warn('cannot tell which engine runs Docker', { error: (err as Error).message });
        return undefined;
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
    if (this.o.override) return { ...engineProfile(this.o.override), evidence: 'set with --engine' };
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

  /** Why `gangway up` should not start the agent, if it should not: the engine routes container IPs itself. */
  refusal(): string | undefined {
    const e = this.current;
    if (!e?.routesItself || this.o.override) return undefined;
    return (
      `${e.label} already routes container IPs to this machine, so Gangway leaves it alone. ` +
      `To use Gangway's tunnel anyway, start the daemon with --engine ${e.kind}.`
    );
  }

  status(): EngineStatus | undefined {
    const e = this.current;
    if (!e) return undefined;
    return {
      kind: e.kind,
      label: e.label,
      agentDial: this.dial,
      routesItself: e.routesItself,
      source: this.o.override ? 'option' : 'detected',
      evidence: e.evidence,
    };
  }
}
