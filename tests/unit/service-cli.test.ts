import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runServiceCommand, type ServiceCliDeps } from '../../cli/service-cli';
import type {
  InstallOptions,
  InstallResult,
  ServiceManager,
  ServiceStatus,
  UninstallResult,
} from '../../helper/service/service-manager';

class FakeManager implements ServiceManager {
  readonly kind = 'systemd' as const;
  readonly path = '/etc/systemd/system/gangway.service';
  installed: InstallOptions[] = [];
  started = true;
  statusValue: ServiceStatus = {
    manager: 'systemd',
    path: this.path,
    installed: true,
    managerRunning: true,
    running: true,
    pid: 7,
    detail: 'active',
  };
  install(o: InstallOptions): Promise<InstallResult> {
    this.installed.push(o);
    return Promise.resolve({
      path: this.path,
      started: this.started,
      warnings: this.started ? [] : ['systemd is not running'],
    });
  }
  uninstall(): Promise<UninstallResult> {
    return Promise.resolve({ removed: [this.path], stopped: true, warnings: [] });
  }
  status(): Promise<ServiceStatus> {
    return Promise.resolve(this.statusValue);
  }
}

const BASE: InstallOptions = {
  nodePath: '/usr/bin/node',
  cliPath: '/opt/g/dist/cli/gangway.js',
  owner: { uid: 1000, gid: 1000, user: 'bob' },
  socketPath: '/run/gangway/gangway.sock',
  stateDir: '/var/lib/gangway',
  logFile: '/var/log/gangway/helper.log',
  extraArgs: [],
};

async function cli(argv: string[], over: Partial<ServiceCliDeps> = {}) {
  const manager = new FakeManager();
  const out: string[] = [];
  const err: string[] = [];
  const code = await runServiceCommand(argv, {
    manager,
    out: (s) => out.push(s),
    err: (s) => err.push(s),
    isRoot: () => true,
    installDefaults: () => BASE,
    disconnect: () => Promise.resolve('disconnected (fake)'),
    ...over,
  });
  return { code, out: out.join('\n'), err: err.join('\n'), manager };
}

test('usage errors exit 2, --help exits 0', async () => {
  assert.equal((await cli([])).code, 2);
  assert.equal((await cli(['restart'])).code, 2);
  assert.equal((await cli(['status', 'extra'])).code, 2);
  assert.equal((await cli(['status', '--bogus'])).code, 2);
  assert.equal((await cli(['status', '--socket', '/x'])).code, 2);
  const h = await cli(['--help']);
  assert.equal(h.code, 0);
  assert.match(h.out, /Usage: gangway service/);
});

test('install passes flags and daemon args after --', async () => {
  const r = await cli(['install', '--socket', '/tmp/s.sock', '--log-file', '/tmp/l', '--', '--mtu', '1400']);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(r.manager.installed[0], {
    ...BASE,
    socketPath: '/tmp/s.sock',
    logFile: '/tmp/l',
    extraArgs: ['--mtu', '1400'],
  });
  assert.match(r.out, /wrote \/etc\/systemd\/system\/gangway.service/);
});

test('install and uninstall need root; status does not', async () => {
  const r = await cli(['install'], { isRoot: () => false });
  assert.equal(r.code, 1);
  assert.match(r.err, /must be run as root/);
  assert.equal((await cli(['uninstall'], { isRoot: () => false })).code, 1);
  assert.equal((await cli(['status'], { isRoot: () => false })).code, 0);
});

test('install that could not start the service warns and exits 1', async () => {
  const manager = new FakeManager();
  manager.started = false;
  const r = await cli(['install'], { manager });
  assert.equal(r.code, 1);
  assert.match(r.err, /warning: systemd is not running/);
});

test('status and uninstall, human and --json', async () => {
  const s = await cli(['status']);
  assert.equal(s.code, 0);
  assert.match(s.out, /installed/);
  assert.match(s.out, /running \(pid 7\)/);
  const j = await cli(['status', '--json']);
  assert.equal((JSON.parse(j.out) as ServiceStatus).pid, 7);
  const manager = new FakeManager();
  manager.statusValue = { ...manager.statusValue, installed: false, running: false, pid: undefined };
  assert.equal((await cli(['status'], { manager })).code, 1);
  const u = await cli(['uninstall', '--json']);
  assert.equal(u.code, 0);
  assert.deepEqual((JSON.parse(u.out) as UninstallResult).removed, ['/etc/systemd/system/gangway.service']);
});

test('uninstall disconnects the daemon first, and still uninstalls when that fails', async () => {
  const asked: string[] = [];
  const ok = await cli(['uninstall', '--socket', '/tmp/g.sock'], {
    disconnect: (socket) => {
      asked.push(socket);
      return Promise.resolve('disconnected: agent removed');
    },
  });
  assert.equal(ok.code, 0, ok.err);
  assert.deepEqual(asked, ['/tmp/g.sock']);
  assert.match(ok.out, /^disconnected: agent removed\nremoved \/etc\/systemd\/system\/gangway.service/);
  const wedged = await cli(['uninstall', '--json'], {
    disconnect: () => Promise.reject(new Error('the daemon did not answer within 60 s')),
  });
  assert.equal(wedged.code, 0);
  const j = JSON.parse(wedged.out) as UninstallResult & { disconnected: string };
  assert.match(j.disconnected, /could not disconnect first \(the daemon did not answer/);
  assert.deepEqual(j.removed, ['/etc/systemd/system/gangway.service']);
});
