// gangway join / unjoin against a real dockerd in the rig's VM: Docker isolates two user networks from each
// other; joining them lets their containers talk (the agent's DOCKER-USER accepts between the two bridges),
// unjoining isolates them again, and joins are kept across a daemon restart. The agent runs as a plain
// process in the VM namespace (as in docker-routes.test.ts).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { callApi } from '../../client/api-client';
import { ROUTES } from '../../common/api-routes';
import type { Dockerd } from '../../rig/dockerd';
import { waitFor } from '../../rig/exec';
import type { Rig } from '../../rig/rig';
import type { Workdir } from './harness';
import {
  startAgent,
  startDaemon,
  stop,
  waitConnected,
  waitForDaemon,
  type DaemonHandle,
  type Proc,
} from './harness';
import { gangwayCli, runWeb, startDockerRig, teardownDockerRig } from './docker-helpers';

describe('gangway join lets two Docker networks reach each other', { timeout: 240_000 }, () => {
  let rig: Rig;
  let dockerd: Dockerd;
  let work: Workdir;
  let daemon: DaemonHandle;
  let agent: Proc;
  let ipB = '';

  const gangway = (...args: string[]) => gangwayCli(daemon.socket, ...args);
  const joins = async () => (await callApi(daemon.socket, ROUTES.networks)).joins;
  /** Whether the container on net-a gets an HTTP answer from the one on net-b. */
  const aReachesB = async (timeoutS = 2) =>
    (
      await dockerd.docker(['exec', 'a-ctr', 'timeout', String(timeoutS), 'wget', '-qO-', `http://${ipB}/`], {
        allowFail: true,
      })
    ).code === 0;

  function start(): void {
    daemon = startDaemon(rig, work, ['--docker-host', dockerd.host]);
  }

  before(async () => {
    ({ rig, dockerd, work } = await startDockerRig({ containers: 0, subnetIndex: 14 }));
    start();
    await waitForDaemon(daemon);
    agent = startAgent(rig, daemon);
    await waitConnected(daemon, 15_000, agent);
    await dockerd.docker(['network', 'create', 'net-a']);
    await dockerd.docker(['network', 'create', 'net-b']);
    await runWeb(dockerd, 'a-ctr', 'net-a');
    ipB = await runWeb(dockerd, 'b-ctr', 'net-b');
  });

  after(async () => {
    if (agent) await stop(agent);
    await teardownDockerRig({ daemon, dockerd, rig, work });
  });

  test('Docker isolates the two networks by default', async () => {
    assert.equal(await aReachesB(), false, 'net-a reaches net-b without a join: the rig does not isolate');
  });

  test('usage errors and unknown networks', async () => {
    assert.equal((await gangway('join', 'net-a')).code, 2);
    assert.equal((await gangway('join', 'net-a', 'net-b', 'net-c')).code, 2);
    assert.equal((await gangway('join', 'net-a', 'net-a')).code, 2);
    const unknown = await gangway('join', 'net-a', 'no-such-net');
    assert.equal(unknown.code, 1);
    assert.match(unknown.out, /no network named "no-such-net"/);
    const self = await callApi(daemon.socket, ROUTES.join, {
      body: {
        a: 'net-a',
        b: 'net-a',
        joined: true,
      },
    }).then(
      () => 'ok',
      (e: Error) => e.message,
    );
    assert.match(self, /itself/);
  });

  test('join makes them reachable within 2 s; unjoin isolates them again', async () => {
    const t0 = Date.now();
    const r = await gangway('join', 'net-a', 'net-b');
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /net-a <-> net-b: joined/);
    // One try waits at most 1 s (a dropped SYN hangs until the timeout), so tries fit in the 2 s budget.
    await waitFor('net-a to reach net-b', () => aReachesB(1), 2_000, 20);
    console.log(`# gangway join -> first HTTP answer across the networks: ${Date.now() - t0} ms`);
    // Joining again, in the other order, keeps one pair.
    assert.equal((await gangway('join', 'net-b', 'net-a')).code, 0);
    assert.deepEqual(await joins(), [['net-b', 'net-a']]);
    const u = await gangway('unjoin', 'net-a', 'net-b');
    assert.equal(u.code, 0, u.out);
    assert.deepEqual(await joins(), []);
    await waitFor('net-a to be isolated again', async () => !(await aReachesB(1)), 3_000, 100);
  });

  test('joins survive a daemon restart', async () => {
    assert.equal((await gangway('join', 'net-a', 'net-b', '--json')).code, 0);
    await waitFor('net-a to reach net-b', () => aReachesB(1), 2_000, 20);
    // The agent removes its rules when it stops: only the restarted daemon's configuration brings them back.
    await stop(daemon);
    await stop(agent);
    assert.equal(await aReachesB(1), false);
    start();
    await waitForDaemon(daemon);
    agent = startAgent(rig, daemon);
    await waitConnected(daemon, 15_000, agent);
    await waitFor('the joins to be listed', async () => (await joins()).length === 1, 5_000);
    assert.deepEqual(await joins(), [['net-a', 'net-b']]);
    await waitFor('net-a to reach net-b after the restart', () => aReachesB(1), 5_000, 50);
    const listed = await gangway('networks');
    assert.match(listed.out, /Joined: net-a <-> net-b/);
  });
});
