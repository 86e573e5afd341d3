// The handshake and control channel, server and client wired through a small fake network with a virtual
// clock (tests/fixtures/tunnel-fake-net.ts): loss, replays, forgeries and restarts, deterministically.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Endpoint } from '../../common/control-port';
import {
  INSTALL_KEY_ID,
  MsgType,
  encodeChallengeOrAuth,
  encodeHello,
  encodeStale,
  newNonce,
  deriveSessionKeys,
  encodeKeepaliveBody,
  parseControl,
  seal,
} from '../../common/wire';
import { TunnelServer, type TunnelServerOptions } from '../../helper/tunnel-server';
import { TunnelClient } from '../../vm-agent/tunnel-client';
import { AGENT, SERVER, base, setup, type FakeNet, type Offloads } from '../fixtures/tunnel-fake-net';

test('handshake completes, the peer is pinned and the config is applied once and acknowledged', () => {
  const { net, server, client, configs } = setup();
  client.dial();
  net.run(200, [server, client]);
  assert.equal(client.state, 'connected');
  assert.equal(server.state, 'connected');
  assert.deepEqual(net.peers.get('127.0.0.1:4000'), AGENT);
  assert.deepEqual(configs, [1]);
  assert.equal(server.configAcked, true);
  // Keepalives keep both sides connected over time.
  net.run(10_000, [server, client]);
  assert.equal(server.state, 'connected');
  assert.equal(client.state, 'connected');
  assert.equal(client.counters.get('redials'), 0);
});

test('a newer helper: configuration fields this agent does not know are dropped, and it is applied and acknowledged', () => {
  // What a later release might add; an older agent must not lose its tunnel over it.
  const newer = { routeMetric: 7, nat: { mode: 'none' } };
  const { net, server, client } = setup(
    0,
    randomBytes(32),
    undefined,
    {},
    {
      server: { config: () => ({ ...base(), ...newer }) },
    },
  );
  const seen: unknown[] = [];
  client.on('config', (c) => seen.push(c));
  client.dial();
  net.run(200, [server, client]);
  assert.equal(client.counters.get('configInvalid'), 0);
  assert.equal(server.configAcked, true);
  assert.equal(seen.length, 1);
  assert.deepEqual(seen[0], { seq: 1, ...base(), keepaliveMaxMs: 10_000 });
});

const HELPER_KEY = '127.0.0.1:4000';
const AGENT_KEY = '127.0.0.1:5000';
const OFF = { leave: false, fill: false };
const BOTH = { leave: true, fill: true };

/** One session between ends with these offloads, run until configured; what each configuration offered. */
function connectWith(offloads: Offloads) {
  const ends = setup(0, randomBytes(32), undefined, offloads);
  const offered: (boolean | undefined)[] = [];
  ends.client.on('config', (c) => offered.push(c.checksumOffload));
  ends.client.dial();
  ends.net.run(200, [ends.server, ends.client]);
  assert.equal(ends.server.configAcked, true);
  return { ...ends, offered };
}

test('checksum offload: both ends with offloads agree; the helper leaves its checksums out only after the ack', () => {
  const { net, server, client, offered } = connectWith({ helper: true, agent: true });
  assert.deepEqual(offered, [true], 'the configuration offered it');
  // The helper fills from the session's start (before the agent can read the offer), leaves once acked.
  assert.deepEqual(net.checksums.get(HELPER_KEY), [{ leave: false, fill: true }, BOTH]);
  assert.deepEqual(net.checksums.get(AGENT_KEY)?.at(-1), BOTH);
  // A configuration pushed again changes nothing.
  server.pushConfig();
  net.run(100, [server, client]);
  assert.deepEqual(net.checksums.get(HELPER_KEY)?.at(-1), BOTH);
  assert.deepEqual(net.checksums.get(AGENT_KEY)?.at(-1), BOTH);
});

test('checksum offload: a helper without offloads (a Mac) offers none, and every checksum stays complete', () => {
  const { net, offered } = connectWith({ helper: false, agent: true });
  assert.deepEqual(offered, [undefined], 'not in the configuration at all');
  assert.deepEqual(net.checksums.get(HELPER_KEY), [OFF]);
  assert.deepEqual(net.checksums.get(AGENT_KEY)?.at(-1), OFF);
});

test('checksum offload: an agent without offloads declines; the helper then computes and checks them all', () => {
  const { net } = connectWith({ helper: true, agent: false });
  assert.deepEqual(net.checksums.get(HELPER_KEY), [{ leave: false, fill: true }, OFF]);
  assert.deepEqual(net.checksums.get(AGENT_KEY)?.at(-1), OFF);
});

