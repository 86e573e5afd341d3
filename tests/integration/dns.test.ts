// Gangway DNS in the rig: a real dockerd in the VM namespace, the daemon and the agent, and dig and curl
// in the host namespace asking by name. The host namespace resolves through Gangway via
// /etc/netns/<ns>/resolv.conf, which `ip netns exec` bind-mounts over /etc/resolv.conf (for that namespace
// only). OS registration is exercised with --dns-resolver-dir (the macOS file format, in a temp directory).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { containersResponseSchema, type Status } from '../../common/api';
import { callApi } from '../../client/api-client';
import { ROUTES } from '../../common/api-routes';
import { RESOLVER_MARKER } from '../../helper/dns/resolver-darwin';
import type { Dockerd } from '../../rig/dockerd';
import { waitFor } from '../../rig/exec';
import { BUSYBOX_IMAGE } from '../../rig/images';
import type { Rig } from '../../rig/rig';
import { gangwayCli, ipOn, rigDockerArgs, startDockerRig, teardownDockerRig } from './docker-helpers';
import type { Workdir } from './harness';
import {
  DIST,
  startAgent,
  startDaemon,
  stop,
  waitConnected,
  waitForDaemon,
  type DaemonHandle,
  type Proc,
} from './harness';

const SUFFIX = 'gangway.internal';
const FLOOD = join(DIST, 'tests', 'fixtures', 'dns-flood.js');

