// CIDR parsing and arithmetic (IPv4 and IPv6) used to validate input before it reaches `ip`/`route`, and to
// detect overlaps between container subnets, the tunnel subnet and the host's own routes.
import { isIPv4, isIPv6 } from './ip-address';

export interface Cidr {
  family: 4 | 6;
  /** The network address as a bigint (host bits cleared). */
  network: bigint;
  prefix: number;
}

function v4ToBig(s: string): bigint {
  return s.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
}

function v6ToBig(s: string): bigint | undefined {
  let addr = s;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hex groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(addr);
  if (v4?.[1]) {
    const n = v4ToBig(v4[1]);
    addr = addr.slice(0, -v4[1].length) + `${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head = '', tail] = addr.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const missing = 8 - h.length - t.length;
  if (tail === undefined ? h.length !== 8 : missing < 1) return undefined;
  const groups = [...h, ...Array<string>(tail === undefined ? 0 : missing).fill('0'), ...t];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

export function parseIp(s: string): { family: 4 | 6; value: bigint } | undefined {
  if (isIPv4(s)) return { family: 4, value: v4ToBig(s) };
  if (isIPv6(s)) {
    const value = v6ToBig(s);
    return value === undefined ? undefined : { family: 6, value };
  }
  return undefined;
}

/** Parses "a.b.c.d/n" or "x::/n" (a bare address is a host route). Host bits must be zero. */
export function parseCidr(s: string): Cidr | undefined {
  if (typeof s !== 'string' || s.length > 64) return undefined;
  const [addr = '', len, extra] = s.split('/');
  if (extra !== undefined) return undefined;
  const ip = parseIp(addr);
  if (!ip) return undefined;
  const bits = ip.family === 4 ? 32 : 128;
  if (len !== undefined && !/^\d{1,3}$/.test(len)) return undefined;
  const prefix = len === undefined ? bits : Number(len);
  if (prefix > bits) return undefined;
  const hostMask = (1n << BigInt(bits - prefix)) - 1n;
  if ((ip.value & hostMask) !== 0n) return undefined;
  return { family: ip.family, network: ip.value, prefix };
}

export function formatIp(family: 4 | 6, value: bigint): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 0xffn)).join('.');
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((value >> BigInt(i * 16)) & 0xffffn).toString(16));
  // RFC 5952: compress the longest run (at least two) of zero groups, the first one on a tie.
  let best = { at: -1, len: 1 };
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > best.len) best = { at: i, len: j - i };
    i = j === i ? i + 1 : j;
  }
  if (best.at < 0) return groups.join(':');
  return `${groups.slice(0, best.at).join(':')}::${groups.slice(best.at + best.len).join(':')}`;
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.family, c.network)}/${c.prefix}`;
}

/** True when the two ranges share at least one address. */
export function overlaps(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  const bits = a.family === 4 ? 32 : 128;
  const p = Math.min(a.prefix, b.prefix);
  const shift = BigInt(bits - p);
  return a.network >> shift === b.network >> shift;
}

/** True when `inner` lies entirely inside `outer`. */
export function contains(outer: Cidr, inner: Cidr): boolean {
  return overlaps(outer, inner) && outer.prefix <= inner.prefix;
}

/** The n-th address of a subnet (1 = first host), e.g. for the tunnel's two ends. */
export function nthAddress(c: Cidr, n: number): string {
  return formatIp(c.family, c.network + BigInt(n));
}

export function cidrSize(c: Cidr): bigint {
  return 1n << BigInt((c.family === 4 ? 32 : 128) - c.prefix);
}
