// The native pump with several queues (IFF_MULTI_QUEUE TUN queues, SO_REUSEPORT UDP sockets steered by the
// inner flow), between two network namespaces made here and joined by a veth. Nothing touches the root
// namespace.
//
//   ns A: veth 10.97.0.1/24 (+ 10.97.0.3, a "third party")   tun 10.96.0.1 <-> 10.96.0.2
//   ns B: veth 10.97.0.2/24
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { PumpStats } from '../../native/index';
import { NetnsPair, nsRun } from '../fixtures/netns-pair';
import { spawnInNetns, type JsonProcess } from '../fixtures/json-process';

const ROOT = path.resolve(__dirname, '../../..');
const ENDPOINT = path.join(ROOT, 'dist', 'tests', 'fixtures', 'pump-endpoint.js');
const A_IP = '10.97.0.1';
const B_IP = '10.97.0.2';
const THIRD_IP = '10.97.0.3';
const pair = new NetnsPair({ tag: 'gwq', aAddresses: [A_IP, THIRD_IP], bAddresses: [B_IP] });
const NS_A = pair.a;
const NS_B = pair.b;
const FLOWS = 16; // with 2 queues, all on one by chance: 2 × 2^-16
const FLOW_BYTES = 512 * 1024;

const skip = process.getuid?.() !== 0 ? 'needs root (network namespaces)' : false;

const children = new Set<JsonProcess>();

function spawnIn(ns: string, cmd: string, args: string[], env?: NodeJS.ProcessEnv): JsonProcess {
  const p = spawnInNetns(ns, cmd, args, env);
  children.add(p);
  return p;
}

interface Endpoint {
  p: JsonProcess;
  port: number;
}

async function endpoint(ns: string, args: string[]): Promise<Endpoint> {
  const p = spawnIn(ns, process.execPath, [
    ENDPOINT,
    '--exit-on-eof',
    '--tun',
    'gwq0',
    '--mtu',
    '1420',
    ...args,
  ]);
  const ready = await p.waitFor((l) => l.ready === true, 'the endpoint to be ready');
  return { p, port: ready.port as number };
}

async function queueStats(e: Endpoint): Promise<{ total: PumpStats; queues: PumpStats[] }> {
  const line = await e.p.command('stats', (l) => 'stats' in l);
  return { total: line.stats as PumpStats, queues: line.queues as PumpStats[] };
}

/** The endpoint's thread names, from /proc/<pid>/task/<tid>/comm. */
function threadNames(e: Endpoint): string[] {
  const dir = `/proc/${e.p.proc.pid}/task`;
  return readdirSync(dir)
    .map((tid) => {
      try {
        return readFileSync(`${dir}/${tid}/comm`, 'utf8').trim();
      } catch {
        return ''; // the thread ended meanwhile
      }
    })
    .filter((n) => n.startsWith('gw-'))
    .sort();
}

// FLOWS TCP connections at once, each FLOW_BYTES one way and back, content checked by SHA-256.
const FLOW_SERVER = `
const net = require('net'), crypto = require('crypto');
const [host, port, flows] = process.argv.slice(1);
let left = Number(flows);
const srv = net.createServer((s) => {
  const h = crypto.createHash('sha256'); const chunks = [];
  s.on('data', (d) => { h.update(d); chunks.push(d); });
  s.on('end', () => { s.end(Buffer.concat(chunks)); if (--left === 0) srv.close(); });
});
srv.listen(Number(port), host, () => console.log(JSON.stringify({ listening: true })));
`;
const FLOW_CLIENT = `
const net = require('net'), crypto = require('crypto');
const [host, port, flows, size] = process.argv.slice(1);
Promise.all(Array.from({ length: Number(flows) }, () => new Promise((resolve, reject) => {
  const data = crypto.randomBytes(Number(size)); const back = [];
  const s = net.connect(Number(port), host, () => s.end(data));
  s.on('data', (d) => back.push(d));
  s.on('end', () => resolve(Buffer.concat(back).equals(data)));
  s.on('error', reject);
}))).then((ok) => console.log(JSON.stringify({ intact: ok.filter(Boolean).length })), (e) => { console.error(e.message); process.exit(1); });
`;

