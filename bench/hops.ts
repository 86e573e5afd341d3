#!/usr/bin/env node
// `npm run bench:hops`: where a ping's round trip goes, hop by hop. Sets up one path in the rig, captures
// ICMP with tcpdump on the host's route device, on the VM side of the tunnel (the agent's TUN; for direct
// routing the VM's veth) and in the container, and pings idle and under 4-stream iperf3 load. Each echo is
// matched by its sequence number across the captures (one clock: one machine), so the report splits the
// RTT into: host stack → tunnel down → VM routing → container → VM routing → tunnel up → host stack.
// `--sched` also records `perf sched` over the pings and prints how long each kind of thread waited for a
// CPU (bench/sched.ts): what a ping's time at a pump hop can be set beside.
// Needs root; everything happens in the rig's namespaces, which are deleted at the end.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createRig, type Rig } from '../rig/rig';
import { checkCongestion, runIperf } from './iperf';
import { createPath, type BenchPath } from './paths';
import { LOAD_WARMUP_S, PING_INTERVAL_S, loadedPingCount, runPing, summarizePing } from './ping';
import {
  SchedRecording,
  attributeStays,
  formatSched,
  formatShare,
  monotonicOffsetS,
  monotonicS,
  perfSchedAvailable,
  summarizeSched,
  threadClass,
  type Stay,
} from './sched';
import { percentile } from './stats';
import { PATH_NAMES, type PathName } from './types';

/** One capture line of `tcpdump -tt -n icmp`: time (s), echo kind and sequence number. */
export interface IcmpSeen {
  t: number;
  kind: 'request' | 'reply';
  seq: number;
}

const LINE = /^(\d+\.\d+) .*ICMP echo (request|reply), id \d+, seq (\d+),/;

export function parseTcpdump(text: string): IcmpSeen[] {
  const out: IcmpSeen[] = [];
  for (const l of text.split('\n')) {
    const m = LINE.exec(l);
    if (m) out.push({ t: Number(m[1]), kind: m[2] as 'request' | 'reply', seq: Number(m[3]) });
  }
  return out;
}

/**
 * `tcpdump -tt -n -x` of tunnel datagrams (outer IPv4 + UDP carrying an inner IPv4 ICMP echo): the inner
 * echo's kind and sequence number, read from the hex dump.
 */
export function parseTunnelDump(text: string): IcmpSeen[] {
  const out: IcmpSeen[] = [];
  let t = NaN;
  let hex = '';
  const flush = () => {
    const b = Buffer.from(hex, 'hex');
    hex = '';
    // outer IPv4 (20) + UDP (8) + inner IPv4 (20): ICMP type at 48, sequence at 54.
    if (!Number.isFinite(t) || b.length < 56 || b[9] !== 17 || b[28]! >> 4 !== 4 || b[37] !== 1) return;
    const type = b[48];
    if (type === 8 || type === 0)
      out.push({ t, kind: type === 8 ? 'request' : 'reply', seq: b.readUInt16BE(54) });
  };
  for (const l of text.split('\n')) {
    const h = /^\s+0x[0-9a-f]+:\s+((?:[0-9a-f]{2,4}\s?)+)/.exec(l);
    if (h) {
      hex += h[1]!.replace(/\s+/g, '');
      continue;
    }
    const m = /^(\d+\.\d+) /.exec(l);
    if (m) {
      flush();
      t = Number(m[1]);
    }
  }
  flush();
  return out;
}

/** Capture points in the order a request passes them (the reply passes them backwards). */
export interface Hop {
  name: string;
  seen: IcmpSeen[];
}

export interface Segment {
  name: string;
  p50Us: number;
  p99Us: number;
  count: number;
}

/** When each echo of a kind passed a capture point, by sequence number. */
function seenAt(h: Hop, kind: IcmpSeen['kind']): Map<number, number> {
  return new Map(h.seen.filter((s) => s.kind === kind).map((s) => [s.seq, s.t]));
}

/**
 * Per segment between consecutive capture points, the time each echo took (µs): requests forward, then the
 * turn at the last point (request → reply), then replies backward. Echoes missing at either end are left out.
 */
