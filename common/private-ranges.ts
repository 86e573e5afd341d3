// The address ranges Gangway may take over on its own: private (RFC 1918, IPv6 unique-local fc00::/7),
// shared (100.64.0.0/10, carrier-grade NAT) and benchmarking (198.18.0.0/15). A subnet outside them holds
// someone's public addresses (a Compose file's `8.8.0.0/16` would send Google's DNS into the VM), so it is
// routed only when the user says so explicitly, and the tunnel never uses it.
import { contains, parseCidr, type Cidr } from './cidr';

export const PRIVATE_RANGES: readonly string[] = [
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '100.64.0.0/10',
  '198.18.0.0/15',
  'fc00::/7',
];
const PARSED = PRIVATE_RANGES.map((r) => parseCidr(r)!);

/** True when every address of `cidr` lies inside one private or reserved range. */
export function isPrivateSubnet(cidr: Cidr | string): boolean {
  const c = typeof cidr === 'string' ? parseCidr(cidr) : cidr;
  return !!c && PARSED.some((r) => contains(r, c));
}

/** The one wording for such a network, wherever it is shown (CLI, window, tray). */
export const PUBLIC_NOT_ROUTED = 'public addresses: not routed automatically';
export const PUBLIC_ALLOWED = 'public addresses: routed by your choice';

/** What to say about a network's public subnets, if it has any. */
export function publicNote(n: {
  publicSubnets: readonly string[];
  allowPublic: boolean;
}): string | undefined {
  if (n.publicSubnets.length === 0) return undefined;
  return n.allowPublic ? PUBLIC_ALLOWED : PUBLIC_NOT_ROUTED;
}
