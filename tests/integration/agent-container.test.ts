// The agent as Docker runs it: the image built by the helper (offline, on the rig's base image), the
// container started by AgentContainer against a real dockerd in the rig's VM, the real daemon in the host
// namespace, and a web server container on a user network answering the host by IP. Then the container is
// killed behind our back and brought back, and removed, taking its iptables rules with it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import Dockerode from 'dockerode';
import { createLogger } from '../../common/log';
import { AGENT_CONTAINER_NAME, AgentContainer, SECRET_PATH } from '../../helper/docker/agent-container';
import { ensureAgentImage, type AgentImageResult } from '../../helper/docker/agent-image';
import { readSecretFile } from '../../shared/secret';
import { startDockerd, type Dockerd } from '../../rig/dockerd';
import { waitFor } from '../../rig/exec';
import { AGENT_BASE_IMAGE, BUSYBOX_IMAGE, buildRigImages } from '../../rig/images';
import { createRig, type Rig } from '../../rig/rig';
import { Workdir, startDaemon, stop, waitConnected, waitForDaemon, type DaemonHandle } from './harness';

const ROOT = path.resolve(__dirname, '../../..');
const NET = 'agent-net';

describe('the agent container', { timeout: 300_000 }, () => {
  let rig: Rig | undefined;
  let dockerd: Dockerd | undefined;
  let work: Workdir | undefined;
  let daemon: DaemonHandle | undefined;
  let docker: Dockerode;
  let agents: AgentContainer;
  let image: AgentImageResult;
  let secret: Buffer;
  let subnet: string;
  let webIp: string;
  const logLines: string[] = [];
  const log = createLogger('test', (l) => logLines.push(l), 'debug');

  const server = () => `${rig!.hostVethIp}:${daemon!.port}`;
  const up = () => agents.up({ image: image.tag, server: server(), secret });
  const httpOk = async (ip: string) =>
    (await rig!.exec(rig!.hostNs, 'curl', ['-sSf', '--max-time', '1', `http://${ip}/`], { allowFail: true }))
      .code === 0;
  const vmRules = async () => {
    const out: string[] = [];
    for (const tool of ['iptables-nft-save', 'iptables-legacy-save']) {
      const r = await rig!.exec(rig!.vmNs, tool, [], { allowFail: true });
      out.push(...r.stdout.split('\n').filter((l) => /--comment "?gangway"?(\s|$)/.test(l)));
    }
    return out;
  };
  const diagnostics = async () => {
    const logs = await dockerd!.docker(['logs', '--tail', '40', AGENT_CONTAINER_NAME], { allowFail: true });
    return `--- agent container logs:\n${logs.stdout}${logs.stderr}\n--- daemon:\n${daemon?.output() ?? ''}\n--- log:\n${logLines.join('')}`;
  };

  before(async () => {
    rig = await createRig({ containers: 0, subnetIndex: 12 });
    dockerd = await startDockerd(rig);
    await buildRigImages(dockerd.host);
    docker = new Dockerode({ socketPath: dockerd.socketPath });
    agents = new AgentContainer(docker, { log, stopTimeoutS: 10 });
    await dockerd.docker(['network', 'create', NET]);
    subnet = (
      await dockerd.docker(['network', 'inspect', '-f', '{{(index .IPAM.Config 0).Subnet}}', NET])
    ).stdout.trim();
    work = new Workdir();
    daemon = startDaemon(rig, work, ['--route', subnet]);
    await waitForDaemon(daemon);
    const secretFile = path.join(daemon.stateDir, 'secret');
    await waitFor('the daemon to create its secret', () => existsSync(secretFile), 5_000);
    secret = readSecretFile(secretFile);
  });

  after(async () => {
    // Best effort, in order; each step runs even when an earlier one failed.
    await agents?.down().catch(() => undefined);
    if (daemon) await stop(daemon).catch(() => undefined);
    await dockerd?.stop();
    await rig?.teardown();
    work?.cleanup();
  });

  test('the image is built from the repository, offline, and found present the second time', async () => {
    const t0 = Date.now();
    const lines: string[] = [];
    const opts = {
      baseImage: AGENT_BASE_IMAGE,
      bundleDir: path.join(ROOT, 'dist', 'bundle'),
      log,
      onProgress: (l: string) => lines.push(l),
    };
    image = await ensureAgentImage(docker, opts);
    const buildMs = Date.now() - t0;
    assert.equal(image.how, 'built', lines.join('\n'));
    assert.match(image.tag, /^gangway\/agent:\d+\.\d+\.\d+/);
    assert.ok(
      lines.some((l) => /Step \d+\/\d+/.test(l)),
      'build progress was reported',
    );
    const t1 = Date.now();
    const again = await ensureAgentImage(docker, opts);
    assert.equal(again.how, 'present');
    assert.equal(again.id, image.id);
    console.log(`# agent image: built in ${buildMs} ms; found present in ${Date.now() - t1} ms`);
  });

  test('up() starts the agent and it connects; the secret is nowhere in docker inspect', async () => {
    const t0 = Date.now();
    const r = await up();
    assert.equal(r.action, 'created');
    await waitConnected(daemon!, 20_000).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${await diagnostics()}`);
    });
    console.log(`# up() -> daemon reports the agent connected: ${Date.now() - t0} ms`);

    const inspect = (await dockerd!.docker(['inspect', AGENT_CONTAINER_NAME])).stdout;
    assert.ok(!inspect.includes(secret.toString('hex')), 'hex secret not in inspect');
    assert.ok(!inspect.includes(secret.toString('base64')), 'base64 secret not in inspect');
    const info = JSON.parse(inspect) as Dockerode.ContainerInspectInfo[];
    const c = info[0]!;
    assert.equal(c.HostConfig.NetworkMode, 'host');
    assert.equal(c.HostConfig.Privileged, false);
    assert.deepEqual(c.HostConfig.CapAdd, ['NET_ADMIN', 'SYS_NICE']);
    assert.deepEqual(c.Config.Cmd, ['--server', server(), '--secret-file', SECRET_PATH]);
    assert.equal(c.Config.Labels['com.gangway.role'], 'agent');
    const mode = await dockerd!.docker(['exec', AGENT_CONTAINER_NAME, 'stat', '-c', '%a %u', SECRET_PATH]);
    assert.equal(mode.stdout.trim(), '600 0');

    const s = await agents.status();
    assert.equal(s.state, 'running');
    assert.equal(s.id, r.id);
    assert.equal(s.restartCount, 0);
    assert.ok((await vmRules()).length > 0, 'the agent added its iptables rules in the VM');
  });

  test('a web container on a user network answers the host by IP; up() again changes nothing', async () => {
    await dockerd!.docker([
      'run',
      '-d',
      '--name',
      'web',
      '--network',
      NET,
      BUSYBOX_IMAGE,
      'sh',
      '-c',
      'mkdir -p /www; echo hi > /www/index.html; exec httpd -f -p 80 -h /www',
    ]);
    webIp = (
      await dockerd!.docker([
        'inspect',
        '-f',
        `{{(index .NetworkSettings.Networks "${NET}").IPAddress}}`,
        'web',
      ])
    ).stdout.trim();
    const t0 = Date.now();
    await waitFor('the web container to answer through the agent container', () => httpOk(webIp), 10_000, 50);
    console.log(`# web container started -> first HTTP answer from the host: ${Date.now() - t0} ms`);
    const body = await rig!.exec(rig!.hostNs, 'curl', ['-sSf', '--max-time', '2', `http://${webIp}/`]);
    assert.equal(body.stdout, 'hi\n');
    const before = await agents.status();
    const r = await up();
    assert.equal(r.action, 'unchanged');
    assert.equal(r.id, before.id);
  });

  test('docker rm -f behind our back: status says absent, up() brings traffic back', async () => {
    await dockerd!.docker(['rm', '-f', AGENT_CONTAINER_NAME]);
    assert.equal((await agents.status()).state, 'absent');
    // SIGKILL gives the agent no chance to clean up: the reason down() stops it gracefully first.
    assert.ok((await vmRules()).length > 0, 'a killed agent leaves its iptables rules behind');
    await waitFor('traffic to stop', async () => !(await httpOk(webIp)), 5_000, 50);
    const t0 = Date.now();
    const r = await up();
    assert.equal(r.action, 'created');
    await waitFor('traffic through the new agent container', () => httpOk(webIp), 20_000, 50).catch(
      async (err: Error) => {
        throw new Error(`${err.message}\n${await diagnostics()}`);
      },
    );
    console.log(`# up() after docker rm -f -> first HTTP answer: ${Date.now() - t0} ms`);
  });

  test('a changed setting replaces the container', async () => {
    const old = await agents.status();
    const r = await agents.up({ image: image.tag, server: server(), secret, extraArgs: ['--no-offload'] });
    assert.equal(r.action, 'created');
    assert.deepEqual(r.replaced, [old.id]);
    await waitFor('traffic through the replacement', () => httpOk(webIp), 20_000, 50);
  });

  test('down() stops the agent gracefully: the container and its iptables rules are gone', async () => {
    assert.ok((await vmRules()).length > 0, 'rules present before down()');
    const t0 = Date.now();
    const r = await agents.down();
    console.log(`# down(): ${Date.now() - t0} ms`);
    assert.equal(r.removed.length, 1);
    assert.equal((await agents.status()).state, 'absent');
    const ps = await dockerd!.docker(['ps', '-aq', '--filter', 'label=com.gangway.role=agent']);
    assert.equal(ps.stdout.trim(), '');
    assert.deepEqual(await vmRules(), [], 'no gangway iptables rules left in the VM');
    assert.equal(await httpOk(webIp), false);
    assert.deepEqual(await agents.down(), { removed: [] }, 'down() again is a no-op');
  });
});
