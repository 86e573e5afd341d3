// Settings application against a real settings file in a temp dir and recorded effects: each change goes
// where it belongs, changes apply one at a time, and a change the tunnel cannot take is undone on disk too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../common/log';
import { defaultConfig } from '../../helper/config';
import { ApiFailure } from '../../helper/control-server';
import { planeParams, type PlaneParams } from '../../helper/data-plane';
import { SettingsApply } from '../../helper/settings/settings-apply';
import { SettingsStore } from '../../helper/settings/settings-store';

function rig(o: { failMove?: boolean; moveMs?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'gangway-settings-apply-'));
  const cfg = defaultConfig('linux');
  const store = SettingsStore.load(dir);
  let plane: PlaneParams = planeParams(cfg);
  const effects: string[] = [];
  const apply = new SettingsApply({
    cfg,
    store: () => store,
    plane: () => plane,
    moveTunnel: async (next) => {
      effects.push(`move-start ${next.port}`);
      await new Promise((r) => setTimeout(r, o.moveMs ?? 0));
      if (o.failMove) throw new Error('EADDRINUSE');
      plane = next;
      effects.push(`move-done ${next.port}`);
    },
    replaceDocker: () => (effects.push('docker'), Promise.resolve()),
    applyDns: () => (effects.push('dns'), Promise.resolve()),
    agentWanted: () => true,
    launchAgent: () => (effects.push('agent'), Promise.resolve()),
    sync: () => (effects.push('sync'), Promise.resolve()),
    changed: () => effects.push('changed'),
    listRoutes: () => Promise.resolve([{ destination: '192.168.1.0/24', device: 'en0' }]),
    networks: () => [],
    device: () => 'gw0',
    log: createLogger('test', () => undefined),
  });
  const file = () => JSON.parse(readFileSync(join(dir, 'settings.json'), 'utf8')) as Record<string, unknown>;
  return { apply, effects, file, done: () => rmSync(dir, { recursive: true, force: true }) };
}

test('each change goes where it belongs: a port moves the tunnel and recreates the agent', async () => {
  const r = rig();
  try {
    const res = await r.apply.patch({ port: 2700 });
    assert.equal(res.settings.port, 2700);
    assert.equal(r.file().port, 2700);
    assert.deepEqual(r.effects, ['move-start 2700', 'move-done 2700', 'agent', 'sync', 'changed']);
    r.effects.length = 0;
    await r.apply.patch({ dockerHost: 'unix:///tmp/other.sock', dnsSuffix: 'box.internal' });
    assert.deepEqual(r.effects, ['docker', 'dns', 'sync', 'changed']);
    assert.equal(r.apply.effective().dockerHost, 'unix:///tmp/other.sock');
  } finally {
    r.done();
  }
});

test('a change the tunnel cannot take is refused and undone in the file', async () => {
  const r = rig({ failMove: true });
  try {
    await assert.rejects(
      r.apply.patch({ mtu: 1300 }),
      (e: unknown) =>
        e instanceof ApiFailure && e.code === 'SETTINGS_NOT_APPLIED' && /EADDRINUSE/.test(e.message),
    );
    assert.equal(r.file().mtu, undefined);
    assert.equal(r.apply.effective().mtu, defaultConfig('linux').mtu);
  } finally {
    r.done();
  }
});

test('bad input and a clashing tunnel subnet are refused before anything is saved', async () => {
  const r = rig();
  try {
    await assert.rejects(
      r.apply.patch({ mtu: 'big' }),
      (e: unknown) => e instanceof ApiFailure && e.code === 'INVALID_SETTINGS',
    );
    await assert.rejects(
      r.apply.patch({ tunnelSubnet: '192.168.1.0/30' }),
      (e: unknown) =>
        e instanceof ApiFailure && e.code === 'INVALID_SETTINGS' && e.fields?.tunnelSubnet !== undefined,
    );
    assert.deepEqual(r.effects, []);
  } finally {
    r.done();
  }
});

test('changes apply one at a time, in order', async () => {
  const r = rig({ moveMs: 30 });
  try {
    await Promise.all([r.apply.patch({ port: 2701 }), r.apply.patch({ port: 2702 }), r.apply.idle()]);
    const moves = r.effects.filter((e) => e.startsWith('move'));
    assert.deepEqual(moves, ['move-start 2701', 'move-done 2701', 'move-start 2702', 'move-done 2702']);
    assert.equal(r.file().port, 2702);
  } finally {
    r.done();
  }
});

test('IPv6: tunnelSubnet6 moves the tunnel, a clashing one is refused, and an MTU below 1280 turns it off', async () => {
  const r = rig();
  try {
    await r.apply.patch({ tunnelSubnet6: 'fd58::/64' });
    assert.deepEqual(r.effects.slice(0, 2), ['move-start 2611', 'move-done 2611']);
    assert.equal(r.file().tunnelSubnet6, 'fd58::/64');
    r.effects.length = 0;
    await assert.rejects(
      r.apply.patch({ tunnelSubnet6: '2001:db8::/64' }),
      (e: unknown) =>
        e instanceof ApiFailure && e.code === 'INVALID_SETTINGS' && /unique-local/.test(e.message),
    );
    assert.deepEqual(r.effects, []);
    // Below 1280 IPv6 goes off (the device is re-addressed for the new MTU anyway).
    await r.apply.patch({ mtu: 1200 });
    assert.ok((r.effects as string[]).includes('move-done 2611'));
    r.effects.length = 0;
    await r.apply.patch({ tunnelSubnet6: null });
    assert.deepEqual(r.effects, ['sync', 'changed'], 'IPv6 was already off: nothing to move');
    assert.equal(r.apply.effective().tunnelSubnet6, null);
  } finally {
    r.done();
  }
});
