// How long each thread waited for a CPU, from `perf sched`: the time it was runnable but not running (from a
// wake-up, or from being preempted, to running again) before every turn it got on a CPU during a window.
// bench:hops records it while it pings, so that a ping's time at a pump hop can be split into that hop's thread
// waiting for a CPU, running, and neither (attributeStays).
import type { ChildProcess } from 'node:child_process';
import { spawn, spawnSync } from 'node:child_process';
import { percentile } from './stats';

/** One line of `perf sched timehist --state`: a thread's turn on a CPU, ending at `t` (s). */
export interface SchedTurn {
  t: number;
  cpu: number;
  comm: string;
  tid: number;
  pid: number;
  /** Time off the CPU before this turn (ms): asleep and then waiting. */
  waitMs: number;
  /** Of that, the time from its wake-up to running (ms), as perf prints it. */
  schDelayMs: number;
  runMs: number;
  /** How it left the CPU (--state): S asleep, D uninterruptible, R still runnable, W preempted, ... */
  outState?: string;
  /**
   * Of `waitMs`, the time it was runnable but not running (ms): its sch delay after sleeping; all of it
   * after leaving the CPU runnable (R, or W: preempted), which perf counts as wait time with no sch delay
   * since no wake-up came. Without --state a preemption's wait cannot be told from sleep, and counts as sleep.
   */
  queuedMs: number;
}

// "   14976.686454 [0001]  sleep[9047]   0.173   0.017   0.806  S" (tid only for a process's main thread) or
// "... gw-tun2udp-0[9051/9040] ..."; a name may hold spaces and brackets of its own. The state column is
// there with --state. perf 6.1 names a preemption (the kernel's TASK_REPORT_MAX) W, its letter for that bit.
const TURN =
  /^\s*(\d+\.\d+)\s+\[(\d+)\]\s+(.+)\[(\d+)(?:\/(\d+))?\]\s+(\d+\.\d+)\s+(\d+\.\d+)\s+(\d+\.\d+)(?:\s+([A-Za-z+]{1,3}))?\s*$/;

const RUNNABLE_OUT = new Set(['R', 'R+', 'W']);

export function parseTimehist(text: string): SchedTurn[] {
  const out: SchedTurn[] = [];
  const lastOut = new Map<number, string | undefined>();
  for (const line of text.split('\n')) {
    const m = TURN.exec(line);
    if (!m) continue; // headers, <idle> (no [tid]), and lines of a perf version that prints more columns
    const tid = Number(m[4]);
    const waitMs = Number(m[6]);
    const schDelayMs = Number(m[7]);
    const before = lastOut.get(tid);
    out.push({
      t: Number(m[1]),
      cpu: Number(m[2]),
      comm: m[3]!.trim(),
      tid,
      pid: m[5] === undefined ? tid : Number(m[5]),
      waitMs,
      schDelayMs,
      runMs: Number(m[8]),
      outState: m[9],
      queuedMs: before !== undefined && RUNNABLE_OUT.has(before) ? waitMs : schDelayMs,
    });
    lastOut.set(tid, m[9]);
  }
  return out;
}

/** What a thread is, for the report: the tunnel's threads by role and process, the rest by program. */
export function threadClass(turn: SchedTurn, roles: ReadonlyMap<number, string>): string {
  const role = roles.get(turn.pid);
  // The pump's threads are named gw-<direction>-<queue> (native/src/pump.c); the queues are pooled.
  const pump = /^(gw-[a-z0-9]+)-\d+$/.exec(turn.comm);
  if (role) return `${role} ${pump ? pump[1] : 'other threads'}`;
  const kthread = /^([a-z_]+)\/\d+(?::.*)?$/.exec(turn.comm); // ksoftirqd/0, kworker/1:2, migration/0
  if (kthread) return kthread[1]!;
  return turn.comm;
}

