// Settings through the API and the CLI against a live daemon in the rig: per-field validation, moving the
// tunnel's subnet and MTU without a restart (the agent follows), a port that cannot be used being refused
// with nothing changed, settings kept across a restart; and the log API, `gangway logs`, `status --watch`.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { settingsResponseSchema, statusSchema, type SettingsPatch } from '../../common/api';
import { ApiError, callApi } from '../../client/api-client';
import { ROUTES } from '../../common/api-routes';
import { waitFor } from '../../rig/exec';
import { createRig, type Rig } from '../../rig/rig';
import { gangwayCli } from './docker-helpers';
import {
  CLI,
  DIST,
  Workdir,
  pingOnce,
  startAgent,
  startDaemon,
  stop,
  waitConnected,
  waitForDaemon,
  type DaemonHandle,
  type Proc,
} from './harness';

const FIXTURES = join(DIST, 'tests', 'fixtures');

async function patchError(socket: string, body: unknown): Promise<ApiError> {
  try {
    // Bad bodies on purpose: the daemon must refuse them, whatever the client's types allow.
    await callApi(socket, ROUTES.saveSettings, { body: body as SettingsPatch, timeoutMs: 60_000 });
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  assert.fail(`PATCH ${JSON.stringify(body)} was accepted`);
}

describe('settings, logs and status --watch against a live daemon', { timeout: 240_000 }, () => {
  let rig: Rig;
  let work: Workdir;
  let daemon: DaemonHandle;
  let agent: Proc;
  const settingsFile = () => join(daemon.stateDir, 'settings.json');
  const settings = () => callApi(daemon.socket, ROUTES.settings);
  const patch = (body: unknown) =>
    callApi(daemon.socket, ROUTES.saveSettings, { body: body as SettingsPatch, timeoutMs: 60_000 });
  const reachable = (timeoutMs: number) =>
    waitFor(
      'a container to answer ping through the tunnel',
      async () => ((await pingOnce(rig, rig.hostNs, rig.containers[0]!.ip)) ? true : undefined),
      timeoutMs,
      100,
    );

  before(async () => {
    rig = await createRig({ containers: 1, subnetIndex: 17 });
    work = new Workdir();
    daemon = startDaemon(rig, work, ['--no-docker']);
    await waitForDaemon(daemon);
    agent = startAgent(rig, daemon);
    await waitConnected(daemon, 10_000, agent);
  });

  after(async () => {
    await rig?.teardown();
    work?.cleanup();
  });

  test("GET /v1/settings shows the daemon's flags as the settings in effect", async () => {
    const r = await settings();
    assert.deepEqual(r.settings, {
      tunnelSubnet: '10.57.0.0/30',
      tunnelSubnet6: 'fd57:6177::/64',
      port: 2611,
      mtu: 1420,
      dnsSuffix: 'gangway.internal',
      dnsPort: 53,
      dockerHost: null,
      routeNewNetworks: true,
    });
    assert.equal(r.warning, null);
  });

  test('bad values get an error per field and change nothing', async () => {
    const e = await patchError(daemon.socket, { mtu: 100, port: 'x', dnsSuffix: 'Bad_Suffix' });
    assert.equal(e.status, 400);
    assert.equal(e.code, 'INVALID_SETTINGS');
    const fields = await fetchFields({ mtu: 100, port: 'x', dnsSuffix: 'Bad_Suffix' });
    assert.deepEqual(Object.keys(fields).sort(), ['dnsSuffix', 'mtu', 'port']);
    assert.equal((await patchError(daemon.socket, { bogus: 1 })).status, 400);
    assert.equal((await patchError(daemon.socket, {})).status, 400);
    // The rig's veth subnet is a host route: the tunnel must not shadow it.
    const clash = await patchError(daemon.socket, { tunnelSubnet: `10.200.17.0/30` });
    assert.match(clash.message, /tunnelSubnet: it overlaps the host's route to 10\.200\.17\.0\/\d+ via /);
    assert.equal(existsSync(settingsFile()), false, 'nothing was saved');
    assert.equal((await settings()).settings.mtu, 1420);
  });

  test('settings with system-wide effect are refused, naming the rule, through the API and the CLI', async () => {
    // A public suffix would send every .com lookup to Gangway; a public tunnel subnet takes someone's addresses.
    const fields = await fetchFields({ dnsSuffix: 'com', tunnelSubnet: '1.1.2.0/30' });
    assert.match(fields.dnsSuffix!, /"com" is a public suffix \(Public Suffix List\)/);
    assert.match(fields.tunnelSubnet!, /must lie in a private range \(10\.0\.0\.0\/8, /);
    for (const dnsSuffix of ['co.uk', 'github.io']) {
      const e = await patchError(daemon.socket, { dnsSuffix });
      assert.equal(e.code, 'INVALID_SETTINGS');
      assert.match(e.message, /dnsSuffix: .* is a public suffix/);
    }
    const cli = await gangwayCli(daemon.socket, 'settings', 'set', 'dnsSuffix=com');
    assert.equal(cli.code, 2, cli.out);
    assert.match(cli.out, /dnsSuffix: "com" is a public suffix/);
    assert.equal(existsSync(settingsFile()), false, 'nothing was saved');
    assert.equal((await settings()).settings.dnsSuffix, 'gangway.internal');
  });

  /** The fields map of a rejected PATCH, read raw (the client keeps only code and message). */
  async function fetchFields(body: unknown): Promise<Record<string, string>> {
    const r = await rig.exec(rig.hostNs, 'curl', [
      '-sS',
      '--unix-socket',
      daemon.socket,
      '-X',
      'PATCH',
      '-H',
      'content-type: application/json',
      '-d',
      JSON.stringify(body),
      'http://gangway/v1/settings',
    ]);
    return (JSON.parse(r.stdout) as { error: { fields: Record<string, string> } }).error.fields;
  }

  test('the tunnel subnet and MTU move without a restart, and the agent follows', async (t) => {
    const pid = daemon.child.pid;
    const started = Date.now();
    const r = await patch({ tunnelSubnet: '10.58.0.0/30', mtu: 1380 });
    assert.equal(r.settings.tunnelSubnet, '10.58.0.0/30');
    assert.equal(r.settings.mtu, 1380);
    const s = await daemon.status();
    assert.equal(s.tunnel.hostAddress, '10.58.0.1');
    assert.equal(s.tunnel.agentAddress, '10.58.0.2');
    const link = JSON.parse(
      (await rig.exec(rig.hostNs, 'ip', ['-j', 'addr', 'show', 'dev', s.tunnel.device])).stdout,
    ) as { mtu: number; addr_info: { family: string; local: string }[] }[];
    assert.equal(link[0]?.mtu, 1380);
    assert.deepEqual(
      link[0]?.addr_info.filter((a) => a.family === 'inet').map((a) => a.local),
      ['10.58.0.1'],
    );
    await waitConnected(daemon, 15_000, agent);
    await reachable(15_000);
    t.diagnostic(`traffic back ${Date.now() - started} ms after the PATCH was sent`);
    assert.equal(daemon.child.pid, pid);
    assert.equal(daemon.child.exitCode, null, 'the daemon kept running');
    const saved = JSON.parse(readFileSync(settingsFile(), 'utf8')) as Record<string, unknown>;
    assert.equal(saved.tunnelSubnet, '10.58.0.0/30');
    assert.equal(saved.mtu, 1380);
  });

  test('a port that is taken is refused and the tunnel stays as it was', async () => {
    const squatter = rig.spawn(rig.hostNs, process.execPath, [
      join(FIXTURES, 'udp-echo.js'),
      rig.hostVethIp,
      '2700',
    ]);
    await waitFor('the squatter to bind', () => squatter.stdout?.read() !== null, 5_000);
    const e = await patchError(daemon.socket, { port: 2700 });
    assert.equal(e.status, 409);
    assert.equal(e.code, 'SETTINGS_NOT_APPLIED');
    assert.match(e.message, /previous ones stay/);
    squatter.kill();
    assert.equal((await settings()).settings.port, 2611);
    const saved = JSON.parse(readFileSync(settingsFile(), 'utf8')) as Record<string, unknown>;
    assert.equal(saved.port, undefined, 'the refused port was not kept in the file');
    assert.equal(saved.mtu, 1380, 'earlier changes survive a refused one');
    assert.equal((await daemon.status()).tunnel.listen, `${rig.hostVethIp}:2611`);
    await waitConnected(daemon, 15_000, agent);
    await reachable(15_000);
  });

  test('the CLI reads and changes settings, with exit codes scripts can trust', async () => {
    const human = await gangwayCli(daemon.socket, 'settings', 'get');
    assert.equal(human.code, 0, human.out);
    assert.match(human.out, /^mtu\s+1380$/m);
    assert.match(human.out, /^dockerHost\s+auto$/m);
    const one = await gangwayCli(daemon.socket, 'settings', 'get', 'tunnelSubnet', '--json');
    assert.equal(one.out.trim(), '"10.58.0.0/30"');
    const bad = await gangwayCli(daemon.socket, 'settings', 'set', 'mtu=abc');
    assert.equal(bad.code, 2, bad.out);
    assert.match(bad.out, /mtu takes a whole number/);
    const unknown = await gangwayCli(daemon.socket, 'settings', 'get', 'colour');
    assert.equal(unknown.code, 2);
    const clash = await gangwayCli(daemon.socket, 'settings', 'set', 'tunnelSubnet=10.200.17.0/29');
    assert.equal(clash.code, 1, clash.out);
    assert.match(clash.out, /overlaps the host's route/);
    const ok = await gangwayCli(
      daemon.socket,
      'settings',
      'set',
      'mtu=1400',
      'routeNewNetworks=false',
      '--json',
    );
    assert.equal(ok.code, 0, ok.out);
    const r = settingsResponseSchema.parse(JSON.parse(ok.out));
    assert.equal(r.settings.mtu, 1400);
    assert.equal(r.settings.routeNewNetworks, false);
    assert.equal((await daemon.status()).tunnel.mtu, 1400);
    await waitConnected(daemon, 15_000, agent);
  });

  test('settings survive a restart of the daemon', async () => {
    await stop(daemon);
    daemon = startDaemon(rig, work, ['--no-docker']);
    await waitForDaemon(daemon);
    const s = await daemon.status();
    assert.equal(s.tunnel.hostAddress, '10.58.0.1');
    assert.equal(s.tunnel.mtu, 1400);
    await waitConnected(daemon, 15_000, agent);
    await reachable(10_000);
  });

  test('a route deleted by hand is back within 2 s (the routing table is followed)', async (t) => {
    const cidr = rig.containerSubnet;
    const dev = (await daemon.status()).tunnel.device;
    await rig.exec(rig.hostNs, 'ip', ['route', 'del', cidr, 'dev', dev]);
    const deleted = Date.now();
    await waitFor(
      `${cidr} back on ${dev}`,
      async () => {
        const r = await rig.exec(rig.hostNs, 'ip', ['route', 'show', cidr, 'dev', dev]);
        return r.stdout.trim() ? true : undefined;
      },
      2_000,
      20,
    );
    t.diagnostic(`route back after ${Date.now() - deleted} ms`);
    await reachable(5_000);
  });

  test('the log API and `gangway logs` return structured entries, filtered by level', async () => {
    const api = await callApi(daemon.socket, ROUTES.logs, { query: { limit: 5 } });
    assert.equal(api.file, daemon.logFile);
    assert.equal(api.entries.length, 5);
    const all = await callApi(daemon.socket, ROUTES.logs, { query: { limit: 5000 } });
    // The file holds both daemon runs: the settings changes from before the restart are still there.
    assert.ok(
      all.entries.some((e) => e.msg === 'settings changed'),
      'entries from before the restart',
    );
    assert.ok(all.entries.filter((e) => e.msg === 'gangway daemon started').length >= 2);
    const warn = await gangwayCli(daemon.socket, 'logs', '--level', 'warn', '--json', '--lines', '100');
    assert.equal(warn.code, 0, warn.out);
    const lines = warn.out.trim().split('\n').filter(Boolean);
    assert.ok(lines.length >= 1, 'the agent going silent during the moves was logged as a warning');
    for (const l of lines) assert.match((JSON.parse(l) as { level: string }).level, /^(warn|error)$/);
    const human = await gangwayCli(daemon.socket, 'logs', '-n', '20');
    assert.match(human.out, /^\S+Z INFO {2}daemon /m);
    for (const q of [{ limit: 0 }, { limit: 'x' }, { level: 'loud' }, { since: 'yesterday' }]) {
      await assert.rejects(
        callApi(daemon.socket, ROUTES.logs, { query: q }),
        (err: ApiError) => err.status === 400,
        JSON.stringify(q),
      );
    }
    assert.equal((await gangwayCli(daemon.socket, 'logs', '--lines', '0')).code, 2);
  });

  test('status --watch prints a new snapshot on each change until interrupted', async () => {
    const child = spawn(process.execPath, [CLI, 'status', '--watch', '--json', '--socket', daemon.socket]);
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    try {
      await waitFor('the first snapshot', () => (out.includes('\n') ? true : undefined), 5_000);
      await patch({ mtu: 1420 });
      await waitFor(
        'a second snapshot',
        () => (out.trim().split('\n').length >= 2 ? true : undefined),
        10_000,
      );
      const snaps = out
        .trim()
        .split('\n')
        .map((l) => statusSchema.parse(JSON.parse(l)));
      assert.ok(
        snaps.some((s) => s.tunnel.mtu === 1420),
        'the MTU change was streamed',
      );
    } finally {
      child.kill('SIGINT');
    }
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    assert.equal(code, 0);
  });
});
