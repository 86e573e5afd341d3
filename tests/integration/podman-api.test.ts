// Podman's Docker-compatible API in the rig's VM namespace (Debian's podman 4.3.1, `podman system service`),
// with Gangway pointed at its socket: the engine is detected as Podman through the API; networks made with
// the docker CLI against Podman are followed (re-listed: Podman sent no network events) and routed on the
// host, then unrouted when removed; `gangway up` builds the agent image and starts its container through
// Podman's API; a container run through Podman is reached by IP and by name through the tunnel; and
// `gangway down` removes the agent. Joins name Podman's bridge devices (from its own API).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { callApi } from '../../client/api-client';
import { ROUTES } from '../../common/api-routes';
import { waitFor } from '../../rig/exec';
import { AGENT_BASE_IMAGE, BUSYBOX_IMAGE, buildRigImages } from '../../rig/images';
import { startPodman, type PodmanService } from '../../rig/podman';
import { createRig, type Rig } from '../../rig/rig';
import { Workdir, startDaemon, stop, waitConnected, waitForDaemon, type DaemonHandle } from './harness';
import { engineDetected, gangwayCli, httpOk } from './docker-helpers';

describe("Gangway against Podman's Docker-compatible API", { timeout: 180_000 }, () => {
  let rig: Rig | undefined;
  let podman: PodmanService | undefined;
  let daemon: DaemonHandle | undefined;
  const work = new Workdir();

  const hostRoutes = async () => (await rig!.exec(rig!.hostNs, 'ip', ['route', 'show'])).stdout;

  before(async () => {
    rig = await createRig({ containers: 0, subnetIndex: 48 });
    podman = await startPodman(rig);
    daemon = startDaemon(rig, work, [
      '--docker-host',
      podman.host,
      '--agent-dial',
      rig.hostVethIp,
      '--agent-base-image',
      AGENT_BASE_IMAGE,
    ]);
    await waitForDaemon(daemon);
  });

  after(async () => {
    if (daemon) await stop(daemon);
    await podman?.stop();
    await rig?.teardown();
    work.cleanup();
  });

  test('connected, and the engine is Podman (from its /version components)', async () => {
    const s = await engineDetected(daemon!);
    assert.equal(s.docker.engine?.kind, 'podman', JSON.stringify(s.docker));
    assert.equal(
      s.docker.engine?.agentDial,
      rig!.hostVethIp,
      '--agent-dial overrides host.containers.internal',
    );
  });

  test('a network made with `docker network create` against Podman is routed, and unrouted when removed', async () => {
    await podman!.docker(['network', 'create', '--subnet', '10.89.7.0/24', 'pnet']);
    const t0 = Date.now();
    let seen = '';
    await waitFor(
      'pnet in the daemon and its route on the host',
      async () => {
        const n = await callApi(daemon!.socket, ROUTES.networks);
        seen = JSON.stringify(n.networks);
        const pnet = n.networks.find((x) => x.name === 'pnet');
        return pnet?.routed && (await hostRoutes()).includes('10.89.7.0/24') ? pnet : undefined;
      },
      15_000,
      100,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\nnetworks: ${seen}\ndaemon: ${daemon!.output().slice(-3000)}`);
    });
    console.log(`# Podman network routed ${Date.now() - t0} ms after it was created`);
    await podman!.docker(['network', 'rm', 'pnet']);
    await waitFor('the route to go', async () => !(await hostRoutes()).includes('10.89.7.0/24'), 15_000, 100);
  });

  test('gangway up builds and starts the agent through Podman; a Podman container is reached by IP and by name; down removes the agent', async () => {
    await buildRigImages(podman!.host);
    const up = await gangwayCli(daemon!.socket, 'up');
    assert.equal(up.code, 0, `${up.out}\n${daemon!.output().slice(-2000)}`);
    await waitConnected(daemon!, 60_000);
    await podman!.docker(['network', 'create', '--subnet', '10.89.8.0/24', 'webnet']);
    await podman!.docker([
      'run',
      '-d',
      '--name',
      'web',
      '--network',
      'webnet',
      BUSYBOX_IMAGE,
      'sh',
      '-c',
      'mkdir -p /www && echo hi > /www/index.html && exec httpd -f -p 80 -h /www',
    ]);
    const inspect = ['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', 'web'];
    const ip = (await podman!.docker(inspect)).stdout.trim();
    assert.match(ip, /^10\.89\.8\.\d+$/);
    await waitFor(`the Podman container ${ip} from the host`, () => httpOk(rig!, ip), 15_000, 100);
    // What a join names: Podman's device (cni-podman<N> or podman<N>, from its own API), not Docker's br-<id>,
    // and it exists in the VM now that a container uses the network.
    const webnet = await waitFor(
      "webnet's bridge from Podman's API",
      async () => {
        const n = (await callApi(daemon!.socket, ROUTES.networks)).networks.find((x) => x.name === 'webnet');
        return n?.bridge && !n.bridge.startsWith('br-') ? n : undefined;
      },
      10_000,
      200,
    );
    assert.match(webnet.bridge ?? '', /^(cni-)?podman\d+$/);
    const link = await rig!.exec(rig!.vmNs, 'ip', ['-o', 'link', 'show', 'dev', webnet.bridge!], {
      allowFail: true,
    });
    assert.equal(link.code, 0, `${webnet.bridge} is not a device in the VM: ${link.stderr}`);
    // By name, through Gangway's DNS on the tunnel address, from Podman's container list.
    const dig = async () =>
      (
        await rig!.exec(
          rig!.hostNs,
          'dig',
          ['+short', '+time=1', '+tries=1', '@10.57.0.1', 'web.gangway.internal'],
          { allowFail: true },
        )
      ).stdout.trim();
    await waitFor(
      'web.gangway.internal to resolve to the Podman container',
      async () => (await dig()) === ip,
      10_000,
      200,
    );
    const agents = async () =>
      (await podman!.docker(['ps', '-aq', '--filter', 'label=com.gangway.role=agent'])).stdout.trim();
    assert.notEqual(await agents(), '', 'the agent runs as a Podman container');
    // Podman answers the doctor's ping (GET /_ping), and the checks that ask it pass.
    const doctor = await callApi(daemon!.socket, ROUTES.diagnostics, { timeoutMs: 30_000 });
    for (const id of ['docker', 'image', 'agent'])
      assert.equal(
        doctor.checks.find((c) => c.id === id)?.status,
        'ok',
        JSON.stringify(doctor.checks.find((c) => c.id === id)),
      );
    const down = await gangwayCli(daemon!.socket, 'down');
    assert.equal(down.code, 0, down.out);
    assert.equal(await agents(), '', 'down removed the agent container');
    await podman!.docker(['rm', '-f', 'web']);
  });
});
