// Registering with the OS: the macOS resolver file (written and removed in a temp directory: the same code
// writes /etc/resolver on a Mac), and the resolvectl calls on Linux (a recording runner).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DarwinResolver, RESOLVER_MARKER, resolverFileContent } from '../../helper/dns/resolver-darwin';
import { LinuxResolver, resolvectlRegisterArgs } from '../../helper/dns/resolver-linux';
import { runServiceCommand } from '../../cli/service-cli';
import type { ServiceManager } from '../../helper/service/service-manager';

const target = { address: '10.57.0.1', port: 53, suffix: 'gangway.internal', device: 'gw0' };

describe('macOS resolver file', () => {
  test('written with nameserver and port, atomically, 0644; replaced on a new suffix; removed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-resolver-'));
    try {
      const r = new DarwinResolver(join(dir, 'resolver'));
      const res = await r.register({ ...target, port: 5353 });
      const file = join(dir, 'resolver', 'gangway.internal');
      assert.equal(res.where, file);
      assert.equal(readFileSync(file, 'utf8'), `${RESOLVER_MARKER}\nnameserver 10.57.0.1\nport 5353\n`);
      assert.equal(statSync(file).mode & 0o777, 0o644);
      assert.deepEqual(readdirSync(join(dir, 'resolver')), ['gangway.internal'], 'no temp files left');
      await r.register({ ...target, suffix: 'dev.test' });
      assert.deepEqual(readdirSync(join(dir, 'resolver')), ['dev.test']);
      assert.equal(
        readFileSync(join(dir, 'resolver', 'dev.test'), 'utf8'),
        resolverFileContent('10.57.0.1', 53),
      );
      await r.unregister();
      assert.deepEqual(readdirSync(join(dir, 'resolver')), []);
      await r.unregister(); // twice is fine
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("someone else's file is left alone; removeAllOurs removes only ours", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-resolver-'));
    try {
      writeFileSync(join(dir, 'gangway.internal'), 'nameserver 1.1.1.1\n');
      const r = new DarwinResolver(dir);
      const res = await r.register(target);
      assert.equal(res.where, null);
      assert.match(res.hint ?? '', /not written by Gangway/);
      assert.equal(readFileSync(join(dir, 'gangway.internal'), 'utf8'), 'nameserver 1.1.1.1\n');
      await r.register({ ...target, suffix: 'ours.test' });
      assert.deepEqual(await new DarwinResolver(dir).removeAllOurs(), [join(dir, 'ours.test')]);
      assert.ok(existsSync(join(dir, 'gangway.internal')));
      assert.ok(!existsSync(join(dir, 'ours.test')));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Linux: systemd-resolved per-link DNS', () => {
  test('the resolvectl argument lists', () => {
    assert.deepEqual(resolvectlRegisterArgs(target), [
      ['dns', 'gw0', '10.57.0.1'],
      ['domain', 'gw0', '~gangway.internal'],
      ['default-route', 'gw0', 'false'],
    ]);
    assert.deepEqual(resolvectlRegisterArgs({ ...target, port: 5353 })[0], ['dns', 'gw0', '10.57.0.1:5353']);
    assert.deepEqual(resolvectlRegisterArgs({ ...target, address: 'fd57::1', port: 5353 })[0], [
      'dns',
      'gw0',
      '[fd57::1]:5353',
    ]);
  });

  test('register runs them, unregister reverts the link; an old default-route verb is tolerated', async () => {
    const calls: string[][] = [];
    const r = new LinuxResolver(
      (cmd, args) => {
        calls.push([cmd, ...args]);
        return args[0] === 'default-route'
          ? Promise.reject(new Error('Unknown command verb'))
          : Promise.resolve('');
      },
      () => true,
      () => true,
    );
    const res = await r.register(target);
    assert.match(res.where ?? '', /gw0/);
    await r.unregister();
    await r.unregister();
    assert.deepEqual(calls, [
      ['resolvectl', 'dns', 'gw0', '10.57.0.1'],
      ['resolvectl', 'domain', 'gw0', '~gangway.internal'],
      ['resolvectl', 'default-route', 'gw0', 'false'],
      ['resolvectl', 'revert', 'gw0'],
    ]);
  });

  test('from another network namespace (a test rig): nothing is run, whatever resolved does', async () => {
    const calls: string[][] = [];
    const r = new LinuxResolver(
      (cmd, args) => (calls.push([cmd, ...args]), Promise.resolve('')),
      () => true,
      () => false,
    );
    const res = await r.register(target);
    assert.equal(res.where, null);
    assert.match(res.hint ?? '', /another network namespace/);
    assert.deepEqual(calls, []);
  });

  test('without systemd-resolved: nothing is run, "not registered" with a hint', async () => {
    const calls: string[][] = [];
    const r = new LinuxResolver(
      (cmd, args) => (calls.push([cmd, ...args]), Promise.resolve('')),
      () => false,
    );
    const res = await r.register(target);
    assert.equal(res.where, null);
    assert.match(res.hint ?? '', /systemd-resolved is not running/);
    await r.unregister();
    assert.deepEqual(calls, []);
  });

  test('gangway service uninstall also removes leftover DNS registrations', async () => {
    const out: string[] = [];
    const manager = {
      kind: 'systemd',
      uninstall: () =>
        Promise.resolve({ removed: ['/etc/systemd/system/gangway.service'], stopped: true, warnings: [] }),
    } as unknown as ServiceManager;
    const code = await runServiceCommand(['uninstall'], {
      manager,
      isRoot: () => true,
      out: (s) => out.push(s),
      err: (s) => out.push(s),
      removeDnsRegistrations: () => Promise.resolve(['/etc/resolver/gangway.internal']),
    });
    assert.equal(code, 0);
    assert.match(
      out.join('\n'),
      /removed \/etc\/systemd\/system\/gangway.service, \/etc\/resolver\/gangway.internal/,
    );
  });
});
