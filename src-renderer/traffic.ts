// Live traffic from two status snapshots' counters: bytes per second each way.
import type { Status } from '../common/api';

export interface Rates {
  toVmBps: number;
  fromVmBps: number;
}

export function trafficRates(prev: Status, next: Status, elapsedMs: number): Rates {
  const seconds = Math.max(elapsedMs, 1) / 1000;
  const delta = (k: string) =>
    Math.max(0, (next.counters.pump[k] ?? 0) - (prev.counters.pump[k] ?? 0)) / seconds;
  // Into the tunnel towards the VM leaves as UDP; what the VM sends comes out of the TUN.
  return { toVmBps: delta('udpTxBytes'), fromVmBps: delta('tunTxBytes') };
}

export function formatRate(bytesPerSecond: number): string {
  if (bytesPerSecond >= 1e6) return `${(bytesPerSecond / 1e6).toFixed(1)} MB/s`;
  if (bytesPerSecond >= 1e3) return `${(bytesPerSecond / 1e3).toFixed(1)} kB/s`;
  return `${Math.round(bytesPerSecond)} B/s`;
}

export function formatBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}