test('checksum offload: a session that ends turns it off on both ends; the next one agrees again', () => {
  const { net, server, client } = connectWith({ helper: true, agent: true });
  server.forget('test');
  assert.deepEqual(net.checksums.get(HELPER_KEY)?.at(-1), OFF, 'the helper at once');
  const agentCalls = net.checksums.get(AGENT_KEY)?.length ?? 0;
  net.run(10_000, [server, client]);
  assert.equal(server.state, 'connected', 'the agent dialed again');
  const later = net.checksums.get(AGENT_KEY)?.slice(agentCalls) ?? [];
  assert.deepEqual(later[0], OFF, 'the agent when it noticed');
  assert.deepEqual(later.at(-1), BOTH);
  assert.deepEqual(net.checksums.get(HELPER_KEY)?.at(-1), BOTH);
});

test('with 20% loss the handshake and the configuration still complete', () => {
  for (let round = 0; round < 50; round++) {
    const { net, server, client, configs } = setup(0.2);
    for (let i = 0; i < round; i++) net.random(); // a different loss pattern each round
    client.dial();
    net.run(10_000, [server, client]);
    assert.equal(server.state, 'connected', `round ${round}`);
    assert.equal(server.configAcked, true, `round ${round}`);
    assert.ok(configs.length >= 1, `round ${round}: a configuration was applied`);
    assert.ok(
      client.counters.get('redials') <= 1,
      `round ${round}: ${client.counters.get('redials')} redials`,
    );
  }
});

test('a wrong secret never gets a session, and the failure is counted', () => {
  const { net, server, client } = setup(0, randomBytes(32), randomBytes(32));
  client.dial();
  net.run(3_000, [server, client]);
  assert.equal(server.state, 'waiting');
  assert.equal(net.peers.get('127.0.0.1:4000'), undefined);
  // The agent refuses the helper's challenge first: the helper could not prove the secret either.
  assert.ok(client.counters.get('challengeBadMac') > 0);
});

test('forged, replayed and misdirected handshakes are rejected and counted; the real agent keeps its pin', () => {
  const { net, server, client, secret } = setup();
  const attacker: Endpoint = { address: '127.0.0.1', port: 6666 };
  client.dial();
  net.run(200, [server, client]);
  assert.equal(server.state, 'connected');

  // Replay every datagram the agent sent, from the attacker's address.
  const agentSent = net.sent.filter((s) => s.from.port === AGENT.port).map((s) => s.data);
  for (const d of agentSent) net.inject(attacker, SERVER, d);
  // An AUTH with a wrong MAC for a real pending challenge the attacker asked for.
  net.inject(attacker, SERVER, encodeHello(newNonce()));
  net.run(50, [server, client]);
  const challenge = net.sent.filter((s) => s.to.port === attacker.port).at(-1);
  assert.ok(challenge, 'the helper answers a HELLO with a challenge');
  const helperNonce = challenge.data.subarray(18, 34);
  const agentNonce = challenge.data.subarray(2, 18);
  net.inject(attacker, SERVER, encodeChallengeOrAuth(randomBytes(32), MsgType.Auth, agentNonce, helperNonce));
  // A correct AUTH (made with the real secret) for that challenge, sent from yet another address.
  net.inject(
    { address: '127.0.0.1', port: 7777 },
    SERVER,
    encodeChallengeOrAuth(secret, MsgType.Auth, agentNonce, helperNonce),
  );
  // Garbage of every size.
  for (let n = 1; n < 100; n += 7)
    net.inject(attacker, SERVER, Buffer.concat([Buffer.from([0x05]), randomBytes(n)]));
  net.run(100, [server, client]);

  const c = server.counters.snapshot();
  assert.ok(c.sealedReplay + c.handshakeUnknownNonce > 0, JSON.stringify(c));
  assert.ok(c.handshakeBadMac >= 1, JSON.stringify(c));
  assert.ok(c.handshakeWrongSource >= 1, JSON.stringify(c));
  assert.ok(c.controlMalformed + c.sealedUnknownSession > 0, JSON.stringify(c));
  assert.equal(c.handshakeOk, 1);
  assert.deepEqual(net.peers.get('127.0.0.1:4000'), AGENT);
  net.run(3_000, [server, client]);
  assert.equal(server.state, 'connected');
});

