// Every `gangway` command against a live daemon (real dockerd in the rig), in human and --json form, plus
// --help for each: the JSON parses with the API's own schemas, the human form names what matters, and exit
// codes are the documented ones.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  containersResponseSchema,
  diagnosticsSchema,
  logsResponseSchema,
  networksResponseSchema,
  networkSchema,
  settingsResponseSchema,
  statusSchema,
  type LogEntry,
} from '../../common/api';
import type { Dockerd } from '../../rig/dockerd';
import type { Rig } from '../../rig/rig';
import {
  gangwayCli,
  httpOk,
  runWeb,
  startDockerDaemon,
  startDockerRig,
  teardownDockerRig,
} from './docker-helpers';
import { CLI, type Workdir, stop, waitConnected, type DaemonHandle } from './harness';
import { waitFor } from '../../rig/exec';

const execFileP = promisify(execFile);

const COMMANDS = [
  'daemon',
  'service',
  'status',
  'up',
  'down',
  'networks',
  'containers',
  'route',
  'join',
  'unjoin',
  'settings',
  'logs',
  'doctor',
  'ui',
];

describe('every CLI command, human and --json, against a live daemon', { timeout: 240_000 }, () => {
  let rig: Rig;
  let dockerd: Dockerd;
  let work: Workdir;
  let daemon: DaemonHandle;
  let webIp = '';
  const gangway = (...args: string[]) => gangwayCli(daemon.socket, ...args);
  const json = async (...args: string[]): Promise<unknown> => {
    const r = await gangway(...args, '--json');
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.out}`);
    // Progress lines go to stderr; gangwayCli joins both, so the JSON starts at the first { or [.
    return JSON.parse(r.out.slice(r.out.search(/^[[{"\d]|^true|^false/m)));
  };

  before(async () => {
    ({ rig, dockerd, work } = await startDockerRig({ containers: 0, subnetIndex: 19 }));
    daemon = await startDockerDaemon({ rig, dockerd, work });
    await dockerd.docker(['network', 'create', 'cli-a']);
    await dockerd.docker(['network', 'create', 'cli-b']);
    webIp = await runWeb(dockerd, 'cli-web', 'cli-a');
  });

  after(async () => {
    await teardownDockerRig({ daemon, dockerd, rig, work });
  });

  test('--help for every command exits 0 with its usage', async () => {
    for (const cmd of COMMANDS) {
      const r = await gangwayCli(daemon.socket, cmd, '--help');
      assert.equal(r.code, 0, `${cmd}: ${r.out}`);
      assert.match(r.out, new RegExp(`Usage: gangway ${cmd}`), cmd);
    }
    const top = await gangway('--help');
    for (const cmd of COMMANDS) assert.match(top.out, new RegExp(`^  ${cmd}\\b`, 'm'), `listed: ${cmd}`);
    const unknown = await gangway('frobnicate');
    assert.equal(unknown.code, 2);
  });

  test('up and status, human and --json', async () => {
    const up = statusSchema.parse(await json('up'));
    assert.equal(up.agent.wanted, true);
    await waitConnected(daemon, 15_000);
    await waitFor('the web container', () => httpOk(rig, webIp), 10_000, 100);
    const s = statusSchema.parse(await json('status'));
    assert.equal(s.state, 'connected');
    const human = await gangway('status');
    assert.equal(human.code, 0);
    assert.match(human.out, /^Gangway \S+: Connected$/m);
    assert.match(human.out, /^ {2}docker {6}connected/m);
    assert.match(
      human.out,
      /^ {2}dns {9}\*\.gangway\.internal on 10\.57\.0\.1:53, not registered with the OS/m,
    );
  });

  test('containers, human and --json', async () => {
    const r = await waitFor(
      'cli-web with its DNS name',
      async () => {
        const c = containersResponseSchema.parse(await json('containers'));
        return c.containers.find((x) => x.name === 'cli-web' && x.dnsNames.length > 0) ? c : undefined;
      },
      5_000,
      100,
    );
    assert.deepEqual(r.containers.find((x) => x.name === 'cli-web')?.dnsNames, ['cli-web.gangway.internal']);
    assert.equal(r.dns.enabled, true);
    const human = await gangway('containers');
    assert.equal(human.code, 0, human.out);
    assert.match(
      human.out,
      new RegExp(`^cli-web\\s+cli-a\\s+${webIp.replace(/\./g, '\\.')}\\s+cli-web\\.gangway\\.internal$`, 'm'),
    );
    assert.match(human.out, /^DNS: \*\.gangway\.internal on /m);
  });

  test('networks, route, join and unjoin, human and --json', async () => {
    const n = networksResponseSchema.parse(await json('networks'));
    assert.ok(n.networks.some((x) => x.name === 'cli-a' && x.routed));
    assert.match((await gangway('networks')).out, /^routed\s+cli-a\s+/m);
    const off = networkSchema.parse(await json('route', 'cli-a', 'off'));
    assert.equal(off.routed, false);
    assert.match((await gangway('route', 'cli-a', 'on')).out, /^cli-a: routed$/m);
    const j = (await json('join', 'cli-a', 'cli-b')) as { joined: boolean; joins: string[][] };
    assert.equal(j.joined, true);
    assert.match((await gangway('unjoin', 'cli-a', 'cli-b')).out, /cli-a <-> cli-b: not joined/);
    assert.equal((await gangway('route', 'cli-a')).code, 2, 'missing on|off is a usage error');
  });

  test('settings, logs and doctor, human and --json', async () => {
    const st = settingsResponseSchema.parse(await json('settings', 'get'));
    assert.equal(st.settings.port, 2611);
    assert.match((await gangway('settings', 'get')).out, /^port\s+2611$/m);
    const set = settingsResponseSchema.parse(await json('settings', 'set', 'routeNewNetworks=false'));
    assert.equal(set.settings.routeNewNetworks, false);
    const logs = (await gangway('logs', '--json', '-n', '5')).out.trim().split('\n');
    assert.equal(logs.length, 5);
    for (const l of logs) logsResponseSchema.shape.entries.element.parse(JSON.parse(l) as LogEntry);
    assert.match((await gangway('logs', '-n', '3')).out, /^\S+Z (DEBUG|INFO |WARN |ERROR) /m);
    const d = diagnosticsSchema.parse(await json('doctor'));
    assert.equal(d.ok, true, JSON.stringify(d.checks.filter((c) => c.status === 'fail')));
    assert.match((await gangway('doctor')).out, /Agent container running/i);
  });

  test('service status, human and --json (no systemd here: says so, exit 1)', async () => {
    // `service status` asks the service manager, not the daemon: no --socket.
    const run = (...args: string[]) =>
      execFileP(process.execPath, [CLI, 'service', 'status', ...args]).then(
        (r) => ({ code: 0, out: r.stdout }),
        (e: { code: number; stdout: string }) => ({ code: e.code, out: e.stdout }),
      );
    const r = await run('--json');
    assert.equal(r.code, 1, 'not installed and not running');
    const s = JSON.parse(r.out) as { manager: string; installed: boolean; managerRunning: boolean };
    assert.equal(s.manager, 'systemd');
    assert.equal(s.installed, false);
    const human = await run();
    assert.match(human.out, /^systemd service not installed$/m);
  });

  test('down, human and --json; then every read says the daemon is unreachable with exit 3 once it stops', async () => {
    const down = statusSchema.parse(await json('down'));
    assert.equal(down.agent.wanted, false);
    // The tunnel may still hold the old peer for a while; what the user sees is the phase: disconnected.
    assert.equal(down.phase, 'disconnected');
    const human = await gangway('down');
    assert.equal(human.code, 0, human.out);
    assert.match(human.out, /^Gangway \S+: Disconnected$/m);
    const after = await gangway('status');
    assert.match(after.out, /^Gangway \S+: Disconnected$/m);
    assert.doesNotMatch(after.out, /: Connected/);
    await stop(daemon);
    for (const cmd of ['status', 'networks', 'containers', 'settings get', 'logs', 'doctor']) {
      const r = await gangway(...cmd.split(' '));
      assert.equal(r.code, 3, `${cmd}: ${r.out}`);
      assert.match(r.out, /no Gangway daemon is listening|Gangway daemon running/, cmd);
    }
  });
});
