// Runs a protocol's timers only when one is due: `step` does the work and says how long until its next
// deadline, and the loop sleeps that long (within [minMs, maxMs]). An idle tunnel then wakes for its
// keepalives and liveness checks, not ten times a second. Whoever moves the next deadline (a message handled, a
// configuration pushed) says so with dueIn(), so the loop neither wakes for nothing nor sleeps past it; maxMs
// only bounds how late one that moved silently is served.
//
// The timer is pluggable: setTimeout by default, and in the daemon and the agent the addon's Timer
// (native/index.ts), because a deadline moved later by clearTimeout + setTimeout still wakes the process at the
// old time (Node arms one shared libuv timer for the earliest and never moves it later): an empty wake-up
// per keepalive on each side, which the native timer does not cost.

/** A one-shot timer: start() (re-)arms it, stop() disarms it. */
export interface LoopTimer {
  start(ms: number): void;
  stop(): void;
}

export interface DeadlineLoopOptions {
  minMs: number;
  maxMs: number;
  /** Makes the loop's timer; setTimeout-based when absent. */
  timer?: (fire: () => void) => LoopTimer;
}

/** The default LoopTimer, on setTimeout. */
export function timeoutTimer(fire: () => void): LoopTimer {
  let handle: NodeJS.Timeout | undefined;
  return {
    start(ms) {
      clearTimeout(handle);
      handle = setTimeout(fire, ms);
    },
    stop() {
      clearTimeout(handle);
      handle = undefined;
    },
  };
}

export class DeadlineLoop {
  private readonly timer: LoopTimer;
  private running = false;

  constructor(
    private readonly step: () => number,
    private readonly o: DeadlineLoopOptions,
  ) {
    this.timer = (o.timer ?? timeoutTimer)(() => this.fire());
  }

  start(): void {
    this.running = true;
    this.fire();
  }

  /** A deadline moved earlier (a dial, a config to send): run the step now. */
  poke(): void {
    if (!this.running) return;
    this.timer.start(0);
  }

  /**
   * The step's next deadline is now `ms` away (a message handled moved it): sleep until then instead of what
   * the last step said. Called with what the step would return, so no deadline is skipped; no wake-up.
   */
  dueIn(ms: number): void {
    if (!this.running) return;
    this.timer.start(this.clamp(ms));
  }

  stop(): void {
    this.running = false;
    this.timer.stop();
  }

  private clamp(ms: number): number {
    return Number.isFinite(ms) ? Math.min(this.o.maxMs, Math.max(this.o.minMs, ms)) : this.o.maxMs;
  }

  private fire(): void {
    const ms = this.step();
    if (!this.running) return;
    this.timer.start(this.clamp(ms));
  }
}