test('a restarted helper is re-dialled within a few seconds; a restarted agent gets a new session', () => {
  const { net, server, client, secret } = setup();
  client.dial();
  net.run(200, [server, client]);
  // The helper restarts: a fresh state machine with the same secret on the same port.
  const server2 = new TunnelServer(net.port(SERVER), secret, {
    config: () => ({ mtu: 1420, hostAddress: '10.57.0.1', agentAddress: '10.57.0.2', routes: [], joins: [] }),
    now: () => net.now,
  });
  net.handlers.set('127.0.0.1:4000', (d, a, p) => server2.handle(d, a, p));
  net.run(5_000, [server2, client]);
  assert.equal(server2.state, 'connected');
  assert.equal(client.counters.get('redials'), 1);

  // The agent restarts from another port: the helper re-pins to it.
  const agent2: Endpoint = { address: '127.0.0.1', port: 5001 };
  const client2 = new TunnelClient(net.port(agent2), secret, SERVER, { now: () => net.now });
  net.handlers.set('127.0.0.1:5001', (d, a, p) => client2.handle(d, a, p));
  client2.dial();
  net.run(500, [server2, client2]);
  assert.equal(client2.state, 'connected');
  assert.deepEqual(net.peers.get('127.0.0.1:4000'), agent2);
});

test('a flood of HELLOs from many sources is rate limited, and answered with cookies under load', () => {
  const { net, server } = setup();
  for (let i = 0; i < 500; i++)
    net.inject({ address: '127.0.0.1', port: 9000 + i }, SERVER, encodeHello(newNonce()));
  net.run(20, [server]);
  const replies = net.sent.filter((s) => s.from.port === SERVER.port);
  const challenges = replies.filter((s) => s.data[0] === MsgType.Challenge).length;
  const cookies = replies.filter((s) => s.data[0] === MsgType.Cookie);
  assert.ok(challenges <= 60, `${challenges} challenges sent`);
  assert.ok(server.counters.get('handshakeCookieSent') >= 350, JSON.stringify(server.counters.snapshot()));
  assert.equal(cookies.length, server.counters.get('handshakeCookieSent'));
  // A cookie reply is never larger than the HELLO it answers: no amplification.
  assert.ok(cookies.every((c) => c.data.length <= encodeHello(newNonce()).length));
});

test('under load: a HELLO with its own cookie gets a challenge, a cookie of another source does not', () => {
  const { net, server } = setup();
  const a: Endpoint = { address: '127.0.0.1', port: 7001 };
  for (let i = 0; i < 150; i++)
    net.inject({ address: '127.0.0.9', port: 20000 + i }, SERVER, encodeHello(newNonce()));
  net.run(10, [server]);
  const nonce = newNonce();
  net.inject(a, SERVER, encodeHello(nonce));
  net.run(10, [server]);
  const cookie = net.sent.filter((s) => s.to.port === a.port).at(-1);
  assert.equal(cookie?.data[0], MsgType.Cookie, 'under load the first answer is a cookie');
  const value = cookie.data.subarray(2 + 16);
  // Someone else presents a's cookie: still only a cookie.
  const b: Endpoint = { address: '127.0.0.1', port: 7002 };
  net.inject(b, SERVER, encodeHello(newNonce(), INSTALL_KEY_ID, value));
  net.inject(a, SERVER, encodeHello(nonce, INSTALL_KEY_ID, value));
  net.run(10, [server]);
  assert.equal(net.sent.filter((s) => s.to.port === b.port).at(-1)?.data[0], MsgType.Cookie);
  assert.equal(net.sent.filter((s) => s.to.port === a.port).at(-1)?.data[0], MsgType.Challenge);
});

test('20,000 HELLOs/s from one socket for 10 s: the live session stays up, a restarted agent is back within 5 s', () => {
  const { net, server, client, secret } = setup();
  client.dial();
  net.run(200, [server, client]);
  const flooder: Endpoint = { address: '127.0.0.1', port: 6000 };
  const flood = (ms: number, tickers: { tick(): void }[]) => {
    for (let t = 0; t < ms; t += 10) {
      for (let i = 0; i < 200; i++) net.inject(flooder, SERVER, encodeHello(newNonce()));
      net.run(10, tickers);
    }
  };
  flood(3_000, [server, client]);
  assert.equal(server.state, 'connected');
  assert.equal(client.counters.get('redials'), 0, 'the live session never lapsed');
  // The agent restarts (a new process, a new port) in the middle of the flood.
  const agent2: Endpoint = { address: '127.0.0.1', port: 5002 };
  const client2 = new TunnelClient(net.port(agent2), secret, SERVER, { now: () => net.now });
  net.handlers.delete('127.0.0.1:5000');
  net.handlers.set('127.0.0.1:5002', (d, a, p) => client2.handle(d, a, p));
  client2.dial();
  const t0 = net.now;
  let back: number | undefined;
  for (let t = 0; t < 7_000 && back === undefined; t += 10) {
    flood(10, [server, client2]);
    if (client2.state === 'connected' && server.peer?.port === agent2.port) back = net.now - t0;
  }
  assert.ok(back !== undefined && back <= 5_000, `back after ${back} ms`);
  flood(7_000 - (net.now - t0), [server, client2]);
  assert.equal(server.state, 'connected');
  const c = server.counters.snapshot();
  assert.ok(
    c.handshakeCookieSent + c.handshakeRateLimited + c.handshakeCookieRateLimited >= 190_000,
    JSON.stringify(c),
  );
  assert.ok(
    net.sent.filter((s) => s.to.port === flooder.port && s.data[0] === MsgType.Challenge).length <= 30,
    'the flooder got a handful of challenges at most',
  );
});