export function segments(hops: readonly Hop[]): Segment[] {
  const req = hops.map((h) => seenAt(h, 'request'));
  const rep = hops.map((h) => seenAt(h, 'reply'));
  const span = (name: string, from: Map<number, number>, to: Map<number, number>): Segment => {
    const d: number[] = [];
    for (const [seq, t0] of from) {
      const t1 = to.get(seq);
      if (t1 !== undefined) d.push((t1 - t0) * 1e6);
    }
    return { name, p50Us: percentile(d, 50), p99Us: percentile(d, 99), count: d.length };
  };
  const out: Segment[] = [];
  for (let i = 0; i + 1 < hops.length; i++)
    out.push(span(`request ${hops[i]!.name} → ${hops[i + 1]!.name}`, req[i]!, req[i + 1]!));
  const last = hops.length - 1;
  out.push(span(`turn at ${hops[last]!.name}`, req[last]!, rep[last]!));
  for (let i = last; i > 0; i--)
    out.push(span(`reply ${hops[i]!.name} → ${hops[i - 1]!.name}`, rep[i]!, rep[i - 1]!));
  out.push(span(`whole trip at ${hops[0]!.name}`, req[0]!, rep[0]!));
  return out;
}

/** Each echo's stay between two capture points (tcpdump's seconds), for the echoes seen at both. */
export function stays(hops: readonly Hop[], from: number, to: number, kind: IcmpSeen['kind']): Stay[] {
  const end = seenAt(hops[to]!, kind);
  const out: Stay[] = [];
  for (const [seq, a] of seenAt(hops[from]!, kind)) {
    const b = end.get(seq);
    if (b !== undefined && b >= a) out.push({ a, b });
  }
  return out;
}

// The tunnel paths' captures, in order: host route device, host veth, VM veth, agent TUN, container. The four
// pump hops between them and the threads that serve each.
const PUMP_HOPS = [
  { name: "request: the helper's TUN → UDP", from: 0, to: 1, kind: 'request', thread: 'helper gw-tun2udp' },
  { name: "request: the agent's UDP → TUN", from: 2, to: 3, kind: 'request', thread: 'agent gw-udp2tun' },
  { name: "reply: the agent's TUN → UDP", from: 3, to: 2, kind: 'reply', thread: 'agent gw-tun2udp' },
  { name: "reply: the helper's UDP → TUN", from: 1, to: 0, kind: 'reply', thread: 'helper gw-udp2tun' },
] as const;

class Capture {
  private text = '';
  private readonly proc: ChildProcess;
  /** tunnel: capture the tunnel's datagrams that carry an ICMP echo (on the veth), else plain ICMP. */
  constructor(
    rig: Rig,
    ns: string,
    readonly dev: string,
    private readonly tunnel = false,
  ) {
    const filter = tunnel ? ['-x', 'udp[8] == 0x45 and udp[17] == 1'] : ['icmp'];
    this.proc = rig.spawn(ns, 'tcpdump', ['-tt', '-n', '-l', '-i', dev, '-s', '96', ...filter]);
    this.proc.stdout?.on('data', (d: Buffer) => (this.text += d.toString()));
    this.proc.stderr?.resume();
  }
  async stop(): Promise<IcmpSeen[]> {
    // tcpdump prints what it buffered and exits on SIGINT.
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGINT');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
    return this.tunnel ? parseTunnelDump(this.text) : parseTcpdump(this.text);
  }
}

function vmDevice(rig: Rig, path: PathName): string {
  return path === 'direct' ? rig.vmVeth : 'gwa0';
}

