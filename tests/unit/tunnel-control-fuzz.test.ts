// The control channel under hostile input: 20,000 datagrams made from the real ones of a live session (bits
// flipped, bytes set, cut short, lengthened, retyped, spliced, replayed as they were) and from random bytes, sent
// to the helper and to the agent from each other's address and from strangers, while the session carries on.
// Seeded, so a failure names the datagram and can be replayed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoint } from '../../common/control-port';
import type { TunnelServer } from '../../helper/tunnel-server';
import type { TunnelClient } from '../../vm-agent/tunnel-client';
import { AGENT, SERVER, setup } from '../fixtures/tunnel-fake-net';

const ROUNDS = 20_000;
const STRANGER: Endpoint = { address: '127.0.0.9', port: 6000 };
const LARGEST_HANDSHAKE_REPLY = 2 + 16 + 16 + 32; // CHALLENGE: version, two nonces, MAC

/** xorshift32: the same datagrams for the same seed. */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
  return {
    next,
    below: (n: number) => next() % n,
    bytes: (n: number) => Buffer.from(Array.from({ length: n }, () => next() & 0xff)),
  };
}

type Rng = ReturnType<typeof rng>;

function mutate(r: Rng, corpus: readonly Buffer[]): Buffer {
  const pick = () => corpus[r.below(corpus.length)]!;
  const b = Buffer.from(pick());
  switch (r.below(9)) {
    case 0:
      return b; // a replay
    case 1: // flip 1-4 bits
      for (let i = 1 + r.below(4); i > 0 && b.length; i--) b[r.below(b.length)]! ^= 1 << r.below(8);
      return b;
    case 2: // set 1-4 bytes
      for (let i = 1 + r.below(4); i > 0 && b.length; i--) b[r.below(b.length)] = r.below(256);
      return b;
    case 3:
      return b.subarray(0, r.below(b.length + 1)); // cut short, down to nothing
    case 4:
      return Buffer.concat([b, r.bytes(1 + r.below(64))]); // lengthened
    case 5:
      if (b.length) b[0] = r.below(256); // another type, data packets (0x4_, 0x6_) among them
      return b;
    case 6: {
      const other = pick(); // the head of one spliced to the tail of another
      return Buffer.concat([b.subarray(0, r.below(b.length + 1)), other.subarray(r.below(other.length + 1))]);
    }
    case 7:
      return r.bytes(r.below(121));
    default: // the right type byte and length, the rest random
      return Buffer.concat([b.subarray(0, 1), r.bytes(Math.max(0, b.length - 1))]);
  }
}

const total = (c: { snapshot(): Record<string, number> }) =>
  Object.values(c.snapshot()).reduce((a, b) => a + b, 0);

function fuzz(seed: number) {
  const { net, server, client } = setup();
  client.dial();
  net.run(500, [server, client]);
  assert.equal(server.state, 'connected');
  const sessionId = server.sessionId!;
  const r = rng(seed);
  const corpus = net.sent.map((s) => s.data);
  let toStrangers = 0;
  for (let i = 0; i < ROUNDS; i++) {
    const data = mutate(r, corpus);
    const toHelper = r.below(4) !== 0;
    const from = r.below(2) === 0 ? STRANGER : toHelper ? AGENT : SERVER;
    const end: TunnelServer | TunnelClient = toHelper ? server : client;
    const counted = total(end.counters);
    const sentBefore = net.sent.length;
    try {
      end.handle(data, from.address, from.port);
    } catch (err) {
      assert.fail(
        `seed ${seed}, round ${i}: ${toHelper ? 'the helper' : 'the agent'} threw on ${data.toString('hex')} from ${from.address}: ${String(err)}`,
      );
    }
    const replies = net.sent.slice(sentBefore);
    assert.ok(
      total(end.counters) > counted || replies.length > 0,
      `seed ${seed}, round ${i}: ${data.toString('hex')} was dropped without a count or an answer`,
    );
    const toStranger = replies.filter((s) => s.to.address === STRANGER.address);
    assert.ok(toStranger.length <= 1, 'one answer at most');
    for (const reply of toStranger) {
      toStrangers++;
      assert.ok(
        reply.data.length <= Math.max(data.length, LARGEST_HANDSHAKE_REPLY),
        `seed ${seed}, round ${i}: a stranger's ${data.length} bytes got ${reply.data.length} back`,
      );
    }
    if (i % 250 === 249) {
      net.run(50, [server, client]); // the session's own keepalives and acks go on meanwhile
      corpus.push(...net.sent.slice(-4).map((s) => s.data));
    }
  }
  net.run(30_000, [server, client]);
  return { server, client, sessionId, toStrangers };
}

for (const seed of [1, 0x5eed]) {
  test(`control datagrams, mutated and random, seed ${seed}: nothing throws, each is counted or answered, the session holds`, () => {
    const { server, client, sessionId, toStrangers } = fuzz(seed);
    assert.equal(server.state, 'connected');
    assert.equal(client.state, 'connected');
    assert.ok(server.sessionId?.equals(sessionId), 'the same session: no forgery replaced or ended it');
    assert.deepEqual(server.peer, AGENT, 'the peer stays pinned to the agent');
    assert.equal(client.counters.get('redials'), 0);
    assert.ok(server.counters.get('controlMalformed') > 1000, 'malformed datagrams were counted as such');
    assert.ok(toStrangers < ROUNDS / 4, `${toStrangers} answers to a stranger`);
  });
}