test('a HELLO with an unknown key id is refused without an answer', () => {
  const { net, server } = setup(0, randomBytes(32));
  const keyId = randomBytes(16);
  net.inject({ address: '127.0.0.1', port: 7100 }, SERVER, encodeHello(newNonce(), keyId));
  net.run(20, [server]);
  assert.equal(server.counters.get('handshakeUnknownKey'), 1);
  assert.equal(net.sent.filter((s) => s.to.port === 7100).length, 0);
});

test('send errors are counted as lost datagrams, never thrown, and the handshake still completes', () => {
  const { net, server, client, configs } = setup();
  net.throwRate = 0.3;
  client.dial();
  assert.doesNotThrow(() => net.run(10_000, [server, client]));
  assert.equal(server.state, 'connected');
  assert.deepEqual(configs, [1]);
  assert.ok(server.counters.get('controlSendFailed') + client.counters.get('controlSendFailed') > 0);
});

test('a peer silent past the timeout is forgotten: unpinned, no more datagrams to it, and it dials back', () => {
  const { net, server, client } = setup();
  client.dial();
  net.run(200, [server, client]);
  assert.equal(server.state, 'connected');
  // The VM freezes: the agent neither ticks nor receives; a configuration is pushed meanwhile.
  net.handlers.delete('127.0.0.1:5000');
  server.pushConfig();
  net.run(6_000, [server]);
  assert.equal(server.state, 'waiting');
  assert.equal(server.peer, undefined);
  assert.equal(net.peers.get('127.0.0.1:4000'), undefined, 'the pump no longer has a peer');
  assert.equal(server.counters.get('peerForgotten'), 1);
  const sentBefore = net.sent.filter((s) => s.from.port === SERVER.port).length;
  net.run(10_000, [server]);
  assert.equal(
    net.sent.filter((s) => s.from.port === SERVER.port).length,
    sentBefore,
    'nothing is sent to a forgotten peer (no config retransmissions)',
  );
  // The VM thaws: the agent notices its dead path, dials again and is pinned afresh.
  net.handlers.set('127.0.0.1:5000', (d, a, p) => client.handle(d, a, p));
  net.run(1_000, [server, client]);
  assert.equal(server.state, 'connected');
  assert.deepEqual(net.peers.get('127.0.0.1:4000'), AGENT);
  assert.equal(client.counters.get('redials'), 1);
});

test('the agent pins the helper only once the handshake completes, and unpins it when it re-dials', () => {
  const { net, server, client } = setup();
  const agentPin = () => net.peers.get('127.0.0.1:5000');
  net.peers.set('127.0.0.1:5000', { address: '10.0.0.9', port: 1 }); // a stale pin from before
  client.dial();
  assert.equal(agentPin(), undefined, 'dialling: no data is accepted from anyone');
  net.run(200, [server, client]);
  assert.equal(client.state, 'connected');
  assert.deepEqual(agentPin(), SERVER);
  // The helper goes silent (it was stopped): the agent re-dials and forgets the endpoint meanwhile.
  net.handlers.delete('127.0.0.1:4000');
  // Noticed when a keepalive (every 2 s) stays unanswered for 3 s.
  net.run(6_000, [client]);
  assert.equal(client.counters.get('redials'), 1);
  assert.notEqual(client.state, 'connected');
  assert.equal(agentPin(), undefined);
});

