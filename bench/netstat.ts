// UDP counters of a namespace (/proc/net/snmp): receive-buffer overflows are where a tunnel loses packets
// under load, so the bench records their change per path on both ends.
import { nsRun } from '../rig/exec';

export type UdpCounters = Record<string, number>;

/** The `Udp:` header/value line pair of /proc/net/snmp as a name → number map. */
export function parseSnmpUdp(text: string): UdpCounters {
  const lines = text.split('\n').filter((l) => l.startsWith('Udp: '));
  const [names, values] = [lines[0]?.split(/\s+/).slice(1) ?? [], lines[1]?.split(/\s+/).slice(1) ?? []];
  const out: UdpCounters = {};
  names.forEach((n, i) => {
    const v = Number(values[i]);
    if (n && Number.isFinite(v)) out[n] = v;
  });
  return out;
}

export async function readUdpCounters(ns: string): Promise<UdpCounters> {
  const r = await nsRun(ns, 'cat', ['/proc/net/snmp'], { allowFail: true });
  return parseSnmpUdp(r.stdout);
}

/** after − before for the counters that tell about drops (and the datagram count for scale). */
export function udpDelta(before: UdpCounters, after: UdpCounters): UdpCounters {
  const keys = ['InDatagrams', 'OutDatagrams', 'InErrors', 'RcvbufErrors', 'SndbufErrors', 'MemErrors'];
  const out: UdpCounters = {};
  for (const k of keys) if (k in after) out[k] = (after[k] ?? 0) - (before[k] ?? 0);
  return out;
}
