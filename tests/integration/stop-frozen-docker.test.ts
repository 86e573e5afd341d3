// A daemon asked to stop while Docker's VM is frozen (a sleeping Mac, Docker Desktop's Resource Saver, a hung
// dockerd): launchd and systemd wait a while and then kill it, and a killed daemon leaves its DNS
// registration behind. So it must exit by itself, and remove what it made, with Docker not answering.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { freezeVm, type Frozen } from '../../rig/freeze';
import {
  gangwayCli,
  startDockerRig,
  teardownDockerRig,
  type DockerRig,
  rigDockerArgs,
} from './docker-helpers';
import { startDaemon, stop, waitConnected, waitForDaemon, type DaemonHandle } from './harness';

const SUFFIX = 'gangway.internal';
/** launchd's default ExitTimeOut: after it, SIGKILL. systemd waits longer (90 s). */
const LAUNCHD_EXIT_TIMEOUT_MS = 20_000;

describe('stopping while Docker is frozen', { timeout: 180_000 }, () => {
  let r: DockerRig | undefined;
  let daemon: DaemonHandle | undefined;
  let frozen: Frozen | undefined;
  let resolverDir: string;

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

  test('exits by itself on SIGTERM, its resolver file and TUN device removed', async () => {
    const { rig, dockerd } = r!;
    const d = daemon!;
    const st = await d.status();
    const resolverFile = join(resolverDir, SUFFIX);
    assert.ok(existsSync(resolverFile), 'registered before the freeze');
    const device = st.tunnel.device;
    assert.ok(device, 'a TUN device before the freeze');

    frozen = await freezeVm(rig, `/${dockerd.cgroupParent}/`);
    assert.ok(frozen.pids.length >= 2, `froze dockerd and containerd (${frozen.pids.join(' ')})`);
    // A request waiting on Docker when the signal comes: `up` looks for the agent's image and container, and
    // Docker does not answer.
    const up = gangwayCli(d.socket, 'up');
    await new Promise((res) => setTimeout(res, 1_000));
    assert.ok(existsSync(resolverFile), 'still registered when the signal comes');

    const t0 = Date.now();
    // stop() sends SIGKILL once the bound passes: a null exit code is that kill.
    const code = await stop(d, 'SIGTERM', LAUNCHD_EXIT_TIMEOUT_MS);
    const took = Date.now() - t0;
    assert.equal(code, 0, `exited by itself with 0 (took ${took} ms)\n${d.output().slice(-3000)}`);
    const answer = await up;
    assert.notEqual(answer.code, 0, `up could not finish: ${answer.out}`);
    assert.match(answer.out, /daemon stopped before this request finished/, answer.out);
    assert.ok(!existsSync(resolverFile), 'the resolver file is gone');
    const link = await rig.exec(rig.hostNs, 'ip', ['link', 'show', device], { allowFail: true });
    assert.notEqual(link.code, 0, `the TUN device ${device} is gone`);
  });
});