async function flows(port: number, host = '10.96.0.2'): Promise<number> {
  const server = spawnIn(NS_B, process.execPath, ['-e', FLOW_SERVER, host, String(port), String(FLOWS)]);
  await server.waitFor((l) => l.listening === true, 'the TCP server');
  const out = await nsRun(
    NS_A,
    process.execPath,
    ['-e', FLOW_CLIENT, host, String(port), String(FLOWS), String(FLOW_BYTES)],
    90_000,
  );
  await server.exited;
  return (JSON.parse(out) as { intact: number }).intact;
}

/** One datagram per payload from THIRD_IP (not the pinned peer) to B_IP:port. */
const SENDER = `
const dgram = require('dgram');
const [bindIp, host, port, ...payloads] = process.argv.slice(1);
const s = dgram.createSocket('udp4');
s.bind(0, bindIp, async () => {
  for (const p of payloads) await new Promise((r, j) => s.send(Buffer.from(p, 'hex'), Number(port), host, (e) => e ? j(e) : r()));
  s.close();
});
`;

/** Sends EACH datagrams of 1000 bytes from every given source port, round-robin, in bursts of 20 rounds
 *  (faster than the pump wakes, slower than would overflow the TUN's queue). */
const INTERLEAVED = `
import socket, sys, time
host, each, ports = sys.argv[1], int(sys.argv[2]), [int(p) for p in sys.argv[3:]]
socks = []
for p in ports:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('10.96.0.1', p)); socks.append(s)
for i in range(each):
    for s in socks: s.sendto(b'x' * 1000, (host, 9))
    if i % 20 == 19: time.sleep(0.002)
`;

/** A whole IPv4/UDP packet 10.96.0.1:sport -> 10.96.0.2:9, 8 bytes of UDP header and no payload. */
function udpPacket(sport: number): string {
  const h = Buffer.alloc(28);
  h[0] = 0x45;
  h.writeUInt16BE(28, 2);
  h[8] = 64;
  h[9] = 17;
  Buffer.from([10, 96, 0, 1, 10, 96, 0, 2]).copy(h, 12);
  h.writeUInt16BE(sport, 20);
  h.writeUInt16BE(9, 22);
  h.writeUInt16BE(8, 24);
  return h.toString('hex');
}

const used = (qs: PumpStats[], key: keyof PumpStats): number => qs.filter((q) => (q[key] ?? 0) > 0).length;

function cleanupSync(): void {
  for (const c of children) if (c.proc.exitCode === null) c.proc.kill('SIGKILL');
  pair.deleteSync();
}

