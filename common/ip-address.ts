// IP address syntax checks without node:net, so the browser renderer can share the same validation
// (common/api.ts, common/cidr.ts) as the helper. They accept what node's isIPv4/isIPv6 accept, minus zone ids
// (fe80::1%eth0), which never name a container subnet; tests/unit/ip-address.test.ts compares them to node's.

const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const V4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);
const GROUP = /^[0-9a-fA-F]{1,4}$/;

export function isIPv4(s: string): boolean {
  return V4.test(s);
}

export function isIPv6(s: string): boolean {
  if (s.length > 45 || s.includes('%')) return false;
  let addr = s;
  const lastColon = addr.lastIndexOf(':');
  if (lastColon >= 0 && addr.includes('.', lastColon)) {
    // An embedded IPv4 tail (::ffff:1.2.3.4) stands for two groups.
    if (!isIPv4(addr.slice(lastColon + 1))) return false;
    addr = `${addr.slice(0, lastColon + 1)}0:0`;
  }
  const halves = addr.split('::');
  if (halves.length > 2) return false;
  const parts = (h: string | undefined) => (h ? h.split(':') : []);
  const head = parts(halves[0]);
  const tail = parts(halves[1]);
  if (![...head, ...tail].every((g) => GROUP.test(g))) return false;
  const groups = head.length + tail.length;
  return halves.length === 2 ? groups <= 7 : groups === 8;
}

export function isIP(s: string): 0 | 4 | 6 {
  return isIPv4(s) ? 4 : isIPv6(s) ? 6 : 0;
}