export interface SchedRow {
  name: string;
  /** Times the thread got a CPU. */
  turns: number;
  p50Us: number;
  p99Us: number;
  maxUs: number;
  /** CPU time over the window (s). */
  runS: number;
}

/** The run-queue waits by thread class, most CPU first. */
export function summarizeSched(turns: readonly SchedTurn[], roles: ReadonlyMap<number, string>): SchedRow[] {
  const groups = new Map<string, SchedTurn[]>();
  for (const t of turns) {
    const k = threadClass(t, roles);
    const g = groups.get(k);
    if (g) g.push(t);
    else groups.set(k, [t]);
  }
  return [...groups.entries()]
    .map(([name, g]) => {
      const delays = g.map((t) => t.queuedMs * 1000);
      return {
        name,
        turns: g.length,
        p50Us: percentile(delays, 50),
        p99Us: percentile(delays, 99),
        maxUs: Math.max(...delays),
        runS: g.reduce((s, t) => s + t.runMs, 0) / 1000,
      };
    })
    .sort((a, b) => b.runS - a.runS);
}

export function formatSched(rows: readonly SchedRow[], limit = 12): string {
  const lines = [
    '| thread | turns on a CPU | wait to run p50 µs | p99 µs | max µs | CPU s |',
    '|---|---|---|---|---|---|',
  ];
  for (const r of rows.slice(0, limit))
    lines.push(
      `| ${r.name} | ${r.turns} | ${r.p50Us.toFixed(0)} | ${r.p99Us.toFixed(0)} | ${r.maxUs.toFixed(0)} | ${r.runS.toFixed(2)} |`,
    );
  return lines.join('\n');
}

/** Whether `perf sched` can record here (perf installed, sched tracepoints readable). */
export function perfSchedAvailable(): string | undefined {
  const r = spawnSync('perf', ['sched', 'record', '-o', '/dev/null', '--', 'true'], { encoding: 'utf8' });
  if (r.error) return `perf is not installed (${r.error.message}; Debian: apt-get install linux-perf)`;
  return r.status === 0 ? undefined : `perf sched record failed: ${r.stderr.trim().split('\n').pop() ?? ''}`;
}

/** A system-wide `perf sched record` into `file`, until stop() or for at most `seconds` (perf's own `sleep`). */
export class SchedRecording {
  private readonly proc: ChildProcess;
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; err: string }>;
  private stopped = false;
  constructor(
    private readonly file: string,
    seconds: number,
  ) {
    // CLOCK_MONOTONIC (-k mono), so that its times can be set beside tcpdump's (monotonicOffsetS).
    this.proc = spawn(
      'perf',
      ['sched', 'record', '-k', 'mono', '-a', '-o', file, '--', 'sleep', String(seconds)],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let err = '';
    this.proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    this.exited = new Promise((r) => this.proc.once('close', (code, signal) => r({ code, signal, err })));
  }
  /** Waits for the window to end and reads it back. */
  async turns(): Promise<SchedTurn[]> {
    const { code, signal, err } = await this.exited;
    // Ended by stop(): perf writes what it recorded, ends its `sleep` with SIGTERM and then leaves as it did
    // (by that signal); timehist says so if the file is not whole.
    if (code !== 0 && !this.stopped)
      throw new Error(`perf sched record ended with ${code ?? signal}: ${err.trim()}`);
    const r = spawnSync('perf', ['sched', 'timehist', '--state', '-i', this.file], {
      encoding: 'utf8',
      maxBuffer: 512 << 20,
    });
    if (r.status !== 0) throw new Error(`perf sched timehist failed: ${r.stderr.trim()}`);
    return parseTimehist(r.stdout);
  }
  /** Ends the recording; perf writes what it has on SIGINT. */
  stop(): void {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.stopped = true;
    this.proc.kill('SIGINT');
  }
}

/** CLOCK_MONOTONIC in seconds: the clock of the recording's times. */
export function monotonicS(): number {
  return Number(process.hrtime.bigint()) / 1e9;
}

