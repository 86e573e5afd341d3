// Which iptables backend holds Docker's chains in the VM: legacy (x_tables) or nf_tables. Docker writes with
// whatever `iptables` its PATH finds (Alpine-based VMs such as Rancher Desktop's: nf_tables since Alpine 3.19,
// legacy on older ones); rules written with the other backend live in other tables and cannot override
// Docker's drops. Probed with the *-save tools: listing with `iptables-legacy -L/-S` instantiates empty
// legacy tables as a side effect, which makes iptables-nft warn about them from then on.
//
// Neither backend has Docker's chains when Docker runs with --iptables=false, or with Engine 29's nftables
// firewall backend (its own nft tables, no DOCKER-USER): then the agent's rules cannot open Docker's
// isolation, and status and doctor say so.
import type { Runner } from '../shared/exec';
import { ip6Command } from './firewall-rules';

export type Backend = 'nft' | 'legacy';

export interface BackendProbe {
  /** Where Docker's chains are; 'none' when neither backend has them. */
  backend: Backend | 'none';
  /** The iptables binary the agent writes with. */
  command: string;
  /** DOCKER-USER exists there (Docker made it); otherwise the agent uses FORWARD. */
  dockerUser: boolean;
}

/** The filter table's chain names from `iptables-save -t filter` output. */
export function savedChains(save: string): Set<string> {
  const chains = new Set<string>();
  for (const line of save.split('\n')) {
    const m = /^:(\S+) /.exec(line);
    if (m?.[1]) chains.add(m[1]);
  }
  return chains;
}

async function chainsOf(run: Runner, backend: Backend): Promise<Set<string>> {
  try {
    return savedChains(await run(`iptables-${backend}-save`, ['-t', 'filter']));
  } catch {
    // that backend's tools are missing, or its kernel side is: nothing of Docker's there
    return new Set();
  }
}

/** Probes both backends; DOCKER-USER decides, then any DOCKER chain; nf_tables first on a tie. */
export async function probeBackend(run: Runner): Promise<BackendProbe> {
  const found = await Promise.all(
    (['nft', 'legacy'] as const).map(async (b) => ({ b, chains: await chainsOf(run, b) })),
  );
  const withUser = found.find((f) => f.chains.has('DOCKER-USER'));
  const withDocker = withUser ?? found.find((f) => f.chains.has('DOCKER'));
  if (!withDocker) return { backend: 'none', command: 'iptables', dockerUser: false };
  return { backend: withDocker.b, command: `iptables-${withDocker.b}`, dockerUser: !!withUser };
}

/**
 * The backend plain `iptables` writes to, from its version line ("iptables v1.8.9 (nf_tables)", "… (legacy)"):
 * where the agent's rules go when Docker's chains are in neither backend. 'unknown' when it cannot tell.
 */
export async function plainIptablesBackend(run: Runner): Promise<Backend | 'unknown'> {
  try {
    const version = await run('iptables', ['-V']);
    if (/\(nf_tables\)/.test(version)) return 'nft';
    if (/\(legacy\)/.test(version)) return 'legacy';
  } catch {
    // no iptables at all: ensure() fails on its own, with the reason
  }
  return 'unknown';
}

/**
 * Whether Docker made DOCKER-USER in ip6tables too (dockerd's ip6tables option: on by default since Engine 27,
 * experimental in 20.10): the IPv6 mirror of our rules goes there, else into FORWARD. Docker writes both
 * families with the same backend, so only that backend's ip6tables is asked.
 */
export async function probeDockerUser6(run: Runner, backend: BackendProbe['backend']): Promise<boolean> {
  if (backend === 'none') return false;
  try {
    return savedChains(await run(`ip6tables-${backend}-save`, ['-t', 'filter'])).has('DOCKER-USER');
  } catch {
    return false;
  }
}

/** A line of `iptables-save` output that is one of our rules (by the "gangway" comment). */
export function isOurRule(line: string): boolean {
  return line.includes('"gangway"') || / gangway( |$)/.test(line);
}

/** Our rules per table in `iptables-save` output (all tables). */
export function ourRulesPerTable(save: string): Map<string, number> {
  const counts = new Map<string, number>();
  let table = '';
  for (const line of save.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1).trim();
    else if (line.startsWith('-A ') && isOurRule(line)) counts.set(table, (counts.get(table) ?? 0) + 1);
  }
  return counts;
}

/** What status and doctor show about the VM's firewall, and what to do when Docker's chains are missing. */
export interface FirewallReport extends BackendProbe {
  /** Our rules present now (by the "gangway" comment), in the backend written to. */
  rules: number;
  /** Our ip6tables rules there, when there are any (IPv6 on); absent otherwise, as from older agents. */
  rules6?: number;
  problem?: string;
}

export const NO_DOCKER_CHAINS =
  "Docker's iptables chains are in neither iptables-legacy nor iptables-nft (Docker runs with --iptables=false, " +
  "or with Engine 29's nftables firewall backend, which has no DOCKER-USER): Gangway cannot open Docker's " +
  'isolation for tunnel traffic. Use routed networks instead (docker network create -o ' +
  'com.docker.network.bridge.gateway_mode_ipv4=routed), or run dockerd with its iptables backend';

export async function firewallReport(run: Runner): Promise<FirewallReport> {
  const probe = await probeBackend(run);
  const flavour = probe.backend === 'none' ? 'iptables' : `iptables-${probe.backend}`;
  const count = async (cmd: string) => {
    try {
      return (await run(cmd, [])).split('\n').filter(isOurRule).length;
    } catch {
      return 0; // no tables to read: no rules of ours either
    }
  };
  const rules = await count(`${flavour}-save`);
  const rules6 = await count(`${ip6Command(flavour)}-save`);
  return {
    ...probe,
    rules,
    ...(rules6 > 0 ? { rules6 } : {}),
    ...(probe.backend === 'none' ? { problem: NO_DOCKER_CHAINS } : {}),
  };
}
