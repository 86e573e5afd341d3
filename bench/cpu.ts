// CPU time of processes from /proc/<pid>/stat. A process's utime+stime there covers all its threads
// (live and exited), so the native pump threads of the Gangway daemon and agent are included.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MachineCpuSample } from './types';

let ticks: number | undefined;

/** Clock ticks per second (USER_HZ), normally 100. */
export function clockTicks(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

/** The fields of a /proc/<pid>/stat line from field 3 (state) on: the name (field 2) may hold spaces. */
export function statFieldsAfterName(stat: string): string[] {
  const close = stat.lastIndexOf(')');
  if (close < 0) throw new Error('not a /proc/<pid>/stat line');
  return stat
    .slice(close + 2)
    .trim()
    .split(/\s+/);
}

/** utime+stime in clock ticks from the text of /proc/<pid>/stat. */
export function parseStatTicks(stat: string): number {
  const rest = statFieldsAfterName(stat);
  // rest[0] is field 3 (state); utime is field 14 and stime field 15.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error('cannot read utime/stime');
  return utime + stime;
}

/** CPU seconds used so far by `pid` (all threads). */
export function cpuSeconds(pid: number): number {
  return parseStatTicks(readFileSync(`/proc/${pid}/stat`, 'utf8')) / clockTicks();
}

export function threadCount(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/task`).length;
  } catch {
    return 0;
  }
}

/** Sum of CPU seconds of several processes. */
export function totalCpuSeconds(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
}

/** CPU seconds per GB (1e9 bytes) transferred. */
export function cpuPerGB(cpuS: number, bytes: number): number {
  return bytes > 0 ? cpuS / (bytes / 1e9) : NaN;
}

/** utime+stime+cutime+cstime in clock ticks: the process and the children it waited for (the agent's iptables
 *  runs are its children, and their CPU is the agent's cost). */
export function parseStatTicksWithChildren(stat: string): number {
  const rest = statFieldsAfterName(stat);
  // fields 14..17: utime, stime, cutime, cstime
  const sum = [11, 12, 13, 14].reduce((s, i) => s + Number(rest[i]), 0);
  if (!Number.isFinite(sum)) throw new Error('cannot read utime/stime/cutime/cstime');
  return sum;
}

/** CPU seconds used so far by `pid` and its reaped children. */
export function cpuSecondsWithChildren(pid: number): number {
  return parseStatTicksWithChildren(readFileSync(`/proc/${pid}/stat`, 'utf8')) / clockTicks();
}

/** The run time in ns of one thread, from the text of /proc/<pid>/task/<tid>/schedstat (its first field). */
export function parseSchedstatNs(text: string): number {
  const ns = Number(text.trim().split(/\s+/)[0]);
  if (!Number.isFinite(ns)) throw new Error('not a schedstat line');
  return ns;
}

/**
 * CPU seconds of `pid` for idle measurements: its live threads' run time to the nanosecond (an idle process
 * uses a few clock ticks a minute, so /proc/<pid>/stat's 10 ms ticks are too coarse), plus its reaped
 * children's ticks (the agent's iptables runs). Threads that exited are not counted: none do while idle.
 */
export function idleCpuSeconds(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += parseSchedstatNs(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8'));
    } catch {
      // the thread exited meanwhile
    }
  }
  const rest = statFieldsAfterName(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  const children = Number(rest[13]) + Number(rest[14]);
  return ns / 1e9 + children / clockTicks();
}

/** The whole machine's CPU time in clock ticks, from the aggregate `cpu` line of /proc/stat. */
export interface MachineTicks {
  /** user, nice, system, irq and softirq (guest time is already in user and nice). */
  busy: number;
  /** idle and iowait: what the machine had left. */
  idle: number;
  /** Time the hypervisor gave to others: neither ours to use nor used. */
  steal: number;
}

export function parseProcStatCpu(text: string): MachineTicks {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  const f = line?.trim().split(/\s+/).slice(1, 9).map(Number);
  if (!f || f.length < 8 || f.some((n) => !Number.isFinite(n))) throw new Error('no cpu line in /proc/stat');
  const [user, nice, system, idle, iowait, irq, softirq, steal] = f as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  return { busy: user + nice + system + irq + softirq, idle: idle + iowait, steal };
}

export function machineTicks(): MachineTicks {
  return parseProcStatCpu(readFileSync('/proc/stat', 'utf8'));
}

/** The machine's CPU between two readings inside a transfer at `bitsPerSecond`. */
export function machineSample(a: MachineTicks, b: MachineTicks, bitsPerSecond: number): MachineCpuSample {
  const hz = clockTicks();
  const busySeconds = (b.busy - a.busy) / hz;
  const availableSeconds = busySeconds + (b.idle - a.idle) / hz;
  return {
    busySeconds,
    availableSeconds,
    ceilingGbps: busySeconds > 0 ? (bitsPerSecond / 1e9) * (availableSeconds / busySeconds) : NaN,
  };
}

/**
 * Two readings of the machine's CPU inside a transfer of `seconds` that starts now: from a quarter of it (at
 * most 1 s: TCP's slow start, the other end's start) to an eighth before its end (at most 0.5 s), so neither
 * the iperf3 server's start and end nor the gaps between runs count as idle time.
 */
export async function machineWindow(seconds: number): Promise<[MachineTicks, MachineTicks]> {
  const lead = Math.min(1, seconds / 4);
  const tail = Math.min(0.5, seconds / 8);
  await sleep(lead * 1000);
  const a = machineTicks();
  await sleep((seconds - lead - tail) * 1000);
  return [a, machineTicks()];
}
