// gangway doctor against a real dockerd, daemon and agent container: all ok, then each broken hop is named.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { diagnosticsSchema, type Diagnostics } from '../../common/api';
import type { Dockerd } from '../../rig/dockerd';
import { waitFor } from '../../rig/exec';
import type { Rig } from '../../rig/rig';
import { type Workdir, waitConnected, type DaemonHandle } from './harness';
import {
  gangwayCli,
  httpOk,
  runWeb,
  startDockerDaemon,
  startDockerRig,
  teardownDockerRig,
} from './docker-helpers';

describe('gangway doctor', { timeout: 300_000 }, () => {
  let rig: Rig;
  let dockerd: Dockerd;
  let work: Workdir;
  let daemon: DaemonHandle;
  let webIp = '';
  let subnet = '';

  const gangway = (...args: string[]) => gangwayCli(daemon.socket, ...args);
  const doctor = async (): Promise<{ code: number; out: string; d: Diagnostics }> => {
    const r = await gangway('doctor', '--json');
    return { ...r, d: diagnosticsSchema.parse(JSON.parse(r.out)) };
  };
  const firstFail = (d: Diagnostics) => d.checks.find((c) => c.status === 'fail');

  before(async () => {
    ({ rig, dockerd, work } = await startDockerRig({ containers: 0, subnetIndex: 16 }));
    daemon = await startDockerDaemon({ rig, dockerd, work });
    await dockerd.docker(['network', 'create', 'app']);
    subnet = (
      await dockerd.docker(['network', 'inspect', '-f', '{{(index .IPAM.Config 0).Subnet}}', 'app'])
    ).stdout.trim();
    webIp = await runWeb(dockerd, 'web', 'app');
    const r = await gangway('up');
    assert.equal(r.code, 0, `${r.out}\n${daemon.output()}`);
    await waitConnected(daemon, 15_000);
    await waitFor('the web container through Gangway', () => httpOk(rig, webIp), 10_000, 50);
  });

  after(async () => {
    await teardownDockerRig({ daemon, dockerd, rig, work });
  });

  test('healthy: every hop ok (DNS a warning: not registered), exit 0, a readable checklist', async () => {
    const { code, out, d } = await doctor();
    assert.equal(code, 0, out);
    assert.equal(d.ok, true);
    // DNS answers, but the rig has no systemd-resolved to register it with: a warning, not a failure. The
    // rig's daemon runs by hand, not as a service: nothing to check there.
    const expected: Record<string, string> = { dns: 'warn', service: 'skip' };
    for (const c of d.checks) assert.equal(c.status, expected[c.id] ?? 'ok', `${c.id}: ${c.detail}`);
    assert.match(
      d.checks.find((c) => c.id === 'dns')?.detail ?? '',
      /answers \(web\.gangway\.internal -> .*not registered with the OS: (systemd-resolved is not running|the daemon runs in another network namespace)/,
    );
    const gw = d.checks.find((c) => c.id === 'gateways');
    assert.match(gw?.detail ?? '', /app \d+\.\d+\.\d+\.1/);
    const text = await gangway('doctor');
    assert.equal(text.code, 0, text.out);
    assert.match(text.out, /✔ {2}1\. Gangway daemon running/);
    assert.match(text.out, /All checks passed/);
  });

  test('(a) agent container stopped: the agent hop fails, exit 1; gangway up heals', async () => {
    await dockerd.docker(['stop', 'gangway-agent']);
    const { code, out, d } = await doctor();
    assert.equal(code, 1, out);
    const f = firstFail(d);
    assert.equal(f?.id, 'agent', out);
    assert.match(f?.detail ?? '', /not running/);
    assert.match(f?.fix ?? '', /gangway up/);
    const text = await gangway('doctor');
    assert.match(text.out, /✖ {2}4\. Agent container running/);
    const up = await gangway('up');
    assert.equal(up.code, 0, up.out);
    await waitConnected(daemon, 15_000);
    await waitFor('doctor all ok again', async () => (await doctor()).code === 0, 15_000, 200);
  });

  // The daemon follows the routing table, so a hand-deleted route is back within milliseconds and doctor
  // never sees it missing; the routes hop's verdict on a missing route is covered in tests/unit/doctor.test.ts.
  test('(b) a route deleted by hand: the daemon puts it back, doctor stays green', async () => {
    await rig.exec(rig.hostNs, 'ip', ['route', 'del', subnet, 'dev', 'gw0']);
    await waitFor(
      'the route back on gw0',
      async () =>
        (await rig.exec(rig.hostNs, 'ip', ['route', 'show', subnet, 'dev', 'gw0'])).stdout.trim()
          ? true
          : undefined,
      2_000,
      20,
    );
    const { code, out, d } = await doctor();
    assert.equal(code, 0, out);
    assert.equal(d.checks.find((c) => c.id === 'routes')?.status, 'ok', out);
  });

  test('(c) dockerd stopped: the Docker hop fails', async () => {
    await dockerd.stop();
    const { d, out, code } = await waitFor(
      'the daemon to notice Docker is gone',
      async () => {
        const r = await doctor();
        return firstFail(r.d)?.id === 'docker' ? r : undefined;
      },
      15_000,
      200,
    );
    assert.equal(code, 1, out);
    const f = firstFail(d);
    assert.match(f?.fix ?? '', /start Docker/);
    assert.equal(d.checks.find((c) => c.id === 'agent')?.status, 'skip');
  });

  test('(d) Docker over tcp:// without TLS: status and doctor warn that the secret crosses it in clear', async () => {
    // Nothing listens there (nothing is sent but a connection attempt on the rig's own loopback).
    const set = await gangway('settings', 'set', 'dockerHost=tcp://127.0.0.1:9');
    assert.equal(set.code, 0, set.out);
    const status = await gangway('status');
    assert.match(
      status.out,
      /^Warning: Docker's API at tcp:\/\/127\.0\.0\.1:9 has no TLS: the agent's secret crosses it in clear/m,
    );
    const { d, out } = await doctor();
    const docker = d.checks.find((c) => c.id === 'docker');
    assert.match(docker?.detail ?? '', /has no TLS: the agent's secret crosses it in clear/, out);
    const json = JSON.parse((await gangway('status', '--json')).out) as { docker: { warning?: string } };
    assert.match(json.docker.warning ?? '', /has no TLS/);
    // Back to a unix socket: the warning goes.
    assert.equal((await gangway('settings', 'set', 'dockerHost=auto')).code, 0);
    assert.doesNotMatch((await gangway('status')).out, /has no TLS/);
  });

  test('daemon unreachable: exit 3 with the fix', async () => {
    const r = await gangwayCli(`${work.dir}/nothing.sock`, 'doctor');
    assert.equal(r.code, 3, r.out);
    assert.match(r.out, /✖ {2}1\. Gangway daemon running/);
    assert.match(r.out, /gangway daemon/);
  });
});
