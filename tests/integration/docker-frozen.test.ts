// Docker's VM frozen (a sleeping Mac, Docker Desktop's Pause, a hung dockerd): its socket stays open
// and nothing answers. The daemon must keep answering its API, say what is wrong, catch up once Docker wakes,
// and stop cleanly: launchd and systemd kill a daemon that does not, and a killed daemon leaves its DNS
// registration behind.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { callApi } from '../../client/api-client';
import { ROUTES } from '../../common/api-routes';
import { phaseText } from '../../common/phase';
import { DOCKER_ANSWER_TIMEOUT_MS } from '../../helper/docker/docker-answers';
import { AGENT_CONTAINER_NAME } from '../../helper/docker/agent-container';
import { waitFor } from '../../rig/exec';
import { freezeVm, type Frozen } from '../../rig/freeze';
import {
  gangwayCli,
  rigDockerArgs,
  startDockerRig,
  teardownDockerRig,
  type DockerRig,
} from './docker-helpers';
import { startDaemon, stop, waitConnected, waitForDaemon, type DaemonHandle } from './harness';

const SUFFIX = 'gangway.internal';
/** launchd's default ExitTimeOut: after it, SIGKILL. systemd waits longer (90 s). */
const LAUNCHD_EXIT_TIMEOUT_MS = 20_000;
/** What a call may take while Docker is silent: the ping's bound and the work done before it. */
const SILENT_ANSWER_MS = DOCKER_ANSWER_TIMEOUT_MS + 3_000;

/** What a call gave or threw, and how long it took. */
async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; value?: T; error?: Error }> {
  const t0 = Date.now();
  try {
    const value = await work();
    return { ms: Date.now() - t0, value };
  } catch (error) {
    return { ms: Date.now() - t0, error: error as Error };
  }
}

