#!/usr/bin/env node
// `npm run bench`: throughput, latency and CPU cost from the host namespace to a container namespace in
// the rig, for direct routing, Gangway (offloads on and off) and wireguard-go, in one run. Needs root.
// Everything happens inside the rig's namespaces; they are deleted at the end, on failure and on signals.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createRig, type Rig } from '../rig/rig';
import { cpuPerGB, machineSample, machineWindow, totalCpuSeconds } from './cpu';
import { checkCongestion, runIperf } from './iperf';
import { formatIdle, measureIdle, type IdleResult } from './idle';
import {
  assertNoRoute,
  createPath,
  describeProcess,
  gangwayMissing,
  MTU,
  routeDevice,
  target6,
  type BenchPath,
} from './paths';
import { dropDelta, formatDrops, readDrops } from './drops';
import { readUdpCounters, udpDelta } from './netstat';
import {
  LOAD_WARMUP_S,
  PING_INTERVAL_S,
  loadedPingCount,
  runPing,
  summarizePing,
  type PingParse,
  type PingResult,
} from './ping';
import { formatReport, checkTargets } from './report';
import { median } from './stats';
import {
  DEFAULT_PATHS,
  PATH_LABELS,
  PATH_NAMES,
  type BenchResults,
  type CpuSample,
  type PathName,
  type PathResult,
  type ThroughputSeries,
} from './types';

export const USAGE = `Usage: npm run bench -- [options]   (or: node dist/bench/run.js [options]; needs root)

Measures, from the rig's host namespace to a container namespace (inner MTU ${MTU}):
iperf3 TCP 1 and 4 streams (median of runs), 1 stream from the container to the host (the download), ping
RTT idle, under 4-stream load and during the download, and the CPU cost of the tunnel processes, for each
path. Prints a Markdown table; writes bench/results/<timestamp>.json.

Options:
  --seconds N      iperf3 duration per run (default 5)
  --runs N         iperf3 runs per measurement; the median is reported (default 3)
  --paths LIST     comma-separated, from: ${PATH_NAMES.join(',')}
                   (default: ${DEFAULT_PATHS.join(',')}; gangway-arm64 runs the agent as an arm64
                   program under qemu, as on Apple Silicon's VM: emulated, so a ratio, not a target)
  --pings N        idle pings at 10 ms intervals (default 200)
  --idle-seconds N the daemon's and agent's CPU while idle, measured over N s after 30 s of settling, with
                   the gangway path (default 60; 0 skips it; npm run bench:idle measures it alone)
  --congestion CC  the iperf3 ends' TCP congestion control (iperf3 -C; one of the kernel's
                   tcp_available_congestion_control); default: the machine's, which the report names
  -h, --help       show this help`;

export interface Options {
  seconds: number;
  runs: number;
  paths: PathName[];
  pings: number;
  idleSeconds: number;
  /** iperf3 -C; undefined: the machine's default (tcp_congestion_control). */
  congestion?: string;
}

export function parseOptions(argv: string[]): Options | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      seconds: { type: 'string' },
      runs: { type: 'string' },
      paths: { type: 'string' },
      pings: { type: 'string' },
      'idle-seconds': { type: 'string' },
      congestion: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const int = (s: string | undefined, name: string, def: number, max: number) => {
    if (s === undefined) return def;
    if (!/^\d+$/.test(s) || Number(s) < 1 || Number(s) > max)
      throw new Error(`--${name} takes a whole number 1..${max}, got "${s}"`);
    return Number(s);
  };
  const paths =
    values.paths === undefined ? [...DEFAULT_PATHS] : values.paths.split(',').map((p) => p.trim());
  for (const p of paths) {
    if (!(PATH_NAMES as readonly string[]).includes(p))
      throw new Error(`unknown path "${p}" (choose from ${PATH_NAMES.join(', ')})`);
  }
  if (paths.length === 0) throw new Error('--paths is empty');
  const cc = values.congestion;
  if (cc !== undefined && !/^[a-z0-9_]{1,15}$/.test(cc))
    throw new Error(`--congestion takes a congestion control's name (such as cubic or bbr), got "${cc}"`);
  return {
    seconds: int(values.seconds, 'seconds', 5, 120),
    runs: int(values.runs, 'runs', 3, 20),
    paths: PATH_NAMES.filter((p) => paths.includes(p)),
    pings: int(values.pings, 'pings', 200, 5000),
    idleSeconds: values['idle-seconds'] === '0' ? 0 : int(values['idle-seconds'], 'idle-seconds', 60, 600),
    ...(cc !== undefined ? { congestion: cc } : {}),
  };
}

