// Idle cost: the daemon and the agent connected in the rig, no traffic, for --seconds; reports each one's CPU
// seconds per minute (its own threads plus the children it ran, such as iptables). Target (issue #15):
// daemon and agent together ≤ 0.05 CPU-s a minute.
import { parseArgs } from 'node:util';
import { createRig, type Rig } from '../rig/rig';
import { cpuSecondsWithChildren } from './cpu';
import { createPath, type BenchPath } from './paths';

export const IDLE_TARGET_CPU_S_PER_MIN = 0.05;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { seconds: { type: 'string', default: '60' }, settle: { type: 'string', default: '5' } },
  });
  const seconds = Number(values.seconds);
  const settle = Number(values.settle);
  if (!(seconds >= 5 && seconds <= 600) || !(settle >= 0 && settle <= 60))
    throw new Error('--seconds must be 5..600 and --settle 0..60');
  let rig: Rig | undefined;
  let path: BenchPath | undefined;
  const cleanup = async () => {
    await path?.teardown();
    await rig?.teardown();
  };
  const onSignal = () => void cleanup().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    rig = await createRig({ containers: 1, subnetIndex: 10 });
    path = createPath(rig, 'gangway');
    await path.setup();
    await new Promise((r) => setTimeout(r, settle * 1000));
    const [daemonPid, agentPid] = path.pids();
    if (daemonPid === undefined || agentPid === undefined)
      throw new Error('the daemon or agent is not running');
    const before = [cpuSecondsWithChildren(daemonPid), cpuSecondsWithChildren(agentPid)];
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const after = [cpuSecondsWithChildren(daemonPid), cpuSecondsWithChildren(agentPid)];
    const perMin = after.map((a, i) => ((a - before[i]!) * 60) / seconds);
    const total = perMin[0]! + perMin[1]!;
    const line =
      `idle over ${seconds} s: daemon ${perMin[0]!.toFixed(3)}, agent ${perMin[1]!.toFixed(3)}, ` +
      `together ${total.toFixed(3)} CPU-s/min (target ≤ ${IDLE_TARGET_CPU_S_PER_MIN})`;
    console.log(line);
    console.log(JSON.stringify({ seconds, daemonCpuPerMin: perMin[0], agentCpuPerMin: perMin[1], total }));
    return total <= IDLE_TARGET_CPU_S_PER_MIN ? 0 : 2;
  } finally {
    await cleanup();
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
