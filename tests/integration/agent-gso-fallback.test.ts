// The agent when its kernel refuses UDP GSO (an emulator or a VM kernel without it, a route through xfrm):
// the pump falls back to one datagram per send, counts it (udpGsoFallback), the agent logs it once, and the
// traffic is intact. This machine's kernel cannot be made to refuse, so sendmmsg refuses it through an
// LD_PRELOAD shim (tests/fixtures/refuse-udp-gso.c) loaded into the real agent only.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { payload } from '../fixtures/http-server';
import { run, waitFor } from '../../rig/exec';
import { createRig, type Rig } from '../../rig/rig';
import {
  AGENT,
  DIST,
  Workdir,
  startDaemon,
  track,
  waitConnected,
  waitForDaemon,
  type DaemonHandle,
  type Proc,
} from './harness';

const ROOT = resolve(DIST, '..');
const BYTES = 8_000_000;

describe('the agent with UDP GSO refused', { timeout: 120_000 }, () => {
  let rig: Rig | undefined;
  let work: Workdir | undefined;
  let daemon: DaemonHandle;
  let agent: Proc;

  before(async () => {
    rig = await createRig({ containers: 1, subnetIndex: 26 });
    work = new Workdir();
    const shim = join(work.dir, 'refuse-udp-gso.so');
    await run('cc', [
      '-shared',
      '-fPIC',
      '-O2',
      '-Wall',
      '-Wextra',
      '-Werror',
      '-o',
      shim,
      join(ROOT, 'tests', 'fixtures', 'refuse-udp-gso.c'),
      '-ldl',
    ]);
    daemon = startDaemon(rig, work);
    await waitForDaemon(daemon);
    const child = rig.spawn(
      rig.vmNs,
      process.execPath,
      [
        AGENT,
        '--server',
        `${rig.hostVethIp}:${daemon.port}`,
        '--secret-file',
        join(daemon.stateDir, 'secret'),
      ],
      { env: { ...process.env, LD_PRELOAD: shim } },
    );
    agent = track(child);
    await waitConnected(daemon, 15_000, agent);
  });

  after(async () => {
    await rig?.teardown();
    work?.cleanup();
  });

  test('8 MB from a container arrive intact; the agent logs the fallback once', async () => {
    const c = rig!.containers[0]!;
    const server = rig!.spawn(c.ns, process.execPath, [
      join(DIST, 'tests', 'fixtures', 'http-server.js'),
      c.ip,
      '8080',
    ]);
    await waitFor('the HTTP server', () => server.stdout?.read() !== null, 5_000);
    const out = join(work!.dir, 'download');
    await rig!.exec(rig!.hostNs, 'curl', [
      '-sSf',
      '--max-time',
      '30',
      '-o',
      out,
      `http://${c.ip}:8080/bytes/${BYTES}`,
    ]);
    server.kill();
    const got = createHash('sha256').update(readFileSync(out)).digest('hex');
    assert.equal(got, createHash('sha256').update(payload(BYTES)).digest('hex'));
    const warnings = () =>
      agent
        .output()
        .split('\n')
        .filter((l) => l.includes('the kernel refused UDP GSO'));
    // The agent looks at the counter with each keepalive (every 2 s).
    await waitFor(
      "the agent's fallback warning",
      () => (warnings().length ? true : undefined),
      5_000,
      100,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; agent output:\n${agent.output()}`);
    });
    await new Promise((r) => setTimeout(r, 2_500));
    const warned = warnings();
    assert.equal(warned.length, 1, 'logged once');
    assert.match(warned[0]!, /"level":"warn".*"counter":"udpGsoFallback"/);
  });
});