async function measure(
  rig: Rig,
  path: BenchPath,
  pings: number,
  loadSeconds: number,
  congestion: string | undefined,
  schedDir: string | undefined,
): Promise<void> {
  const target = rig.containers[0]!;
  // The tunnel's processes by pid, so that the daemon's pump threads and the agent's tell apart.
  const roles = new Map<number, string>(
    path
      .pids()
      .map((pid, i) => [
        pid,
        path.name.startsWith('gangway') ? (['helper', 'agent'][i] ?? `tunnel ${i}`) : `tunnel ${i}`,
      ]),
  );
  for (const load of [false, true]) {
    const tunnel = path.name !== 'direct';
    const caps = [
      new Capture(rig, rig.hostNs, path.expectedDevice()),
      ...(tunnel
        ? [new Capture(rig, rig.hostNs, rig.hostVeth, true), new Capture(rig, rig.vmNs, rig.vmVeth, true)]
        : []),
      new Capture(rig, rig.vmNs, vmDevice(rig, path.name)),
      new Capture(rig, target.ns, 'eth0'),
    ];
    await new Promise((r) => setTimeout(r, 1000)); // tcpdump attaches
    const count = load ? loadedPingCount(loadSeconds) : pings;
    // perf takes a moment to start, so it records from before the load's warm-up (or a second before idle
    // pings) until the pings end, bounded by its own sleep should this process die; the report keeps the
    // pings' window.
    const sched = schedDir
      ? new SchedRecording(
          join(schedDir, `${path.name}-${load ? 'load' : 'idle'}.data`),
          LOAD_WARMUP_S + count * PING_INTERVAL_S + 10,
        )
      : undefined;
    let iperf: Promise<unknown> = Promise.resolve();
    let ping;
    let window: [number, number] = [0, 0];
    try {
      if (load) {
        iperf = runIperf(rig, rig.hostNs, target.ns, target.ip, {
          seconds: loadSeconds,
          streams: 4,
          congestion,
        });
        await new Promise((r) => setTimeout(r, LOAD_WARMUP_S * 1000));
      } else if (sched) {
        await new Promise((r) => setTimeout(r, 1000));
      }
      const from = monotonicS();
      ping = summarizePing(await runPing(rig.hostNs, target.ip, count, PING_INTERVAL_S));
      window = [from, monotonicS()];
    } finally {
      sched?.stop();
    }
    await iperf;
    const seen = await Promise.all(caps.map((c) => c.stop()));
    const hops = caps.map((c, i) => ({ name: c.dev, seen: seen[i]! }));
    console.log(
      `\n${path.name}, ${load ? '4-stream load' : 'idle'} (load average ${loadavg()[0]!.toFixed(2)}): ping p50 ${ping.p50Ms.toFixed(3)} ms, p99 ${ping.p99Ms.toFixed(3)} ms, ${ping.received}/${ping.transmitted} replies`,
    );
    console.log('| segment | p50 µs | p99 µs | echoes |\n|---|---|---|---|');
    for (const s of segments(hops))
      console.log(`| ${s.name} | ${s.p50Us.toFixed(0)} | ${s.p99Us.toFixed(0)} | ${s.count} |`);
    if (sched) {
      const turns = (await sched.turns()).filter((t) => t.t >= window[0] && t.t <= window[1]);
      console.log(
        `\nWaits for a CPU over the pings (perf sched; a thread's wait from its wake-up or preemption to running):`,
      );
      console.log(formatSched(summarizeSched(turns, roles)));
      if (tunnel && path.name.startsWith('gangway')) {
        const offset = monotonicOffsetS();
        console.log(
          `\nAt each pump hop, the echoes' time there: waiting for a CPU / the thread running / neither (all echoes; the slowest 5%):`,
        );
        console.log('| pump hop | echoes | all | slowest 5% |\n|---|---|---|---|');
        for (const h of PUMP_HOPS) {
          const mine = turns.filter((t) => threadClass(t, roles) === h.thread);
          const share = attributeStays(stays(hops, h.from, h.to, h.kind), mine, offset);
          console.log(
            `| ${h.name} | ${share.all.stays} | ${formatShare(share.all)} | ${formatShare(share.slowest)} |`,
          );
        }
      }
    }
  }
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      paths: { type: 'string', default: 'direct,gangway' },
      pings: { type: 'string', default: '300' },
      seconds: { type: 'string', default: '5' },
      congestion: { type: 'string' },
      sched: { type: 'boolean', default: false },
    },
  });
  const paths = values.paths.split(',') as PathName[];
  for (const p of paths) if (!PATH_NAMES.includes(p)) throw new Error(`unknown path "${p}"`);
  const pings = Math.min(5000, Math.max(10, Number(values.pings) || 300));
  const seconds = Math.min(60, Math.max(3, Number(values.seconds) || 5));
  if (process.getuid?.() !== 0) {
    console.error('bench:hops needs root (network namespaces)');
    return 1;
  }
  let congestion: string;
  try {
    congestion = checkCongestion(values.congestion);
  } catch (err) {
    console.error(`bench:hops: ${(err as Error).message}`);
    return 1;
  }
  console.log(`TCP congestion control of the iperf3 load: ${congestion}`);
  let schedDir: string | undefined;
  if (values.sched) {
    const why = perfSchedAvailable();
    if (why) {
      console.error(`bench:hops: --sched needs perf: ${why}`);
      return 1;
    }
    schedDir = mkdtempSync(join(tmpdir(), 'gangway-hops-sched-'));
  }
  const rig = await createRig({ containers: 1, subnetIndex: 11 });
  let current: BenchPath | undefined;
  const onSignal = () => {
    void (async () => {
      await current?.teardown();
      await rig.teardown();
      process.exit(130);
    })();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    for (const name of paths) {
      current = createPath(rig, name);
      try {
        await current.setup();
        await measure(rig, current, pings, seconds, values.congestion, schedDir);
      } finally {
        await current.teardown();
        current = undefined;
      }
    }
  } finally {
    await rig.teardown();
    if (schedDir) rmSync(schedDir, { recursive: true, force: true });
  }
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      console.error(`bench:hops: ${(err as Error).stack ?? String(err)}`);
      process.exitCode = 1;
    },
  );
}