/** Node's start-up work (its garbage collector shrinking the heap) ends before the idle measurement starts;
 *  the same settling as `npm run bench:idle`, so the two figures compare. */
const IDLE_SETTLE_S = 30;

/** iperf3 series per path: 1 stream, 4 streams (with ping), 1 stream from the container (with ping). */
const SERIES_PER_PATH = 3;

/** Expected duration in seconds (setup and teardown per path are estimates). */
export function estimateSeconds(o: Options): number {
  const perPath = 3 + (o.pings * PING_INTERVAL_S + 1) + SERIES_PER_PATH * o.runs * (o.seconds + 0.7);
  return Math.ceil(5 + o.paths.length * perPath + idleSeconds(o));
}

/** Seconds the idle measurement takes (setup, settling, measuring, teardown), 0 when it does not run. */
function idleSeconds(o: Options): number {
  return o.idleSeconds > 0 && o.paths.includes('gangway') ? 5 + IDLE_SETTLE_S + o.idleSeconds : 0;
}

function stepsPerPath(o: Options): number {
  return 3 + SERIES_PER_PATH * o.runs;
}

const log = (s: string) => process.stderr.write(`${s}\n`);
const gbps = (bps: number) => bps / 1e9;

class Progress {
  private n = 0;
  /** Set on SIGINT/SIGTERM/timeout: the next step throws instead of starting anything new. */
  aborted = false;
  constructor(private readonly total: number) {}
  step(path: PathName, what: string, cleanupStep = false): void {
    if (this.aborted && !cleanupStep) throw new Error('aborted');
    this.n++;
    log(`[${this.n}/${this.total}] ${path}: ${what} ...`);
  }
}

interface SeriesContext {
  rig: Rig;
  path: PathName;
  target: { ns: string; ip: string };
  pids: number[];
  tunDevices: { host?: string; vm?: string };
  o: Options;
  progress: Progress;
}

/** `o.runs` iperf3 runs of one kind, with the tunnel's CPU and drops per run and, with `ping`, a ping
 *  from the host during each run (all replies pooled). */
