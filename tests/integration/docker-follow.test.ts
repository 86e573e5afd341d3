// A daemon started before the user's Docker is known (launchd at boot, before anyone logs in; Colima started
// after a `docker context use`) follows the endpoint once it can be worked out: a real daemon, no
// --docker-host, a home whose docker context appears while Docker is unreachable, and a real dockerd behind it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { callApi } from '../../client/api-client';
import { ROUTES } from '../../common/api-routes';
import type { Dockerd } from '../../rig/dockerd';
import { waitFor } from '../../rig/exec';
import type { Rig } from '../../rig/rig';
import { startDaemon, stop, waitForDaemon, type DaemonHandle, type Workdir } from './harness';
import { rigDockerArgs, startDockerRig } from './docker-helpers';

// The daemon must find no Docker by itself at first: a machine with a system socket would be found instead.
const skip = existsSync('/var/run/docker.sock') ? '/var/run/docker.sock exists on this machine' : false;

describe('the daemon follows Docker to an endpoint that appears later', { skip, timeout: 180_000 }, () => {
  let rig: Rig;
  let dockerd: Dockerd;
  let work: Workdir;
  let daemon: DaemonHandle | undefined;

  before(async () => {
    ({ rig, dockerd, work } = await startDockerRig({ containers: 0, subnetIndex: 13 }));
  });

  after(async () => {
    if (daemon) await stop(daemon);
    await dockerd?.stop();
    await rig?.teardown();
    work?.cleanup();
  });

  test('unreachable at the default socket, then connected through the context written meanwhile', async () => {
    const home = join(work.dir, 'home');
    mkdirSync(home);
    // Everything of rigDockerArgs but the endpoint: the daemon has to work that out.
    const args = rigDockerArgs(rig, dockerd).slice(2);
    assert.notEqual(args[0], '--docker-host');
    const env = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: home };
    daemon = startDaemon(rig, work, args, undefined, undefined, env);
    await waitForDaemon(daemon);
    const d = daemon;
    await waitFor(
      'Docker unreachable',
      async () => (await d.status()).docker.state === 'unreachable',
      15_000,
    );
    assert.equal((await d.status()).docker.endpoint, 'unix:///var/run/docker.sock');

    // What `docker context create rig --docker host=…` and `docker context use rig` write.
    const id = createHash('sha256').update('rig').digest('hex');
    mkdirSync(join(home, '.docker', 'contexts', 'meta', id), { recursive: true });
    writeFileSync(
      join(home, '.docker', 'contexts', 'meta', id, 'meta.json'),
      JSON.stringify({ Name: 'rig', Metadata: {}, Endpoints: { docker: { Host: dockerd.host } } }),
    );
    writeFileSync(join(home, '.docker', 'config.json'), JSON.stringify({ currentContext: 'rig' }));
    const t0 = Date.now();
    await waitFor(
      'the daemon connected to the context’s Docker',
      async () => {
        const s = (await d.status()).docker;
        return s.state === 'connected' && s.endpoint === dockerd.host;
      },
      20_000,
    );
    console.log(`# context written -> daemon connected to it: ${Date.now() - t0} ms`);

    // The new session is the daemon's: a network made now is listed.
    await dockerd.docker(['network', 'create', 'follow-net']);
    await waitFor(
      'the new network listed',
      async () => (await callApi(d.socket, ROUTES.networks)).networks.some((n) => n.name === 'follow-net'),
      10_000,
    );
    assert.match(readFileSync(d.logFile, 'utf8'), /Docker is elsewhere now; following it/);
  });
});
