// A second real daemon on the same control socket while the first runs (a racing service restart, another
// install): it must refuse at once, before it makes a TUN device, registers DNS or touches anything else,
// and its stop() must leave the live daemon's resolver registration alone. Both share the resolver
// directory, as two daemons on one Mac share /etc/resolver, and differ in everything else, so that the
// second's set-up would succeed on its own.
// Two daemons started at the same instant on one state directory: the lock they both ask for lets exactly one
// run, and the other refuses before its first side effect, naming the pid that holds the lock. A daemon killed
// with SIGKILL leaves its lock behind, and the next start takes it over.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LOCK_DIR_NAME } from '../../helper/daemon-lock';
import { RESOLVER_MARKER } from '../../helper/dns/resolver-darwin';
import { waitFor } from '../../rig/exec';
import { createRig, type Rig } from '../../rig/rig';
import { DIST, Workdir, startDaemon, stop, waitForDaemon, type DaemonHandle } from './harness';

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

/** Each racer's own TUN device, tunnel subnet and UDP port: either one's set-up would succeed on its own. */
const RACERS = [
  { tun: 'gwracea0', subnet: '10.59.0.0/30', port: 2621 },
  { tun: 'gwraceb0', subnet: '10.59.0.4/30', port: 2622 },
] as const;
const RACE_SUFFIX = 'race.gangway.internal';
/** Long enough for two daemons' start-up on a loaded two-core machine, short enough to fail a hung test. */
const SETTLE_MS = 20_000;

/** Records every link created in the namespace from now on (an `ip monitor`, proven to be listening). */
async function watchLinks(
  rig: Rig,
  probe: string,
): Promise<{ links: () => string; stop: () => Promise<void> }> {
  const monitor = rig.spawn(rig.hostNs, 'ip', ['-o', 'monitor', 'link']);
  let links = '';
  monitor.stdout?.on('data', (c: Buffer) => (links += c.toString()));
  const handle = {
    links: () => links,
    stop: () => stop({ child: monitor, output: () => links }).then(() => {}),
  };
  try {
    await waitFor(
      'ip monitor to report a link',
      async () => {
        await rig.exec(rig.hostNs, 'ip', ['link', 'add', probe, 'type', 'bridge'], { allowFail: true });
        await rig.exec(rig.hostNs, 'ip', ['link', 'del', probe], { allowFail: true });
        return links.includes(probe);
      },
      5_000,
      100,
    );
  } catch (err) {
    await handle.stop();
    throw err;
  }
  return handle;
}

function running(d: DaemonHandle): boolean {
  return d.child.exitCode === null && d.child.signalCode === null;
}

describe('two daemons on one state directory', { timeout: 120_000 }, () => {
  let rig: Rig;
  const works: Workdir[] = [];
  const daemons: DaemonHandle[] = [];

  function workdir(): Workdir {
    const w = new Workdir();
    works.push(w);
    return w;
  }

  function racer(work: Workdir, i: 0 | 1, resolverDir: string): DaemonHandle {
    const r = RACERS[i];
    const d = startDaemon(
      rig,
      work,
      [
        '--no-docker',
        '--tun-name',
        r.tun,
        '--tunnel-subnet',
        r.subnet,
        '--tunnel-subnet6',
        'off',
        '--dns-suffix',
        RACE_SUFFIX,
        '--dns-resolver-dir',
        resolverDir,
        // Its own log, so that a failure shows which daemon said what.
        '--log-file',
        join(work.dir, 'log', `${r.tun}.log`),
      ],
      r.port,
    );
    daemons.push(d);
    return d;
  }

  before(async () => {
    rig = await createRig({ containers: 0, subnetIndex: 23 });
  });

  after(async () => {
    // Every daemon, also after a failed assertion; teardown kills whatever is left in the namespaces.
    await Promise.all(daemons.map((d) => stop(d, 'SIGKILL')));
    await rig?.teardown();
    for (const w of works) w.cleanup();
  });

  test('started at the same instant: exactly one runs, the other refuses before it makes a TUN device', async (t) => {
    const work = workdir();
    const resolverDir = join(work.dir, 'resolver');
    const watch = await watchLinks(rig, 'gwprobe1');
    // The same state directory and socket, started in the same tick.
    const pair = [racer(work, 0, resolverDir), racer(work, 1, resolverDir)] as const;
    const outputs = () =>
      pair.map((d, i) => `--- ${RACERS[i as 0 | 1].tun} (pid ${d.child.pid}):\n${d.output()}`).join('\n');
    try {
      // Settled: one has exited and the other answers, or both have exited.
      await waitFor(
        'one daemon to exit and the other to answer',
        async () => {
          const live = pair.filter(running);
          if (live.length === 0) return true;
          if (live.length === 2) return false;
          await live[0]?.status();
          return true;
        },
        SETTLE_MS,
        50,
      ).catch((err: Error) => {
        throw new Error(`${err.message}\n${outputs()}`);
      });
      const live = pair.filter(running);
      assert.equal(live.length, 1, `exactly one daemon must run:\n${outputs()}`);
      const winner = live[0] as DaemonHandle;
      const w = pair.indexOf(winner) as 0 | 1;
      const loser = pair[w === 0 ? 1 : 0];
      assert.notEqual(loser.child.exitCode, 0, outputs());
      // Before its first side effect: its TUN device was never made (the monitor saw every link) ...
      assert.ok(
        !watch.links().includes(RACERS[w === 0 ? 1 : 0].tun),
        `the refused daemon created its TUN device:\n${watch.links()}\n${outputs()}`,
      );
      // ... and the resolver registration is the running daemon's, not undone by the other's stop().
      const status = await winner.status();
      assert.equal(status.tunnel.device, RACERS[w].tun);
      const resolverFile = join(resolverDir, RACE_SUFFIX);
      assert.equal(status.dns.resolver, resolverFile);
      assert.equal(
        existsSync(resolverFile) && readFileSync(resolverFile, 'utf8'),
        `${RESOLVER_MARKER}\nnameserver ${status.tunnel.hostAddress}\nport 53\n`,
        `the running daemon's DNS registration is gone or not its own:\n${outputs()}`,
      );
      // It says who holds the lock and what to do.
      assert.match(
        loser.output(),
        new RegExp(`another Gangway daemon \\(pid ${winner.child.pid}\\)`),
        outputs(),
      );
      assert.match(loser.output(), /stop it first/, outputs());
      t.diagnostic(`${RACERS[w].tun} won; the other said: ${/"error":"([^"]*)"/.exec(loser.output())?.[1]}`);
    } finally {
      await watch.stop();
      await Promise.all(pair.map((d) => stop(d)));
    }
  });

  test('a daemon killed with SIGKILL does not block the next start', async () => {
    const work = workdir();
    const resolverDir = join(work.dir, 'resolver');
    const killed = racer(work, 0, resolverDir);
    await waitForDaemon(killed, 15_000);
    assert.equal(await stop(killed, 'SIGKILL'), null);
    // Its lock is left behind: its socket, dead now, in the lock directory.
    const lockDir = join(killed.stateDir, LOCK_DIR_NAME);
    const entries = () => readdirSync(lockDir).map((n) => n.replace(/-[0-9a-f]{16}\.sock$/, ''));
    assert.deepEqual(entries(), [String(killed.child.pid)]);
    const next = racer(work, 0, resolverDir);
    const status = await waitForDaemon(next, 15_000);
    assert.equal(status.tunnel.device, RACERS[0].tun);
    assert.deepEqual(entries(), [String(next.child.pid)], 'the next daemon took the lock over');
    // And it holds the lock now: a third start is refused, naming it.
    const third = racer(work, 1, resolverDir);
    const code = await Promise.race([
      exitOf(third.child),
      new Promise<'still running'>((r) => setTimeout(() => r('still running'), SETTLE_MS).unref()),
    ]);
    assert.notEqual(code, 'still running', third.output());
    assert.notEqual(code, 0, third.output());
    assert.match(third.output(), new RegExp(`another Gangway daemon \\(pid ${next.child.pid}\\)`));
    assert.ok(running(next), next.output());
    await stop(next);
  });
});