test('the helper forgets the peer when its keepalives stop, and says why', () => {
  const { net, server, client } = setup();
  client.dial();
  net.run(200, [server, client]);
  assert.deepEqual(net.peers.get('127.0.0.1:4000'), AGENT);
  assert.equal(server.peerLost, undefined);
  net.handlers.delete('127.0.0.1:5000'); // the agent's process is gone
  const disconnected: number[] = [];
  server.on('disconnected', () => disconnected.push(net.now));
  net.run(6_000, [server]);
  assert.equal(server.state, 'waiting');
  assert.equal(server.peer, undefined);
  assert.equal(net.peers.get('127.0.0.1:4000'), undefined, 'unpinned in the pump');
  assert.match(server.peerLost ?? '', /no keepalive/);
  assert.equal(server.counters.get('peerForgotten'), 1);
  assert.equal(disconnected.length, 1);
});

test('forget() ends the session: the old peer is unpinned, its sealed messages are refused, a new handshake works', () => {
  const { net, server, client } = setup();
  client.dial();
  net.run(200, [server, client]);
  server.forget('gangway down removed the agent');
  assert.equal(server.state, 'waiting');
  assert.equal(net.peers.get('127.0.0.1:4000'), undefined);
  assert.equal(server.peerLost, 'gangway down removed the agent');
  // The agent's keepalives under the old session are refused until it dials again.
  net.run(2_500, [server, client]);
  assert.ok(server.counters.get('sealedUnknownSession') >= 1);
  assert.equal(server.peer, undefined);
  net.run(4_000, [server, client]);
  assert.equal(server.state, 'connected', 'the agent re-dialled and proved the secret again');
  assert.equal(server.peerLost, undefined);
  assert.deepEqual(net.peers.get('127.0.0.1:4000'), AGENT);
});

/** Ticks `x` only when its msUntilDue() says (within 20..60,000 ms), as the DeadlineLoop in daemon and agent
 *  does (dueIn after each datagram handled); counts the ticks that ran. */
function dueTicker(net: FakeNet, x: { tick(): void; msUntilDue(): number }) {
  let nextAt = 0;
  const t = {
    ran: 0,
    poke: () => (nextAt = net.now),
    tick: () => {
      if (net.now < nextAt) return;
      t.ran++;
      x.tick();
      nextAt = net.now + Math.min(60_000, Math.max(20, x.msUntilDue()));
    },
    /** dueIn(msUntilDue()) after a datagram was handled. */
    handled: () => (nextAt = net.now + Math.min(60_000, Math.max(20, x.msUntilDue()))),
  };
  return t;
}

/** Routes each delivered datagram through `handle`, then tells the ticker, as the pump's callback does. */
function wireDue(
  net: FakeNet,
  at: Endpoint,
  x: { handle(d: Buffer, a: string, p: number): void },
  t: { handled(): void },
) {
  net.handlers.set(`${at.address}:${at.port}`, (d, a, p) => {
    x.handle(d, a, p);
    t.handled();
  });
}

/** Both ends ticked only when due and wired as in the daemon and the agent; the agent dials. */
function dialDue(
  net: FakeNet,
  server: Parameters<typeof dueTicker>[1] & Parameters<typeof wireDue>[2],
  client: Parameters<typeof dueTicker>[1] &
    Parameters<typeof wireDue>[2] & {
      on(e: 'state', f: () => void): unknown;
      dial(): void;
    },
) {
  const s = dueTicker(net, server);
  const c = dueTicker(net, client);
  wireDue(net, SERVER, server, s);
  wireDue(net, AGENT, client, c);
  client.on('state', () => c.poke());
  client.dial();
  return { s, c };
}

test('ticked only when due, an idle tunnel stays connected on a keepalive every 2 s, and wakes little more', () => {
  const { net, server, client, configs } = setup();
  const { s, c } = dialDue(net, server, client);
  net.run(500, [s, c]);
  assert.equal(server.state, 'connected');
  assert.equal(server.configAcked, true);
  assert.deepEqual(configs, [1]);
  s.ran = 0;
  c.ran = 0;
  const sentBefore = net.sent.length;
  net.run(60_000, [s, c]);
  assert.equal(server.state, 'connected');
  assert.equal(client.state, 'connected');
  assert.equal(client.counters.get('redials'), 0);
  // Keepalives twice a second were 120 a minute each way, each waking both ends.
  const keepalives = net.sent.slice(sentBefore).filter((x) => x.data[0] === MsgType.Keepalive).length;
  assert.ok(keepalives >= 29 && keepalives <= 31, `${keepalives} keepalives in a minute`);
  assert.ok(s.ran <= 20, `server woke ${s.ran} times in a minute`);
  assert.ok(c.ran <= 31, `agent woke ${c.ran} times in a minute`);
});

