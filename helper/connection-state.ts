// The connection's state machine: it owns the user's intent (gangway up / down, remembered across restarts)
// and the agent's launch, reads Docker's and the tunnel's state, and publishes one phase. The rest of the
// daemon asks it whether to route and whether to keep the agent running; nothing else decides that.
import { EventEmitter } from 'node:events';
import type { Phase } from '../common/phase';

export type DockerState = 'connecting' | 'connected' | 'unreachable' | 'disabled';

/** Docker as the machine sees it (the daemon's watcher; a fake in tests). */
export interface DockerSource {
  readonly enabled: boolean;
  state(): DockerState;
}

/** The data plane as the machine sees it (the tunnel server; a fake in tests). */
export interface PlaneSource {
  tunnelState(): 'connected' | 'waiting';
}

/** up/down: what the user last asked for; null: never asked (a fresh install). */
export type Intent = 'up' | 'down' | null;

export class ConnectionState extends EventEmitter<{ phase: [Phase] }> {
  private launching = false;
  private agentError: string | null = null;
  private published: Phase;

  constructor(
    private readonly docker: DockerSource,
    private readonly plane: PlaneSource,
    private current: Intent = null,
  ) {
    super();
    this.published = this.phase();
  }

  get intent(): Intent {
    return this.current;
  }

  /** Routes are installed unless the user said down (no routes into a tunnel with no agent). */
  get routing(): boolean {
    return this.current !== 'down';
  }

  /** The agent container is kept running (relaunched when Docker returns or it is removed). */
  get agentWanted(): boolean {
    return this.current === 'up' && this.docker.enabled;
  }

  /** The last failure launching the agent, while it is wanted. */
  get lastError(): string | null {
    return this.agentError;
  }

  up(): void {
    this.current = 'up';
    this.update();
  }

  /** Down wins at once: whatever the tunnel still reports, the phase is disconnected. */
  down(): void {
    this.current = 'down';
    this.launching = false;
    this.agentError = null;
    this.update();
  }

  launchStarted(): void {
    this.launching = true;
    this.update();
  }

  launchSucceeded(): void {
    this.launching = false;
    this.agentError = null;
    this.update();
  }

  launchFailed(message: string): void {
    this.launching = false;
    this.agentError = message;
    this.update();
  }

  phase(): Phase {
    if (this.current === 'down') return 'disconnected';
    const tunnel = this.plane.tunnelState();
    if (!this.docker.enabled) return tunnel === 'connected' ? 'connected' : 'waiting-for-agent';
    const docker = this.docker.state();
    // 'disabled' while enabled: the endpoint could not be used at all.
    if (docker === 'unreachable' || docker === 'disabled') return 'docker-unavailable';
    if (this.current === 'up' && this.agentError) return 'error';
    if (tunnel === 'connected') return 'connected';
    if (docker === 'connecting' || (this.current === 'up' && this.launching)) return 'starting';
    return this.current === 'up' ? 'waiting-for-agent' : 'disconnected';
  }

  /** Re-reads the sources (call on any change); emits `phase` when the phase differs from the last one. */
  update(): Phase {
    const p = this.phase();
    if (p !== this.published) {
      this.published = p;
      this.emit('phase', p);
    }
    return p;
  }
}
