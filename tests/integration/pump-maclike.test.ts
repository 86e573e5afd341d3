// The bench's mac-like pump (GANGWAY_PUMP_MACLIKE, openTun's macLike) really works one packet per syscall,
// as the darwin pump does: strace counts the syscalls of each pump thread while UDP traffic crosses the
// tunnel, and they are compared with the pump's own counters. The batched pump, counted the same way, uses
// sendmmsg/recvmmsg: the count can tell the two apart. And the mac-like pump (the darwin pump's mode) sends
// in FQ-CoDel's order (native/src/fq.c) when a slow link backs it up, and writes what it receives in that
// order when its TUN writes fall behind: a new flow's datagram overtakes a bulk flow's backlog. Two namespaces made here, joined by a veth; IPv6 is off in them so that nothing but the
// test's own packets crosses the tunnel.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { PumpStats } from '../../native/index';
import { buildCDriver, type CDriver } from '../fixtures/c-driver';
import { ipv4Udp } from '../fixtures/ip-packets';
import { spawnInNetns, type JsonProcess, type Line } from '../fixtures/json-process';
import { NetnsPair, nsRun, withNetnsPair } from '../fixtures/netns-pair';
import { waitFor } from '../../rig/exec';
import { StraceCount, threadId, type SyscallCount } from './strace-count';

const ROOT = path.resolve(__dirname, '../../..');
const ENDPOINT = path.join(ROOT, 'dist', 'tests', 'fixtures', 'pump-endpoint.js');
const A_IP = '10.96.0.1';
const B_IP = '10.96.0.2';
const pair = new NetnsPair({ tag: 'gwm', aAddresses: [A_IP], bAddresses: [B_IP], noIpv6: true });
const NS_A = pair.a;
const NS_B = pair.b;
const DATAGRAMS = 300;

