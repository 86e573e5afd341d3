// Per-container agent secrets: a key per container, the current one only, revoked on down and on replacement,
// remembered across a helper restart; the handshake runs for real between TunnelServer and TunnelClient.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ControlPort } from '../../common/control-port';
import {
  type AgentCredential,
  formatAgentCredential,
  parseAgentCredential,
} from '../../common/agent-credential';
import { INSTALL_KEY_ID } from '../../common/wire';
import { AGENT_KEY_FILE, AgentKeys } from '../../helper/agent-keys';
import { TunnelServer } from '../../helper/tunnel-server';
import { TunnelClient } from '../../vm-agent/tunnel-client';

/** Runs one handshake between a server using `keys` and a client holding `cred`, on a lossless loopback. */
function handshake(keys: AgentKeys, cred: Buffer | AgentCredential): { ok: boolean; server: TunnelServer } {
  let now = 0;
  const toServer: [Buffer, number][] = [];
  const toClient: Buffer[] = [];
  const port = (queue: (d: Buffer) => void): ControlPort => ({
    send: (d) => queue(d),
    setPeer: () => undefined,
    clearPeer: () => undefined,
    setChecksumOffload: () => undefined,
  });
  const config = () => ({
    mtu: 1420,
    hostAddress: '10.57.0.1',
    agentAddress: '10.57.0.2',
    routes: [],
    joins: [],
  });
  const server = new TunnelServer(
    port((d) => toClient.push(d)),
    keys.secretFor,
    { config, now: () => now },
  );
  const client = new TunnelClient(
    port((d) => toServer.push([d, 5000])),
    cred,
    { address: '127.0.0.1', port: 4000 },
    {
      now: () => now,
    },
  );
  client.dial();
  for (let i = 0; i < 300; i++) {
    now += 10;
    for (const [d, p] of toServer.splice(0)) server.handle(d, '127.0.0.1', p);
    for (const d of toClient.splice(0)) client.handle(d, '127.0.0.1', 4000);
    server.tick();
    client.tick();
  }
  return { ok: server.state === 'connected' && client.state === 'connected', server };
}

test('each container key works while current; down (revoke) and a new container (mint) kill the old one', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gangway-keys-'));
  try {
    const install = randomBytes(32);
    const keys = new AgentKeys(install, dir);
    assert.equal(keys.current(), undefined);
    const first = await keys.mint();
    assert.ok(!first.keyId.equals(INSTALL_KEY_ID));
    assert.ok(!first.secret.equals(install), 'the container never holds the per-install secret');
    assert.equal(statSync(join(dir, AGENT_KEY_FILE)).mode & 0o777, 0o600);
    assert.equal(handshake(keys, first).ok, true);
    // A helper restarted meanwhile still accepts the running container's key.
    assert.equal(handshake(new AgentKeys(install, dir), first).ok, true);

    const second = await keys.mint(); // the container was replaced
    const stale = handshake(keys, first);
    assert.equal(stale.ok, false, "the replaced container's secret fails the handshake");
    assert.ok(stale.server.counters.get('handshakeUnknownKey') > 0);
    assert.equal(handshake(keys, second).ok, true);

    await keys.revoke(); // gangway down
    assert.equal(handshake(keys, second).ok, false);
    assert.equal(new AgentKeys(install, dir).current(), undefined, 'revoked for a restarted helper too');
    // The per-install secret itself (an agent run by hand with <state-dir>/secret) keeps working.
    assert.equal(handshake(keys, install).ok, true);
    // A key id with the wrong secret: the helper's challenge does not verify, no session.
    const third = await keys.mint();
    assert.equal(handshake(keys, { keyId: third.keyId, secret: randomBytes(32) }).ok, false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('credential files: the per-install form and the per-container form round-trip; anything else is refused', () => {
  const install = { keyId: INSTALL_KEY_ID, secret: randomBytes(32) };
  const container = { keyId: randomBytes(16), secret: randomBytes(32) };
  assert.equal(formatAgentCredential(install), `${install.secret.toString('hex')}\n`);
  assert.deepEqual(parseAgentCredential(formatAgentCredential(install)), install);
  assert.deepEqual(parseAgentCredential(formatAgentCredential(container)), container);
  for (const bad of [
    '',
    'zz',
    'ab'.repeat(8),
    `${'00'.repeat(16)} ${'ab'.repeat(32)}`,
    `ab ${'ab'.repeat(32)}`,
    'a b c',
  ])
    assert.equal(parseAgentCredential(bad), undefined, JSON.stringify(bad));
});
