// Control-plane benchmark (issue 3): how long from `docker network create` until the host's first successful
// TCP connect to a container on it, over N networks, and from `gangway up` to the first answer. Runs in the
// namespace rig with a real dockerd; prints p50/p95 against the 1 s target. Not a test: no assertion fails.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import { startDockerd, type Dockerd } from '../rig/dockerd';
import { buildRigImages } from '../rig/images';
import { createRig, type Rig } from '../rig/rig';
import {
  CLI,
  Workdir,
  startDaemon,
  stop,
  waitForDaemon,
  type DaemonHandle,
} from '../tests/integration/harness';
import { runWeb, rigDockerArgs } from '../tests/integration/docker-helpers';
import { percentile } from './stats';

const execFileP = promisify(execFile);
const TARGET_MS = 1_000;
/** A network counts as failed if the first connect takes longer than this. */
const PER_NETWORK_LIMIT_MS = 15_000;

const USAGE = `Usage: npm run bench:control -- [--networks N]   (needs root)

Measures, in the namespace rig with a real dockerd: gangway up -> first HTTP answer, and for N networks
(default 20, at most 50) docker network create -> first TCP connect from the host. Prints p50/p95.`;

/** Polls a TCP connect from the host namespace until it succeeds; returns the elapsed ms or undefined. */
async function firstConnect(rig: Rig, ip: string, since: number): Promise<number | undefined> {
  while (Date.now() - since < PER_NETWORK_LIMIT_MS) {
    const r = await rig.exec(
      rig.hostNs,
      'curl',
      ['-s', '-o', '/dev/null', '--max-time', '0.3', `http://${ip}/`],
      {
        allowFail: true,
      },
    );
    if (r.code === 0) return Date.now() - since;
    await new Promise((res) => setTimeout(res, 20));
  }
  return undefined;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    strict: true,
    options: { networks: { type: 'string' }, help: { type: 'boolean' } },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const n = Math.min(50, Math.max(1, Number(values.networks ?? 20) || 20));
  console.error(`bench:control: ${n} networks; expected duration ~${15 + n * 2} s`);
  let rig: Rig | undefined;
  let dockerd: Dockerd | undefined;
  let daemon: DaemonHandle | undefined;
  const work = new Workdir();
  const cleanup = async () => {
    if (daemon) await stop(daemon);
    await dockerd?.stop();
    await rig?.teardown();
    work.cleanup();
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    rig = await createRig({ containers: 0, subnetIndex: 15 });
    dockerd = await startDockerd(rig);
    await buildRigImages(dockerd.host);
    daemon = startDaemon(rig, work, rigDockerArgs(rig, dockerd));
    await waitForDaemon(daemon);
    await dockerd.docker(['network', 'create', 'cp-first']);
    const firstIp = await runWeb(dockerd, 'cp-first-web', 'cp-first');
    const upStart = Date.now();
    await execFileP(process.execPath, [CLI, 'up', '--socket', daemon.socket], { timeout: 300_000 });
    const upMs = await firstConnect(rig, firstIp, upStart);
    console.error(
      `[up] gangway up -> first answer: ${upMs ?? 'never'} ms (includes building the agent image)`,
    );

    const times: number[] = [];
    let failed = 0;
    for (let i = 0; i < n; i++) {
      const net = `cp-net-${i}`;
      const t0 = Date.now();
      await dockerd.docker(['network', 'create', net]);
      const ip = await runWeb(dockerd, `cp-web-${i}`, net);
      const ms = await firstConnect(rig, ip, t0);
      if (ms === undefined) failed++;
      else times.push(ms);
      console.error(`[${i + 1}/${n}] ${net}: ${ms ?? 'no answer within 15 s'} ms`);
      // Keep the VM small: each network is removed after its measurement.
      await dockerd.docker(['rm', '-f', `cp-web-${i}`]);
      await dockerd.docker(['network', 'rm', net]);
    }
    const p50 = percentile(times, 50);
    const p95 = percentile(times, 95);
    console.log('| measure | value |\n|---|---|');
    console.log(`| gangway up -> first answer | ${upMs ?? 'never'} ms |`);
    console.log(`| network create -> first TCP connect, p50 (n=${times.length}) | ${p50.toFixed(0)} ms |`);
    console.log(`| network create -> first TCP connect, p95 | ${p95.toFixed(0)} ms |`);
    console.log(`| networks never reached within 15 s | ${failed} |`);
    console.log(`\nTarget p95 < ${TARGET_MS} ms: ${p95 < TARGET_MS && failed === 0 ? 'PASS' : 'MISS'}`);
    console.log('(each measurement includes docker run of the web container, as a user would see it)');
    return 0;
  } finally {
    await cleanup();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`bench:control failed: ${(err as Error).message}`);
    process.exitCode = 1;
  },
);