describe('Gangway DNS', { timeout: 300_000 }, () => {
  let rig: Rig;
  let dockerd: Dockerd;
  let work: Workdir;
  let daemon: DaemonHandle;
  let agent: Proc;
  let addr: string;
  let netnsDir: string;
  let resolverDir: string;

  const gangway = (...args: string[]) => gangwayCli(daemon.socket, ...args);

  async function dig(name: string, type = 'A', extra: string[] = []) {
    const r = await rig.exec(
      rig.hostNs,
      'dig',
      [`@${addr}`, '-p', '53', '+time=1', '+tries=1', '+noall', '+answer', '+comments', ...extra, name, type],
      { allowFail: true },
    );
    const status = /status: ([A-Z]+)/.exec(r.stdout)?.[1] ?? `no answer (${r.stdout}${r.stderr})`;
    const answers = r.stdout
      .split('\n')
      .filter((l) => l.trim() && !l.startsWith(';'))
      .map((l) => l.split(/\s+/)[4] ?? '')
      .sort();
    return { status, answers, out: r.stdout };
  }

  async function runBusybox(name: string, args: string[]): Promise<void> {
    await dockerd.docker(['run', '-d', '--name', name, ...args, BUSYBOX_IMAGE, 'sleep', '3600']);
  }

  const webCmd = ['sh', '-c', 'mkdir -p /www && echo hi > /www/index.html && exec httpd -f -p 80 -h /www'];

  before(async () => {
    ({ rig, dockerd, work } = await startDockerRig({ containers: 0, subnetIndex: 20 }));
    resolverDir = join(work.dir, 'resolver');
    daemon = startDaemon(rig, work, [
      '--docker-host',
      dockerd.host,
      '--dns-suffix',
      SUFFIX,
      '--dns-resolver-dir',
      resolverDir,
    ]);
    const s = await waitForDaemon(daemon);
    addr = s.tunnel.hostAddress;
    agent = startAgent(rig, daemon);
    await waitConnected(daemon, 15_000, agent);
    await dockerd.docker(['network', 'create', '--subnet', '172.28.20.0/24', 'app']);
    await dockerd.docker([
      'run',
      '-d',
      '--name',
      'web',
      '--network',
      'app',
      '--ip',
      '172.28.20.10',
      BUSYBOX_IMAGE,
      ...webCmd,
    ]);
    netnsDir = join('/etc/netns', rig.hostNs);
    mkdirSync(netnsDir, { recursive: true });
    writeFileSync(join(netnsDir, 'resolv.conf'), `nameserver ${addr}\noptions timeout:1 attempts:2\n`);
  });

  after(async () => {
    if (netnsDir) rmSync(netnsDir, { recursive: true, force: true });
    await teardownDockerRig({ daemon, dockerd, rig, work });
  });

  test('dig and curl from the host by name; PTR; the resolver file is written', async () => {
    const r = await waitFor(
      'web to resolve',
      async () => {
        const d = await dig(`web.${SUFFIX}`);
        return d.answers.length ? d : undefined;
      },
      10_000,
      100,
    );
    assert.deepEqual(r.answers, ['172.28.20.10']);
    assert.match(r.out, /\s5\s+IN\s+A\s+172\.28\.20\.10/, 'TTL 5');
    assert.deepEqual((await dig(`WEB.Gangway.Internal`, 'A', ['+tcp'])).answers, ['172.28.20.10']);
    assert.deepEqual((await dig('172.28.20.10', 'PTR', ['-x'])).answers, [`web.${SUFFIX}.`]);
    const curl = await rig.exec(rig.hostNs, 'curl', ['-sSf', '--max-time', '5', `http://web.${SUFFIX}/`]);
    assert.equal(curl.stdout.trim(), 'hi');
    const s: Status = await daemon.status();
    assert.equal(s.dns.enabled, true);
    assert.equal(s.dns.listen, `${addr}:53`);
    const file = join(resolverDir, SUFFIX);
    assert.equal(s.dns.resolver, file);
    assert.equal(readFileSync(file, 'utf8'), `${RESOLVER_MARKER}\nnameserver ${addr}\nport 53\n`);
  });

  test('outside the suffix: REFUSED, never forwarded; unknown inside: NXDOMAIN; apex NODATA', async () => {
    const before = (await daemon.status()).counters.dns ?? {};
    for (const name of ['example.com', 'localhost', `${SUFFIX}.evil.com`])
      assert.equal((await dig(name)).status, 'REFUSED', name);
    assert.equal((await dig('8.8.8.8', 'PTR', ['-x'])).status, 'REFUSED');
    const nx = await dig(`nope.${SUFFIX}`);
    assert.equal(nx.status, 'NXDOMAIN');
    const apex = await dig(SUFFIX);
    assert.equal(apex.status, 'NOERROR');
    assert.deepEqual(apex.answers, []);
    const after = (await daemon.status()).counters.dns ?? {};
    assert.equal((after.refused ?? 0) - (before.refused ?? 0), 4);
    assert.equal((after.nxdomain ?? 0) - (before.nxdomain ?? 0), 1);
  });

  test('compose names, replicas, aliases, custom names, collisions: in dig, gangway containers and doctor', async () => {
    const compose = (n: number) => [
      '--network',
      'app',
      '--label',
      'com.docker.compose.project=shop',
      '--label',
      'com.docker.compose.service=api',
      '--label',
      `com.docker.compose.container-number=${n}`,
    ];
    await runBusybox('shop-api-1', [...compose(1), '--network-alias', 'backend']);
    await runBusybox('shop-api-2', compose(2));
    await runBusybox('one', ['--network', 'app', '--label', 'dev.gangway.name=shared,my-one']);
    await runBusybox('two', ['--network', 'app', '--label', 'dev.gangway.name=shared']);
    const ip = async (c: string) => ipOn(dockerd, c, 'app');
    const [a1, a2, one, two] = [
      await ip('shop-api-1'),
      await ip('shop-api-2'),
      await ip('one'),
      await ip('two'),
    ];
    await waitFor(
      'the compose service to resolve to both',
      async () => (await dig(`api.shop.${SUFFIX}`)).answers.length === 2,
      5_000,
      100,
    );
    assert.deepEqual((await dig(`api.shop.${SUFFIX}`)).answers, [a1, a2].sort());
    assert.deepEqual((await dig(`2.api.shop.${SUFFIX}`)).answers, [a2]);
    assert.deepEqual((await dig(`shop-api-1.${SUFFIX}`)).answers, [a1]);
    assert.deepEqual((await dig(`backend.${SUFFIX}`)).answers, [a1]);
    assert.deepEqual((await dig(`my-one.${SUFFIX}`)).answers, [one]);
    await waitFor(
      'the collision',
      async () => (await dig(`shared.${SUFFIX}`)).answers.length === 2,
      5_000,
      100,
    );
    assert.deepEqual((await dig(`shared.${SUFFIX}`)).answers, [one, two].sort());
    assert.equal((await dig(`shop.${SUFFIX}`)).status, 'NOERROR', 'the project is an empty non-terminal');

    const r = await callApi(daemon.socket, ROUTES.containers);
    const c1 = r.containers.find((c) => c.name === 'shop-api-1');
    assert.equal(c1?.project, 'shop');
    assert.equal(c1?.service, 'api');
    assert.deepEqual(c1?.dnsNames, [
      `shop-api-1.${SUFFIX}`,
      `api.shop.${SUFFIX}`,
      `1.api.shop.${SUFFIX}`,
      `backend.${SUFFIX}`,
    ]);
    assert.deepEqual(
      c1?.networks.map((n) => [n.network, n.ipv4, n.routed]),
      [['app', a1, true]],
    );
    const shared = r.collisions.find((x) => x.name === `shared.${SUFFIX}`);
    assert.deepEqual(shared?.containers.sort(), ['one', 'two']);

    const table = await gangway('containers');
    assert.equal(table.code, 0, table.out);
    assert.match(table.out, /CONTAINER\s+NETWORK\s+ADDRESSES\s+DNS NAMES/);
    assert.match(
      table.out,
      new RegExp(`web\\s+app\\s+172\\.28\\.20\\.10\\s+web\\.${SUFFIX.replace('.', '\\.')}`),
    );
    assert.match(table.out, /Collision: shared\.gangway\.internal is claimed by one, two/);
    const json = await gangway('containers', '--json');
    assert.equal(json.code, 0, json.out);
    assert.ok(containersResponseSchema.parse(JSON.parse(json.out)).containers.length >= 5);

    const d = await callApi(daemon.socket, ROUTES.diagnostics, { timeoutMs: 30_000 });
    const dns = d.checks.find((c) => c.id === 'dns');
    assert.equal(dns?.status, 'warn', dns?.detail);
    assert.match(dns?.detail ?? '', /answers .*collisions.*shared\.gangway\.internal \(one, two\)/);
    assert.match(dns?.detail ?? '', /registered: /);
    await dockerd.docker(['rm', '-f', 'shop-api-1', 'shop-api-2', 'one', 'two']);
    await waitFor(
      'the names to go',
      async () => (await dig(`api.shop.${SUFFIX}`)).status === 'NXDOMAIN',
      3_000,
      50,
    );
  });

  test('rename and network disconnect/connect are followed', async () => {
    await runBusybox('solo', ['--network', 'app']);
    await waitFor('solo', async () => (await dig(`solo.${SUFFIX}`)).answers.length === 1, 3_000, 20);
    await dockerd.docker(['rename', 'solo', 'duo']);
    await waitFor('the new name', async () => (await dig(`duo.${SUFFIX}`)).answers.length === 1, 2_000, 20);
    assert.equal((await dig(`solo.${SUFFIX}`)).status, 'NXDOMAIN');
    await dockerd.docker(['network', 'disconnect', 'app', 'duo']);
    await waitFor(
      'gone with its network',
      async () => (await dig(`duo.${SUFFIX}`)).status === 'NXDOMAIN',
      2_000,
      20,
    );
    await dockerd.docker(['network', 'connect', 'app', 'duo']);
    await waitFor('back', async () => (await dig(`duo.${SUFFIX}`)).answers.length === 1, 2_000, 20);
    await dockerd.docker(['rm', '-f', 'duo']);
  });

  test('a container restarted with a new IP resolves to the new one within 2 s', async () => {
    await dockerd.docker(['stop', '-t', '1', 'web']);
    await dockerd.docker(['network', 'disconnect', 'app', 'web']);
    await dockerd.docker(['network', 'connect', '--ip', '172.28.20.11', 'app', 'web']);
    const t0 = Date.now();
    await dockerd.docker(['start', 'web']);
    const t1 = Date.now();
    await waitFor(
      'the new address',
      async () => (await dig(`web.${SUFFIX}`)).answers.join() === '172.28.20.11',
      5_000,
      20,
    );
    const t2 = Date.now();
    console.log(`# docker start: ${t1 - t0} ms; running -> new address answered: ${t2 - t1} ms`);
    assert.ok(t2 - t1 <= 2_000, `${t2 - t1} ms after the container runs again`);
  });

  test('a stopped container stops resolving (NXDOMAIN) at once', async () => {
    await dockerd.docker(['kill', 'web']);
    const t0 = Date.now();
    await waitFor('NXDOMAIN', async () => (await dig(`web.${SUFFIX}`)).status === 'NXDOMAIN', 2_000, 20);
    console.log(`# docker kill -> NXDOMAIN: ${Date.now() - t0} ms`);
    await dockerd.docker(['start', 'web']);
    await waitFor('back', async () => (await dig(`web.${SUFFIX}`)).answers.length === 1, 2_000, 20);
  });

  test('a bounded flood of 20k datagrams (a fifth malformed) and 200 TCP connections: still answering, RSS bounded', async () => {
    const rss = () => {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${daemon.child.pid}/status`, 'utf8'));
      return Number(m?.[1] ?? 0) / 1024;
    };
    const before = (await daemon.status()).counters.dns ?? {};
    const rss0 = rss();
    const r = await rig.exec(
      rig.hostNs,
      process.execPath,
      [FLOOD, addr, '53', SUFFIX, '20000', '10', '200'],
      {
        timeoutMs: 30_000,
      },
    );
    const res = JSON.parse(r.stdout) as {
      sent: number;
      answers: number;
      elapsedMs: number;
      tcpAnswered: number;
      tcpClosed: number;
    };
    const rss1 = rss();
    const after = (await daemon.status()).counters.dns ?? {};
    const delta = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
    console.log(
      `# flood: ${JSON.stringify(res)}; rss ${rss0.toFixed(1)} -> ${rss1.toFixed(1)} MiB; counters +received ${delta('received')} +formerr ${delta('formerr')} +dropped ${delta('dropped')} +refused ${delta('refused')} +tcpRejected ${delta('tcpRejected')}`,
    );
    assert.equal(res.sent, 20_000);
    assert.ok(res.elapsedMs <= 12_000, `${res.elapsedMs} ms`);
    // 8 in 10 kinds get an answer (2 in 10 are responses and runts: dropped); some UDP loss is allowed.
    // (the kernel drops some datagrams when the two shared CPUs are busy: the bounds allow for that).
    assert.ok(res.answers >= 0.4 * res.sent && res.answers <= 0.8 * res.sent, `${res.answers} answers`);
    const outcomes = ['answered', 'nodata', 'nxdomain', 'refused', 'formerr', 'notimp', 'dropped'];
    assert.equal(
      outcomes.reduce((sum, k) => sum + delta(k), 0),
      delta('received'),
      'every message received is answered or dropped, and counted once',
    );
    assert.ok(delta('formerr') >= 0.2 * delta('received'), 'malformed queries answered with FORMERR');
    assert.ok(delta('dropped') >= 0.1 * delta('received'), 'responses and runts dropped and counted');
    assert.ok(delta('refused') >= 0.05 * delta('received'), 'outside the suffix refused');
    assert.equal(res.tcpAnswered + res.tcpClosed, 200);
    assert.ok(res.tcpAnswered >= 64, `${res.tcpAnswered} TCP answers`);
    assert.ok(rss1 - rss0 < 64, `RSS grew ${(rss1 - rss0).toFixed(1)} MiB`);
    assert.deepEqual((await dig(`web.${SUFFIX}`)).answers, ['172.28.20.11'], 'still answering');
  });

  test('settings: a new suffix and port apply without a restart (server rebound, file re-registered)', async () => {
    const set = await gangway('settings', 'set', 'dnsSuffix=dev.test', 'dnsPort=5353');
    assert.equal(set.code, 0, set.out);
    const s = await daemon.status();
    assert.equal(s.dns.suffix, 'dev.test');
    assert.equal(s.dns.listen, `${addr}:5353`);
    assert.equal(existsSync(join(resolverDir, SUFFIX)), false);
    assert.equal(
      readFileSync(join(resolverDir, 'dev.test'), 'utf8'),
      `${RESOLVER_MARKER}\nnameserver ${addr}\nport 5353\n`,
    );
    const r = await rig.exec(rig.hostNs, 'dig', [`@${addr}`, '-p', '5353', '+short', 'web.dev.test'], {
      allowFail: true,
    });
    assert.equal(r.stdout.trim(), '172.28.20.11');
    assert.notEqual((await dig(`web.${SUFFIX}`)).status, 'NOERROR', 'nothing on port 53 any more');
    const back = await gangway('settings', 'set', `dnsSuffix=${SUFFIX}`, 'dnsPort=53');
    assert.equal(back.code, 0, back.out);
    assert.deepEqual((await dig(`web.${SUFFIX}`)).answers, ['172.28.20.11']);
    assert.equal(existsSync(join(resolverDir, 'dev.test')), false);
    assert.ok(existsSync(join(resolverDir, SUFFIX)));
  });

  test('gangway down removes the registration, a restart remembers it, up restores it, stop removes it', async () => {
    const file = join(resolverDir, SUFFIX);
    const down = await gangway('down');
    assert.equal(down.code, 0, down.out);
    assert.equal(existsSync(file), false);
    assert.equal((await daemon.status()).dns.resolver, null);
    // From here on the agent is the container `gangway up` launches, not the plain process.
    await stop(daemon);
    await stop(agent);
    daemon = startDaemon(rig, work, [...rigDockerArgs(rig, dockerd), '--dns-resolver-dir', resolverDir]);
    await waitForDaemon(daemon);
    assert.equal(existsSync(file), false, 'still down after a restart: not registered');
    const up = await gangway('up');
    assert.equal(up.code, 0, `${up.out}\n${daemon.output()}`);
    assert.equal(readFileSync(file, 'utf8'), `${RESOLVER_MARKER}\nnameserver ${addr}\nport 53\n`);
    await waitConnected(daemon, 15_000);
    await waitFor(
      'web by name again',
      async () => (await dig(`web.${SUFFIX}`)).answers.length === 1,
      5_000,
      50,
    );
    const t0 = Date.now();
    const code = await stop(daemon);
    assert.equal(existsSync(file), false, 'removed on daemon stop');
    // The DNS sockets and the container index's event stream are closed: the process exits by itself.
    assert.equal(code, 0, daemon.output());
    assert.doesNotMatch(daemon.output(), /still running 3 s after stopping/);
    assert.ok(Date.now() - t0 < 3_000, `${Date.now() - t0} ms to exit`);
  });
});
