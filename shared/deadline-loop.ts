// Runs a protocol's timers only when one is due: `step` does the work and says how long until its next
// deadline, and the loop sleeps that long (within [minMs, maxMs]). An idle tunnel then wakes for its
// keepalives and liveness checks, not ten times a second. Whoever moves the next deadline (a message handled, a
// configuration pushed) says so with dueIn(), so the loop neither wakes for nothing nor sleeps past it; maxMs
// only bounds how late one that moved silently is served.
export interface DeadlineLoopOptions {
  minMs: number;
  maxMs: number;
}

export class DeadlineLoop {
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(
    private readonly step: () => number,
    private readonly o: DeadlineLoopOptions,
  ) {}

  start(): void {
    this.running = true;
    this.fire();
  }

  /** A deadline moved earlier (a dial, a config to send): run the step now. */
  poke(): void {
    if (!this.running) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.fire(), 0);
  }

  /**
   * The step's next deadline is now `ms` away (a message handled moved it): sleep until then instead of what
   * the last step said. Called with what the step would return, so no deadline is skipped; no wake-up.
   */
  dueIn(ms: number): void {
    if (!this.running) return;
    const wait = Number.isFinite(ms) ? Math.min(this.o.maxMs, Math.max(this.o.minMs, ms)) : this.o.maxMs;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.fire(), wait);
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private fire(): void {
    const ms = this.step();
    if (!this.running) return;
    clearTimeout(this.timer);
    const wait = Number.isFinite(ms) ? Math.min(this.o.maxMs, Math.max(this.o.minMs, ms)) : this.o.maxMs;
    this.timer = setTimeout(() => this.fire(), wait);
  }
}
