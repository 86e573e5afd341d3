// DnsService: the pieces together on loopback, with a fake container source and the resolver-file
// registrar in a temp directory: names follow container changes, reconfigure() rebinds and re-registers
// in place, gangway down/up take the registration away and back, port 0 turns DNS off.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../common/log';
import { RCODE, TYPE } from '../../helper/dns/dns-message';
import { queryUdp } from '../../helper/dns/dns-client';
import { DnsService } from '../../helper/dns/dns-service';
import type { ContainerRecord } from '../../helper/dns/name-table';
import { DarwinResolver } from '../../helper/dns/resolver-darwin';

class FakeSource extends EventEmitter {
  containers: ContainerRecord[] = [];
  start(): void {}
  stop(): Promise<void> {
    return Promise.resolve();
  }
  set(list: ContainerRecord[]): void {
    this.containers = list;
    this.emit('changed');
  }
}

async function freePort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const web = (ip: string): ContainerRecord => ({
  id: 'w1',
  name: 'web',
  labels: {},
  networks: [{ network: 'app', ipv4: ip, ipv6: null, aliases: [] }],
});

describe('DnsService', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-dns-service-'));
  const source = new FakeSource();
  let changes = 0;
  const svc = new DnsService({
    index: source,
    resolver: new DarwinResolver(dir),
    device: () => 'gw0',
    log: createLogger('test', () => undefined),
    onChange: () => changes++,
  });
  after(async () => {
    await svc.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('start: listening, registered; names follow containers and routed networks', async () => {
    const port = await freePort();
    await svc.start({ address: '127.0.0.1', port, suffix: 'gangway.internal' });
    assert.deepEqual(svc.status(), {
      enabled: true,
      suffix: 'gangway.internal',
      listen: `127.0.0.1:${port}`,
      resolver: join(dir, 'gangway.internal'),
      lastError: null,
    });
    assert.match(
      readFileSync(join(dir, 'gangway.internal'), 'utf8'),
      new RegExp(`nameserver 127.0.0.1\\nport ${port}\\n$`),
    );
    source.set([web('172.20.0.2')]);
    // Not routed yet: no name.
    assert.equal((await queryUdp('127.0.0.1', port, 'web.gangway.internal', TYPE.A)).rcode, RCODE.NXDOMAIN);
    svc.setRoutedNetworks([{ name: 'app', subnets: ['172.20.0.0/16'] }]);
    const a = await queryUdp('127.0.0.1', port, 'web.gangway.internal', TYPE.A);
    assert.deepEqual(
      a.answers.map((x) => x.data),
      ['172.20.0.2'],
    );
    source.set([web('172.20.0.9')]);
    const b = await queryUdp('127.0.0.1', port, 'web.gangway.internal', TYPE.A);
    assert.deepEqual(
      b.answers.map((x) => x.data),
      ['172.20.0.9'],
    );
    assert.deepEqual(svc.containers().containers[0]?.dnsNames, ['web.gangway.internal']);
    const probe = await svc.probe();
    assert.equal(probe.ok, true, probe.detail);
    assert.match(probe.detail, /web\.gangway\.internal -> 172\.20\.0\.9/);
  });

  test('reconfigure: new port and suffix without a restart; the old registration goes', async () => {
    const old = svc.server.port!;
    const port = await freePort();
    const before = changes;
    await svc.reconfigure({ address: '127.0.0.1', port, suffix: 'dev.test' });
    assert.ok(changes > before);
    assert.equal(svc.status().listen, `127.0.0.1:${port}`);
    assert.deepEqual(readdirSync(dir), ['dev.test']);
    assert.match(readFileSync(join(dir, 'dev.test'), 'utf8'), new RegExp(`port ${port}\\n$`));
    const a = await queryUdp('127.0.0.1', port, 'web.dev.test', TYPE.A);
    assert.deepEqual(
      a.answers.map((x) => x.data),
      ['172.20.0.9'],
    );
    assert.equal((await queryUdp('127.0.0.1', port, 'web.gangway.internal', TYPE.A)).rcode, RCODE.REFUSED);
    await assert.rejects(queryUdp('127.0.0.1', old, 'web.dev.test', TYPE.A, 300));
    // The same values again: nothing to do, nothing rebinds.
    await svc.reconfigure({ address: '127.0.0.1', port, suffix: 'dev.test' });
    assert.equal(svc.status().listen, `127.0.0.1:${port}`);
  });

  test('gangway down / up: registration removed and restored; the server keeps answering', async () => {
    await svc.unregister();
    assert.deepEqual(readdirSync(dir), []);
    assert.equal(svc.status().resolver, null);
    assert.equal((await queryUdp('127.0.0.1', svc.server.port!, 'web.dev.test', TYPE.A)).rcode, 0);
    await svc.register();
    assert.deepEqual(readdirSync(dir), ['dev.test']);
  });

  test('a port in use: lastError, not a crash; port 0: off and unregistered', async () => {
    const busy = createSocket('udp4');
    await new Promise<void>((r) => busy.bind(0, '127.0.0.1', () => r()));
    try {
      await svc.reconfigure({ address: '127.0.0.1', port: busy.address().port, suffix: 'dev.test' });
      assert.equal(svc.status().listen, null);
      assert.match(svc.status().lastError ?? '', /cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
      assert.equal(existsSync(join(dir, 'dev.test')), false, 'not registered without a server');
    } finally {
      busy.close();
    }
    await svc.reconfigure({ address: '127.0.0.1', port: 0, suffix: 'dev.test' });
    assert.deepEqual(svc.status(), {
      enabled: false,
      suffix: 'dev.test',
      listen: null,
      resolver: null,
      lastError: null,
    });
    assert.deepEqual(readdirSync(dir), []);
  });
});