test('with 20% loss each way for 10 minutes, unanswered keepalives are probed again and the session holds', () => {
  const { net, server, client } = setup(0.2);
  const { s, c } = dialDue(net, server, client);
  net.run(10_000, [s, c]);
  assert.equal(server.state, 'connected');
  const forgotten = server.counters.get('peerForgotten');
  const redials = client.counters.get('redials');
  net.run(600_000, [s, c]);
  // Eight tries in 3 s must all fail ((1 - 0.8²)^8 ≈ 3e-4 for each of 300 keepalives) before the agent redials.
  assert.ok(client.counters.get('redials') - redials <= 1, `${client.counters.get('redials')} redials`);
  assert.ok(server.counters.get('peerForgotten') - forgotten <= 1);
  assert.equal(server.state, 'connected');
});

test('a restarted helper answers the old session with STALE: the agent re-dials within about a second', () => {
  const { net, server, client, secret } = setup();
  const { s, c } = dialDue(net, server, client);
  net.run(3_000, [s, c]);
  assert.equal(client.state, 'connected');
  const server2 = new TunnelServer(net.port(SERVER), secret, {
    config: () => ({ mtu: 1420, hostAddress: '10.57.0.1', agentAddress: '10.57.0.2', routes: [], joins: [] }),
    now: () => net.now,
  });
  const s2 = dueTicker(net, server2);
  let firstKeepalive: number | undefined;
  net.handlers.set('127.0.0.1:4000', (d, a, p) => {
    if (firstKeepalive === undefined && d[0] === MsgType.Keepalive) firstKeepalive = net.now;
    server2.handle(d, a, p);
    s2.handled();
  });
  let connectedAt: number | undefined;
  server2.on('connected', () => (connectedAt ??= net.now));
  net.run(6_000, [s2, c]);
  assert.ok(firstKeepalive !== undefined && connectedAt !== undefined, 'the agent came back');
  assert.ok(server2.counters.get('staleSent') >= 1);
  assert.ok(client.counters.get('staleHints') >= 1);
  // Without STALE the agent waits out its 3 s deadline from that keepalive.
  assert.ok(
    connectedAt - firstKeepalive <= 1_300,
    `back ${connectedAt - firstKeepalive} ms after the new helper first heard the old session`,
  );
});

test('STALE for another session, or from a stranger, is ignored; a forged one for ours costs a keepalive, not the session', () => {
  const { net, server, client } = setup();
  client.dial();
  net.run(3_000, [server, client]);
  assert.equal(client.state, 'connected');
  net.inject(SERVER, AGENT, encodeStale(Buffer.alloc(8, 7)));
  net.inject({ address: '10.9.9.9', port: 4000 }, AGENT, encodeStale(Buffer.alloc(8, 7)));
  net.run(100, [server, client]);
  assert.equal(client.counters.get('staleIgnored'), 1);
  assert.equal(client.counters.get('wrongSource'), 1);
  // A forged STALE naming our session (seen on the wire): the live helper answers the keepalive it triggers.
  const sid = net.sent.find((x) => x.data[0] === MsgType.Keepalive)!.data.subarray(1, 9);
  net.inject(SERVER, AGENT, encodeStale(Buffer.from(sid)));
  net.run(5_000, [server, client]);
  assert.equal(client.counters.get('staleHints'), 1);
  assert.equal(client.counters.get('redials'), 0);
  assert.equal(client.state, 'connected');
});

test('ticked only when due, with 20% loss the handshake completes and a silent agent is still forgotten in time', () => {
  for (let round = 0; round < 20; round++) {
    const { net, server, client } = setup(0.2);
    for (let i = 0; i < round; i++) net.random();
    const { s, c } = dialDue(net, server, client);
    net.run(10_000, [s, c]);
    assert.equal(server.state, 'connected', `round ${round}`);
    assert.equal(server.configAcked, true, `round ${round}`);
    // The agent goes silent (its VM froze): the helper forgets it within the peer timeout plus a tick.
    net.run(6_100, [s]);
    assert.equal(server.state, 'waiting', `round ${round}`);
  }
});

/** The intervals the agent's keepalives announced (the sealed body: after type, session id and counter). */
function announced(net: FakeNet, from = 0): (number | undefined)[] {
  return net.sent
    .slice(from)
    .filter((x) => x.data[0] === MsgType.Keepalive)
    .map((x) => {
      const body = x.data.subarray(17, x.data.length - 16);
      return body.length === 4 ? body.readUInt32BE(0) : undefined;
    });
}

/** Ends whose agent sees its tunnel's data count in `moved.n` (the pump's TUN packets in the agent). */
function idleSetup(server: Partial<TunnelServerOptions> = {}) {
  const moved = { n: 0 };
  const ends = setup(0, randomBytes(32), undefined, {}, { client: { activity: () => moved.n }, server });
  const tickers = dialDue(ends.net, ends.server, ends.client);
  return { ...ends, ...tickers, moved };
}

