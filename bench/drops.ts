// Where a run lost packets, read before and after each iperf3 run: the UDP receive queues overflowing
// (/proc/net/snmp RcvbufErrors: in the rig only the tunnel's sockets receive UDP, so this is the pumps'
// udpRxOverflow) and the TUN devices' queues (tx_dropped: the kernel found the queue towards the pump full)
// in the host and the VM namespace.
import { nsRun } from '../rig/exec';
import type { Rig } from '../rig/rig';
import { parseSnmpUdp } from './netstat';

export interface DropSample {
  hostUdpRcvbuf: number;
  vmUdpRcvbuf: number;
  hostTunTxDropped: number;
  vmTunTxDropped: number;
}

async function txDropped(ns: string, dev: string | undefined): Promise<number> {
  if (!dev) return NaN;
  const r = await nsRun(ns, 'cat', [`/sys/class/net/${dev}/statistics/tx_dropped`], { allowFail: true });
  return r.code === 0 ? Number(r.stdout.trim()) : NaN;
}

async function rcvbufErrors(ns: string): Promise<number> {
  const r = await nsRun(ns, 'cat', ['/proc/net/snmp'], { allowFail: true });
  return parseSnmpUdp(r.stdout).RcvbufErrors ?? NaN;
}

/** The counters now; `tun` names the tunnel's devices (undefined for paths without one). */
export async function readDrops(rig: Rig, tun: { host?: string; vm?: string }): Promise<DropSample> {
  const [hostUdpRcvbuf, vmUdpRcvbuf, hostTunTxDropped, vmTunTxDropped] = await Promise.all([
    rcvbufErrors(rig.hostNs),
    rcvbufErrors(rig.vmNs),
    txDropped(rig.hostNs, tun.host),
    txDropped(rig.vmNs, tun.vm),
  ]);
  return { hostUdpRcvbuf, vmUdpRcvbuf, hostTunTxDropped, vmTunTxDropped };
}

export function dropDelta(before: DropSample, after: DropSample): DropSample {
  return {
    hostUdpRcvbuf: after.hostUdpRcvbuf - before.hostUdpRcvbuf,
    vmUdpRcvbuf: after.vmUdpRcvbuf - before.vmUdpRcvbuf,
    hostTunTxDropped: after.hostTunTxDropped - before.hostTunTxDropped,
    vmTunTxDropped: after.vmTunTxDropped - before.vmTunTxDropped,
  };
}

const n = (x: number) => (Number.isFinite(x) ? String(x) : '–');

/** "udp rcvbuf host 0 / vm 180, tun queue host 0 / vm 0" */
export function formatDrops(d: DropSample): string {
  return `udp rcvbuf host ${n(d.hostUdpRcvbuf)} / vm ${n(d.vmUdpRcvbuf)}, tun queue host ${n(d.hostTunTxDropped)} / vm ${n(d.vmTunTxDropped)}`;
}

interface WithDrops {
  label: string;
  status: string;
  oneStream?: { drops?: DropSample[] };
  fourStream?: { drops?: DropSample[] };
  download?: { drops?: DropSample[] };
}

/** One line per path that has drop samples: each run's drops, 1 stream, 4 streams, then the download. */
export function formatDropLines(paths: readonly WithDrops[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    if (p.status !== 'ok') continue;
    const parts: string[] = [];
    for (const [label, s] of [
      ['1 stream', p.oneStream],
      ['4 streams', p.fourStream],
      ['download', p.download],
    ] as const) {
      if (s?.drops?.length) parts.push(`${label}: ${s.drops.map(formatDrops).join('; ')}`);
    }
    if (parts.length) out.push(`Drops per run, ${p.label}: ${parts.join(' | ')}`);
  }
  return out;
}