function hasStrace(): boolean {
  try {
    execFileSync('strace', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const skip =
  process.getuid?.() !== 0
    ? 'needs root (network namespaces)'
    : !hasStrace()
      ? 'strace is not installed'
      : false;

/** A pump-endpoint child: JSON lines on stdout, commands on stdin. */
class Endpoint {
  private constructor(readonly p: JsonProcess) {}

  static start(ns: string, args: string[]): Endpoint {
    return new Endpoint(spawnInNetns(ns, process.execPath, [ENDPOINT, '--exit-on-eof', ...args]));
  }

  get proc(): ChildProcess {
    return this.p.proc;
  }

  async stats(): Promise<PumpStats> {
    return (await this.p.command('stats', (l) => 'stats' in l)).stats as PumpStats;
  }

  async stop(): Promise<void> {
    await this.p.stop();
  }
}

/** Echoes every datagram on port 9999 back to its sender, until killed. */
const UDP_ECHO = `
const s = require('dgram').createSocket('udp4');
s.on('message', (m, r) => s.send(m, r.port, r.address));
s.bind(9999, process.argv[1], () => console.log('listening'));
`;
/** Sends N datagrams of 1000 bytes to host:9999, one at a time, then waits a little for the echoes. */
const UDP_SENDER = `
const s = require('dgram').createSocket('udp4');
const [host, n] = process.argv.slice(1);
let got = 0;
s.on('message', () => got++);
s.bind(0, async () => {
  const p = Buffer.alloc(1000, 7);
  for (let i = 0; i < Number(n); i++) await new Promise((r, j) => s.send(p, 9999, host, (e) => (e ? j(e) : r())));
  setTimeout(() => { console.log(JSON.stringify({ echoes: got })); s.close(); }, 500);
});
`;

const children: (Endpoint | ChildProcess)[] = [];
function cleanupSync(): void {
  for (const c of children) {
    const p = c instanceof Endpoint ? c.proc : c;
    if (p.exitCode === null) p.kill('SIGKILL');
  }
  pair.deleteSync();
}

interface Counted {
  t2u: Map<string, SyscallCount>;
  u2t: Map<string, SyscallCount>;
  delta: PumpStats;
  echoes: number;
}

/** Starts A (mode args, tunnel address 10.97.0.1) and B (a batched pump unless bArgs say otherwise,
 *  10.97.0.2); resolves once both are ready, with their ready lines. */
async function startPumps(
  aArgs: string[],
  port: number,
  bArgs: string[] = [],
): Promise<{ a: Endpoint; b: Endpoint; ready: Line; bReady: Line }> {
  const tunArgs = (addr: string, peer: string) => [
    '--tun',
    'gwm0',
    '--mtu',
    '1420',
    '--addr',
    addr,
    '--peer-addr',
    peer,
  ];
  const a = Endpoint.start(NS_A, [
    ...tunArgs('10.97.0.1', '10.97.0.2'),
    ...aArgs,
    '--bind',
    A_IP,
    '--port',
    String(port),
    '--peer',
    `${B_IP}:${port + 1}`,
  ]);
  const b = Endpoint.start(NS_B, [
    ...tunArgs('10.97.0.2', '10.97.0.1'),
    ...bArgs,
    '--bind',
    B_IP,
    '--port',
    String(port + 1),
    '--peer',
    `${A_IP}:${port}`,
  ]);
  children.push(a, b);
  const ready = await a.p.waitFor((l) => l.ready === true, 'ready');
  const bReady = await b.p.waitFor((l) => l.ready === true, 'ready');
  return { a, b, ready, bReady };
}

/** Runs `script` in NS_B bound to B's tunnel address and resolves once it printed its first line. */
async function startInB(script: string): Promise<{ proc: ChildProcess; out: Promise<string> }> {
  const e = spawn('ip', ['netns', 'exec', NS_B, process.execPath, '-e', script, '10.97.0.2'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(e);
  let text = '';
  e.stdout.on('data', (d: Buffer) => (text += d.toString()));
  const out = new Promise<string>((resolve) => e.once('close', () => resolve(text)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the program in B did not start')), 10_000);
    e.stdout.once('data', () => (clearTimeout(timer), resolve()));
    e.once('exit', (code) => reject(new Error(`the program in B exited (${code})`)));
  });
  return { proc: e, out };
}

/** Starts A (mode args) and B (a batched pump), sends DATAGRAMS from A to B's echo and counts A's syscalls. */
async function countSyscalls(aArgs: string[], port: number): Promise<Counted> {
  let a: Endpoint | undefined;
  let b: Endpoint | undefined;
  let echo: ChildProcess | undefined;
  const straces: StraceCount[] = [];
  try {
    const pumps = await startPumps(aArgs, port);
    ({ a, b } = pumps);
    const ready = pumps.ready;
    // Started once B's TUN has its address, which the echo binds to.
    echo = (await startInB(UDP_ECHO)).proc;
    assert.equal(ready.macLike, aArgs.includes('--mac-like'), 'the handle says how the TUN was opened');
    // The path works before anything is counted.
    await nsRun(NS_A, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', '10.97.0.2']);
    const pid = a.proc.pid!;
    const t2u = await StraceCount.attach(threadId(pid, 'gw-tun2udp-0'));
    straces.push(t2u);
    const u2t = await StraceCount.attach(threadId(pid, 'gw-udp2tun-0'));
    straces.push(u2t);
    const s0 = await a.stats();
    const out = await nsRun(
      NS_A,
      process.execPath,
      ['-e', UDP_SENDER, '10.97.0.2', String(DATAGRAMS)],
      60_000,
    );
    const s1 = await a.stats();
    const counts = { t2u: await t2u.detach(), u2t: await u2t.detach() };
    const delta = Object.fromEntries(
      Object.entries(s1).map(([k, v]) => [
        k,
        (v as number) - ((s0 as unknown as Record<string, number>)[k] ?? 0),
      ]),
    ) as unknown as PumpStats;
    return { ...counts, delta, echoes: (JSON.parse(out) as { echoes: number }).echoes };
  } finally {
    for (const s of straces) s.stop();
    echo?.kill('SIGKILL');
    await Promise.all([a?.stop(), b?.stop()]);
  }
}

const calls = (m: Map<string, SyscallCount>, name: string) => m.get(name)?.calls ?? 0;
const ok = (m: Map<string, SyscallCount>, name: string) => calls(m, name) - (m.get(name)?.errors ?? 0);
const describeCounts = (m: Map<string, SyscallCount>) =>
  [...m].map(([k, v]) => `${k} ${v.calls}${v.errors ? ` (${v.errors} failed)` : ''}`).join(', ');

/** A short receive batch means the socket is drained: the thread sleeps in poll() next, instead of spending
 *  one more receive to be told EAGAIN. So receives that found nothing are at most one per wait. Without
 *  offloads (`plainWrites`: the TUN writes) the thread also receives after a round of 16 writes that left
 *  packets in its flow queues, to let a new arrival in ahead of them: at most one more per 16 writes. With a
 *  socket for the peer (the mac-like pump bound to one address, udp_peer.c) it also looks at its listening
 *  socket once every 64 rounds: one more per 64 of the above. */
function assertNoWastedReceive(m: Map<string, SyscallCount>, recv: string, plainWrites = 0): void {
  const empty = m.get(recv)?.errors ?? 0;
  const waits = calls(m, 'poll') + calls(m, 'restart_syscall'); // strace may attach during a poll
  const rounds = Math.floor(plainWrites / 16);
  const listenLooks = Math.ceil((waits + 1 + rounds) / 64);
  assert.ok(
    empty <= waits + 1 + rounds + listenLooks,
    `${empty} ${recv} calls found nothing, with ${waits} waits, ${rounds} full write rounds and ` +
      `${listenLooks} looks at the listening socket`,
  );
}

describe('the mac-like pump: one packet per syscall', { skip, timeout: 120_000 }, () => {
  withNetnsPair(pair, cleanupSync);

  test('mac-like: each datagram is one sendmsg or recvmsg, each TUN packet one readv or writev, no GSO', async () => {
    const c = await countSyscalls(['--mac-like'], 5601);
    const d = c.delta;
    process.stderr.write(
      `  mac-like, ${DATAGRAMS} datagrams out, ${c.echoes} echoes: tun2udp ${describeCounts(c.t2u)}; ` +
        `udp2tun ${describeCounts(c.u2t)}; counters ${JSON.stringify(d)}\n`,
    );
    assert.ok(d.tunRxPackets >= DATAGRAMS * 0.9, `A read ${d.tunRxPackets} packets from its TUN`);
    assert.ok(d.udpRxPackets >= DATAGRAMS * 0.5, `A received ${d.udpRxPackets} echoes`);
    // TUN -> UDP: one readv per packet (plus the one that finds the queue empty), one sendmsg per datagram.
    assert.equal(ok(c.t2u, 'readv'), d.tunRxPackets, 'successful readv = packets read from the TUN');
    assert.equal(ok(c.t2u, 'sendmsg'), d.udpTxPackets, 'successful sendmsg = datagrams sent');
    // Bound to a specific address, the pump sends on its socket connected to B (udp_peer.c), as on a Mac.
    assert.equal(d.udpTxConnected, d.udpTxPackets, 'every datagram went out on the connected socket');
    // FQ-CoDel (fq.c) may drop a bulk packet that waited too long under strace: read, never sent.
    assert.equal(
      d.udpTxPackets + (d.dropFqDelay ?? 0),
      d.tunRxPackets,
      'one datagram per TUN packet (no GSO split, no batching)',
    );
    assert.equal(calls(c.t2u, 'sendmmsg'), 0, 'no sendmmsg');
    assert.equal(calls(c.t2u, 'read'), 0, 'the TUN is read with readv (the 4-byte header), as on macOS');
    // UDP -> TUN: one recvmsg per datagram, one writev per packet written.
    assert.equal(
      ok(c.u2t, 'recvmsg'),
      // The flow queues' CoDel may drop a bulk datagram that waited too long under strace: received, not
      // counted in (and one may have made room in a full pool).
      d.udpRxPackets + d.controlRx + (d.dropQueueDelay ?? 0) + (d.dropFqFull ?? 0),
      'successful recvmsg = datagrams received',
    );
    assert.equal(ok(c.u2t, 'writev'), d.tunTxPackets, 'successful writev = packets written to the TUN');
    assert.equal(calls(c.u2t, 'recvmmsg'), 0, 'no recvmmsg');
    assert.equal(calls(c.u2t, 'write'), 0, 'the TUN is written with writev (the 4-byte header), as on macOS');
    assert.equal(d.tunRxGsoPackets, 0, 'no TSO super-packets');
    assert.equal(d.tunTxGroPackets, 0, 'no coalesced writes');
    assert.equal(d.dropMalformed, 0, 'the 4-byte header is stripped and added in the right place');
    assertNoWastedReceive(c.u2t, 'recvmsg', ok(c.u2t, 'writev'));
  });

  test('batched (the default): the same count shows sendmmsg and recvmmsg', async () => {
    const c = await countSyscalls(['--offload'], 5611);
    process.stderr.write(
      `  batched, ${DATAGRAMS} datagrams out: tun2udp ${describeCounts(c.t2u)}; udp2tun ${describeCounts(c.u2t)}\n`,
    );
    assert.ok(c.delta.udpTxPackets + (c.delta.dropFqDelay ?? 0) >= DATAGRAMS * 0.9);
    assert.ok(ok(c.t2u, 'sendmmsg') > 0, 'sendmmsg used');
    assert.equal(calls(c.t2u, 'sendmsg'), 0, 'no sendmsg');
    assert.ok(ok(c.u2t, 'recvmmsg') > 0, 'recvmmsg used');
    assert.equal(calls(c.u2t, 'recvmsg'), 0, 'no recvmsg');
    assert.equal(calls(c.t2u, 'readv'), 0, 'no 4-byte header');
    assert.equal(c.delta.udpTxConnected, 0, 'a batched pump has no connected socket');
    assertNoWastedReceive(c.u2t, 'recvmmsg');
  });
});

/** ORDER_RECEIVER's answer: bulk datagrams before and after the marker. */
async function markerOrder(out: Promise<string>): Promise<{ before: number; after: number }> {
  return JSON.parse((await out).trim().split('\n').at(-1)!) as { before: number; after: number };
}

/** From source port BULK_PORT: N datagrams of 1000 bytes to host:9999 as fast as the socket takes them; then
 *  one of 10 bytes (the marker) from MARK_PORT to the same port. */
const FLOOD_THEN_MARK = `
const dgram = require('dgram');
const [host, n, bulkPort, markPort] = process.argv.slice(1);
const bulk = dgram.createSocket('udp4'), mark = dgram.createSocket('udp4');
bulk.bind(Number(bulkPort), () => mark.bind(Number(markPort), async () => {
  const p = Buffer.alloc(1000, 7);
  for (let i = 0; i < Number(n); i++) await new Promise((r, j) => bulk.send(p, 9999, host, (e) => (e ? j(e) : r())));
  mark.send(Buffer.alloc(10, 1), 9999, host, () => { bulk.close(); mark.close(); });
}));
`;

/** Counts the datagrams to port 9999 and notes how many had come when the 10-byte one (the marker) came;
 *  prints both counts once nothing came for a second. One socket: its queue keeps the order the datagrams
 *  came in even in a burst (two sockets would be read in turns). */
const ORDER_RECEIVER = `
const s = require('dgram').createSocket('udp4');
let bulk = 0, before = -1, last = Date.now();
s.on('message', (m) => { if (m.length === 10) { if (before < 0) before = bulk; } else bulk++; last = Date.now(); });
s.bind(9999, process.argv[1], () => console.log('listening'));
setInterval(() => {
  if (before >= 0 && Date.now() - last > 1000) {
    console.log(JSON.stringify({ before, after: bulk - before }));
    process.exit(0);
  }
}, 100).unref();
setTimeout(() => { console.log(JSON.stringify({ before, after: bulk - before })); process.exit(0); }, 30000);
`;

/** Prints the sizes of the datagrams to port 9999 in the order they came (one socket, as ORDER_RECEIVER),
 *  once nothing came for a second after the first. */
const SIZE_LOG = `
const s = require('dgram').createSocket('udp4');
const sizes = []; let last = Date.now();
s.on('message', (m) => { sizes.push(m.length); last = Date.now(); });
s.bind(9999, process.argv[1], () => console.log('listening'));
const done = () => { console.log(JSON.stringify(sizes)); process.exit(0); };
setInterval(() => { if (sizes.length > 0 && Date.now() - last > 1000) done(); }, 100).unref();
setTimeout(done, 30000);
`;

/** From source port SPORT: N datagrams of SIZE bytes to host:DPORT, one at a time. */
const SEND_N = `
const s = require('dgram').createSocket('udp4');
const [host, n, size, sport, dport] = process.argv.slice(1);
s.bind(Number(sport), async () => {
  const p = Buffer.alloc(Number(size), 7);
  for (let i = 0; i < Number(n); i++) await new Promise((r, j) => s.send(p, Number(dport), host, (e) => (e ? j(e) : r())));
  s.close();
});
`;

describe('both pump threads move packets in FQ-CoDel order (fq.c)', { skip, timeout: 120_000 }, () => {
  let hasher: CDriver;
  withNetnsPair(pair, cleanupSync);
  before(() => {
    hasher = buildCDriver('fq-driver', ['fq.c', 'aqm.c']);
  });
  after(() => hasher.remove());

  /** The flow queue (of FQ_FLOWS, 1024) fq.c puts a UDP datagram 10.97.0.1:sport -> 10.97.0.2:dport in. */
  function flowQueue(sport: number, dport: number): number {
    const pkt = ipv4Udp('10.97.0.1', '10.97.0.2', sport, dport, Buffer.alloc(10));
    const out = execFileSync(hasher.path, ['16', '1500'], { input: `h ${pkt.toString('hex')}\n` });
    return Number(out.toString().trim()) % 1024;
  }

  /** BULK_PORT and, from BULK_PORT + 1 up, a port whose flow lands in another queue than the bulk flow's. */
  function distinctPorts(bulkPort: number): { bulkPort: number; markPort: number } {
    let markPort = bulkPort + 1;
    while (flowQueue(markPort, 9999) === flowQueue(bulkPort, 9999)) markPort++;
    return { bulkPort, markPort };
  }

  /** Sends through A in order: each call's N datagrams of SIZE bytes from SPORT to B's port 9999 have all
   *  left A before it returns, so A's own flow queues cannot reorder one call's datagrams with the next's. */
  function inOrderThrough(a: Endpoint): (n: number, size: number, sport: number) => Promise<void> {
    let total = 0;
    return async (n, size, sport) => {
      await nsRun(NS_A, process.execPath, [
        '-e',
        SEND_N,
        '10.97.0.2',
        String(n),
        String(size),
        String(sport),
        '9999',
      ]);
      total += n;
      await waitFor(
        `A to send ${total} datagrams`,
        async () => (await a.stats()).udpTxPackets >= total,
        10_000,
        20,
      );
    };
  }

  /** Runs FN with B's process stopped (SIGSTOP): its pump reads nothing meanwhile, and what A sends queues in
   *  B's UDP receive queue (8 MiB), in order. B runs again afterwards, also when FN fails. */
  async function whilePaused(b: Endpoint, fn: () => Promise<void>): Promise<void> {
    const pid = b.proc.pid!;
    process.kill(pid, 'SIGSTOP');
    try {
      await fn();
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  }

  test("mac-like, the link towards B slowed to 20 Mbit/s: a new flow's datagram overtakes a bulk flow's backlog", async (t) => {
    const { bulkPort, markPort } = distinctPorts(40000);
    const { a, b } = await startPumps(['--mac-like'], 5621);
    try {
      // tbf holds what the pump sends until its 1 MiB send buffer is full: the pump then waits for the link,
      // and the backlog forms in front of its TUN -> UDP thread (the kernel's TUN queue, and its flow queues).
      const tbf = [
        'qdisc',
        'add',
        'dev',
        pair.vethA,
        'root',
        'tbf',
        'rate',
        '20mbit',
        'burst',
        '32kb',
        'limit',
        '16mb',
      ];
      const slowed = await nsRun(NS_A, 'tc', tbf).then(
        () => null,
        (e: Error) => e.message,
      );
      if (slowed !== null) {
        if (!/unknown|not found|No such file/i.test(slowed)) throw new Error(slowed);
        t.skip(`this kernel has no tbf qdisc: ${slowed.split('\n')[0]}`);
        return;
      }
      const receiver = await startInB(ORDER_RECEIVER);
      await nsRun(
        NS_A,
        process.execPath,
        ['-e', FLOOD_THEN_MARK, '10.97.0.2', '3000', String(bulkPort), String(markPort)],
        60_000,
      );
      const { before, after } = await markerOrder(receiver.out);
      const s = await a.stats();
      process.stderr.write(
        `  bulk datagrams before the marker ${before}, after it ${after}; A dropFqFull ${s.dropFqFull}, ` +
          `dropFqDelay ${s.dropFqDelay}, dropTunQueue ${s.dropTunQueue}\n`,
      );
      assert.ok(before >= 0, 'the marker arrived');
      // Every bulk datagram was sent before the marker: in one FIFO none would arrive after it.
      assert.ok(after >= 100, `${after} bulk datagrams, all sent before the marker, arrived after it`);
      assert.ok(s.dropFqFull! + s.dropFqDelay! > 0, 'the backlog was cut in the flow queues');
    } finally {
      await nsRun(NS_A, 'tc', ['qdisc', 'del', 'dev', pair.vethA, 'root']).catch(() => undefined);
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  test("mac-like B, paused while A floods it: on resuming, a new flow's datagram overtakes the bulk in B's receive queue", async () => {
    // Small enough for the receiver's default socket buffer (rmem_default, 208 KB), which takes B's burst of
    // writes at once; larger than what B writes in the rounds before it reads the marker.
    const BULK = 120;
    const { bulkPort, markPort } = distinctPorts(40100);
    const { a, b } = await startPumps([], 5631, ['--mac-like']);
    try {
      const receiver = await startInB(ORDER_RECEIVER);
      const send = inOrderThrough(a);
      await whilePaused(b, async () => {
        await send(BULK, 300, bulkPort); // every bulk datagram has left A before the marker goes
        await send(1, 10, markPort);
      });
      const { before, after } = await markerOrder(receiver.out);
      const s = await b.stats();
      process.stderr.write(
        `  bulk datagrams before the marker ${before}, after it ${after}; B udpRxOverflow ${s.udpRxOverflow}, ` +
          `dropFqFull ${s.dropFqFull}, dropQueueDelay ${s.dropQueueDelay}\n`,
      );
      assert.equal(s.udpRxOverflow, 0, "B's receive queue held the whole flood, the marker last");
      assert.ok(before >= 0, 'the marker arrived');
      assert.equal(before + after, BULK, 'every bulk datagram arrived');
      // The marker was the last datagram in B's receive queue: in one FIFO no bulk datagram would follow it.
      // B receives 32 a round and writes 16, so it has read them all after writing 48. The bulk flow, itself
      // new in B's flow queues, is owed its first turn (16 MTUs: about 70 of these datagrams); the marker goes
      // right after that, ahead of the other 50.
      assert.ok(
        after >= 30,
        `${after} bulk datagrams, all received before the marker, were written after it`,
      );
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  test('offload B, paused while A floods it: in the batch it receives, a small datagram of another flow is written first, one of the bulk flow after its bulk', async () => {
    // Fewer than one receive batch (32 buffers), so B receives them all at once on resuming.
    const BULK = 20;
    const { bulkPort, markPort } = distinctPorts(40200);
    const { a, b, bReady } = await startPumps(['--offload'], 5641, ['--offload']);
    try {
      assert.equal(bReady.offload, true, "B's TUN has offloads: its receive is offload_write's");
      const receiver = await startInB(SIZE_LOG);
      const send = inOrderThrough(a);
      // B's receive queue holds 20 bulk datagrams (300 bytes), then 11 bytes of the bulk flow, then the
      // 10-byte marker of another flow.
      await whilePaused(b, async () => {
        await send(BULK, 300, bulkPort);
        await send(1, 11, bulkPort);
        await send(1, 10, markPort);
      });
      const sizes = JSON.parse((await receiver.out).trim().split('\n').at(-1)!) as number[];
      const s = await b.stats();
      process.stderr.write(`  B wrote ${sizes.join(',')}; udpRxOverflow ${s.udpRxOverflow}\n`);
      assert.equal(sizes.length, BULK + 2, 'every datagram arrived');
      // A FIFO would write the marker last; the batch's small packets go first, each after its own flow's.
      assert.equal(sizes[0], 10, "the marker, another flow's small datagram, went ahead of the bulk");
      assert.equal(sizes.at(-1), 11, "the bulk flow's own small datagram stayed behind its bulk");
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});
