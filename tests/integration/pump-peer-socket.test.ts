// The per-packet pump's socket for the peer (native/src/udp_peer.c): with a specific bind address, a second
// socket on the pump's address and port is connected to the pinned peer and the data goes out on it, without
// an address, so the kernel keeps the route instead of looking it up for every datagram (on macOS,
// in_pcbladdr). Checked here on the mac-like pump, the darwin pump's mode: the kernel's own socket table
// (`ss`) shows the connection and follows a new peer, every datagram to the peer went out on it
// (udpTxConnected), the listening socket still hears other senders, and a wildcard bind keeps one socket.
// Two namespaces made here, joined by a veth, IPv6 off.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, test } from 'node:test';
import type { PumpStats } from '../../native/index';
import { spawnInNetns, type JsonProcess, type Line } from '../fixtures/json-process';
import { NetnsPair, nsRun, withNetnsPair } from '../fixtures/netns-pair';

const ROOT = path.resolve(__dirname, '../../..');
const ENDPOINT = path.join(ROOT, 'dist', 'tests', 'fixtures', 'pump-endpoint.js');
const A_IP = '10.94.0.1';
const B_IP = '10.94.0.2';
const A_TUN = '10.95.0.1';
const B_TUN = '10.95.0.2';
const pair = new NetnsPair({ tag: 'gwc', aAddresses: [A_IP], bAddresses: [B_IP], noIpv6: true });
const skip = process.getuid?.() !== 0 ? 'needs root (network namespaces)' : false;

const children: JsonProcess[] = [];
function cleanupSync(): void {
  for (const c of children) if (c.proc.exitCode === null) c.proc.kill('SIGKILL');
  pair.deleteSync();
}

/** A pump-endpoint in `ns` on `bind:port`, peered with `peer`; resolves once its pump runs. */
async function endpoint(
  ns: string,
  bind: string,
  port: number,
  peer: string,
  tun: { addr: string; peer: string },
  extra: string[] = [],
): Promise<JsonProcess> {
  const e = spawnInNetns(ns, process.execPath, [
    ENDPOINT,
    '--exit-on-eof',
    '--tun',
    'gwc0',
    '--mtu',
    '1420',
    '--addr',
    tun.addr,
    '--peer-addr',
    tun.peer,
    '--bind',
    bind,
    '--port',
    String(port),
    '--peer',
    peer,
    ...extra,
  ]);
  children.push(e);
  await e.waitFor((l) => l.ready === true, 'ready');
  return e;
}

const startA = (port: number, peerPort: number, bind = A_IP) =>
  endpoint(pair.a, bind, port, `${B_IP}:${peerPort}`, { addr: A_TUN, peer: B_TUN }, ['--mac-like']);
const startB = (port: number, aPort: number) =>
  endpoint(pair.b, B_IP, port, `${A_IP}:${aPort}`, { addr: B_TUN, peer: A_TUN });

async function stats(e: JsonProcess): Promise<PumpStats> {
  return (await e.command('stats', (l) => 'stats' in l)).stats as PumpStats;
}

/** A's UDP sockets on `port`, as the kernel lists them: "local peer" per socket. */
async function socketsOn(port: number): Promise<string[]> {
  const out = await nsRun(pair.a, 'ss', ['-H', '-n', '-u', '-a']);
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 5 && f[3]!.endsWith(`:${port}`))
    .map((f) => `${f[3]} ${f[4]}`)
    .sort();
}

/** Asserts that the kernel lists A's two sockets on `port`: the listening one and one connected to B's `peerPort`. */
async function assertConnectedTo(port: number, peerPort: number, message: string): Promise<void> {
  assert.deepEqual(
    await socketsOn(port),
    [`${A_IP}:${port} ${B_IP}:${peerPort}`, `${A_IP}:${port} 0.0.0.0:*`].sort(),
    message,
  );
}

/** Pings B's tunnel address from A: the path works both ways. */
async function pingB(): Promise<void> {
  await nsRun(pair.a, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', B_TUN]);
}

/** Sends one control datagram (a first byte that is no IP version) from B_IP:fromPort to A_IP:toPort. */
async function sendControlFromB(fromPort: number, toPort: number): Promise<void> {
  const script =
    "const s = require('dgram').createSocket('udp4');" +
    `s.bind(${fromPort}, '${B_IP}', () => s.send(Buffer.from([1, 2, 3]), ${toPort}, '${A_IP}', () => s.close()));`;
  await new Promise<void>((resolve, reject) => {
    const c = spawn('ip', ['netns', 'exec', pair.b, process.execPath, '-e', script], { stdio: 'ignore' });
    c.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`control sender exited ${code}`))));
  });
}

const isControlFrom = (port: number) => (l: Line) =>
  typeof l.control === 'object' &&
  (l.control as { address: string; port: number }).address === B_IP &&
  (l.control as { port: number }).port === port;

