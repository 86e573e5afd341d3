// The iptables rules the agent needs inside Docker's VM, generated in one place (see
// shared/reference/peers.md §4 for Docker ≥ 28's layout):
//  - raw PREROUTING accept from the tunnel: Docker ≥ 28 drops packets for a container that do not arrive on
//    its bridge, in the raw table, before any filter chain (DOCKER-USER cannot undo that);
//  - DOCKER-USER accepts in and out of the tunnel: skips DOCKER's "! -i br -o br -j DROP" and a DROP policy;
//  - MASQUERADE of the host's tunnel address towards the bridges: --internal networks (no route out) and
//    containers on several networks answer the bridge address they can reach;
//  - joined subnet pairs: DOCKER-USER accepts between two bridges, both ways.
// Every rule carries the comment "gangway" so removal finds exactly ours. With IPv6 on (the helper sent
// hostAddress6), the same rules are mirrored with ip6tables, the host's IPv6 tunnel address masqueraded.

export const RULE_COMMENT = 'gangway';

export interface Rule {
  /** 6: an ip6tables rule; absent: iptables (IPv4). */
  family?: 6;
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
  /** The host's IPv6 address inside the tunnel, when IPv6 is on: the rules are mirrored with ip6tables. */
  hostAddress6?: string;
  /** filterChain for the ip6tables rules (Docker makes its IPv6 chains only with ip6tables on). */
  filterChain6?: string;
  /** Pairs of bridge interfaces whose containers may reach each other. */
  joins?: [string, string][];
}

export function firewallRules(i: FirewallInput): Rule[] {
  const rules = familyRules(i.tun, i.hostAddress, i.filterChain, i.joins ?? []);
  if (i.hostAddress6 === undefined) return rules;
  const v6 = familyRules(i.tun, i.hostAddress6, i.filterChain6 ?? i.filterChain, i.joins ?? []);
  return [...rules, ...v6.map((r): Rule => ({ family: 6, ...r }))];
}

function familyRules(tun: string, host: string, filterChain: string, joins: [string, string][]): Rule[] {
  const rules: Rule[] = [
    { table: 'raw', chain: 'PREROUTING', spec: ['-i', tun, '-j', 'ACCEPT'] },
    { table: 'filter', chain: filterChain, spec: ['-i', tun, '-j', 'ACCEPT'] },
    { table: 'filter', chain: filterChain, spec: ['-o', tun, '-j', 'ACCEPT'] },
    { table: 'nat', chain: 'POSTROUTING', spec: ['-s', host, '!', '-o', tun, '-j', 'MASQUERADE'] },
  ];
  for (const [a, b] of joins) {
    rules.push({ table: 'filter', chain: filterChain, spec: ['-i', a, '-o', b, '-j', 'ACCEPT'] });
    rules.push({ table: 'filter', chain: filterChain, spec: ['-i', b, '-o', a, '-j', 'ACCEPT'] });
  }
  return rules;
}

/** The tool for a rule: `flavour` (iptables-nft, iptables-legacy, iptables) or its ip6tables twin. */
export function ruleCommand(flavour: string, r: Rule): string {
  return r.family === 6 ? ip6Command(flavour) : flavour;
}

export function ip6Command(flavour: string): string {
  return flavour.replace(/^iptables/, 'ip6tables');
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
