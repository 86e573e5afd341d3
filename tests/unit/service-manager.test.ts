import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandError, type Runner } from '../../shared/exec';
import {
  BOOTSTRAP_RETRY_MS,
  LaunchdServiceManager,
  UNLOAD_WAIT_MS,
  launchdPlist,
  parseLaunchctlPrint,
  type DarwinServiceDeps,
} from '../../helper/service/service-darwin';
import { createServiceManager } from '../../helper/service/service-factory';
import { SystemdServiceManager, systemdUnit } from '../../helper/service/service-linux';
import {
  defaultInstallOptions,
  resolveOwner,
  type InstallOptions,
} from '../../helper/service/service-manager';

type Call = string[];
function fakeRunner(respond: (cmd: string, args: readonly string[]) => string | Error = () => ''): {
  runner: Runner;
  calls: Call[];
} {
  const calls: Call[] = [];
  const runner: Runner = (cmd, args) => {
    calls.push([cmd, ...args]);
    const r = respond(cmd, args);
    return r instanceof Error ? Promise.reject(r) : Promise.resolve(r);
  };
  return { runner, calls };
}

function withRoot(fn: (root: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const root = mkdtempSync(join(tmpdir(), 'gw-svc-'));
    try {
      await fn(root);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  };
}

function opts(root: string): InstallOptions {
  return {
    nodePath: process.execPath,
    cliPath: '/opt/gangway/dist/cli/gangway.js',
    owner: { uid: 1000, gid: 1000, user: 'bob' },
    socketPath: '/run/gangway/gangway.sock',
    stateDir: '/var/lib/gangway',
    logFile: join(root, 'log', 'helper.log'),
    extraArgs: [],
  };
}

const fail = (cmd: string, args: readonly string[]) => new CommandError(cmd, args, 'boom', 1);

/** launchd's clock for LaunchdServiceManager: sleeping moves it on at once, so no test waits for real. */
function fakeClock(): Required<Pick<DarwinServiceDeps, 'now' | 'sleep' | 'progress'>> & {
  elapsed: () => number;
  lines: string[];
} {
  let t = 0;
  const lines: string[] = [];
  return {
    now: () => t,
    sleep: (ms) => {
      t += ms;
      return Promise.resolve();
    },
    progress: (line) => void lines.push(line),
    elapsed: () => t,
    lines,
  };
}

const EIO = (cmd: string, args: readonly string[]) =>
  new CommandError(cmd, args, 'Bootstrap failed: 5: Input/output error\n', 5);
const NOT_LOADED = (cmd: string, args: readonly string[]) =>
  new CommandError(cmd, args, 'Could not find service "dev.gangway.helper" in domain for system', 113);

test(
  'systemd install writes the unit atomically (0644), reloads, enables and restarts',
  withRoot(async (root) => {
    const runDir = join(root, 'run-systemd');
    mkdirSync(runDir);
    const { runner, calls } = fakeRunner();
    const m = new SystemdServiceManager({ runner, unitDir: join(root, 'etc'), systemdRuntimeDir: runDir });
    const o = opts(root);
    const r = await m.install(o);
    assert.deepEqual(r, { path: join(root, 'etc', 'gangway.service'), started: true, warnings: [] });
    assert.equal(readFileSync(r.path, 'utf8'), systemdUnit(o));
    assert.equal(statSync(r.path).mode & 0o777, 0o644);
    assert.deepEqual(readdirSync(join(root, 'etc')), ['gangway.service']); // no temp file left
    assert.ok(existsSync(join(root, 'log')));
    assert.deepEqual(calls, [
      ['systemctl', 'daemon-reload'],
      ['systemctl', 'enable', 'gangway.service'],
      ['systemctl', 'restart', 'gangway.service'],
    ]);
  }),
);

test(
  'systemd install without systemd as PID 1 writes the unit and warns instead of failing',
  withRoot(async (root) => {
    const { runner, calls } = fakeRunner();
    const m = new SystemdServiceManager({ runner, unitDir: root, systemdRuntimeDir: join(root, 'nope') });
    const r = await m.install(opts(root));
    assert.equal(r.started, false);
    assert.match(
      r.warnings[0]!,
      /systemd is not running on this machine; the unit was written to .* but not started/,
    );
    assert.ok(existsSync(r.path));
    assert.deepEqual(calls, []);
    const s = await m.status();
    assert.deepEqual(
      { installed: s.installed, managerRunning: s.managerRunning, running: s.running },
      { installed: true, managerRunning: false, running: false },
    );
  }),
);

test(
  'systemd install propagates a systemctl failure',
  withRoot(async (root) => {
    mkdirSync(join(root, 'run'));
    const { runner } = fakeRunner((cmd, args) => (args[0] === 'restart' ? fail(cmd, args) : ''));
    const m = new SystemdServiceManager({ runner, unitDir: root, systemdRuntimeDir: join(root, 'run') });
    await assert.rejects(m.install(opts(root)), /boom/);
  }),
);

test(
  'systemd uninstall stops, removes, reloads; a second uninstall is a no-op',
  withRoot(async (root) => {
    mkdirSync(join(root, 'run'));
    let failDisable = false;
    const { runner, calls } = fakeRunner((cmd, args) =>
      failDisable && args[0] === 'disable' ? fail(cmd, args) : '',
    );
    const m = new SystemdServiceManager({
      runner,
      unitDir: join(root, 'etc'),
      systemdRuntimeDir: join(root, 'run'),
    });
    await m.install(opts(root));
    calls.length = 0;
    const r = await m.uninstall();
    assert.deepEqual(r, { removed: [m.path], stopped: true, warnings: [] });
    assert.ok(!existsSync(m.path));
    assert.deepEqual(calls, [
      ['systemctl', 'disable', '--now', 'gangway.service'],
      ['systemctl', 'daemon-reload'],
    ]);
    failDisable = true; // as systemctl does for an unknown unit
    const again = await m.uninstall();
    assert.deepEqual(again, { removed: [], stopped: false, warnings: [] });
  }),
);

test(
  'systemd status reads is-active and MainPID',
  withRoot(async (root) => {
    mkdirSync(join(root, 'run'));
    let active = true;
    const { runner } = fakeRunner((cmd, args) => {
      if (args[0] === 'is-active') return active ? 'active\n' : new CommandError(cmd, args, '', 3);
      if (args[0] === 'show') return '4242\n';
      return '';
    });
    const m = new SystemdServiceManager({ runner, unitDir: root, systemdRuntimeDir: join(root, 'run') });
    await m.install(opts(root));
    assert.deepEqual(await m.status(), {
      manager: 'systemd',
      path: m.path,
      installed: true,
      managerRunning: true,
      running: true,
      pid: 4242,
      detail: 'active',
    });
    active = false;
    const s = await m.status();
    assert.equal(s.running, false);
    assert.equal(s.pid, undefined);
  }),
);

test(
  'launchd install writes the plist and bootstraps it',
  withRoot(async (root) => {
    const { runner, calls } = fakeRunner((cmd, args) =>
      args[0] === 'bootout' ? fail(cmd, args) : args[0] === 'print' ? NOT_LOADED(cmd, args) : '',
    );
    const clock = fakeClock();
    const m = new LaunchdServiceManager({ runner, plistDir: join(root, 'LaunchDaemons'), ...clock });
    const o = opts(root);
    const r = await m.install(o);
    assert.equal(r.path, join(root, 'LaunchDaemons', 'dev.gangway.helper.plist'));
    assert.deepEqual(r.warnings, []);
    assert.equal(r.started, true);
    assert.equal(readFileSync(r.path, 'utf8'), launchdPlist(o));
    assert.equal(statSync(r.path).mode & 0o777, 0o644);
    assert.deepEqual(calls, [
      ['launchctl', 'bootout', 'system/dev.gangway.helper'],
      ['launchctl', 'print', 'system/dev.gangway.helper'],
      ['launchctl', 'enable', 'system/dev.gangway.helper'],
      ['launchctl', 'bootstrap', 'system', r.path],
    ]);
    assert.equal(clock.elapsed(), 0, 'nothing to wait for');
    assert.deepEqual(clock.lines, [], 'silent when launchd makes it wait for nothing');
  }),
);

test(
  'launchd install waits until launchd has dropped the old job before bootstrapping',
  withRoot(async (root) => {
    let prints = 0;
    const { runner, calls } = fakeRunner((cmd, args) =>
      args[0] === 'print' && ++prints > 4 ? NOT_LOADED(cmd, args) : '',
    );
    const clock = fakeClock();
    const m = new LaunchdServiceManager({ runner, plistDir: root, ...clock });
    assert.equal((await m.install(opts(root))).started, true);
    assert.deepEqual(
      calls.map((c) => c[1]),
      ['bootout', 'print', 'print', 'print', 'print', 'print', 'enable', 'bootstrap'],
    );
    assert.equal(clock.elapsed(), 4 * 250);
    assert.match(
      clock.lines.join('\n'),
      /waiting for launchd to finish removing system\/dev\.gangway\.helper/,
    );
  }),
);

test(
  'launchd install retries a bootstrap refused with EIO, and never falls back to load -w',
  withRoot(async (root) => {
    let bootstraps = 0;
    const { runner, calls } = fakeRunner((cmd, args) => {
      if (args[0] === 'print') return NOT_LOADED(cmd, args);
      if (args[0] === 'bootstrap' && ++bootstraps <= 3) return EIO(cmd, args);
      return '';
    });
    const clock = fakeClock();
    const m = new LaunchdServiceManager({ runner, plistDir: root, ...clock });
    const r = await m.install(opts(root));
    assert.deepEqual({ started: r.started, warnings: r.warnings }, { started: true, warnings: [] });
    assert.equal(bootstraps, 4);
    assert.ok(!calls.some((c) => c[1] === 'load' || c[1] === 'unload'), JSON.stringify(calls));
    assert.equal(clock.elapsed(), 3 * 500);
    assert.deepEqual(clock.lines, [
      'launchctl bootstrap failed (exit 5: Bootstrap failed: 5: Input/output error); retrying for up to 15 s…',
    ]);
  }),
);

test(
  "launchd install gives up after a bounded time and names the command, its exit status and launchd's words",
  withRoot(async (root) => {
    const { runner, calls } = fakeRunner((cmd, args) =>
      args[0] === 'print' ? NOT_LOADED(cmd, args) : args[0] === 'bootstrap' ? EIO(cmd, args) : '',
    );
    const clock = fakeClock();
    const m = new LaunchdServiceManager({ runner, plistDir: root, ...clock });
    await assert.rejects(m.install(opts(root)), (err: Error) => {
      assert.match(
        err.message,
        /^launchctl bootstrap system \S+dev\.gangway\.helper\.plist failed \(exit 5: Bootstrap failed: 5: Input\/output error\), 31 attempts in 15 s$/,
      );
      return true;
    });
    assert.ok(clock.elapsed() <= BOOTSTRAP_RETRY_MS, String(clock.elapsed()));
    assert.ok(!calls.some((c) => c[1] === 'load'), 'a load -w that exits 0 must not turn this into success');
  }),
);

test(
  'launchd install waits for the old job at most UNLOAD_WAIT_MS, then says so if bootstrap still fails',
  withRoot(async (root) => {
    const { runner, calls } = fakeRunner((cmd, args) => (args[0] === 'bootstrap' ? EIO(cmd, args) : ''));
    const clock = fakeClock();
    const m = new LaunchdServiceManager({ runner, plistDir: root, ...clock });
    await assert.rejects(
      m.install(opts(root)),
      /launchd still had system\/dev\.gangway\.helper after launchctl bootout$/,
    );
    assert.equal(calls.filter((c) => c[1] === 'print').length, UNLOAD_WAIT_MS / 250 + 1);
    assert.ok(clock.elapsed() <= UNLOAD_WAIT_MS + BOOTSTRAP_RETRY_MS, String(clock.elapsed()));
    assert.match(
      clock.lines.join('\n'),
      /still has system\/dev\.gangway\.helper 10 s after launchctl bootout/,
    );
  }),
);

test(
  'launchd uninstall boots out, waits until the job is gone, and removes; idempotent',
  withRoot(async (root) => {
    let bootedOut = false;
    const { runner, calls } = fakeRunner((cmd, args) => {
      if (args[0] === 'bootout') bootedOut = true;
      return args[0] === 'print' && bootedOut ? NOT_LOADED(cmd, args) : '';
    });
    const m = new LaunchdServiceManager({ runner, plistDir: root, ...fakeClock() });
    await m.install(opts(root));
    bootedOut = false;
    calls.length = 0;
    assert.deepEqual(await m.uninstall(), { removed: [m.path], stopped: true, warnings: [] });
    assert.deepEqual(calls, [
      ['launchctl', 'bootout', 'system/dev.gangway.helper'],
      ['launchctl', 'print', 'system/dev.gangway.helper'],
    ]);
    assert.ok(!existsSync(m.path));
    const failing = fakeRunner((cmd, args) => fail(cmd, args));
    const m2 = new LaunchdServiceManager({ runner: failing.runner, plistDir: root, ...fakeClock() });
    assert.deepEqual(await m2.uninstall(), { removed: [], stopped: false, warnings: [] });
  }),
);

test(
  "launchd uninstall: a failed bootout of a loaded job is a warning with launchd's words, not unload -w",
  withRoot(async (root) => {
    const bootoutEIO = (cmd: string, args: readonly string[]) =>
      new CommandError(cmd, args, 'Boot-out failed: 5: Input/output error\n', 5);
    const { runner, calls } = fakeRunner((cmd, args) => (args[0] === 'bootout' ? bootoutEIO(cmd, args) : ''));
    const m = new LaunchdServiceManager({ runner, plistDir: root, ...fakeClock() });
    writeFileSync(m.path, launchdPlist(opts(root)));
    const r = await m.uninstall();
    assert.deepEqual(r.removed, [m.path]);
    assert.equal(r.stopped, false);
    assert.deepEqual(r.warnings, [
      'launchctl bootout system/dev.gangway.helper failed (exit 5: Boot-out failed: 5: Input/output error); the helper may still run',
    ]);
    assert.ok(!calls.some((c) => c[1] === 'unload'), JSON.stringify(calls));
  }),
);

test(
  'launchd status parses launchctl print',
  withRoot(async (root) => {
    const printed = 'system/dev.gangway.helper = {\n\tactive count = 1\n\tstate = running\n\tpid = 812\n}\n';
    const { runner } = fakeRunner(() => printed);
    const s = await new LaunchdServiceManager({ runner, plistDir: root }).status();
    assert.deepEqual(
      { installed: s.installed, running: s.running, pid: s.pid, detail: s.detail },
      { installed: false, running: true, pid: 812, detail: 'running' },
    );
    const down = fakeRunner((cmd, args) => fail(cmd, args));
    const s2 = await new LaunchdServiceManager({ runner: down.runner, plistDir: root }).status();
    assert.equal(s2.running, false);
    assert.deepEqual(parseLaunchctlPrint('state = waiting\n'), {
      running: false,
      pid: undefined,
      detail: 'waiting',
    });
  }),
);

test('factory picks per platform and refuses others', () => {
  assert.equal(createServiceManager('linux').kind, 'systemd');
  assert.equal(createServiceManager('darwin').kind, 'launchd');
  assert.equal(createServiceManager('linux').path, '/etc/systemd/system/gangway.service');
  assert.equal(createServiceManager('darwin').path, '/Library/LaunchDaemons/dev.gangway.helper.plist');
  assert.throws(() => createServiceManager('win32'), /not supported/);
});

test('owner comes from SUDO_* when present, else the current user', () => {
  assert.deepEqual(resolveOwner({ SUDO_UID: '501', SUDO_GID: '20', SUDO_USER: 'alice' }), {
    uid: 501,
    gid: 20,
    user: 'alice',
  });
  const me = resolveOwner({ SUDO_UID: 'x', SUDO_GID: '20' });
  assert.equal(me.uid, process.getuid!());
  const d = defaultInstallOptions({}, 'darwin', {});
  assert.equal(d.socketPath, '/var/run/gangway/gangway.sock');
  assert.equal(d.logFile, '/Library/Logs/Gangway/helper.log');
  assert.match(d.cliPath, /bundle\/gangway\.js$/);
  assert.equal(d.nodePath, process.execPath);
});