async function measureSeries(
  ctx: SeriesContext,
  kind: { streams: number; reverse: boolean; ping: boolean },
): Promise<{ series: ThroughputSeries; ping?: PingResult }> {
  const { rig, target, pids, tunDevices, o } = ctx;
  const { streams, reverse } = kind;
  const series: ThroughputSeries = { streams, runs: [], medianGbps: NaN, cpu: [], cpuSecondsPerGB: NaN };
  if (reverse) series.reverse = true;
  const loaded: PingParse = { rtts: [], transmitted: 0, received: 0 };
  const what = `iperf3 ${streams} stream${streams > 1 ? 's' : ''}${reverse ? ' from the container' : ''}`;
  for (let i = 1; i <= o.runs; i++) {
    ctx.progress.step(ctx.path, `${what}${kind.ping ? ' + ping' : ''}, run ${i}/${o.runs}`);
    const drops0 = await readDrops(rig, tunDevices);
    const cpu0 = totalCpuSeconds(pids);
    let cpuWindow: ReturnType<typeof machineWindow> | undefined;
    const iperf = runIperf(rig, rig.hostNs, target.ns, target.ip, {
      seconds: o.seconds,
      streams,
      reverse,
      congestion: o.congestion,
      onClientStart: () => {
        cpuWindow = machineWindow(o.seconds);
      },
    });
    let ping: Promise<PingParse> | undefined;
    if (kind.ping) {
      ping = new Promise((r) => setTimeout(r, LOAD_WARMUP_S * 1000)).then(() =>
        runPing(rig.hostNs, target.ip, loadedPingCount(o.seconds), PING_INTERVAL_S),
      );
    }
    const [r, p] = await Promise.all([iperf, ping]);
    const cpuS = totalCpuSeconds(pids) - cpu0;
    if (!cpuWindow) throw new Error('iperf3 reported a result without starting its client');
    const [m0, m1] = await cpuWindow;
    const machine = machineSample(m0, m1, r.bitsPerSecond);
    (series.machine ??= []).push(machine);
    const drops = dropDelta(drops0, await readDrops(rig, tunDevices));
    (series.drops ??= []).push(drops);
    series.runs.push(r);
    if (pids.length)
      series.cpu.push({
        cpuSeconds: cpuS,
        bytes: r.bytes,
        cpuSecondsPerGB: cpuPerGB(cpuS, r.bytes),
      } satisfies CpuSample);
    let line = `    ${gbps(r.bitsPerSecond).toFixed(3)} Gbit/s, ${r.retransmits} retransmits`;
    if (pids.length)
      line += `, tunnel CPU ${cpuS.toFixed(2)} s = ${cpuPerGB(cpuS, r.bytes).toFixed(2)} CPU-s/GB`;
    line += `, machine ${((100 * machine.busySeconds) / machine.availableSeconds).toFixed(0)}% busy`;
    if (p) {
      loaded.rtts.push(...p.rtts);
      loaded.transmitted += p.transmitted;
      loaded.received += p.received;
      const s = summarizePing(p);
      line += `; ping under load p50 ${s.p50Ms.toFixed(3)} ms, p99 ${s.p99Ms.toFixed(3)} ms (${s.count}/${s.transmitted} replies)`;
    }
    log(`${line}\n      drops: ${formatDrops(drops)}`);
  }
  series.medianGbps = gbps(median(series.runs.map((r) => r.bitsPerSecond)));
  series.cpuSecondsPerGB = median(series.cpu.map((c) => c.cpuSecondsPerGB));
  const machine = series.machine ?? [];
  series.machineBusyFraction = median(machine.map((m) => m.busySeconds / m.availableSeconds));
  series.machineCeilingGbps = median(machine.map((m) => m.ceilingGbps));
  return kind.ping ? { series, ping: summarizePing(loaded) } : { series };
}

async function measurePath(
  rig: Rig,
  path: BenchPath,
  o: Options,
  progress: Progress,
  res: PathResult,
): Promise<void> {
  // The IPv6 paths measure the same container at its IPv6 address.
  const target = path.name.endsWith('-ipv6')
    ? { ...rig.containers[0]!, ip: target6(rig) }
    : rig.containers[0]!;
  progress.step(path.name, 'setup');
  await assertNoRoute(rig, target.ip);
  await path.setup();
  const route = await routeDevice(rig, target.ip);
  res.device = route.device;
  res.routeGet = route.text;
  log(`    ip route get ${target.ip} (host ns): ${route.text}`);
  if (route.device !== path.expectedDevice()) {
    throw new Error(
      `the host routes ${target.ip} via ${route.device ?? 'nothing'}, expected ${path.expectedDevice()}`,
    );
  }
  const pids = path.pids();
  res.processes = pids.map(describeProcess);
  if (res.processes.length)
    log(
      `    tunnel processes: ${res.processes.map((p) => `${p.comm}[${p.pid}] ${p.threads} threads`).join(', ')}`,
    );

  progress.step(path.name, `ping idle, ${o.pings} × ${PING_INTERVAL_S * 1000} ms`);
  await runPing(rig.hostNs, target.ip, 5, 0.05); // warm caches
  const idle = summarizePing(await runPing(rig.hostNs, target.ip, o.pings, PING_INTERVAL_S));
  if (idle.count === 0) throw new Error(`no ping replies from ${target.ip}`);
  res.idlePing = idle;
  log(
    `    idle RTT p50 ${idle.p50Ms.toFixed(3)} ms, p99 ${idle.p99Ms.toFixed(3)} ms, loss ${idle.lossPct.toFixed(1)}%`,
  );

  // The agent's TUN is gwa0 (its default name) in the VM namespace.
  const tunDevices = path.name.startsWith('gangway') ? { host: path.expectedDevice(), vm: 'gwa0' } : {};
  const udp0 = await Promise.all([readUdpCounters(rig.hostNs), readUdpCounters(rig.vmNs)]);
  const ctx: SeriesContext = { rig, path: path.name, target, pids, tunDevices, o, progress };
  res.oneStream = (await measureSeries(ctx, { streams: 1, reverse: false, ping: false })).series;
  const four = await measureSeries(ctx, { streams: 4, reverse: false, ping: true });
  res.fourStream = four.series;
  res.loadedPing = four.ping;
  const down = await measureSeries(ctx, { streams: 1, reverse: true, ping: true });
  res.download = down.series;
  res.downloadPing = down.ping;
  const udp1 = await Promise.all([readUdpCounters(rig.hostNs), readUdpCounters(rig.vmNs)]);
  res.udp = { host: udpDelta(udp0[0], udp1[0]), vm: udpDelta(udp0[1], udp1[1]) };
  if (pids.length) {
    log(
      `    UDP receive buffer overflows during iperf3: host ${res.udp.host.RcvbufErrors ?? '?'}, vm ${res.udp.vm.RcvbufErrors ?? '?'}`,
    );
  }
  const after = await routeDevice(rig, target.ip);
  if (after.device !== path.expectedDevice())
    throw new Error(`the route changed during the measurement: ${after.text}`);
  for (const pid of pids) {
    if (describeProcess(pid).comm === '?')
      throw new Error(`tunnel process ${pid} died during the measurement`);
  }
  res.info = await path.info();
}

