// When the agent looks at its firewall rules without being told to apply new ones: Docker recreating its chains
// (at a restart) or a firewall reload in the VM removes them, and they must come back.
//
// - The helper asks, by re-sending the configuration after each Docker event (main.ts): heeded where the watch
//   cannot see, since where it can, Docker's changes were announced to it too.
// - The ruleset watch (the addon's RulesetWatch): nf_tables announces every committed change, which is what
//   iptables-nft, nft, firewalld and Docker's nftables backend write. Changes are looked at once they have
//   been quiet for 250 ms (Docker writes a container's rules as a burst of iptables runs), and at least every
//   2 s while they go on. Reading the rules (iptables-save, iptables -C) announces nothing, so a check does not
//   call for another; rules put back do, and cost one more iptables-save.
// - A timer, every `checkMs`, only where the watch cannot see: rules in the legacy backend (x_tables announces
//   nothing) or in one plain `iptables` does not name (Docker's chains in neither backend), or no watch (no
//   netfilter netlink: qemu-user passes none through; or --no-firewall-watch).
// Idle at zero (#15.4): with the watch, an idle agent wakes for no firewall work at all; the timer woke it
// every 5 minutes for an iptables-save.
import type { Logger } from '../common/log';
import type { RulesetWatch, RulesetWatchCallback } from '../native/index';
import type { Firewall, FirewallWants } from './firewall';

/** The quiet after a change before it is looked at, and the longest a burst of changes waits. */
export const SETTLE_MS = 250;
export const SETTLE_MAX_MS = 2_000;

export interface UpkeepOptions {
  /** The timer's period where it is needed. */
  checkMs: number;
  /** Opens the ruleset watch; undefined when it is not to be used (--no-firewall-watch). Throws when the
   *  kernel or the process cannot (the message is logged). */
  openWatch: ((changed: RulesetWatchCallback) => RulesetWatch) | undefined;
  settleMs?: number;
  settleMaxMs?: number;
}

export class FirewallUpkeep {
  private watch: RulesetWatch | undefined;
  private timer: NodeJS.Timeout | undefined;
  private settle: NodeJS.Timeout | undefined;
  /** When the first change not yet looked at was announced. */
  private burstStart = 0;
  private watchChanges = 0;
  private stopped = false;
  /** What the timer was last set for: logged when it changes. */
  private plan = '';

  constructor(
    private readonly firewall: Pick<Firewall, 'ensure' | 'check' | 'removeAll' | 'rulesIn'>,
    private readonly log: Logger,
    private readonly options: UpkeepOptions,
  ) {
    if (!options.openWatch) return;
    try {
      this.watch = options.openWatch((changes, overflowed, error) =>
        this.changed(changes, overflowed, error),
      );
    } catch (err) {
      log.info('firewall: no ruleset watch here; rules checked on a timer', {
        error: (err as Error).message,
        everyS: options.checkMs / 1000,
      });
    }
  }

  /** Applies the rules for `input` (Firewall.ensure), then sets the timer for the backend they went to. */
  ensure(input: FirewallWants): Promise<number> {
    return this.replan(this.firewall.ensure(input));
  }

  /** Looks at the rules and puts back what is missing (Firewall.check). */
  check(): Promise<number> {
    return this.replan(this.firewall.check());
  }

  /**
   * The helper's word that Docker changed something (it re-sends the configuration after each Docker event):
   * a check, unless the watch sees every change to our rules, and has looked or will look at this one.
   */
  dockerChanged(): Promise<number> {
    return this.watched() ? Promise.resolve(0) : this.check();
  }

  /** Ruleset notifications read since start (in the agent's counters line, SIGUSR1). */
  get changesSeen(): number {
    return this.watchChanges;
  }

  /** Stops the watch and the timers and removes the rules. Never throws. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.watch?.close();
    this.watch = undefined;
    clearInterval(this.timer);
    clearTimeout(this.settle);
    this.timer = this.settle = undefined;
    await this.firewall.removeAll();
  }

  private changed(changes: number, overflowed: boolean, error: string | undefined): void {
    if (error !== undefined) {
      this.log.warn('firewall: the ruleset watch failed; rules checked on a timer', {
        error,
        everyS: this.options.checkMs / 1000,
      });
      this.watch?.close();
      this.watch = undefined;
      this.setTimer();
      return;
    }
    this.watchChanges += changes;
    if (this.stopped) return;
    // An overflow means changes were not described, not that none happened: look all the same.
    if (overflowed) this.log.debug('firewall: ruleset notifications overflowed; looking');
    const now = Date.now();
    if (this.settle) clearTimeout(this.settle);
    else this.burstStart = now;
    const maxMs = this.options.settleMaxMs ?? SETTLE_MAX_MS;
    const wait = Math.min(this.options.settleMs ?? SETTLE_MS, Math.max(0, this.burstStart + maxMs - now));
    this.settle = setTimeout(() => {
      this.settle = undefined;
      this.checkLogged();
    }, wait);
  }

  /** A check nobody waits for: its failure is logged. */
  private checkLogged(): void {
    this.check().catch((err: unknown) =>
      this.log.error('cannot apply firewall rules', { error: String(err) }),
    );
  }

  private replan(done: Promise<number>): Promise<number> {
    return done.finally(() => this.setTimer());
  }

  /** Whether the watch sees every change to where our rules are. */
  private watched(): boolean {
    return this.watch !== undefined && this.firewall.rulesIn() === 'nft';
  }

  /** The timer runs unless the watch sees every change to where our rules are. */
  private setTimer(): void {
    if (this.stopped) return;
    const backend = this.firewall.rulesIn();
    if (backend === undefined) return; // nothing written yet: check() would do nothing
    const watched = this.watched();
    if (watched) {
      clearInterval(this.timer);
      this.timer = undefined;
    } else if (!this.timer) {
      this.timer = setInterval(() => this.checkLogged(), this.options.checkMs);
    }
    const plan = watched ? 'watched' : `every ${this.options.checkMs / 1000} s`;
    if (plan === this.plan) return;
    this.plan = plan;
    if (watched) this.log.info('firewall: rules checked when nf_tables announces a change', { backend });
    else
      this.log.info('firewall: rules checked on a timer', { backend, everyS: this.options.checkMs / 1000 });
  }
}
