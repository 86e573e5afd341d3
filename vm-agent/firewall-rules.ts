// The iptables rules the agent needs inside Docker's VM, generated in one place (see
// shared/reference/peers.md §4 for Docker ≥ 28's layout):
//  - raw PREROUTING accept from the tunnel: Docker ≥ 28 drops packets for a container that do not arrive on
//    its bridge, in the raw table, before any filter chain (DOCKER-USER cannot undo that);
//  - DOCKER-USER accepts in and out of the tunnel: skips DOCKER's "! -i br -o br -j DROP" and a DROP policy;
//  - MASQUERADE of the host's tunnel address towards the bridges: --internal networks (no route out) and
//    containers on several networks answer the bridge address they can reach;
//  - joined subnet pairs: DOCKER-USER accepts between two bridges, both ways.
// Every rule carries the comment "gangway" so removal finds exactly ours.

export const RULE_COMMENT = 'gangway';

export interface Rule {
  table: 'raw' | 'filter' | 'nat';
  chain: string;
  /** The match and target, without table, chain or comment. */
  spec: string[];
}

export interface FirewallInput {
  /** The agent's TUN device. */
  tun: string;
  /** The host's address inside the tunnel. */
  hostAddress: string;
  /** Chain for filter accepts: DOCKER-USER when Docker made it, else FORWARD. */
  filterChain: string;
  /** Pairs of bridge interfaces whose containers may reach each other. */
  joins?: [string, string][];
}

export function firewallRules(i: FirewallInput): Rule[] {
  const rules: Rule[] = [
    { table: 'raw', chain: 'PREROUTING', spec: ['-i', i.tun, '-j', 'ACCEPT'] },
    { table: 'filter', chain: i.filterChain, spec: ['-i', i.tun, '-j', 'ACCEPT'] },
    { table: 'filter', chain: i.filterChain, spec: ['-o', i.tun, '-j', 'ACCEPT'] },
    { table: 'nat', chain: 'POSTROUTING', spec: ['-s', i.hostAddress, '!', '-o', i.tun, '-j', 'MASQUERADE'] },
  ];
  for (const [a, b] of i.joins ?? []) {
    rules.push({ table: 'filter', chain: i.filterChain, spec: ['-i', a, '-o', b, '-j', 'ACCEPT'] });
    rules.push({ table: 'filter', chain: i.filterChain, spec: ['-i', b, '-o', a, '-j', 'ACCEPT'] });
  }
  return rules;
}

/** iptables arguments for an action on a rule: -C (check), -I (insert at the top), -D (delete). */
export function ruleArgs(action: '-C' | '-I' | '-D', r: Rule): string[] {
  const position = action === '-I' ? ['1'] : [];
  return [
    '-w',
    '5',
    '-t',
    r.table,
    action,
    r.chain,
    ...position,
    ...r.spec,
    '-m',
    'comment',
    '--comment',
    RULE_COMMENT,
  ];
}