function toolMissing(tool: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    return false;
  } catch {
    return true;
  }
}

export async function main(argv: string[]): Promise<number> {
  let o: Options;
  try {
    const parsed = parseOptions(argv);
    if (parsed === 'help') {
      console.log(USAGE);
      return 0;
    }
    o = parsed;
  } catch (err) {
    console.error(`bench: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (process.getuid?.() !== 0) {
    console.error('bench: needs root (network namespaces); run it as root');
    return 1;
  }
  const tools = [
    'ip',
    'iperf3',
    'ping',
    'ss',
    ...(o.paths.includes('wireguard') ? ['wireguard-go', 'wg'] : []),
  ];
  const missingTools = tools.filter(toolMissing);
  if (missingTools.length) {
    console.error(`bench: missing tools: ${missingTools.join(', ')}`);
    return 1;
  }

  let congestion: string;
  try {
    congestion = checkCongestion(o.congestion);
  } catch (err) {
    console.error(`bench: ${(err as Error).message}`);
    return 1;
  }
  const expected = estimateSeconds(o);
  const bound = Math.ceil(expected * 1.5 + 60);
  log(
    `bench: paths ${o.paths.join(', ')}; iperf3 -t ${o.seconds}, ${o.runs} runs each, TCP congestion control ${congestion}; expected duration ~${expected} s (aborts after ${bound} s)`,
  );

  const loadStart = loadavg()[0]!;
  if (loadStart > 0.8)
    log(`bench: note: load average ${loadStart.toFixed(2)} before the start: other work shares the CPUs`);
  const startedAt = new Date();
  const results: PathResult[] = [];
  const progress = new Progress(o.paths.length * stepsPerPath(o));
  let rigPromise: Promise<Rig> | undefined;
  let current: BenchPath | undefined;
  let cleaning: Promise<void> | undefined;
  let idle: IdleResult | undefined;
  let idleError: string | undefined;
  const cleanup = () =>
    (cleaning ??= (async () => {
      const rig = await rigPromise?.catch(() => undefined);
      try {
        await current?.teardown();
      } finally {
        await rig?.teardown();
      }
    })());
  const abort = (why: string, code: number) => {
    progress.aborted = true;
    log(`bench: ${why}; cleaning up the rig`);
    void cleanup()
      // A second pass for anything a step in flight started meanwhile.
      .then(async () => {
        await current?.teardown();
        await (await rigPromise?.catch(() => undefined))?.teardown();
      })
      .catch((err: unknown) => log(`bench: cleanup failed: ${String(err)}`))
      .finally(() => process.exit(code));
  };
  const onSigint = () => abort('interrupted (SIGINT)', 130);
  const onSigterm = () => abort('terminated (SIGTERM)', 143);
  process.once('SIGINT', onSigint);
  process.once('SIGTERM', onSigterm);
  const watchdog = setTimeout(() => abort(`took longer than ${bound} s`, 1), bound * 1000);

  try {
    rigPromise = createRig({ containers: 1, subnetIndex: 9, ipv6: o.paths.some((p) => p.endsWith('-ipv6')) });
    const rig = await rigPromise;
    log(
      `bench: rig ${rig.id}: ${rig.hostNs} (${rig.hostVethIp}) -> ${rig.vmNs} (${rig.vmVethIp}) -> container ${rig.containers[0]!.ip}`,
    );
    for (const name of o.paths) {
      if (progress.aborted) break;
      const res: PathResult = { name, label: PATH_LABELS[name], status: 'ok' };
      results.push(res);
      const missing = name.startsWith('gangway') ? gangwayMissing() : undefined;
      if (missing) {
        for (let i = 0; i < stepsPerPath(o); i++)
          progress.step(name, i === 0 ? `skipped: ${missing}` : 'skipped');
        res.status = 'skipped';
        res.error = missing;
        continue;
      }
      const path = createPath(rig, name);
      current = path;
      try {
        await measurePath(rig, path, o, progress, res);
      } catch (err) {
        res.status = 'failed';
        res.error = (err as Error).message;
        log(`    FAILED: ${res.error}`);
      } finally {
        progress.step(name, 'teardown', true);
        await path.teardown();
        current = undefined;
        const final = path.finalInfo?.();
        if (final && Object.keys(final).length) res.info = { ...res.info, ...final };
      }
    }
    if (idleSeconds(o) > 0 && !progress.aborted) {
      log(`bench: idle CPU of the daemon and the agent, ${IDLE_SETTLE_S} s settling + ${o.idleSeconds} s`);
      try {
        idle = await measureIdle(rig, o.idleSeconds, IDLE_SETTLE_S);
      } catch (err) {
        idleError = (err as Error).message;
        log(`    idle FAILED: ${idleError}`);
      }
    }
  } finally {
    clearTimeout(watchdog);
    await cleanup();
    process.removeListener('SIGINT', onSigint);
    process.removeListener('SIGTERM', onSigterm);
  }

  const out: BenchResults = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    host: {
      kernel: release(),
      cpus: cpus().length,
      node: process.version,
      loadavgStart: loadStart,
      loadavgEnd: loadavg()[0]!,
      congestion,
    },
    options: { ...o, mtu: MTU },
    target: 'host namespace -> container namespace (iperf3 server in the container)',
    paths: results,
    ...(idle ? { idle } : {}),
    ...(idleError ? { idleError } : {}),
    ...(progress.aborted ? { aborted: true } : {}),
  };
  console.log(formatReport(results));
  console.log(
    `\nTCP congestion control of the iperf3 ends: ${congestion}${o.congestion ? ' (--congestion)' : " (the machine's default)"}`,
  );
  if (idle) console.log(`\n${formatIdle(idle)}`);
  if (idleError) console.log(`\nIdle: FAILED (${idleError})`);
  if (progress.aborted) console.log('\n(aborted: partial results)');
  if (loadStart > 0.8) {
    console.log(
      `\nNote: the 1-minute load average was ${loadStart.toFixed(2)} at the start (${cpus().length} CPUs): noisy numbers.`,
    );
  }
  const dir = resolve(__dirname, '..', '..', 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify({ ...out, targets: checkTargets(results) }, null, 2)}\n`);
  log(`bench: results written to ${file} (took ${Math.round((Date.now() - startedAt.getTime()) / 1000)} s)`);
  return results.some((r) => r.status === 'failed') || idleError ? 1 : 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error(`bench: ${(err as Error).stack ?? String(err)}`);
      process.exitCode = 1;
    },
  );
}