describe('pump queues between two namespaces', { skip, timeout: 240_000 }, () => {
  before(async () => {
    process.on('exit', cleanupSync); // last resort if the runner dies mid-suite
    await pair.create();
  });

  after(async () => {
    await Promise.all([...children].map((c) => c.stop()));
    cleanupSync();
    process.off('exit', cleanupSync);
  });

  async function stopAll(...es: Endpoint[]): Promise<void> {
    const codes = await Promise.all(es.map((e) => e.p.stop()));
    assert.deepEqual(
      codes,
      es.map(() => 0),
      'clean exits',
    );
  }

  for (const mode of [
    { name: 'offload', args: ['--offload'], ports: [5701, 5702] },
    { name: 'plain', args: [], ports: [5711, 5712] },
  ]) {
    test(`2 queues each side (${mode.name}): 2 threads per queue, ${FLOWS} TCP flows spread over both, intact`, async () => {
      const [portA, portB] = mode.ports as [number, number];
      const [a, b] = await Promise.all([
        endpoint(NS_A, [
          ...mode.args,
          ...['--queues', '2', '--addr', '10.96.0.1', '--peer-addr', '10.96.0.2'],
          ...['--bind', A_IP, '--port', String(portA), '--peer', `${B_IP}:${portB}`],
        ]),
        endpoint(NS_B, [
          ...mode.args,
          ...['--queues', '2', '--addr', '10.96.0.2', '--peer-addr', '10.96.0.1'],
          ...['--bind', B_IP, '--port', String(portB), '--peer', `${A_IP}:${portA}`],
        ]),
      ]);
      try {
        const names = ['gw-tun2udp-0', 'gw-tun2udp-1', 'gw-udp2tun-0', 'gw-udp2tun-1'];
        assert.deepEqual(threadNames(a), names);
        assert.deepEqual(threadNames(b), names);
        // Both sockets of a group share the port: `ss` lists two UDP sockets bound to B's.
        const ss = await nsRun(NS_B, 'ss', ['-uanH', 'sport', `= :${portB}`]);
        assert.equal(ss.trim().split('\n').length, 2, ss);

        // Deltas: a packet or two may be dropped while the endpoints start (one's first packets arrive before
        // the other pinned its peer).
        const [a0, b0] = [await queueStats(a), await queueStats(b)];
        assert.equal(await flows(portA + 1000), FLOWS, 'every flow came back intact');
        const [sa, sb] = [await queueStats(a), await queueStats(b)];
        assert.equal(sa.queues.length, 2);
        // A's kernel spread the flows over its TUN queues; B's socket group over its UDP sockets, by inner flow
        // (all datagrams come from the one peer address and port).
        assert.equal(
          used(sa.queues, 'tunRxPackets'),
          2,
          `A TUN reads per queue: ${sa.queues.map((q) => q.tunRxPackets).join(',')}`,
        );
        assert.equal(
          used(sb.queues, 'udpRxPackets'),
          2,
          `B UDP receives per queue: ${sb.queues.map((q) => q.udpRxPackets).join(',')}`,
        );
        assert.equal(
          used(sb.queues, 'tunRxPackets'),
          2,
          'and B read the replies from both of its TUN queues',
        );
        assert.equal(used(sa.queues, 'udpRxPackets'), 2);
        // The sum is what stats() says.
        assert.equal(sb.queues[0]!.udpRxPackets + sb.queues[1]!.udpRxPackets, sb.total.udpRxPackets);
        for (const [s, s0] of [
          [sa.total, a0.total],
          [sb.total, b0.total],
        ] as const) {
          const drops = (x: PumpStats) => x.dropNotPeer + x.dropMalformed + x.dropOversize + x.dropTunWrite;
          assert.equal(drops(s) - drops(s0), 0, JSON.stringify(s));
        }
      } finally {
        await stopAll(a, b);
      }
    });
  }

  test(`2 queues, IPv6 inside: ${FLOWS} TCP flows spread over both queues at both ends, intact`, async () => {
    const v6 = (self: string, peer: string) => ['--addr6', self, '--peer-addr6', peer];
    const [a, b] = await Promise.all([
      endpoint(NS_A, [
        ...['--offload', '--queues', '2', '--addr', '10.96.0.1', '--peer-addr', '10.96.0.2'],
        ...v6('fd96::1', 'fd96::2'),
        ...['--bind', A_IP, '--port', '5741', '--peer', `${B_IP}:5742`],
      ]),
      endpoint(NS_B, [
        ...['--offload', '--queues', '2', '--addr', '10.96.0.2', '--peer-addr', '10.96.0.1'],
        ...v6('fd96::2', 'fd96::1'),
        ...['--bind', B_IP, '--port', '5742', '--peer', `${A_IP}:5741`],
      ]),
    ]);
    try {
      const [a0, b0] = [await queueStats(a), await queueStats(b)];
      assert.equal(await flows(6741, 'fd96::2'), FLOWS, 'every flow came back intact');
      const [sa, sb] = [await queueStats(a), await queueStats(b)];
      const delta = (s: PumpStats[], s0: PumpStats[], key: keyof PumpStats) =>
        s.map((q, i) => (q[key] ?? 0) - (s0[i]?.[key] ?? 0));
      const bRx = delta(sb.queues, b0.queues, 'udpRxPackets');
      const aRx = delta(sa.queues, a0.queues, 'udpRxPackets');
      assert.ok(
        bRx.every((n) => n > 100),
        `B's UDP receives per queue during the flows: ${bRx.join(',')}`,
      );
      assert.ok(
        aRx.every((n) => n > 100),
        `A's UDP receives per queue during the flows: ${aRx.join(',')}`,
      );
    } finally {
      await stopAll(a, b);
    }
  });

  test('a 1-queue plain sender never puts two flows in one GSO send: each lands on its own queue at a 2-queue receiver', async () => {
    const [a, b] = await Promise.all([
      endpoint(NS_A, [
        ...['--addr', '10.96.0.1', '--peer-addr', '10.96.0.2'],
        ...['--bind', A_IP, '--port', '5751', '--peer', `${B_IP}:5752`],
      ]),
      endpoint(NS_B, [
        ...['--queues', '2', '--addr', '10.96.0.2', '--peer-addr', '10.96.0.1'],
        ...['--bind', B_IP, '--port', '5752', '--peer', `${A_IP}:5751`],
      ]),
    ]);
    try {
      // Per-queue datagrams B received while `send` ran.
      const received = async (send: () => Promise<unknown>): Promise<number[]> => {
        const before = (await queueStats(b)).queues;
        await send();
        await delay(200);
        return (await queueStats(b)).queues.map((q, i) => q.udpRxPackets - before[i]!.udpRxPackets);
      };
      const burst = (ports: number[], each: number) =>
        nsRun(NS_A, 'python3', ['-c', INTERLEAVED, '10.96.0.2', String(each), ...ports.map(String)]);
      // Two source ports whose flows B steers to different queues.
      const queueOf = new Map<number, number>();
      for (let port = 40_000; port < 40_016 && new Set(queueOf.values()).size < 2; port++) {
        const got = await received(() => burst([port], 20));
        assert.equal(got[0]! + got[1]!, 20, `flow from port ${port}: ${got.join(',')}`);
        queueOf.set(port, got[0] === 20 ? 0 : 1);
      }
      const x = [...queueOf].find(([, q]) => q === 0)?.[0];
      const y = [...queueOf].find(([, q]) => q === 1)?.[0];
      assert.ok(x && y, 'two flows on different queues');
      // Interleaved, equal-sized, X first: A reads them in batches, and a GSO send per batch (X, Y, X, ...)
      // would all go to X's queue. Each queue gets its own flow's share (less what UDP may lose on the way).
      const got = await received(() => burst([x, y], 300));
      const [min, max] = [Math.min(...got), Math.max(...got)];
      assert.ok(max <= 300 && min >= 0.8 * max, `datagrams per queue: ${got.join(',')} (300 sent to each)`);
    } finally {
      await stopAll(a, b);
    }
  });

  test('2 queues: data from another source is dropped on every queue; control all reaches queue 0', async () => {
    const [a, b] = await Promise.all([
      endpoint(NS_A, ['--addr', '10.96.0.1', '--peer-addr', '10.96.0.2', '--bind', A_IP, '--port', '5721']),
      endpoint(NS_B, [
        ...['--queues', '2', '--addr', '10.96.0.2', '--peer-addr', '10.96.0.1'],
        ...['--bind', B_IP, '--port', '5722', '--peer', `${A_IP}:5721`],
      ]),
    ]);
    try {
      // 32 data datagrams of different inner flows from the third party's address: the steering spreads them,
      // and each queue drops what it got, because the source is not the pinned peer.
      const packets = Array.from({ length: 32 }, (_, i) => udpPacket(20_000 + i));
      await nsRun(NS_A, process.execPath, ['-e', SENDER, THIRD_IP, B_IP, '5722', ...packets]);
      // Control datagrams from the third party: JavaScript hears them (through queue 0 only).
      await nsRun(NS_A, process.execPath, ['-e', SENDER, THIRD_IP, B_IP, '5722', '01aa', '01bb', '01cc']);
      await b.p.waitFor(
        (l) => (l.control as { data?: string } | undefined)?.data === '01cc',
        'the control datagram',
      );
      const s = await queueStats(b);
      assert.equal(s.total.dropNotPeer, 32, JSON.stringify(s.total));
      assert.equal(
        used(s.queues, 'dropNotPeer'),
        2,
        `drops per queue: ${s.queues.map((q) => q.dropNotPeer).join(',')}`,
      );
      assert.equal(s.total.udpRxPackets, 0, 'nothing from the third party reached the TUN');
      assert.equal(s.queues[0]!.controlRx, 3);
      assert.equal(s.queues[1]!.controlRx, 0);

      // The same datagrams from the pinned peer's address and port pass (a 1-queue pump talks to a 2-queue one).
      const answer = await a.p.command(`peer ${B_IP}:5722`, (l) => 'ok' in l || 'error' in l);
      assert.equal(answer.error, undefined);
      await nsRun(NS_A, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', '10.96.0.2']);
    } finally {
      await stopAll(a, b);
    }
  });

  test('a port held by another pump (even one with queues, whose group would take us in) is refused', async () => {
    const first = await endpoint(NS_B, [
      '--queues',
      '2',
      '--addr',
      '10.96.0.2',
      '--peer-addr',
      '10.96.0.1',
      '--bind',
      B_IP,
      '--port',
      '5731',
    ]);
    try {
      const second = spawnIn(NS_B, process.execPath, [
        ENDPOINT,
        ...['--tun', 'gwq1', '--queues', '2', '--addr', '10.96.1.2', '--peer-addr', '10.96.1.1'],
        ...['--bind', B_IP, '--port', '5731'],
      ]);
      // A pump that joined the group would run on: give it 15 s to fail.
      const code = await Promise.race([second.exited, delay(15_000).then(() => 'still running')]);
      assert.equal(code, 1);
      await second.closed;
      assert.match(second.stderrText, /bind\(10\.97\.0\.2:5731\): Address already in use/);
      const ss = await nsRun(NS_B, 'ss', ['-uanH', 'sport', '= :5731']);
      assert.equal(
        ss.trim().split('\n').length,
        2,
        `only the first pump's two sockets hold the port:\n${ss}`,
      );
    } finally {
      await stopAll(first);
    }
  });

  test('createPump refuses queues on a single-queue TUN and out of range, naming the rule', async () => {
    // In the namespace: openTun creates a device, and the root namespace is not ours to change.
    const script = `
const { closeSync } = require('fs');
const addon = require(process.argv[1]).native();
const tun = addon.openTun('gwq9');
const base = { tun, bindAddress: '127.0.0.1', bindPort: 0, mtu: 1420, onControl: () => undefined };
const errors = [2, 9, 0].map((queues) => { try { addon.createPump({ ...base, queues }).close(); return null; } catch (e) { return e.name + ': ' + e.message; } });
closeSync(tun.fd);
console.log(JSON.stringify({ multiQueue: tun.multiQueue, errors }));
`;
    const out = await nsRun(NS_A, process.execPath, [
      '-e',
      script,
      path.join(ROOT, 'dist', 'native', 'index.js'),
    ]);
    const got = JSON.parse(out) as { multiQueue: boolean; errors: string[] };
    assert.equal(got.multiQueue, false);
    assert.match(got.errors[0]!, /^TypeError: .*queues > 1 needs a TUN opened with \{ multiQueue: true \}/);
    assert.match(got.errors[1]!, /^RangeError: createPump: queues must be between 1 and 8/);
    assert.match(got.errors[2]!, /^RangeError: createPump: queues must be between 1 and 8/);
  });
});
