// Applies the agent's firewall rules with the iptables flavour (legacy or nf_tables) that dockerd uses,
// keeps them in place when Docker recreates its chains, and removes them on exit.
//
// Keeping them costs little when nothing changes: check() runs one `<flavour>-save` and counts our rules per
// table, and the full probe-and-ensure only when a table has fewer than we wrote. The backend is probed again on
// every ensure (a config change, or a rule gone): dockerd restarting with another iptables flushes or
// leaves behind the chains we wrote to, and in a real VM it restarts the agent's container too.
// With IPv6 on, the ip6tables mirror lives in the same backend and is checked by a second `-save` (only then).
import type { Runner } from '../shared/exec';
import type { Logger } from '../common/log';
import {
  firewallRules,
  ip6Command,
  ruleArgs,
  ruleCommand,
  type FirewallInput,
  type Rule,
} from './firewall-rules';
import {
  NO_DOCKER_CHAINS,
  ourRulesPerTable,
  plainIptablesBackend,
  probeBackend,
  probeDockerUser6,
  type Backend,
  type BackendProbe,
} from './firewall-backend';

/** What ensure() takes: the rules' input without the chains, which the backend probe decides. */
export type FirewallWants = Omit<FirewallInput, 'filterChain' | 'filterChain6'>;

async function works(run: Runner, cmd: string, args: string[]): Promise<boolean> {
  try {
    await run(cmd, args);
    return true;
  } catch {
    return false;
  }
}

export class Firewall {
  private applied: Rule[] = [];
  /** ensure() calls run one after another: a timer and a config change must not interleave iptables calls. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly run: Runner,
    private readonly log: Logger,
    private flavour = 'iptables',
  ) {}
  private lastBackend = '';
  private lastInput: FirewallWants | undefined;
  private backend: Backend | 'unknown' = 'unknown';
  /** What plain `iptables` is: the image's binary, so asked once. */
  private plainBackend: Promise<Backend | 'unknown'> | undefined;

  /** The backend our rules are in, 'unknown' when plain `iptables` does not say; undefined before the first
   *  ensure() and after removeAll(). */
  rulesIn(): Backend | 'unknown' | undefined {
    return this.lastInput ? this.backend : undefined;
  }

  /** Makes the rules for `input` present (and removes ours that are no longer wanted). Idempotent. */
  ensure(input: FirewallWants): Promise<number> {
    const next = this.queue.then(() => this.ensureNow(input));
    this.queue = next.catch(() => undefined);
    return next;
  }

  /**
   * The periodic check: resolves to the rules re-inserted (0 when all are in place, the usual case, after one
   * iptables-save run). Does nothing before the first ensure().
   */
  check(): Promise<number> {
    const next = this.queue.then(async () => {
      const input = this.lastInput;
      if (!input) return 0;
      if (await this.rulesPresent()) return 0;
      this.log.info('firewall rules missing (Docker recreated its chains?): applying them again');
      return this.ensureNow(input);
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** One `iptables-save` (one process: spawning dominates the cost) shows whether each table still has all of
   *  ours. Fewer than we wrote in a table means a chain was flushed or recreated. */
  private async rulesPresent(): Promise<boolean> {
    if (this.applied.length === 0) return false;
    const families = new Set(this.applied.map((r) => r.family ?? 4));
    for (const family of families) {
      let save: string;
      try {
        const cmd = family === 6 ? ip6Command(this.flavour) : this.flavour;
        save = await this.run(`${cmd}-save`, []);
      } catch {
        return false;
      }
      const present = ourRulesPerTable(save);
      const wanted = new Map<string, number>();
      for (const r of this.applied)
        if ((r.family ?? 4) === family) wanted.set(r.table, (wanted.get(r.table) ?? 0) + 1);
      for (const [table, n] of wanted) if ((present.get(table) ?? 0) < n) return false;
    }
    return true;
  }

  private async ensureNow(input: FirewallWants): Promise<number> {
    this.lastInput = input;
    const probe = await probeBackend(this.run);
    this.noteBackend(probe);
    this.backend =
      probe.backend === 'none' ? await (this.plainBackend ??= plainIptablesBackend(this.run)) : probe.backend;
    // Rules already written stay with the backend they were written to until removed.
    if (probe.command !== this.flavour) {
      for (const r of this.applied) await this.remove(r);
      this.applied = [];
      this.flavour = probe.command;
    }
    const filterChain = probe.dockerUser ? 'DOCKER-USER' : 'FORWARD';
    const filterChain6 =
      input.hostAddress6 !== undefined && (await probeDockerUser6(this.run, probe.backend))
        ? 'DOCKER-USER'
        : 'FORWARD';
    const wanted = firewallRules({ ...input, filterChain, filterChain6 });
    const key = (r: Rule) => `${r.family ?? 4} ${r.table} ${r.chain} ${r.spec.join(' ')}`;
    const wantedKeys = new Set(wanted.map(key));
    for (const r of this.applied) if (!wantedKeys.has(key(r))) await this.remove(r);
    let inserted = 0;
    for (const r of wanted) {
      const cmd = ruleCommand(this.flavour, r);
      if (await works(this.run, cmd, ruleArgs('-C', r))) continue;
      await this.run(cmd, ruleArgs('-I', r));
      inserted++;
    }
    this.applied = wanted;
    if (inserted > 0)
      this.log.info('firewall rules applied', {
        flavour: this.flavour,
        chain: filterChain,
        ...(input.hostAddress6 !== undefined ? { chain6: filterChain6 } : {}),
        inserted,
      });
    return inserted;
  }

  /** Logs the backend once, and again whenever it changes (Docker restarted with another iptables). */
  private noteBackend(p: BackendProbe): void {
    const key = `${p.backend} ${p.dockerUser}`;
    if (key === this.lastBackend) return;
    this.lastBackend = key;
    if (p.backend === 'none') this.log.warn(NO_DOCKER_CHAINS, { backend: p.backend });
    else
      this.log.info("firewall backend: Docker's chains found", {
        backend: p.backend,
        dockerUser: p.dockerUser,
      });
  }

  /** Removes every rule this agent added (all copies). Never throws. */
  async removeAll(): Promise<void> {
    await this.queue;
    for (const r of this.applied) await this.remove(r);
    this.applied = [];
    this.lastInput = undefined;
  }

  private async remove(r: Rule): Promise<void> {
    const cmd = ruleCommand(this.flavour, r);
    for (let i = 0; i < 10 && (await works(this.run, cmd, ruleArgs('-D', r))); i++);
  }
}
