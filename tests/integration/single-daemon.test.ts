// A second real daemon on the same control socket while the first runs (a racing service restart, another
// install): it must refuse at once, before it makes a TUN device, registers DNS or touches anything else,
// and its stop() must leave the live daemon's resolver registration alone. Both share the resolver
// directory, as two daemons on one Mac share /etc/resolver, and differ in everything else, so that the
// second's set-up would succeed on its own.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RESOLVER_MARKER } from '../../helper/dns/resolver-darwin';
import { waitFor } from '../../rig/exec';
import { createRig, type Rig } from '../../rig/rig';
import { Workdir, startDaemon, stop, waitForDaemon, type DaemonHandle } from './harness';

const SUFFIX = 'gangway.internal';
const SECOND_TUN = 'gwsecond0';
/** Node's start and the CLI's imports take most of it; the old set-up (TUN, DNS) fit in it too. */
const QUICK_MS = 5_000;

function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

describe('a second daemon on a live socket', { timeout: 60_000 }, () => {
  let rig: Rig;
  let work: Workdir;
  let otherWork: Workdir;
  let first: DaemonHandle;
  let resolverDir: string;

  before(async () => {
    rig = await createRig({ containers: 0, subnetIndex: 22 });
    work = new Workdir();
    otherWork = new Workdir();
    resolverDir = join(work.dir, 'resolver');
    first = startDaemon(rig, work, [
      '--no-docker',
      '--dns-suffix',
      SUFFIX,
      '--dns-resolver-dir',
      resolverDir,
    ]);
    await waitForDaemon(first);
  });

  after(async () => {
    if (first) await stop(first);
    await rig?.teardown();
    work?.cleanup();
    otherWork?.cleanup();
  });

  test('refuses at once, makes no TUN device and leaves the live daemon and its DNS registration alone', async () => {
    const before = await first.status();
    const resolverFile = join(resolverDir, SUFFIX);
    assert.equal(before.dns.resolver, resolverFile);
    const registration = readFileSync(resolverFile, 'utf8');
    assert.equal(registration, `${RESOLVER_MARKER}\nnameserver ${before.tunnel.hostAddress}\nport 53\n`);

    // The second daemon's device would be gone again by the time it exits (its stop() closes it), so every
    // link created meanwhile is recorded; a bridge made and deleted proves the monitor is listening before it starts.
    const monitor = rig.spawn(rig.hostNs, 'ip', ['-o', 'monitor', 'link']);
    let links = '';
    monitor.stdout?.on('data', (c: Buffer) => (links += c.toString()));
    try {
      await waitFor(
        'ip monitor to report a link',
        async () => {
          await rig.exec(rig.hostNs, 'ip', ['link', 'add', 'gwprobe0', 'type', 'bridge'], {
            allowFail: true,
          });
          await rig.exec(rig.hostNs, 'ip', ['link', 'del', 'gwprobe0'], { allowFail: true });
          return links.includes('gwprobe0');
        },
        5_000,
        100,
      );

      const started = Date.now();
      const second = startDaemon(
        rig,
        otherWork,
        [
          '--no-docker',
          '--dns-suffix',
          SUFFIX,
          '--dns-resolver-dir',
          resolverDir,
          '--tun-name',
          SECOND_TUN,
          '--tunnel-subnet',
          '10.58.0.0/30',
          '--tunnel-subnet6',
          'off',
          '--socket',
          first.socket,
        ],
        2612,
      );
      const code = await Promise.race([
        exitOf(second.child),
        new Promise<'still running'>((r) => setTimeout(() => r('still running'), 20_000).unref()),
      ]);
      const tookMs = Date.now() - started;
      if (code === 'still running') await stop(second);
      assert.notEqual(code, 'still running', `the second daemon kept running:\n${second.output()}`);
      assert.notEqual(code, 0, second.output());
      assert.match(second.output(), /another Gangway daemon is already listening on /);
      assert.ok(tookMs < QUICK_MS, `took ${tookMs} ms`);
      assert.ok(!links.includes(SECOND_TUN), `the second daemon created a TUN device:\n${links}`);
      const { stdout } = await rig.exec(rig.hostNs, 'ip', ['-o', 'link', 'show']);
      assert.ok(!stdout.includes(SECOND_TUN), stdout);
      // Nothing of its own: the refusal came before the secret, the settings or the session hint.
      assert.ok(!existsSync(join(second.stateDir, 'secret')), 'the second daemon wrote its secret');
    } finally {
      await stop({ child: monitor, output: () => links });
    }

    const after = await first.status();
    assert.equal(after.tunnel.device, before.tunnel.device);
    assert.equal(after.tunnel.hostAddress, before.tunnel.hostAddress);
    assert.equal(readFileSync(join(resolverDir, SUFFIX), 'utf8'), registration);
    const { stdout } = await rig.exec(rig.hostNs, 'ip', ['-o', 'link', 'show', before.tunnel.device]);
    assert.match(stdout, new RegExp(`: ${before.tunnel.device}:`));
  });
});