test('an idle agent doubles its keepalive interval to 10 s and says so; the helper keeps it', () => {
  const { net, server, client, s, c } = idleSetup();
  net.run(500, [s, c]);
  assert.equal(server.configAcked, true);
  const from = net.sent.length;
  s.ran = 0;
  c.ran = 0;
  net.run(120_000, [s, c]);
  const seen = announced(net, from);
  // The first keepalive, 2 s after the handshake, found no data and announced 4 s.
  assert.deepEqual(seen.slice(0, 5), [4_000, 8_000, 10_000, 10_000, 10_000]);
  // At 2, 6, 14 s, then one every 10 s: 13 or so in two minutes instead of 60.
  assert.ok(seen.length >= 13 && seen.length <= 15, `${seen.length} keepalives in two minutes`);
  assert.equal(server.state, 'connected');
  assert.equal(server.keepaliveIntervalMs, 10_000);
  assert.equal(client.counters.get('redials'), 0);
  assert.equal(server.counters.get('peerForgotten'), 0);
  assert.equal(server.counters.get('keepaliveBadInterval'), 0);
  assert.ok(s.ran <= 20, `server woke ${s.ran} times in two minutes`);
  assert.ok(c.ran <= 20, `agent woke ${c.ran} times in two minutes`);
});

test('data since the last keepalive brings the interval back to 2 s, and idling stretches it again', () => {
  const { net, server, s, c, moved } = idleSetup();
  net.run(60_000, [s, c]);
  assert.equal(server.keepaliveIntervalMs, 10_000);
  const from = net.sent.length;
  // Traffic for 12 s: the next keepalive (within 10 s) sees it, and the ones after it while it lasts.
  for (let i = 0; i < 120; i++) {
    moved.n += 5;
    net.run(100, [s, c]);
  }
  assert.equal(server.keepaliveIntervalMs, 2_000);
  net.run(30_000, [s, c]);
  const seen = announced(net, from);
  const back = seen.indexOf(2_000);
  assert.ok(back >= 0 && back <= 1, `announced ${seen.join(', ')}`);
  assert.deepEqual(seen.slice(-4), [4_000, 8_000, 10_000, 10_000]);
  assert.equal(server.counters.get('peerForgotten'), 0);
});

test('the helper forgets an idle agent after 2.5 of its announced intervals, not 5 s', () => {
  const { net, server, s, c } = idleSetup();
  net.run(60_000, [s, c]);
  assert.equal(server.keepaliveIntervalMs, 10_000);
  const lastKeepalive = [...net.sent].reverse().find((x) => x.data[0] === MsgType.Keepalive)!;
  const heardAt = net.now - (server.lastHeardAgoMs ?? 0);
  assert.ok(lastKeepalive);
  net.handlers.delete(`${AGENT.address}:${AGENT.port}`); // the VM stopped
  net.run(heardAt + 24_000 - net.now, [s]);
  assert.equal(server.state, 'connected', '24 s after the last keepalive');
  net.run(2_000, [s]);
  assert.equal(server.state, 'waiting');
  assert.match(server.peerLost ?? '', /no keepalive for 25 s/);
});

test('a helper that offers at most 4 s gets at most 4 s', () => {
  const { net, server, s, c } = idleSetup({ keepaliveMaxMs: 4_000 });
  net.run(60_000, [s, c]);
  const seen = announced(net);
  assert.ok(seen.length >= 14, `${seen.length} keepalives`);
  assert.equal(Math.max(...seen.map((x) => x ?? 0)), 4_000);
  assert.equal(server.keepaliveIntervalMs, 4_000);
  assert.equal(server.counters.get('keepaliveBadInterval'), 0);
});

test('an agent frozen longer than its helper keeps an idle peer dials at once; a shorter freeze keeps the session', () => {
  const { net, server, client, s, c } = idleSetup();
  net.run(60_000, [s, c]);
  assert.equal(server.keepaliveIntervalMs, 10_000);
  // 20 s without ticks or deliveries on the agent's side (a laptop's sleep pauses the VM): the helper keeps an
  // idle peer 25 s, so the session is still good and the agent goes on.
  net.handlers.delete(`${AGENT.address}:${AGENT.port}`);
  net.run(15_000, [s]);
  wireDue(net, AGENT, client, c);
  net.run(15_000, [s, c]);
  assert.equal(client.counters.get('redials'), 0);
  assert.equal(server.state, 'connected');
  // 40 s: the helper has forgotten it, and the agent knows without waiting for an answer.
  net.run(20_000, [s, c]);
  net.handlers.delete(`${AGENT.address}:${AGENT.port}`);
  net.handlers.delete(`${SERVER.address}:${SERVER.port}`);
  net.run(40_000, []);
  const before = client.counters.get('redials');
  client.tick();
  assert.equal(client.counters.get('redials'), before + 1);
});

