// gangway up / down against a real dockerd: the daemon builds the agent image, launches the agent
// container, heals it when it is removed or Docker restarts, and `down` leaves nothing behind.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Dockerd } from '../../rig/dockerd';
import { waitFor } from '../../rig/exec';
import type { Rig } from '../../rig/rig';
import { DIST, type Workdir, stop, waitConnected, type DaemonHandle } from './harness';
import { threadNice } from '../fixtures/thread-nice';
import {
  gangwayCli,
  httpOk,
  runWeb,
  startDockerDaemon,
  startDockerRig,
  teardownDockerRig,
} from './docker-helpers';

describe('gangway up / down', { timeout: 300_000 }, () => {
  let rig: Rig;
  let dockerd: Dockerd;
  let work: Workdir;
  let daemon: DaemonHandle;
  let webIp = '';
  /** The agent's UDP address and port as the helper saw them, just before `gangway down`. */
  let peerBeforeDown = '';
  /** The agent container's secret file, copied out of it (as `docker cp` could) before `gangway down`. */
  let copiedSecret = '';

  const gangway = (...args: string[]) => gangwayCli(daemon.socket, ...args);
  const agentContainers = async () =>
    (await dockerd.docker(['ps', '-aq', '--filter', 'label=com.gangway.role=agent'])).stdout.trim();

  /** Why the helper dropped the agent's pin, from its log, oldest first. */
  const goneReasons = () =>
    readFileSync(daemon.logFile, 'utf8')
      .split('\n')
      .filter((l) => l.includes('"agent gone; waiting for it"'))
      .map((l) => (JSON.parse(l) as { reason?: string }).reason);

  before(async () => {
    ({ rig, dockerd, work } = await startDockerRig({ containers: 0, subnetIndex: 12 }));
    daemon = await startDockerDaemon({ rig, dockerd, work });
    await dockerd.docker(['network', 'create', 'app']);
    webIp = await runWeb(dockerd, 'web', 'app');
  });

  after(async () => {
    await teardownDockerRig({ daemon, dockerd, rig, work });
  });

  test('gangway up builds the agent image, launches the agent, and the container answers by IP', async () => {
    const t0 = Date.now();
    const r = await gangway('up');
    assert.equal(r.code, 0, `${r.out}\n${daemon.output()}`);
    await waitConnected(daemon, 15_000);
    await waitFor('the web container through Gangway', () => httpOk(rig, webIp), 10_000, 50);
    console.log(`# gangway up -> first answer: ${Date.now() - t0} ms (includes the image build)`);
    const inspect = (await dockerd.docker(['inspect', 'gangway-agent'])).stdout;
    const info = JSON.parse(inspect) as {
      HostConfig: { Privileged: boolean; NetworkMode: string; CapAdd: string[] };
    }[];
    assert.equal(info[0]?.HostConfig.Privileged, false);
    assert.equal(info[0]?.HostConfig.NetworkMode, 'host');
    assert.deepEqual(info[0]?.HostConfig.CapAdd, ['NET_ADMIN', 'SYS_NICE']);
    // SYS_NICE is for the pump: its threads get the larger CPU share they ask for, as the helper's do.
    const pid = Number(
      (await dockerd.docker(['inspect', '-f', '{{.State.Pid}}', 'gangway-agent'])).stdout.trim(),
    );
    const nice = threadNice(pid);
    assert.equal(nice['gw-tun2udp-0'], -10, JSON.stringify(nice));
    assert.equal(nice['gw-udp2tun-0'], -10, JSON.stringify(nice));
    assert.equal(nice.node, 0, "the agent's other threads keep their priority");
  });

  test('docker rm -f of the agent: relaunched, traffic back within 10 s', async () => {
    await dockerd.docker(['rm', '-f', 'gangway-agent']);
    const t0 = Date.now();
    await waitFor('traffic after the agent was removed', () => httpOk(rig, webIp), 10_000, 100);
    console.log(`# agent removed -> traffic back: ${Date.now() - t0} ms`);
  });

  test('dockerd restarted: containers answer again within 10 s', async () => {
    await dockerd.restart();
    const t0 = Date.now();
    await dockerd.docker(['start', 'web']);
    await waitFor('traffic after the dockerd restart', () => httpOk(rig, webIp), 10_000, 100);
    console.log(`# dockerd restarted -> traffic back: ${Date.now() - t0} ms`);
    // The old agent's pin was dropped while Docker was down, and the log says why. (dockerd keeps its event
    // stream open while it stops containers, so here the keepalive timeout usually comes first.)
    const reasons = goneReasons();
    assert.ok(
      reasons.some(
        (r) => r === 'Docker went away' || /^the agent sent no keepalive for \d+ s$/.test(r ?? ''),
      ),
      JSON.stringify(reasons),
    );
  });

  test('kill -9 of the helper, started again: no stale routes, reconnects', async () => {
    await stop(daemon, 'SIGKILL');
    const routes = (await rig.exec(rig.hostNs, 'ip', ['route', 'show'])).stdout;
    assert.doesNotMatch(routes, /dev gw0/, 'no route survives the helper');
    daemon = await startDockerDaemon({ rig, dockerd, work });
    // The agent container kept running and re-dials the new helper by itself.
    await waitConnected(daemon, 10_000);
    assert.equal((await daemon.status()).agent.wanted, true, 'the restarted daemon remembers `up`');
    await waitFor('traffic after the helper restart', () => httpOk(rig, webIp), 10_000, 100);
  });

  test('a new UDP port applies without a restart: the agent container is re-created to dial it', async () => {
    const agentInfo = async () =>
      (
        JSON.parse((await dockerd.docker(['inspect', 'gangway-agent'])).stdout) as {
          Id: string;
          Config: { Cmd: string[] };
        }[]
      )[0];
    const before = await agentInfo();
    const t0 = Date.now();
    const r = await gangway('settings', 'set', 'port=2711');
    assert.equal(r.code, 0, `${r.out}\n${daemon.output()}`);
    await waitConnected(daemon, 15_000);
    await waitFor('traffic on the new port', () => httpOk(rig, webIp), 10_000, 100);
    console.log(`# port changed -> traffic back: ${Date.now() - t0} ms (includes re-creating the agent)`);
    const after = await agentInfo();
    assert.notEqual(after?.Id, before?.Id, 'a new agent container');
    assert.ok(after?.Config.Cmd.includes(`${rig.hostVethIp}:2711`), JSON.stringify(after?.Config.Cmd));
    assert.equal((await daemon.status()).tunnel.listen, `${rig.hostVethIp}:2711`);
    const back = await gangway('settings', 'set', 'port=2611');
    assert.equal(back.code, 0, back.out);
    await waitConnected(daemon, 15_000);
  });

  test('a new Docker endpoint applies without a restart', async () => {
    const dockerGone = () => goneReasons().filter((r) => r === 'Docker went away').length;
    const gone0 = dockerGone();
    const bad = await gangway('settings', 'set', 'dockerHost=unix:///nonexistent/docker.sock');
    assert.equal(bad.code, 0, bad.out);
    await waitFor(
      'Docker unreachable at the bogus endpoint',
      async () => ((await daemon.status()).docker.state === 'unreachable' ? true : undefined),
      10_000,
      100,
    );
    assert.equal((await daemon.status()).docker.endpoint, 'unix:///nonexistent/docker.sock');
    // Docker went away (as far as the helper can tell): the agent's pin was dropped at once, for that reason.
    await waitFor(
      'the pin dropped because Docker went away',
      () => dockerGone() > gone0 || undefined,
      5_000,
      100,
    );
    const good = await gangway('settings', 'set', `dockerHost=${dockerd.host}`);
    assert.equal(good.code, 0, good.out);
    await waitFor(
      'Docker connected again',
      async () => ((await daemon.status()).docker.state === 'connected' ? true : undefined),
      10_000,
      100,
    );
    await waitFor('traffic with the endpoint restored', () => httpOk(rig, webIp), 10_000, 100);
  });

  test('gangway down: no agent container, no Gangway iptables rules in the VM, no routes on the host', async () => {
    peerBeforeDown = (await waitConnected(daemon, 15_000)).peer ?? '';
    copiedSecret = (await dockerd.docker(['exec', 'gangway-agent', 'cat', '/run/gangway/secret'])).stdout;
    assert.match(copiedSecret, /^[0-9a-f]{32} [0-9a-f]{64}\n$/, 'a per-container key id and secret');
    const install = readFileSync(join(daemon.stateDir, 'secret'), 'utf8').trim();
    assert.ok(!copiedSecret.includes(install), 'the container never holds the per-install secret');
    const r = await gangway('down');
    assert.equal(r.code, 0, r.out);
    assert.equal(await agentContainers(), '');
    for (const save of ['iptables-nft-save', 'iptables-legacy-save']) {
      const rules = (await rig.exec(rig.vmNs, save, [], { allowFail: true })).stdout;
      assert.doesNotMatch(rules, /gangway/, `${save} still lists Gangway rules`);
    }
    // The TUN stays (the daemon still runs), with the kernel's route to the tunnel peer; no container route.
    const routes = (await rig.exec(rig.hostNs, 'ip', ['route', 'show', 'dev', 'gw0'])).stdout;
    assert.deepEqual(
      routes.split('\n').filter((l) => l && !l.includes('proto kernel')),
      [],
    );
    assert.equal(await httpOk(rig, webIp), false);
  });

  test('after gangway down the peer is forgotten: its old address and port get nothing and inject nothing', async () => {
    const s0 = await daemon.status();
    assert.equal(s0.peer, null, 'status names no peer');
    assert.equal(s0.state, 'waiting');
    assert.match(s0.peerLost ?? '', /gangway down/, 'status says why');
    assert.match((await gangway('status')).out, /forgotten: gangway down/);
    const m = /^([\d.]+):(\d+)$/.exec(peerBeforeDown);
    assert.ok(m?.[1] && m[2], `the agent's endpoint before down: "${peerBeforeDown}"`);
    // A process in the VM takes over the departed agent's address and port, and claims to be it.
    const probe = rig.spawn(rig.vmNs, process.execPath, [
      join(DIST, 'tests', 'fixtures', 'stale-peer.js'),
      m[1],
      m[2],
      rig.hostVethIp,
      String(daemon.port),
      '2500',
      webIp,
      s0.tunnel.hostAddress,
      '20',
    ]);
    let out = '';
    probe.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise((r) => probe.once('exit', r));
    // Meanwhile the host sends into the tunnel: with a stale pin these would go to the probe.
    await rig.exec(rig.hostNs, 'ping', ['-c', '3', '-i', '0.2', '-W', '1', s0.tunnel.agentAddress], {
      allowFail: true,
    });
    await exited;
    const got = JSON.parse(out) as { sent: number; received: number };
    assert.deepEqual(got, { sent: 20, received: 0 }, 'the host sent the old endpoint nothing');
    const s1 = await daemon.status();
    const delta = (k: string) => (s1.counters.pump[k] ?? 0) - (s0.counters.pump[k] ?? 0);
    assert.ok(
      delta('dropNotPeer') >= 20,
      `its data was dropped and counted: ${JSON.stringify(s1.counters.pump)}`,
    );
    assert.equal(delta('udpRxPackets'), 0, 'nothing of it was accepted');
    assert.equal(delta('tunTxPackets'), 0, 'nothing of it reached the TUN');
    assert.ok(delta('dropNoPeer') >= 3, "the host's packets were dropped: no peer is pinned");
  });

  test("after down and up, the old container's secret fails the handshake", async () => {
    const r = await gangway('up');
    assert.equal(r.code, 0, `${r.out}\n${daemon.output()}`);
    const live = await waitConnected(daemon, 15_000);
    const fresh = (await dockerd.docker(['exec', 'gangway-agent', 'cat', '/run/gangway/secret'])).stdout;
    assert.notEqual(fresh, copiedSecret, 'the new container has its own secret');
    // Someone kept the old container's secret and runs an agent with it in the VM.
    const file = join(work.dir, 'copied-secret');
    writeFileSync(file, copiedSecret, { mode: 0o600 });
    const before = (await daemon.status()).counters.control;
    const thief = rig.spawn(rig.vmNs, process.execPath, [
      join(DIST, 'vm-agent', 'main.js'),
      '--server',
      `${rig.hostVethIp}:${daemon.port}`,
      '--secret-file',
      file,
      '--tun-name',
      'gwx0',
      '--no-firewall',
    ]);
    try {
      await new Promise((res) => setTimeout(res, 3_000));
      const s = await daemon.status();
      const c = s.counters.control;
      assert.ok(
        (c.handshakeUnknownKey ?? 0) > (before.handshakeUnknownKey ?? 0),
        `the old key was refused: ${JSON.stringify(c)}`,
      );
      assert.equal(c.handshakeOk, before.handshakeOk, 'no session for the old secret');
      assert.equal(s.peer, live.peer, 'the new container is still the pinned peer');
      assert.equal(s.state, 'connected');
    } finally {
      thief.kill('SIGKILL');
    }
    await waitFor('the web container through the new agent', () => httpOk(rig, webIp), 10_000, 100);
  });

  test('down while Docker is away: the agent its restart brings back is removed once Docker answers', async () => {
    await waitConnected(daemon, 15_000);
    await dockerd.halt();
    const r = await gangway('down');
    assert.notEqual(r.code, 0, `Docker could not be asked: ${r.out}`);
    assert.match(r.out, /cannot remove the agent container/);
    await dockerd.resume();
    // The container's restart policy (unless-stopped) brings it back with Docker; nothing else would remove it.
    await waitFor(
      'the agent container left by down to be removed',
      async () => ((await agentContainers()) === '' ? true : undefined),
      30_000,
      200,
    );
    assert.match(
      readFileSync(daemon.logFile, 'utf8'),
      /removing an agent container that gangway down left behind/,
    );
    assert.equal((await daemon.status()).agent.wanted, false);
  });
});
