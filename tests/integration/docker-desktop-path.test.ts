// Docker Desktop's path, rehearsed: the helper on 127.0.0.1 behind a relay that behaves like Docker Desktop's
// UDP proxy (one port of its own per flow, idle flows forgotten), the agent dialling host.docker.internal,
// and the whole VM frozen (SIGSTOP, as Docker Desktop's Pause or a sleeping Mac does) for longer than the relay's
// idle time. The idle time is longer than the helper's 5 s peer timeout, as Docker Desktop's 90 s is.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '../../rig/exec';
import { freezeVm, type Frozen } from '../../rig/freeze';
import { countPackets } from '../../rig/pcap';
import {
  gangwayCli,
  httpOk,
  runWeb,
  startDockerRig,
  teardownDockerRig,
  type DockerRig,
} from './docker-helpers';
import {
  desktopDaemonArgs,
  desktopDockerdOptions,
  startDesktopProxy,
  type DesktopProxy,
} from './docker-desktop-rig';
import { startDaemon, stop, waitConnected, waitForDaemon, type DaemonHandle } from './harness';

const PORT = 2611;
// Docker Desktop's proxy forgets a flow after about 90 s; the relay here sooner, to keep the test short, but
// in the same order as there: after the helper forgets a silent peer (25 s when the agent was idle, 2.5 of its
// 10 s keepalive intervals), so the helper has nothing pinned to a port the relay may hand out again.
const IDLE_MS = 30_000;
const FREEZE_MS = IDLE_MS + 3_000;

describe("Docker Desktop's UDP proxy and a frozen VM", { timeout: 300_000 }, () => {
  let r: DockerRig | undefined;
  let daemon: DaemonHandle | undefined;
  let proxy: DesktopProxy;
  let web: string;

  before(async () => {
    r = await startDockerRig({ containers: 0, subnetIndex: 41 }, desktopDockerdOptions);
    proxy = await startDesktopProxy(r.rig, PORT, IDLE_MS);
    daemon = startDaemon(r.rig, r.work, desktopDaemonArgs(r.dockerd), PORT, '127.0.0.1');
    await waitForDaemon(daemon);
    await r.dockerd.docker(['network', 'create', 'app']);
    web = await runWeb(r.dockerd, 'web', 'app');
    const up = await gangwayCli(daemon.socket, 'up');
    assert.equal(up.code, 0, up.out);
    await waitConnected(daemon, 60_000);
  });

  after(() => teardownDockerRig({ daemon, ...r }));

  test('the tunnel comes up through the relay, from 127.0.0.1 and the flow port', async () => {
    const d = daemon!;
    const open = await proxy.waitEvent('flow-open');
    const s = await d.status();
    assert.equal(s.peer, `127.0.0.1:${open.port}`, proxy.output());
    assert.equal(s.tunnel.listen, `127.0.0.1:${PORT}`);
    // The rig's dockerd is Docker Engine on Linux, and says so; its agent dials host.docker.internal.
    assert.equal(s.docker.engine?.kind, 'linux', JSON.stringify(s.docker));
    assert.equal(s.docker.engine?.agentDial, 'host.docker.internal');
    await waitFor(`the container ${web} through the relay`, () => httpOk(r!.rig, web), 10_000, 100);
  });

  test('after a freeze longer than the idle time: back within 5 s, nothing sent to the forgotten port', async () => {
    const { rig, dockerd } = r!;
    const d = daemon!;
    const from = proxy.events.length;
    const oldPort = Number((await d.status()).peer?.split(':')[1]);
    const capture = join(r!.work.dir, 'old-port.pcap');
    let frozen: Frozen | undefined = await freezeVm(rig, `/${dockerd.cgroupParent}/`);
    let dump;
    try {
      assert.ok(
        frozen.pids.length >= 3,
        `froze dockerd, containerd and the agent (${frozen.pids.join(' ')})`,
      );
      const forgotten = await proxy.waitEvent('flow-forgotten', from, IDLE_MS * 2);
      assert.equal(forgotten.port, oldPort, 'the relay forgot the flow the helper was pinned to');
      dump = rig.spawn(rig.hostNs, 'tcpdump', [
        '-i',
        'lo',
        '-n',
        '-U',
        '-w',
        capture,
        'udp dst port',
        String(oldPort),
      ]);
      await new Promise((res) => setTimeout(res, 500));
      // The host keeps trying to reach the container while the VM sleeps (a browser, a health check).
      const until = Date.now() + FREEZE_MS - IDLE_MS;
      while (Date.now() < until) await httpOk(rig, web, 0.5);
    } finally {
      frozen.thaw();
      frozen = undefined;
    }
    const t0 = Date.now();
    await waitFor('the container to answer again after the thaw', () => httpOk(rig, web, 0.5), 5_000, 50);
    const backMs = Date.now() - t0;
    console.log(
      `# traffic back ${backMs} ms after the thaw (frozen ${FREEZE_MS} ms, relay idle ${IDLE_MS} ms)`,
    );
    const reopened = await proxy.waitEvent('flow-open', from);
    assert.notEqual(reopened.port, oldPort, 'the relay picked a new port for the new flow');
    assert.equal((await d.status()).peer, `127.0.0.1:${reopened.port}`, 'the helper follows the new port');
    // What a helper restarted after a crash would tell: the session's new address (session-hint.ts).
    const record = JSON.parse(readFileSync(join(d.stateDir, 'tunnel-session.json'), 'utf8')) as {
      port: number;
    };
    assert.equal(record.port, reopened.port, 'the session record follows the new port');
    // Traffic keeps flowing for a while on the new flow; none of it may go to the old port.
    for (let i = 0; i < 10; i++) assert.ok(await httpOk(rig, web, 2), `request ${i} after the thaw`);
    await new Promise((res) => setTimeout(res, 300));
    if (dump) await stop({ child: dump, output: () => '' }, 'SIGINT');
    assert.equal(countPackets(capture), 0, `datagrams were sent to the forgotten port ${oldPort}`);
    const down = await gangwayCli(d.socket, 'down');
    assert.equal(down.code, 0, down.out);
  });
});
