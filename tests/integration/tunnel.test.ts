// The tunnel end to end in the rig: the real daemon in the "host" namespace, the real agent in the "vm"
// namespace, "containers" on a bridge in the VM. Issue 2's "Show" list, one test each.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '../../rig/exec';
import { countPackets, readUdpPayloads } from '../../rig/pcap';
import { createRig, type Rig } from '../../rig/rig';
import { payload } from '../fixtures/http-server';
import { defaultQueues } from '../../shared/pump-queues';
import {
  DIST,
  Workdir,
  pingOnce,
  startAgent,
  startDaemon,
  stop,
  waitConnected,
  waitForDaemon,
  type DaemonHandle,
  type Proc,
} from './harness';

const FIXTURES = join(DIST, 'tests', 'fixtures');

describe('tunnel in the namespace rig', { timeout: 240_000 }, () => {
  let rig: Rig;
  let work: Workdir;
  let daemon: DaemonHandle;
  let agent: Proc;
  let capture: string;
  let connectedAt = 0;

  before(async () => {
    rig = await createRig({ containers: 2 });
    work = new Workdir();
    daemon = startDaemon(rig, work);
    await waitForDaemon(daemon);
    // Record the real agent's datagrams to the helper, to replay them later from an attacker.
    capture = join(work.dir, 'agent.pcap');
    const dump = rig.spawn(rig.vmNs, 'tcpdump', [
      '-i',
      rig.vmVeth,
      '-U',
      '-w',
      capture,
      'udp',
      'and',
      'dst',
      'port',
      String(daemon.port),
    ]);
    await new Promise((r) => setTimeout(r, 500));
    agent = startAgent(rig, daemon);
    await waitConnected(daemon).catch((err: Error) => {
      throw new Error(`${err.message}\ndaemon: ${daemon.output()}\nagent: ${agent.output()}`);
    });
    connectedAt = Date.now();
    await new Promise((r) => setTimeout(r, 1500)); // a keepalive or two in the capture
    await stop({ child: dump, output: () => '' }, 'SIGINT');
  });

  after(async () => {
    await rig?.teardown();
    work?.cleanup();
  });

  test('ping reaches a container through the tunnel', async () => {
    for (const c of rig.containers) assert.ok(await pingOnce(rig, rig.hostNs, c.ip), `ping ${c.ip}`);
    const s = await daemon.status();
    assert.ok(
      (s.counters.pump.udpTxPackets ?? 0) >= 2 && (s.counters.pump.tunTxPackets ?? 0) >= 2,
      JSON.stringify(s.counters.pump),
    );
  });

  test('the daemon and the agent run a thread pair per pump queue, one queue per CPU (at most 4)', () => {
    const n = defaultQueues();
    const want = Array.from({ length: n }, (_, i) => [`gw-tun2udp-${i}`, `gw-udp2tun-${i}`])
      .flat()
      .sort();
    for (const [who, pid] of [
      ['daemon', daemon.child.pid],
      ['agent', agent.child.pid],
    ] as const) {
      const dir = `/proc/${pid}/task`;
      const names = readdirSync(dir)
        .map((t) => readFileSync(`${dir}/${t}/comm`, 'utf8').trim())
        .filter((c) => c.startsWith('gw-'))
        .sort();
      assert.deepEqual(names, want, who);
    }
  });

  test('neither TUN has an IPv6 link-local address, so the kernel sends no router solicitations into the tunnel', async () => {
    for (const [ns, dev] of [
      [rig.hostNs, 'gw0'],
      [rig.vmNs, 'gwa0'],
    ] as const) {
      const link = (await rig.exec(ns, 'ip', ['-d', 'link', 'show', 'dev', dev])).stdout;
      assert.match(link, /addrgenmode none/, `${dev}: ${link}`);
      const lladdr = (await rig.exec(ns, 'ip', ['-6', 'addr', 'show', 'dev', dev, 'scope', 'link'])).stdout;
      assert.equal(lladdr.trim(), '', `${dev} has no link-local address`);
    }
    // With a link-local address the kernel sends its first solicitation 1-2 s after link-up (duplicate
    // address detection, then a random delay), and the daemon's pump drops and counts it.
    const wait = connectedAt + 5000 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const s = await daemon.status();
    assert.equal(s.counters.pump.dropRouterSolicit ?? 0, 0, JSON.stringify(s.counters.pump));
  });

  test('TCP: an HTTP transfer of 8 MB arrives intact', async () => {
    const c = rig.containers[0]!;
    const server = rig.spawn(c.ns, process.execPath, [join(FIXTURES, 'http-server.js'), c.ip, '8080']);
    await waitFor('the HTTP server', () => server.stdout?.read() !== null, 5_000);
    const out = join(work.dir, 'download');
    await rig.exec(rig.hostNs, 'curl', [
      '-sSf',
      '--max-time',
      '30',
      '-o',
      out,
      `http://${c.ip}:8080/bytes/8000000`,
    ]);
    const got = createHash('sha256').update(readFileSync(out)).digest('hex');
    assert.equal(got, createHash('sha256').update(payload(8_000_000)).digest('hex'));
    server.kill();
    // Checksum offload across the tunnel (both ends have TUN offloads here): the helper left its TCP
    // checksums out, which it does only once the agent's acknowledgement said it fills them in, and filled in
    // those of the download.
    const pump = (await daemon.status()).counters.pump;
    assert.ok((pump.udpTxCsumLeft ?? 0) > 0, JSON.stringify(pump));
    assert.ok((pump.tunTxCsumFilled ?? 0) > 5000, JSON.stringify(pump));
    assert.equal(pump.dropBadCsum ?? 0, 0);
  });

  test('UDP: datagrams to a container are echoed back', async () => {
    const c = rig.containers[1]!;
    const echo = rig.spawn(c.ns, process.execPath, [join(FIXTURES, 'udp-echo.js'), c.ip, '9999']);
    await waitFor('the UDP echo server', () => echo.stdout?.read() !== null, 5_000);
    const r = await rig.exec(rig.hostNs, process.execPath, [
      join(FIXTURES, 'udp-client.js'),
      c.ip,
      '9999',
      '50',
    ]);
    const { received } = JSON.parse(r.stdout) as { received: number };
    assert.ok(received >= 48, `${received}/50 echoes`);
    echo.kill();
  });

  test("a container reaches the host's tunnel address", async () => {
    const s = await daemon.status();
    const server = rig.spawn(rig.hostNs, process.execPath, [
      join(FIXTURES, 'http-server.js'),
      s.tunnel.hostAddress,
      '8081',
    ]);
    await waitFor('the host HTTP server', () => server.stdout?.read() !== null, 5_000);
    const r = await rig.exec(rig.containers[0]!.ns, 'curl', [
      '-sSf',
      '--max-time',
      '5',
      `http://${s.tunnel.hostAddress}:8081/`,
    ]);
    assert.equal(r.stdout.trim(), `ok ${s.tunnel.hostAddress}`);
    server.kill();
  });

  test('spoofed, malformed and replayed datagrams from the host and the VM never reach the TUN', async () => {
    const s0 = await daemon.status();
    const replays = readUdpPayloads(capture)
      .filter((d) => d.dstPort === daemon.port)
      .map((d) => d.payload.toString('hex'));
    assert.ok(replays.length >= 3, `captured ${replays.length} handshake/keepalive datagrams to replay`);
    const target = rig.containers[0]!.ip;
    // Watch the host's TUN for the attackers' packets (ICMP echo requests claiming to come from a container).
    const injected = join(work.dir, 'injected.pcap');
    const dump = rig.spawn(rig.hostNs, 'tcpdump', [
      '-i',
      s0.tunnel.device,
      '-U',
      '-w',
      injected,
      'icmp[icmptype] == icmp-echo and src host',
      target,
    ]);
    await new Promise((r) => setTimeout(r, 500));
    for (const ns of [rig.hostNs, rig.vmNs]) {
      const r = await rig.exec(ns, process.execPath, [
        join(FIXTURES, 'spoof.js'),
        rig.hostVethIp,
        String(daemon.port),
        target,
        s0.tunnel.hostAddress,
        ...replays,
      ]);
      const sent = JSON.parse(r.stdout) as Record<string, number>;
      assert.ok((sent.badAuth ?? 0) >= 1, `the helper challenged the attacker's HELLO (${r.stdout})`);
    }
    await new Promise((r) => setTimeout(r, 300));
    await stop({ child: dump, output: () => '' }, 'SIGINT');
    const s1 = await daemon.status();
    const p0 = s0.counters.pump;
    const p1 = s1.counters.pump;
    const c1 = s1.counters.control;
    const delta = (k: string) => (p1[k] ?? 0) - (p0[k] ?? 0);
    // Nothing the attackers sent was written to the host's TUN.
    assert.equal(countPackets(injected), 0, 'spoofed packets appeared on the TUN');
    assert.ok(delta('tunTxPackets') <= delta('udpRxPackets'), JSON.stringify({ p0, p1 }));
    assert.ok(delta('dropNotPeer') >= 100, `dropNotPeer ${delta('dropNotPeer')}`);
    assert.ok((c1.handshakeBadMac ?? 0) >= 2, JSON.stringify(c1));
    assert.ok((c1.controlMalformed ?? 0) > 0, JSON.stringify(c1));
    assert.ok((c1.handshakeUnknownNonce ?? 0) + (c1.sealedReplay ?? 0) >= 1, JSON.stringify(c1));
    assert.equal(c1.handshakeOk, 1, 'no second session was ever established');
    assert.equal(s1.peer, s0.peer, 'the real agent is still the pinned peer');
    assert.ok(await pingOnce(rig, rig.hostNs, target), 'the real agent still carries traffic');
  });

  test('anti-spoofing: packets whose inner source is not behind the other end are dropped, both ways', async () => {
    const s0 = await daemon.status();
    const target = rig.containers[0]!.ip;
    // The VM sends the host a packet from an address that is neither the agent's nor a routed subnet's.
    // Without the filter the host would answer it (over the veth, straight back).
    assert.equal(
      (
        await rig.exec(
          rig.vmNs,
          'ping',
          ['-c', '3', '-i', '0.2', '-W', '1', '-I', rig.vmVethIp, s0.tunnel.hostAddress],
          { allowFail: true },
        )
      ).code,
      1,
      'the host answered a packet from a source the agent does not route',
    );
    const s1 = await daemon.status();
    const d = (k: string) => (s1.counters.pump[k] ?? 0) - (s0.counters.pump[k] ?? 0);
    assert.ok(d('dropSpoofed') >= 3, JSON.stringify(s1.counters.pump));
    // The host sends a container a packet from its veth address: the agent drops it, so no echo comes back.
    assert.equal(
      (
        await rig.exec(
          rig.hostNs,
          'ping',
          ['-c', '3', '-i', '0.2', '-W', '1', '-I', rig.hostVethIp, target],
          { allowFail: true },
        )
      ).code,
      1,
      "the agent let in a packet whose source is not the host's tunnel address",
    );
    assert.ok(await pingOnce(rig, rig.hostNs, target), 'traffic from the tunnel addresses still flows');
  });

  test('the agent killed and started again: traffic resumes within 5 s', async () => {
    await stop(agent, 'SIGKILL');
    agent = startAgent(rig, daemon);
    const t0 = Date.now();
    await waitFor(
      'ping after agent restart',
      () => pingOnce(rig, rig.hostNs, rig.containers[0]!.ip),
      5_000,
      50,
    );
    console.log(`# traffic resumed ${Date.now() - t0} ms after the agent restarted`);
  });

  test('20,000 HELLOs/s from another socket for 10 s: the session stays up; an agent restarted meanwhile is back within 5 s', async () => {
    const s0 = await waitConnected(daemon, 5_000);
    const flooder = rig.spawn(rig.vmNs, process.execPath, [
      join(FIXTURES, 'hello-flood.js'),
      rig.hostVethIp,
      String(daemon.port),
      '20000',
      '10',
    ]);
    let out = '';
    flooder.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    const done = new Promise((r) => flooder.once('exit', r));
    try {
      // The live session: still the same peer, connected, for 3 s of flood.
      const until = Date.now() + 3_000;
      while (Date.now() < until) {
        const s = await daemon.status();
        assert.equal(
          s.state,
          'connected',
          `the session lapsed under the flood: ${JSON.stringify(s.counters)}`,
        );
        assert.equal(s.peer, s0.peer);
        await new Promise((r) => setTimeout(r, 250));
      }
      assert.equal((await daemon.status()).counters.control.handshakeOk, s0.counters.control.handshakeOk);
      // The agent restarts in the middle of the flood (a new process, a new source port).
      await stop(agent, 'SIGKILL');
      agent = startAgent(rig, daemon);
      const t0 = Date.now();
      await waitFor(
        'the restarted agent under the flood',
        async () => {
          const s = await daemon.status();
          return s.state === 'connected' && s.peer !== s0.peer && s.configAcked ? s : undefined;
        },
        5_000,
        50,
      );
      await waitFor(
        'ping through the new session',
        () => pingOnce(rig, rig.hostNs, rig.containers[0]!.ip),
        5_000 - (Date.now() - t0),
        50,
      );
      console.log(`# agent restarted under a HELLO flood: traffic back after ${Date.now() - t0} ms`);
    } finally {
      await done;
    }
    const flood = JSON.parse(out) as { sent: number; ms: number; cookies: number; challenges: number };
    const s1 = await daemon.status();
    const c = s1.counters.control;
    console.log(
      `# flood: ${flood.sent} HELLOs in ${flood.ms} ms (${Math.round(flood.sent / (flood.ms / 1000))}/s); answered with ${flood.cookies} cookies and ${flood.challenges} challenges; helper: ${JSON.stringify({ cookieSent: c.handshakeCookieSent, rateLimited: c.handshakeRateLimited, cookieRateLimited: c.handshakeCookieRateLimited, dropControlQueue: s1.counters.pump.dropControlQueue, dropControlRate: s1.counters.pump.dropControlRate })}`,
    );
    assert.ok(flood.sent >= 150_000, `the flood ran (${flood.sent} HELLOs)`);
    assert.ok(flood.challenges <= 30, 'the flooder got a handful of challenges at most');
    assert.equal(s1.state, 'connected');
  });

  test('a HELLO flood from 50 sockets puts the helper under load: a restarted agent gets a cookie, then its session, within 5 s', async () => {
    const s0 = await waitConnected(daemon, 5_000);
    const flooder = rig.spawn(rig.vmNs, process.execPath, [
      join(FIXTURES, 'hello-flood.js'),
      rig.hostVethIp,
      String(daemon.port),
      '20000',
      '6',
      '50',
    ]);
    let out = '';
    flooder.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    const done = new Promise((r) => flooder.once('exit', r));
    try {
      await new Promise((r) => setTimeout(r, 1_500));
      const s1 = await daemon.status();
      assert.equal(s1.state, 'connected');
      assert.equal(s1.peer, s0.peer);
      assert.ok(
        (s1.counters.control.handshakeCookieSent ?? 0) > (s0.counters.control.handshakeCookieSent ?? 0),
        `under load the helper answers with cookies: ${JSON.stringify(s1.counters.control)}`,
      );
      await stop(agent, 'SIGKILL');
      agent = startAgent(rig, daemon);
      const t0 = Date.now();
      await waitFor(
        'the restarted agent under load',
        async () => {
          const s = await daemon.status();
          return s.state === 'connected' && s.peer !== s0.peer && s.configAcked ? s : undefined;
        },
        5_000,
        50,
      );
      console.log(
        `# agent restarted under a 50-socket HELLO flood: session back after ${Date.now() - t0} ms`,
      );
    } finally {
      await done;
    }
    const flood = JSON.parse(out) as { sent: number; ms: number; cookies: number; challenges: number };
    const c = (await daemon.status()).counters;
    console.log(
      `# 50-socket flood: ${flood.sent} HELLOs in ${flood.ms} ms; answered with ${flood.cookies} cookies and ${flood.challenges} challenges; helper: ${JSON.stringify({ cookieSent: c.control.handshakeCookieSent, rateLimited: c.control.handshakeRateLimited, dropControlRate: c.pump.dropControlRate, dropControlQueue: c.pump.dropControlQueue })}`,
    );
    // Only before the load was noticed (the first 100 HELLOs of a second) may its HELLOs be challenged, and
    // the global budget (50 a second) bounds that; after, a flooder that does not answer cookies gets none.
    assert.ok(flood.challenges <= 60, `${flood.challenges} challenges`);
  });

  /** Starts the helper again; within 5 s the agent must be connected and a ping through. The ms it took. */
  async function restartAndReconnect(): Promise<number> {
    daemon = startDaemon(rig, work);
    const t0 = Date.now();
    await waitConnected(daemon, 5_000);
    await waitFor(
      'a ping after the helper started again',
      () => pingOnce(rig, rig.hostNs, rig.containers[0]!.ip),
      5_000 - (Date.now() - t0),
      50,
    );
    return Date.now() - t0;
  }

  test('the helper restarted while the tunnel idled: the agent reconnects within 5 s', async () => {
    // 15 s without data: the agent's keepalives are 10 s apart by now (2, 4, 8, 10), so it is the helper's
    // farewell (a STALE as it stops), not the next keepalive, that has it dial again.
    await new Promise((r) => setTimeout(r, 15_000));
    await stop(daemon);
    const ms = await restartAndReconnect();
    console.log(`# agent reconnected ${ms} ms after the helper restarted`);
  });

  test('kill -9 of the helper while the tunnel idled: the new one tells the agent, back within 5 s', async () => {
    await new Promise((r) => setTimeout(r, 15_000)); // keepalives 10 s apart, as above
    await stop(daemon, 'SIGKILL'); // no farewell: the session record left in the state directory speaks
    const ms = await restartAndReconnect();
    console.log(`# agent reconnected ${ms} ms after the killed helper started again`);
    assert.match(readFileSync(daemon.logFile, 'utf8'), /told the last session's agent to dial again/);
  });

  test('with 20% packet loss on the veth, the handshake and configuration still complete', async () => {
    const how = await rig.setLoss(20);
    console.log(`# 20% loss each way on the veth, applied with ${how}`);
    try {
      await stop(agent, 'SIGKILL');
      await stop(daemon);
      daemon = startDaemon(rig, work);
      await waitForDaemon(daemon);
      agent = startAgent(rig, daemon);
      const s = await waitConnected(daemon, 30_000, agent);
      assert.equal(s.configAcked, true);
      await waitFor(
        'ping through the lossy link',
        () => pingOnce(rig, rig.hostNs, rig.containers[0]!.ip),
        10_000,
        50,
      );
    } finally {
      await rig.setLoss(0);
    }
  });

  test('routes are gone after the daemon exits, and after kill -9', async () => {
    const routeOut = async () => (await rig.exec(rig.hostNs, 'ip', ['route', 'show'])).stdout;
    assert.match(await routeOut(), new RegExp(rig.containerSubnet.replace(/[./]/g, '\\$&')));
    assert.equal(await stop(daemon, 'SIGTERM'), 0, 'clean exit on SIGTERM');
    assert.doesNotMatch(await routeOut(), /172\.30\./);

    daemon = startDaemon(rig, work);
    await waitForDaemon(daemon);
    assert.match(await routeOut(), /172\.30\./);
    await stop(daemon, 'SIGKILL');
    // The kernel deletes the TUN, and the routes bound to it, when the process's fd closes.
    await waitFor('routes to vanish after kill -9', async () => !/172\.30\./.test(await routeOut()), 3_000);
    const links = (await rig.exec(rig.hostNs, 'ip', ['-o', 'link'])).stdout;
    assert.doesNotMatch(links, /gw0/);
  });
});
