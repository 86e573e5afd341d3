// A rootless Podman (what `podman machine init` makes on a Mac) behind the daemon: Debian's podman 4.3.1 run
// as nobody in the rig's VM namespace. Its containers would live in a network namespace of that user, which
// no route reaches, and the agent could not create its TUN: the daemon says so (status, doctor, the CLI) and
// refuses `gangway up` with ENGINE_ROOTLESS before building or starting anything, instead of failing later
// with an error about TUN devices. A daemon that restarts connected (the user's last `gangway up`, saved)
// does not start the agent there either, and says why.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { callApi } from '../../client/api-client';
import { ApiError } from '../../common/api-error';
import { ROUTES } from '../../common/api-routes';
import { waitFor } from '../../rig/exec';
import { startPodman, type PodmanService } from '../../rig/podman';
import { createRig, type Rig } from '../../rig/rig';
import { Workdir, startDaemon, stop, waitForDaemon, type DaemonHandle } from './harness';
import { engineDetected, gangwayCli } from './docker-helpers';

describe('Gangway against a rootless Podman', { timeout: 120_000 }, () => {
  let rig: Rig | undefined;
  let podman: PodmanService | undefined;
  let daemon: DaemonHandle | undefined;
  const work = new Workdir();

  const start = async () => {
    daemon = startDaemon(rig!, work, ['--docker-host', podman!.host, '--agent-dial', rig!.hostVethIp]);
    await waitForDaemon(daemon);
  };
  const nothingInPodman = async () => {
    assert.equal((await podman!.docker(['ps', '-a', '-q'])).stdout.trim(), '', 'no container');
    assert.equal((await podman!.docker(['images', '-q'])).stdout.trim(), '', 'no image built');
  };

  before(async () => {
    rig = await createRig({ containers: 0, subnetIndex: 49 });
    podman = await startPodman(rig, { rootless: true });
    await start();
  });

  after(async () => {
    if (daemon) await stop(daemon);
    await podman?.stop();
    await rig?.teardown();
    work.cleanup();
  });

  test('status names the engine rootless Podman, with the reason and the way out', async () => {
    const s = await engineDetected(daemon!);
    const e = s.docker.engine!;
    assert.equal(e.kind, 'podman', JSON.stringify(e));
    assert.equal(e.rootless, true);
    assert.match(e.refusal ?? '', /^Podman runs rootless \(docker info Rootless is true\)/);
    assert.match(e.refusal ?? '', /--docker-host unix:\/\/\/run\/podman\/podman\.sock/);

    const cli = await gangwayCli(daemon!.socket, 'status');
    assert.equal(cli.code, 0, cli.out);
    assert.match(cli.out, /^Error: Podman runs rootless/m);
    assert.match(cli.out, /docker +connected \(unix:\/\/.*\), Podman \(rootless\)/);
  });

  test('gangway up is refused with ENGINE_ROOTLESS, and nothing is built or started', async () => {
    const err = await callApi(daemon!.socket, ROUTES.connect).then(
      () => assert.fail('up succeeded against a rootless Podman'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ApiError, String(err));
    assert.equal(err.code, 'ENGINE_ROOTLESS', err.message);
    assert.equal(err.status, 409);

    const cli = await gangwayCli(daemon!.socket, 'up');
    assert.notEqual(cli.code, 0, cli.out);
    assert.match(cli.out, /Podman runs rootless/);

    const s = await daemon!.status();
    assert.equal(s.agent.wanted, false, 'the refusal leaves nothing wanted');
    await nothingInPodman();
  });

  test('doctor fails the Docker check with the fix', async () => {
    const d = await callApi(daemon!.socket, ROUTES.diagnostics);
    const docker = d.checks.find((c) => c.id === 'docker');
    assert.equal(docker?.status, 'fail', JSON.stringify(docker));
    assert.match(docker?.detail ?? '', /rootless: Gangway cannot work with it/);
    assert.match(docker?.fix ?? '', /Run Podman's service as root/);
  });

  test('a daemon that restarts connected does not launch the agent, and says why', async () => {
    await stop(daemon!);
    daemon = undefined;
    writeFileSync(
      join(work.dir, 'state', 'settings.json'),
      JSON.stringify({ version: 1, routeNewNetworks: true, networks: {}, joins: [], connected: true }),
    );
    await start();
    const s = await waitFor(
      'the launch to be refused',
      async () => {
        const st = await daemon!.status();
        return st.agent.lastError ? st : undefined;
      },
      20_000,
      100,
    );
    assert.equal(s.agent.wanted, true, 'still wanted: a rootful Podman behind the endpoint would be used');
    assert.match(s.agent.lastError ?? '', /^Podman runs rootless/);
    await nothingInPodman();
  });
});