/**
 * CLOCK_REALTIME − CLOCK_MONOTONIC in seconds: what turns perf's times (-k mono) into tcpdump's (-tt). Node's
 * performance clock is monotonic and its origin a realtime instant, so their sum is realtime to a few µs.
 */
export function monotonicOffsetS(): number {
  return (performance.timeOrigin + performance.now()) / 1000 - monotonicS();
}

/** A packet's stay at one hop, in tcpdump's seconds: seen entering at `a`, leaving at `b`. */
export interface Stay {
  a: number;
  b: number;
}

/** Where the stays at a hop went, in seconds summed over them. */
export interface StayShare {
  stays: number;
  seconds: number;
  /** The hop's thread was runnable and not running: waiting for a CPU. */
  waitS: number;
  /** It ran: other packets first, or this one's own work. */
  runS: number;
}

function overlap(a0: number, a1: number, b0: number, b1: number): number {
  return Math.max(0, Math.min(a1, b1) - Math.max(a0, b0));
}

/**
 * How the stays at a pump hop split into the hop's thread waiting for a CPU and running, from that thread's
 * turns (the turns of every thread that may serve the hop, one per queue). The thread that served a packet is
 * the one running when it left (`b`): the capture that sees it leave is in the path of that thread's send or
 * TUN write. Stays no turn covers (the recording's edges) are left out. `offsetS` turns the turns' times into
 * the stays' (monotonicOffsetS). Returns the share over all stays and over the slowest 5% (at least one).
 */
export function attributeStays(
  stays: readonly Stay[],
  turns: readonly SchedTurn[],
  offsetS: number,
): { all: StayShare; slowest: StayShare } {
  const byThread = new Map<number, { start: number; end: number; waitStart: number }[]>();
  for (const t of turns) {
    const end = t.t + offsetS;
    const start = end - t.runMs / 1000;
    const list = byThread.get(t.tid) ?? [];
    list.push({ start, end, waitStart: start - t.queuedMs / 1000 });
    byThread.set(t.tid, list);
  }
  for (const list of byThread.values()) list.sort((x, y) => x.end - y.end);
  const served: { stay: Stay; waitS: number; runS: number }[] = [];
  for (const stay of stays) {
    let mine: { start: number; end: number; waitStart: number }[] | undefined;
    for (const list of byThread.values())
      if (list.some((r) => r.start <= stay.b && stay.b <= r.end)) {
        mine = list;
        break;
      }
    if (!mine) continue;
    let waitS = 0;
    let runS = 0;
    for (const r of mine) {
      if (r.end < stay.a) continue;
      if (r.waitStart > stay.b) break;
      waitS += overlap(r.waitStart, r.start, stay.a, stay.b);
      runS += overlap(r.start, r.end, stay.a, stay.b);
    }
    served.push({ stay, waitS, runS });
  }
  const share = (xs: typeof served): StayShare => ({
    stays: xs.length,
    seconds: xs.reduce((s, x) => s + (x.stay.b - x.stay.a), 0),
    waitS: xs.reduce((s, x) => s + x.waitS, 0),
    runS: xs.reduce((s, x) => s + x.runS, 0),
  });
  const slow = [...served].sort((x, y) => y.stay.b - y.stay.a - (x.stay.b - x.stay.a));
  return { all: share(served), slowest: share(slow.slice(0, Math.max(1, Math.ceil(slow.length * 0.05)))) };
}

/** "w% waiting for a CPU, r% running, the rest neither" of a share. */
export function formatShare(s: StayShare): string {
  if (s.stays === 0 || s.seconds <= 0) return 'no stays matched';
  const pct = (x: number) => `${((100 * x) / s.seconds).toFixed(0)}%`;
  return `${pct(s.waitS)} / ${pct(s.runS)} / ${pct(s.seconds - s.waitS - s.runS)} of ${((1e6 * s.seconds) / s.stays).toFixed(0)} µs mean`;
}