describe('Docker frozen', { timeout: 300_000 }, () => {
  let r: DockerRig | undefined;
  let daemon: DaemonHandle | undefined;
  let frozen: Frozen | undefined;
  let resolverDir: string;

  const agentContainers = async () =>
    (await r!.dockerd.docker(['ps', '-aq', '--filter', `name=^/${AGENT_CONTAINER_NAME}$`])).stdout.trim();

  before(async () => {
    r = await startDockerRig({ containers: 0, subnetIndex: 43 });
    resolverDir = join(r.work.dir, 'resolver');
    daemon = startDaemon(r.rig, r.work, [
      ...rigDockerArgs(r.rig, r.dockerd),
      '--dns-suffix',
      SUFFIX,
      '--dns-resolver-dir',
      resolverDir,
    ]);
    await waitForDaemon(daemon);
    await r.dockerd.docker(['network', 'create', 'app']);
    const up = await gangwayCli(daemon.socket, 'up');
    assert.equal(up.code, 0, up.out);
    await waitConnected(daemon, 60_000);
  });

  after(async () => {
    frozen?.thaw();
    await teardownDockerRig({ daemon, dockerd: r?.dockerd, rig: r?.rig, work: r?.work });
  });

  test('the API answers, doctor says Docker is silent, and down and up catch up once it wakes', async () => {
    const { rig, dockerd } = r!;
    const d = daemon!;
    frozen = await freezeVm(rig, `/${dockerd.cgroupParent}/`);
    try {
      assert.ok(frozen.pids.length >= 2, `froze dockerd and containerd (${frozen.pids.join(' ')})`);

      const status = await timed(() => d.status());
      assert.ok(status.value, `status answers: ${status.error?.message}`);

      const doctor = await timed(() => callApi(d.socket, ROUTES.diagnostics, { timeoutMs: 30_000 }));
      assert.ok(doctor.value, `doctor answers within its 30 s: ${doctor.error?.message}`);
      const docker = doctor.value.checks.find((c) => c.id === 'docker');
      assert.equal(docker?.status, 'fail', JSON.stringify(docker));
      assert.match(docker?.detail ?? '', /did not answer within/);
      for (const id of ['image', 'agent'])
        assert.equal(doctor.value.checks.find((c) => c.id === id)?.status, 'skip', `${id} skipped`);
      assert.ok(doctor.ms < SILENT_ANSWER_MS, `doctor took ${doctor.ms} ms`);

      const down = await timed(() => callApi(d.socket, ROUTES.disconnect, { timeoutMs: 60_000 }));
      assert.match(
        down.error?.message ?? '',
        /did not answer within .*the tunnel is down/,
        String(down.error),
      );
      assert.equal((down.error as { code?: string }).code, 'DOCKER_UNREACHABLE');
      assert.ok(down.ms < SILENT_ANSWER_MS, `down took ${down.ms} ms`);
      const afterDown = await d.status();
      // What up, down or doctor found is the status's at once, not at the event stream's next re-list (30 s).
      assert.equal(afterDown.docker.state, 'unreachable', JSON.stringify(afterDown.docker));
      assert.match(afterDown.docker.lastError ?? '', /did not answer/);
      assert.equal(afterDown.phase, 'disconnected', 'down was asked for: the phase says so first');
      assert.equal(afterDown.agent.wanted, false, 'down took effect');
      assert.equal(afterDown.routes.filter((x) => x.installed).length, 0, 'no route left');
      assert.ok(!existsSync(join(resolverDir, SUFFIX)), 'DNS unregistered');
    } finally {
      frozen.thaw();
      frozen = undefined;
    }
    // The removal asked for while Docker slept happens once it wakes.
    await waitFor(
      'the agent container to be removed',
      async () => (await agentContainers()) === '',
      30_000,
      200,
    );

    frozen = await freezeVm(rig, `/${dockerd.cgroupParent}/`);
    try {
      const up = await timed(() => callApi(d.socket, ROUTES.connect, { timeoutMs: 60_000 }));
      assert.match(
        up.error?.message ?? '',
        /did not answer within .*launches the agent once Docker answers/,
        String(up.error),
      );
      assert.ok(up.ms < SILENT_ANSWER_MS, `up took ${up.ms} ms`);
      const st = await d.status();
      assert.equal(st.phase, 'docker-unavailable', JSON.stringify(st.docker));
      assert.equal(phaseText(st), 'Docker is not answering');
    } finally {
      frozen.thaw();
      frozen = undefined;
    }
    // The launch asked for while Docker slept goes on once it wakes.
    await waitConnected(d, 60_000);
    assert.ok(existsSync(join(resolverDir, SUFFIX)), 'DNS registered again');
  });

  test('frozen with nobody asking: the agent going quiet makes the status say Docker is not answering', async () => {
    const { rig, dockerd } = r!;
    const d = daemon!;
    const st = await waitConnected(d, 30_000);
    // Traffic before and during the freeze: the agent announces 2 s keepalives, so the helper gives it up
    // after 5 s (25 s on an idle tunnel), and then asks Docker, which does not answer either.
    const traffic = rig.exec(
      rig.hostNs,
      'ping',
      ['-c', '100', '-i', '0.2', '-W', '1', st.tunnel.agentAddress],
      {
        allowFail: true,
        timeoutMs: 30_000,
      },
    );
    await new Promise((res) => setTimeout(res, 3_000));
    frozen = await freezeVm(rig, `/${dockerd.cgroupParent}/`);
    try {
      // The event stream's own re-list would tell after up to 40 s, with another message.
      const silent = await waitFor(
        'the status to say Docker did not answer',
        async () => {
          const s = await d.status();
          return s.docker.state === 'unreachable' &&
            /did not answer within 5 s/.test(s.docker.lastError ?? '')
            ? s
            : undefined;
        },
        20_000,
        200,
      );
      assert.equal(phaseText(silent), 'Docker is not answering');
      assert.match(silent.peerLost ?? '', /no keepalive/);
    } finally {
      frozen.thaw();
      frozen = undefined;
    }
    await traffic;
    await waitConnected(d, 60_000);
  });

  test('SIGTERM: exits by itself, its resolver file and TUN device removed', async () => {
    const { rig, dockerd } = r!;
    const d = daemon!;
    const st = await d.status();
    const resolverFile = join(resolverDir, SUFFIX);
    assert.ok(existsSync(resolverFile), 'registered before the freeze');
    const device = st.tunnel.device;
    assert.ok(device, 'a TUN device before the freeze');

    frozen = await freezeVm(rig, `/${dockerd.cgroupParent}/`);
    assert.ok(frozen.pids.length >= 2, `froze dockerd and containerd (${frozen.pids.join(' ')})`);
    // A request waiting on Docker when the signal comes: `up` looks for the agent's image and container.
    const up = gangwayCli(d.socket, 'up');
    await new Promise((res) => setTimeout(res, 1_000));
    assert.ok(existsSync(resolverFile), 'still registered when the signal comes');

    const t0 = Date.now();
    // stop() sends SIGKILL once the bound passes: a null exit code is that kill.
    const code = await stop(d, 'SIGTERM', LAUNCHD_EXIT_TIMEOUT_MS);
    const took = Date.now() - t0;
    assert.equal(code, 0, `exited by itself with 0 (took ${took} ms)\n${d.output().slice(-3000)}`);
    // The request open on the frozen Docker ended with the daemon, not by the "still running" bound's exit.
    const log = d.output();
    assert.doesNotMatch(log, /still running 3 s after stopping/, log.slice(-3000));
    // The launch the stop ended is not reported as a failure.
    const afterStop = log.slice(log.indexOf('"msg":"stopping"'));
    assert.doesNotMatch(afterStop, /"level":"error"/, afterStop);
    assert.match(afterStop, /the agent launch ended with the daemon/, afterStop);
    assert.ok(!existsSync(resolverFile), 'the resolver file is gone');
    const link = await rig.exec(rig.hostNs, 'ip', ['link', 'show', device], { allowFail: true });
    assert.notEqual(link.code, 0, `the TUN device ${device} is gone`);
    const answer = await up;
    assert.notEqual(answer.code, 0, `up could not finish: ${answer.out}`);
    assert.match(answer.out, /daemon stopped before this request finished/, answer.out);
  });
});