test('an authenticated keepalive announcing more than the helper offered, or a malformed body, is counted and held to the offer', () => {
  const { net, server, client, secret } = setup();
  client.dial();
  net.run(500, [server, client]);
  assert.equal(server.state, 'connected');
  // The session's keys, from the handshake on the wire (what only the agent and the helper can compute).
  const challenge = net.sent
    .map((x) => parseControl(x.data))
    .find((m) => typeof m !== 'string' && m.type === MsgType.Challenge);
  assert.ok(challenge && typeof challenge !== 'string' && challenge.type === MsgType.Challenge);
  const keys = deriveSessionKeys(secret, challenge.agentNonce, challenge.helperNonce);
  let counter = 1_000_000n;
  const keepalive = (body: Buffer) => {
    net.inject(AGENT, SERVER, seal(keys.agentToHelper, MsgType.Keepalive, keys.id, ++counter, body));
    net.run(10, [server]);
  };
  keepalive(encodeKeepaliveBody(3_600_000)); // an hour
  assert.equal(server.counters.get('keepaliveBadInterval'), 1);
  assert.equal(server.keepaliveIntervalMs, 10_000, 'held to the 10 s offered');
  keepalive(Buffer.from([1, 2, 3]));
  assert.equal(server.counters.get('keepaliveBadInterval'), 2);
  assert.equal(server.keepaliveIntervalMs, undefined, 'a malformed body counts as none: the 5 s default');
  const heard = net.now;
  net.run(5_500, [server]);
  assert.equal(server.state, 'waiting', `forgotten ${net.now - heard} ms after the malformed keepalive`);
});

test('a helper that stops says farewell: an idle agent is back with its successor in about a second, not at its next keepalive', () => {
  const { net, server, client, secret, s, c } = idleSetup();
  net.run(60_000, [s, c]);
  assert.equal(server.keepaliveIntervalMs, 10_000);
  server.farewell();
  net.handlers.delete(`${SERVER.address}:${SERVER.port}`); // the daemon exits
  const stoppedAt = net.now;
  net.run(500, [c]);
  const server2 = new TunnelServer(net.port(SERVER), secret, {
    config: () => ({ mtu: 1420, hostAddress: '10.57.0.1', agentAddress: '10.57.0.2', routes: [], joins: [] }),
    now: () => net.now,
  });
  const s2 = dueTicker(net, server2);
  wireDue(net, SERVER, server2, s2);
  let connectedAt: number | undefined;
  server2.on('connected', () => (connectedAt ??= net.now));
  net.run(5_000, [s2, c]);
  assert.ok(client.counters.get('staleHints') >= 1);
  assert.ok(connectedAt !== undefined, 'the agent came back');
  // One keepalive in answer to the farewell, one to the successor's STALE; no ping-pong with its STALEs.
  assert.ok(server2.counters.get('staleSent') <= 2, `${server2.counters.get('staleSent')} STALEs`);
  assert.ok(connectedAt - stoppedAt <= 2_000, `back ${connectedAt - stoppedAt} ms after the helper stopped`);
});

test('traffic of the session from a new address (a proxy re-mapped the flow): the helper follows it and says so', () => {
  const { net, server, client } = setup();
  client.dial();
  net.run(500, [server, client]);
  assert.equal(server.state, 'connected');
  const roamed: Endpoint[] = [];
  server.on('roamed', (p) => roamed.push(p));
  const moved = { address: '127.0.0.9', port: 6000 };
  // Both ways through the proxy's new port: the agent's datagrams arrive from it, the helper's go to it.
  net.handlers.set(`${SERVER.address}:${SERVER.port}`, (d) => server.handle(d, moved.address, moved.port));
  net.handlers.set(`${moved.address}:${moved.port}`, (d, a, p) => client.handle(d, a, p));
  net.run(5_000, [server, client]);
  assert.equal(client.counters.get('redials'), 0, 'the session holds');
  assert.deepEqual(roamed, [moved], 'once, to the new address');
  assert.equal(server.counters.get('peerRoamed'), 1);
  assert.deepEqual(server.peer, moved);
  assert.deepEqual(net.peers.get(`${SERVER.address}:${SERVER.port}`), moved, 'pinned in the pump');
});