describe("the per-packet pump's socket for the peer", { skip, timeout: 60_000 }, () => {
  withNetnsPair(pair, cleanupSync);

  test('is connected to the peer, carries every datagram to it, follows a new peer; the listening socket hears the rest', async () => {
    const port = 47310;
    const a = await startA(port, port + 1);
    let b = await startB(port + 1, port);
    try {
      await pingB();
      await assertConnectedTo(port, port + 1, "A's second socket is connected to B");
      const s1 = await stats(a);
      assert.ok(s1.udpTxPackets >= 3, `A sent the pings (${s1.udpTxPackets})`);
      assert.equal(
        s1.udpTxConnected,
        s1.udpTxPackets,
        'every datagram to B went out on the connected socket',
      );

      // Another sender is heard on the listening socket, the peer itself on its own socket.
      await sendControlFromB(port + 5, port);
      await a.waitFor(isControlFrom(port + 5), 'a control datagram from another port of B');
      await b.command(`send 01ff ${A_IP}:${port}`, (l) => l.ok === 'send');
      await a.waitFor(isControlFrom(port + 1), 'a control datagram from the peer');

      // The peer moves (an agent restarted behind a proxy gets a new port): A is pinned to it anew.
      await b.stop();
      b = await startB(port + 2, port);
      await a.command(`peer ${B_IP}:${port + 2}`, (l) => l.ok === 'peer');
      await pingB();
      await assertConnectedTo(port, port + 2, 'the connected socket now names the new peer');
      const s2 = await stats(a);
      assert.ok(s2.udpTxPackets - s1.udpTxPackets >= 3, 'A sent the second pings');
      assert.equal(s2.udpTxConnected, s2.udpTxPackets, 'on the connected socket too');
      assert.equal(s2.dropUdpSend, 0, 'nothing failed to send across the change');

      // Pinned to the same peer again (a new handshake from it): the connection is kept, the path works.
      await a.command('clear-peer', (l) => l.ok === 'clear-peer');
      await a.command(`peer ${B_IP}:${port + 2}`, (l) => l.ok === 'peer');
      await pingB();
      const s3 = await stats(a);
      assert.equal(s3.udpTxConnected, s3.udpTxPackets, 'still on the connected socket');

      // The peer's port closes for a while: A keeps sending into it, and the kernel reports the ICMP port
      // unreachables on the connected socket (ECONNREFUSED from a send or a receive). When the peer is back
      // on the same port, the path works again.
      await b.stop();
      await nsRun(pair.a, 'ping', ['-c', '5', '-i', '0.2', '-W', '1', B_TUN]).catch(
        () => 'no answer, as expected',
      );
      b = await startB(port + 2, port);
      await pingB();
      const s4 = await stats(a);
      process.stderr.write(
        `  while B was away and after: ${s4.udpTxPackets - s3.udpTxPackets} datagrams sent, ` +
          `${s4.dropUdpSend} sends refused\n`,
      );
      assert.ok(s4.udpTxPackets - s3.udpTxPackets >= 8, 'A sent into the closed port and then to the peer');
      assert.equal(
        (s4.udpTxConnected ?? 0) + s4.dropUdpSend,
        s4.tunRxPackets,
        'each packet read went out on the connected socket or was refused',
      );
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  test("another pump cannot join the pair's port", async () => {
    const port = 47330;
    const a = await startA(port, port + 1);
    try {
      const second = spawnInNetns(pair.a, process.execPath, [
        ENDPOINT,
        ...['--tun', 'gwc1', '--mac-like', '--addr', '10.95.1.1', '--peer-addr', '10.95.1.2'],
        ...['--bind', A_IP, '--port', String(port), '--peer', `${B_IP}:${port + 1}`],
      ]);
      children.push(second);
      // A pump that joined the port would run on: give it 15 s to fail.
      const code = await Promise.race([
        second.exited,
        new Promise((r) => setTimeout(() => r('still running'), 15_000)),
      ]);
      assert.equal(code, 1);
      await second.closed;
      assert.match(second.stderrText, /bind\(10\.94\.0\.1:47330\): Address already in use/);
      assert.equal((await socketsOn(port)).length, 2, "only the first pump's two sockets hold the port");
    } finally {
      await a.stop();
    }
  });

  test('a wildcard bind keeps one socket and sends with an address', async () => {
    const port = 47320;
    const a = await startA(port, port + 1, '0.0.0.0');
    const b = await startB(port + 1, port);
    try {
      await pingB();
      assert.deepEqual(await socketsOn(port), [`0.0.0.0:${port} 0.0.0.0:*`], 'one socket, not connected');
      const s = await stats(a);
      assert.ok(s.udpTxPackets >= 3, `A sent the pings (${s.udpTxPackets})`);
      assert.equal(s.udpTxConnected, 0, 'none on a connected socket');
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});
