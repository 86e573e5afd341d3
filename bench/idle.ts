// Idle cost: the daemon and the agent connected in the rig, no traffic, for --seconds after --settle; reports
// each one's CPU seconds per minute (its threads plus the children it ran, such as iptables). Target (issue
// #15): daemon and agent together ≤ 0.05 CPU-s a minute. `npm run bench` prints the same line.
//
// The daemon runs with --no-docker: the rig has no dockerd, and a daemon without Docker would measure its
// reconnect attempts, not an idle tunnel (an idle Docker event stream costs nothing until an event). The
// settle time lets node's start-up work (its garbage collector shrinking the heap) finish first.
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { createRig, type Rig } from '../rig/rig';
import { idleCpuSeconds } from './cpu';
import { createPath, type BenchPath } from './paths';

export const IDLE_TARGET_CPU_S_PER_MIN = 0.05;

export interface IdleResult {
  seconds: number;
  settle: number;
  daemonCpuPerMin: number;
  agentCpuPerMin: number;
  total: number;
  pass: boolean;
  loadavgStart: number;
  loadavgEnd: number;
}

/** Connects a daemon and an agent in `rig`, waits `settle` s, then measures `seconds` s of idling. */
export async function measureIdle(rig: Rig, seconds: number, settle: number): Promise<IdleResult> {
  const path: BenchPath = createPath(rig, 'gangway', ['--no-docker']);
  try {
    await path.setup();
    await new Promise((r) => setTimeout(r, settle * 1000));
    const [daemonPid, agentPid] = path.pids();
    if (daemonPid === undefined || agentPid === undefined)
      throw new Error('the daemon or agent is not running');
    const loadavgStart = loadavg()[0]!;
    const before = [idleCpuSeconds(daemonPid), idleCpuSeconds(agentPid)];
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const after = [idleCpuSeconds(daemonPid), idleCpuSeconds(agentPid)];
    const [d, a] = after.map((x, i) => ((x - before[i]!) * 60) / seconds) as [number, number];
    return {
      seconds,
      settle,
      daemonCpuPerMin: d,
      agentCpuPerMin: a,
      total: d + a,
      pass: d + a <= IDLE_TARGET_CPU_S_PER_MIN,
      loadavgStart,
      loadavgEnd: loadavg()[0]!,
    };
  } finally {
    await path.teardown();
  }
}

export function formatIdle(r: IdleResult): string {
  return (
    `Idle over ${r.seconds} s (after ${r.settle} s): daemon ${r.daemonCpuPerMin.toFixed(3)}, agent ` +
    `${r.agentCpuPerMin.toFixed(3)}, together ${r.total.toFixed(3)} CPU-s/min ` +
    `(target ≤ ${IDLE_TARGET_CPU_S_PER_MIN}): ${r.pass ? 'PASS' : 'MISS'} ` +
    `(load average ${r.loadavgStart.toFixed(1)} → ${r.loadavgEnd.toFixed(1)})`
  );
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { seconds: { type: 'string', default: '60' }, settle: { type: 'string', default: '30' } },
  });
  const seconds = Number(values.seconds);
  const settle = Number(values.settle);
  if (!(seconds >= 5 && seconds <= 600) || !(settle >= 0 && settle <= 120))
    throw new Error('--seconds must be 5..600 and --settle 0..120');
  let rig: Rig | undefined;
  const onSignal = () => void (rig?.teardown() ?? Promise.resolve()).finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    rig = await createRig({ containers: 1, subnetIndex: 10 });
    const r = await measureIdle(rig, seconds, settle);
    console.log(formatIdle(r));
    console.log(JSON.stringify(r));
    return r.pass ? 0 : 2;
  } finally {
    await rig?.teardown();
  }
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`bench idle: ${(err as Error).message}`);
      process.exit(1);
    },
  );
}
