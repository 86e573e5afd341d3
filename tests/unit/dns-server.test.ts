// The server on loopback (UDP and TCP on one port): answers, TCP framing and pipelining, bounded TCP
// connections and idle timeouts, garbage on a stream, and the counters.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { RCODE, TYPE, decodeResponse, encodeQuery } from '../../helper/dns/dns-message';
import { queryUdp } from '../../helper/dns/dns-client';
import { DnsServer } from '../../helper/dns/dns-server';
import { NameTable } from '../../helper/dns/name-table';

const table = new NameTable(
  'gangway.internal',
  [
    {
      id: 'a1',
      name: 'web',
      labels: {},
      networks: [{ network: 'app', ipv4: '172.20.0.2', ipv6: null, aliases: [] }],
    },
  ],
  [{ name: 'app', subnets: ['172.20.0.0/16'] }],
);

function frame(b: Buffer): Buffer {
  const l = Buffer.alloc(2);
  l.writeUInt16BE(b.length, 0);
  return Buffer.concat([l, b]);
}

function tcpConnect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Reads `n` framed answers from a TCP socket. */
function readFrames(s: Socket, n: number): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const out: Buffer[] = [];
    s.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        out.push(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
        if (out.length === n) resolve(out);
      }
    });
    s.once('close', () => reject(new Error(`closed after ${out.length} answers`)));
  });
}

describe('dns server on loopback', () => {
  const server = new DnsServer(() => table, { maxTcpConnections: 4, tcpIdleMs: 300 });
  let port = 0;

  before(async () => {
    await server.start('127.0.0.1', 0);
    port = server.port!;
  });
  after(() => server.stop());

  test('UDP: A answered, NXDOMAIN, REFUSED outside the suffix', async () => {
    const a = await queryUdp('127.0.0.1', port, 'web.gangway.internal', TYPE.A);
    assert.deepEqual(
      a.answers.map((x) => x.data),
      ['172.20.0.2'],
    );
    assert.equal((await queryUdp('127.0.0.1', port, 'x.gangway.internal', TYPE.A)).rcode, RCODE.NXDOMAIN);
    assert.equal((await queryUdp('127.0.0.1', port, 'example.com', TYPE.A)).rcode, RCODE.REFUSED);
    assert.equal(server.listen, `127.0.0.1:${port}`);
  });

  test('TCP: pipelined queries in one write, split frames, answers in order', async () => {
    const s = await tcpConnect(port);
    try {
      const frames = readFrames(s, 3);
      const all = Buffer.concat([
        frame(encodeQuery(1, 'web.gangway.internal', TYPE.A)),
        frame(encodeQuery(2, 'nope.gangway.internal', TYPE.A)),
        frame(encodeQuery(3, 'example.com', TYPE.A)),
      ]);
      s.write(all.subarray(0, 5));
      await new Promise((r) => setTimeout(r, 20));
      s.write(all.subarray(5));
      const got = (await frames).map(decodeResponse);
      assert.deepEqual(
        got.map((r) => [r.id, r.rcode]),
        [
          [1, 0],
          [2, 3],
          [3, 5],
        ],
      );
    } finally {
      s.destroy();
    }
  });

  test('TCP: garbage closes the connection; idle connections are closed; at most N at once', async () => {
    const before = { ...server.counters };
    const g = await tcpConnect(port);
    const closed = new Promise((r) => g.once('close', r));
    g.write(frame(Buffer.from([1, 2, 3])));
    await closed;
    assert.equal(server.counters.dropped, before.dropped + 1);

    const idle = await tcpConnect(port);
    const t0 = Date.now();
    await new Promise((r) => idle.once('close', r));
    assert.ok(Date.now() - t0 < 2_000, 'idle connection closed by the server');

    const socks = await Promise.all(Array.from({ length: 6 }, () => tcpConnect(port)));
    await new Promise((r) => setTimeout(r, 100));
    const alive = socks.filter((s) => !s.destroyed && s.readyState === 'open');
    socks.forEach((s) => s.destroy());
    assert.ok(server.counters.tcpRejected >= 2, JSON.stringify(server.counters));
    assert.ok(alive.length >= 4);
  });

  test('UDP: a response or a runt is dropped silently and counted', async () => {
    const before = server.counters.dropped;
    const s = createSocket('udp4');
    let answered = false;
    s.on('message', () => (answered = true));
    const resp = encodeQuery(5, 'web.gangway.internal', TYPE.A);
    resp[2] = resp[2]! | 0x80;
    await new Promise<void>((r) => s.send(resp, port, '127.0.0.1', () => r()));
    await new Promise<void>((r) => s.send(Buffer.from([1, 2]), port, '127.0.0.1', () => r()));
    await new Promise((r) => setTimeout(r, 200));
    s.close();
    assert.equal(answered, false);
    assert.equal(server.counters.dropped, before + 2);
  });

  test('restart on another port (reconfigure path): the old port goes quiet', async () => {
    const old = port;
    await server.start('127.0.0.1', 0);
    port = server.port!;
    assert.notEqual(port, old);
    assert.equal((await queryUdp('127.0.0.1', port, 'web.gangway.internal', TYPE.A)).rcode, 0);
    await assert.rejects(
      queryUdp('127.0.0.1', old, 'web.gangway.internal', TYPE.A, 300),
      /no answer|ECONNREFUSED/,
    );
  });
});
