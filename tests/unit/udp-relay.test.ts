// The rig's Docker Desktop proxy on loopback: a port of its own per flow, replies only from the target,
// and a flow idle past the limit forgotten, so the same client's next datagram leaves from a new port.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { UdpRelay, type RelayEvent } from '../../rig/udp-relay';

function bound(): Promise<Socket> {
  const s = createSocket('udp4');
  return new Promise((r) => s.bind(0, '127.0.0.1', () => r(s)));
}

function next(s: Socket): Promise<{ msg: string; port: number }> {
  return new Promise((r) => s.once('message', (m, info) => r({ msg: m.toString(), port: info.port })));
}

test('one port per flow, answers come back, an idle flow is forgotten and the next one gets a new port', async () => {
  const server = await bound();
  server.on('message', (m, r) => server.send(Buffer.concat([Buffer.from('re:'), m]), r.port, r.address));
  const events: RelayEvent[] = [];
  const relay = new UdpRelay({
    listen: { address: '127.0.0.1', port: 0 },
    target: { address: '127.0.0.1', port: server.address().port },
    sourceAddress: '127.0.0.1',
    idleMs: 300,
    onEvent: (e) => events.push(e),
  });
  await relay.start();
  const listening = events.find((e) => e.event === 'listening');
  assert.ok(listening?.event === 'listening');
  const client = await bound();
  try {
    const seen = next(server);
    const answer = next(client);
    client.send('one', listening.port, '127.0.0.1');
    const first = await seen;
    assert.equal((await answer).msg, 're:one');
    assert.equal((await answer).port, listening.port, 'the client hears the relay, not the server');
    assert.deepEqual(relay.openPorts, [first.port]);
    assert.notEqual(first.port, client.address().port);
    await new Promise((r) => setTimeout(r, 600));
    const forgotten = events.find((e) => e.event === 'flow-forgotten');
    assert.ok(forgotten?.event === 'flow-forgotten' && forgotten.port === first.port, JSON.stringify(events));
    assert.deepEqual(relay.openPorts, []);
    const seen2 = next(server);
    client.send('two', listening.port, '127.0.0.1');
    const second = await seen2;
    assert.equal(second.msg, 'two');
    assert.notEqual(
      second.port,
      first.port,
      'the same client comes from a new port after the flow was forgotten',
    );
  } finally {
    relay.close();
    client.close();
    server.close();
  }
});