/** Contenders per round, and rounds: each round's holder is then killed with SIGKILL, so that every round
 *  after the first is also a race to take over a stale lock. */
const CONTENDERS = 6;
const ROUNDS = 12;

describe('the state directory lock under contention, with real processes', { timeout: 120_000 }, () => {
  const work = new Workdir();
  const procs: ChildProcess[] = [];
  after(async () => {
    await Promise.all(procs.map((child) => stop({ child, output: () => '' }, 'SIGKILL')));
    work.cleanup();
  });

  /** A process that loads the lock, says "ready", spins until `go` exists, then takes the lock and says how it went. */
  function contender(stateDir: string, go: string): { child: ChildProcess; said: () => string } {
    const child = spawn(process.execPath, [
      '-e',
      `const { existsSync } = require('node:fs');
      const { takeDaemonLock } = require(${JSON.stringify(join(DIST, 'helper', 'daemon-lock.js'))});
      console.log('ready');
      const deadline = Date.now() + 30000;
      while (!existsSync(${JSON.stringify(go)}) && Date.now() < deadline);
      takeDaemonLock(${JSON.stringify(stateDir)}).then(
        () => { console.log('held ' + process.pid); setInterval(() => {}, 1000); },
        (e) => { console.log('refused ' + e.code + ' ' + e.holderPid + ' ' + e.message); process.exit(0); });`,
    ]);
    procs.push(child);
    let out = '';
    child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
    return { child, said: () => out };
  }

  test(`${CONTENDERS} processes at once, ${ROUNDS} rounds, each holder then SIGKILLed: one holder a round`, async (t) => {
    const stateDir = join(work.dir, 'state');
    let killed = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const go = join(work.dir, `go-${round}`);
      const all = Array.from({ length: CONTENDERS }, () => contender(stateDir, go));
      await waitFor(
        'every contender to be ready',
        () => all.every((c) => c.said().includes('ready')),
        20_000,
        20,
      );
      writeFileSync(go, '');
      await waitFor(
        'every contender to take the lock or be refused',
        () => all.every((c) => /^(held|refused) /m.test(c.said())),
        20_000,
        20,
      ).catch((err: Error) => {
        throw new Error(`${err.message}\n${all.map((c) => c.said()).join('\n')}`);
      });
      const said = all.map((c) => c.said()).join('');
      const holders = all.filter((c) => /^held /m.test(c.said()));
      assert.equal(holders.length, 1, `round ${round}: exactly one holder:\n${said}`);
      const holder = holders[0] as (typeof all)[number];
      for (const c of all)
        if (c !== holder)
          assert.match(
            c.said(),
            new RegExp(`^refused DAEMON_RUNNING ${holder.child.pid} `, 'm'),
            `round ${round}:\n${said}`,
          );
      // Its lock is left behind as a crash leaves it; the next round must take it over.
      await stop({ child: holder.child, output: () => '' }, 'SIGKILL');
      killed++;
      await Promise.all(all.map((c) => stop({ child: c.child, output: () => '' })));
    }
    t.diagnostic(`${ROUNDS} rounds of ${CONTENDERS}, ${killed} holders killed and taken over from`);
  });
});
