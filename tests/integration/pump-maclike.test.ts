// The bench's mac-like pump (GANGWAY_PUMP_MACLIKE, openTun's macLike) really works one packet per syscall,
// as the darwin pump does: strace counts the syscalls of each pump thread while UDP traffic crosses the
// tunnel, and they are compared with the pump's own counters. The batched pump, counted the same way, uses
// sendmmsg/recvmmsg: the count can tell the two apart. Two namespaces made here, joined by a veth; IPv6 is
// off in them so that nothing but the test's own packets crosses the tunnel while strace counts.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { PumpStats } from '../../native/index';
import { NetnsPair, nsRun } from '../fixtures/netns-pair';
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
  private lines: Record<string, unknown>[] = [];
  private waiters: ((l: Record<string, unknown>) => void)[] = [];
  private stderr = '';
  private constructor(readonly proc: ChildProcess) {
    createInterface({ input: proc.stdout! }).on('line', (text) => {
      try {
        const l = JSON.parse(text) as Record<string, unknown>;
        this.lines.push(l);
        for (const w of this.waiters.splice(0)) w(l);
      } catch {
        // not ours
      }
    });
    proc.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
  }

  static start(ns: string, args: string[]): Endpoint {
    const proc = spawn('ip', ['netns', 'exec', ns, process.execPath, ENDPOINT, '--exit-on-eof', ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    return new Endpoint(proc);
  }

  async next(pred: (l: Record<string, unknown>) => boolean, what: string): Promise<Record<string, unknown>> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const hit = this.lines.find(pred);
      if (hit) return hit;
      if (Date.now() > deadline || this.proc.exitCode !== null)
        throw new Error(`no ${what} from the endpoint; stderr: ${this.stderr}`);
      await new Promise<void>((r) => {
        this.waiters.push(() => r());
        setTimeout(r, 100);
      });
    }
  }

  async stats(): Promise<PumpStats> {
    this.lines = this.lines.filter((l) => !('stats' in l));
    this.proc.stdin!.write('stats\n');
    return (await this.next((l) => 'stats' in l, 'stats')).stats as PumpStats;
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGTERM');
    const killer = setTimeout(() => this.proc.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(killer);
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

/** Starts A (mode args) and B (a batched pump), sends DATAGRAMS from A to B's echo and counts A's syscalls. */
async function countSyscalls(aArgs: string[], port: number): Promise<Counted> {
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
    '--bind',
    B_IP,
    '--port',
    String(port + 1),
    '--peer',
    `${A_IP}:${port}`,
  ]);
  children.push(a, b);
  let echo: ChildProcess | undefined;
  const straces: StraceCount[] = [];
  try {
    const ready = await a.next((l) => l.ready === true, 'ready');
    await b.next((l) => l.ready === true, 'ready');
    // Started once B's TUN has its address, which the echo binds to.
    const e = spawn('ip', ['netns', 'exec', NS_B, process.execPath, '-e', UDP_ECHO, '10.97.0.2'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    echo = e;
    children.push(e);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the UDP echo did not start')), 10_000);
      e.stdout.once('data', () => (clearTimeout(timer), resolve()));
      e.once('exit', (code) => reject(new Error(`the UDP echo exited (${code})`)));
    });
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
    await Promise.all([a.stop(), b.stop()]);
  }
}

const calls = (m: Map<string, SyscallCount>, name: string) => m.get(name)?.calls ?? 0;
const ok = (m: Map<string, SyscallCount>, name: string) => calls(m, name) - (m.get(name)?.errors ?? 0);
const describeCounts = (m: Map<string, SyscallCount>) =>
  [...m].map(([k, v]) => `${k} ${v.calls}${v.errors ? ` (${v.errors} failed)` : ''}`).join(', ');

/** A short receive batch means the socket is drained: the thread sleeps in poll() next, instead of spending
 *  one more receive to be told EAGAIN. So receives that found nothing are at most one per wait. */
function assertNoWastedReceive(m: Map<string, SyscallCount>, recv: string): void {
  const empty = m.get(recv)?.errors ?? 0;
  const waits = calls(m, 'poll') + calls(m, 'restart_syscall'); // strace may attach during a poll
  assert.ok(empty <= waits + 1, `${empty} ${recv} calls found nothing, with ${waits} waits`);
}

describe('the mac-like pump: one packet per syscall', { skip, timeout: 120_000 }, () => {
  before(async () => {
    process.on('exit', cleanupSync);
    await pair.create();
  });
  after(() => {
    cleanupSync();
    process.off('exit', cleanupSync);
  });

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
      // CoDel (aqm.c) may drop a bulk datagram that waited too long under strace: received, not counted in.
      d.udpRxPackets + d.controlRx + (d.dropQueueDelay ?? 0),
      'successful recvmsg = datagrams received',
    );
    assert.equal(ok(c.u2t, 'writev'), d.tunTxPackets, 'successful writev = packets written to the TUN');
    assert.equal(calls(c.u2t, 'recvmmsg'), 0, 'no recvmmsg');
    assert.equal(calls(c.u2t, 'write'), 0, 'the TUN is written with writev (the 4-byte header), as on macOS');
    assert.equal(d.tunRxGsoPackets, 0, 'no TSO super-packets');
    assert.equal(d.tunTxGroPackets, 0, 'no coalesced writes');
    assert.equal(d.dropMalformed, 0, 'the 4-byte header is stripped and added in the right place');
    assertNoWastedReceive(c.u2t, 'recvmsg');
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
    assertNoWastedReceive(c.u2t, 'recvmmsg');
  });
});
