// ping: run iputils ping in a namespace and parse every reply's RTT (not just ping's own summary), so
// percentiles can be computed.
import { nsRun } from '../rig/exec';
import { mean, percentile } from './stats';

/** The bench's ping interval, idle and under load. */
export const PING_INTERVAL_S = 0.01;
/** Seconds of load before the loaded ping starts. */
export const LOAD_WARMUP_S = 1;

/** Pings under a `seconds`-long load: started LOAD_WARMUP_S in, ending before the load does. */
export function loadedPingCount(seconds: number): number {
  return Math.max(20, Math.min(5000, Math.floor((seconds - LOAD_WARMUP_S - 0.5) / PING_INTERVAL_S)));
}

export interface PingParse {
  /** RTT of each reply in ms, in arrival order; duplicates are left out. */
  rtts: number[];
  transmitted: number;
  received: number;
}

export interface PingResult {
  count: number;
  transmitted: number;
  received: number;
  lossPct: number;
  avgMs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

const REPLY = /^\d+ bytes from \S+: icmp_seq=\d+ .*\btime[=<]([\d.]+) ms(.*)$/;
const SUMMARY = /^(\d+) packets transmitted, (\d+) received/;

/** Parses `ping -n` output: one RTT per reply line, plus the transmitted/received summary. */
export function parsePing(output: string): PingParse {
  const rtts: number[] = [];
  let transmitted = 0;
  let received = 0;
  for (const raw of output.split('\n')) {
    const line = raw.trim();
    const m = REPLY.exec(line);
    if (m) {
      if (!m[2]?.includes('DUP!')) rtts.push(Number(m[1]));
      continue;
    }
    const s = SUMMARY.exec(line);
    if (s) {
      transmitted = Number(s[1]);
      received = Number(s[2]);
    }
  }
  return { rtts, transmitted, received };
}

export function summarizePing(p: PingParse): PingResult {
  const sent = p.transmitted || p.rtts.length;
  return {
    count: p.rtts.length,
    transmitted: sent,
    received: p.received || p.rtts.length,
    lossPct: sent > 0 ? (100 * (sent - (p.received || p.rtts.length))) / sent : 0,
    avgMs: mean(p.rtts),
    p50Ms: percentile(p.rtts, 50),
    p99Ms: percentile(p.rtts, 99),
    maxMs: p.rtts.length ? Math.max(...p.rtts) : NaN,
  };
}

/**
 * The arguments for `count` echo requests every `intervalS` seconds. No `-w`: with a deadline, ping's
 * `-c` counts replies and keeps sending past `count` when some are lost; without it ping sends exactly
 * `count` and waits at most `-W` for the last replies.
 */
export function pingArgs(ip: string, count: number, intervalS: number): string[] {
  return ['-n', '-i', String(intervalS), '-c', String(count), '-W', '1', ip];
}

/** Pings `ip` from `ns`; a lost or unreachable target gives an empty result rather than an error. */
export async function runPing(ns: string, ip: string, count: number, intervalS = 0.01): Promise<PingParse> {
  const timeoutMs = Math.ceil((count * intervalS + 5) * 1000);
  const r = await nsRun(ns, 'ping', pingArgs(ip, count, intervalS), { allowFail: true, timeoutMs });
  return parsePing(r.stdout);
}
