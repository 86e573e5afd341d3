// gangway doctor's ordering and skip logic, over a fake probe: each broken hop is the first failure named.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CHECK_ORDER, gatewayOf, runDoctor, type DoctorProbe } from '../../helper/doctor';
import { healthyProbe as healthy } from '../fixtures/doctor-probe';
import { formatDiagnostics } from '../../cli/doctor-format';
import { parseIpLink } from '../../shared/platform/net-linux';
import { parseIfconfig } from '../../shared/platform/net-darwin';

async function statuses(p: DoctorProbe): Promise<Record<string, string>> {
  const d = await runDoctor(p);
  assert.deepEqual(
    d.checks.map((c) => c.id),
    CHECK_ORDER,
  );
  return Object.fromEntries(d.checks.map((c) => [c.id, c.status]));
}

async function firstFail(p: DoctorProbe) {
  const d = await runDoctor(p);
  assert.equal(d.ok, false);
  return d.checks.find((c) => c.status === 'fail')!;
}

describe('runDoctor', () => {
  test('healthy: everything ok, DNS skipped, gateway probed', async () => {
    const p = healthy();
    const d = await runDoctor(p);
    assert.equal(d.ok, true);
    assert.deepEqual(
      d.checks.filter((c) => c.status !== 'ok').map((c) => c.id),
      ['dns'],
    );
    assert.deepEqual(p.probed, ['172.18.0.1']);
    assert.match(formatDiagnostics(d), /All checks passed/);
  });

  test('Docker unreachable: Docker hop fails with its error; image, agent, handshake... skipped', async () => {
    const p = healthy({
      docker: { enabled: true, state: 'unreachable', endpoint: 'unix:///x.sock', lastError: 'ECONNREFUSED' },
    });
    const f = await firstFail(p);
    assert.equal(f.id, 'docker');
    assert.match(f.detail, /unreachable.*ECONNREFUSED/);
    assert.match(f.fix ?? '', /start Docker/);
    const s = await statuses(p);
    for (const id of ['image', 'agent', 'handshake', 'keepalive', 'conflicts', 'gateways'])
      assert.equal(s[id], 'skip', id);
    assert.equal(s.tun, 'ok');
    assert.equal(s.routes, 'ok');
  });

  test('Docker over tcp:// without TLS: the Docker hop warns that the secret crosses it in clear', async () => {
    const warning = "Docker's API at tcp://10.0.0.5:2375 has no TLS: the agent's secret crosses it in clear";
    const p = healthy({
      docker: { enabled: true, state: 'connected', endpoint: 'tcp://10.0.0.5:2375', warning },
    });
    const d = await runDoctor(p);
    const c = d.checks.find((x) => x.id === 'docker')!;
    assert.equal(c.status, 'warn');
    assert.match(c.detail, /without TLS: the agent's secret crosses it in clear/);
    assert.match(c.fix ?? '', /unix:\/\/ socket, or tcp:\/\/ with TLS/);
    assert.equal(d.ok, true, 'a warning, not a failure');
    const down = await firstFail(
      healthy({ docker: { enabled: true, state: 'unreachable', endpoint: 'tcp://10.0.0.5:2375', warning } }),
    );
    assert.match(down.detail, /crosses it in clear/);
  });

  test('image missing: image hop fails, fix is gangway up', async () => {
    const f = await firstFail(
      healthy({
        agentImage: () => Promise.resolve({ tag: 'gangway/agent:0.1.0', present: false }),
        agentContainer: () => Promise.resolve({ state: 'absent' as const }),
      }),
    );
    assert.equal(f.id, 'image');
    assert.match(f.fix ?? '', /gangway up/);
  });

  test('agent container stopped: agent hop fails; handshake and later tunnel hops skipped', async () => {
    const p = healthy({
      agentContainer: () => Promise.resolve({ state: 'exited' as const, detail: 'exited, exit 137' }),
    });
    const f = await firstFail(p);
    assert.equal(f.id, 'agent');
    assert.match(f.detail, /not running \(exited\)/);
    assert.match(f.fix ?? '', /gangway up/);
    const s = await statuses(p);
    assert.equal(s.handshake, 'skip');
    assert.equal(s.keepalive, 'skip');
    assert.equal(s.gateways, 'skip');
    assert.deepEqual(p.probed, []);
  });

  test('Docker errors while asking: a fail, not a throw', async () => {
    const f = await firstFail(healthy({ agentImage: () => Promise.reject(new Error('socket hang up')) }));
    assert.equal(f.id, 'image');
    assert.match(f.detail, /^cannot ask Docker: socket hang up$/);
  });

  test('a probe that throws fails its own check only; the next checks still run', async () => {
    const p = healthy({ tunRoutes: () => Promise.reject(new Error('netlink busy')) });
    const d = await runDoctor(p);
    const routes = d.checks.find((c) => c.id === 'routes');
    assert.equal(routes?.status, 'fail');
    assert.match(routes?.detail ?? '', /cannot read the routing table: netlink busy/);
    assert.equal(d.checks.find((c) => c.id === 'conflicts')?.status, 'ok');
    assert.deepEqual(
      d.checks.map((c) => c.id),
      CHECK_ORDER,
    );
  });

  test('no handshake: handshake fails, keepalives skipped', async () => {
    const p = healthy({
      tunnel: { state: 'waiting', peer: null, lastHeardAgoMs: null, configAcked: false },
    });
    assert.equal((await firstFail(p)).id, 'handshake');
    assert.equal((await statuses(p)).keepalive, 'skip');
  });

  test('configuration not acked: handshake fails', async () => {
    const f = await firstFail(
      healthy({ tunnel: { state: 'connected', peer: '1.2.3.4:5', lastHeardAgoMs: 10, configAcked: false } }),
    );
    assert.equal(f.id, 'handshake');
    assert.match(f.detail, /not applied/);
  });

  test('a keepalive 3.5 s ago (one every 2 s, one lost and probed again) is still fresh', async () => {
    const p = healthy({
      tunnel: { state: 'connected', peer: '1.2.3.4:5', lastHeardAgoMs: 3_500, configAcked: true },
    });
    assert.equal((await statuses(p)).keepalive, 'ok');
  });

  test('stale keepalives: keepalive hop fails, gateways skipped', async () => {
    const p = healthy({
      tunnel: { state: 'waiting', peer: '1.2.3.4:5', lastHeardAgoMs: 4_500, configAcked: true },
    });
    const f = await firstFail(p);
    assert.equal(f.id, 'keepalive');
    assert.match(f.detail, /4\.5 s ago/);
    assert.equal((await statuses(p)).gateways, 'skip');
  });

  test('an idle agent that announced 10 s is fresh 15 s after its keepalive, and stale after 20 s', async () => {
    const at = (ago: number) =>
      healthy({
        tunnel: {
          state: 'connected',
          peer: '1.2.3.4:5',
          lastHeardAgoMs: ago,
          configAcked: true,
          keepaliveMs: 10_000,
        },
      });
    assert.equal((await statuses(at(15_000))).keepalive, 'ok');
    const f = await firstFail(at(20_500));
    assert.equal(f.id, 'keepalive');
    assert.match(f.detail, /20\.5 s ago/);
  });

  test('TUN down: tun fails, routes and gateways skipped', async () => {
    const p = healthy({ tunLink: () => Promise.resolve({ up: false, detail: 'down' }) });
    const f = await firstFail(p);
    assert.equal(f.id, 'tun');
    assert.match(f.fix ?? '', /ip link set gw0 up/);
    const s = await statuses(p);
    assert.equal(s.routes, 'skip');
    assert.equal(s.gateways, 'skip');
  });

  test('route removed by hand: routes hop names the missing subnet', async () => {
    const p = healthy({ tunRoutes: () => Promise.resolve([]) });
    const f = await firstFail(p);
    assert.equal(f.id, 'routes');
    assert.match(f.detail, /172\.18\.0\.0\/16/);
    assert.match(f.fix ?? '', /gangway down && gangway up/);
    assert.equal((await statuses(p)).gateways, 'skip');
  });

  test('IPv6 routes are checked like IPv4 ones (issue 14): present, or named when missing', async () => {
    const both = ['172.18.0.0/16', 'fd42:20::/64'];
    const ok = await runDoctor(
      healthy({
        installedRoutes: both,
        tunRoutes: () => Promise.resolve(['172.18.0.0/16', 'fd42:20:0::/64']),
      }),
    );
    assert.match(
      ok.checks.find((c) => c.id === 'routes')?.detail ?? '',
      /172\.18\.0\.0\/16, fd42:20::\/64 on /,
    );
    const f = await firstFail(
      healthy({ installedRoutes: both, tunRoutes: () => Promise.resolve(['172.18.0.0/16']) }),
    );
    assert.equal(f.id, 'routes');
    assert.match(f.detail, /missing on \S+: fd42:20::\/64/);
  });

  test('a conflict is a warning with the message; the run still passes', async () => {
    const d = await runDoctor(
      healthy({
        networks: [
          ...healthy().networks,
          {
            name: 'vpnclash',
            wanted: true,
            routed: false,
            conflict: 'overlaps 10.8.0.0/16 on tun0',
            subnets: [{ cidr: '10.8.0.0/24', routed: false }],
          },
        ],
      }),
    );
    const c = d.checks.find((x) => x.id === 'conflicts')!;
    assert.equal(c.status, 'warn');
    assert.match(c.detail, /vpnclash: overlaps 10\.8\.0\.0\/16/);
    assert.equal(d.ok, true);
  });

  test('silent gateway: gateways hop fails naming the network', async () => {
    const f = await firstFail(healthy({ probeAddress: () => Promise.resolve(false) }));
    assert.equal(f.id, 'gateways');
    assert.match(f.detail, /app 172\.18\.0\.1/);
  });

  test('gateway probes are bounded to 16 networks and run in parallel', async () => {
    let inFlight = 0;
    let peak = 0;
    const seen: string[] = [];
    const networks = Array.from({ length: 20 }, (_, i) => ({
      name: `n${i}`,
      wanted: true,
      routed: true,
      conflict: null,
      subnets: [{ cidr: `172.${20 + i}.0.0/16`, routed: true }],
    }));
    await runDoctor(
      healthy({
        networks,
        probeAddress: async (ip) => {
          seen.push(ip);
          peak = Math.max(peak, ++inFlight);
          await new Promise((r) => setTimeout(r, 10));
          inFlight--;
          return true;
        },
      }),
    );
    assert.equal(seen.length, 16);
    assert.equal(peak, 16);
  });

  test('no routed networks: gateways skipped', async () => {
    const s = await statuses(
      healthy({ networks: [], installedRoutes: [], tunRoutes: () => Promise.resolve([]) }),
    );
    assert.equal(s.gateways, 'skip');
    assert.equal(s.routes, 'ok');
  });

  test('--no-docker: Docker hops skipped, the tunnel is still checked', async () => {
    const p = healthy({ docker: { enabled: false, state: 'disabled', endpoint: null } });
    const s = await statuses(p);
    assert.equal(s.docker, 'skip');
    assert.equal(s.image, 'skip');
    assert.equal(s.agent, 'skip');
    assert.equal(s.handshake, 'ok');
    assert.equal(s.gateways, 'ok');
  });

  test('settings warning: daemon hop warns, run passes', async () => {
    const d = await runDoctor(healthy({ settingsWarning: 'settings.json is not valid JSON' }));
    assert.equal(d.checks[0]?.status, 'warn');
    assert.equal(d.ok, true);
  });

  test('the checklist marks each status and prints fixes', async () => {
    const d = await runDoctor(
      healthy({ agentContainer: () => Promise.resolve({ state: 'absent' as const }) }),
    );
    const text = formatDiagnostics(d);
    assert.match(text, /✔ {2}1\. Gangway daemon running/);
    assert.match(text, /✖ {2}4\. Agent container running: container absent/);
    assert.match(text, /fix: run "gangway up"/);
    assert.match(text, /- 12\. DNS: the daemon runs without DNS/);
    assert.match(text, /First failing hop: Agent container running/);
  });
});

describe('doctor helpers', () => {
  test('gatewayOf: first host address of IPv4 subnets only', () => {
    assert.equal(gatewayOf('172.18.0.0/16'), '172.18.0.1');
    assert.equal(gatewayOf('192.168.5.0/24'), '192.168.5.1');
    assert.equal(gatewayOf('fd00::/64'), undefined);
    assert.equal(gatewayOf('nonsense'), undefined);
  });

  test('parseIpLink', () => {
    assert.equal(
      parseIpLink('[{"ifname":"gw0","flags":["POINTOPOINT","UP","LOWER_UP"],"operstate":"UNKNOWN"}]').up,
      true,
    );
    assert.equal(parseIpLink('[{"ifname":"gw0","flags":["POINTOPOINT"],"operstate":"DOWN"}]').up, false);
    assert.equal(parseIpLink('[]').up, false);
  });

  test('parseIfconfig', () => {
    assert.equal(parseIfconfig('utun5: flags=8051<UP,POINTOPOINT,RUNNING,MULTICAST> mtu 1400').up, true);
    assert.equal(parseIfconfig('utun5: flags=8050<POINTOPOINT,RUNNING,MULTICAST> mtu 1400').up, false);
  });
});

describe('doctor: the DNS hop', () => {
  const st = {
    enabled: true,
    suffix: 'gangway.internal',
    listen: '10.57.0.1:53',
    resolver: '/etc/resolver/gangway.internal',
    lastError: null,
  };
  const dnsCheck = async (dns: DoctorProbe['dns']) =>
    (await runDoctor(healthy({ dns }))).checks.find((c) => c.id === 'dns')!;
  const answers = () =>
    Promise.resolve({ name: 'web.gangway.internal', ok: true, detail: 'web.gangway.internal -> 172.18.0.2' });

  test('answering and registered: ok, with what was asked', async () => {
    const c = await dnsCheck({ status: st, collisions: [], query: answers });
    assert.equal(c.status, 'ok');
    assert.match(
      c.detail,
      /10\.57\.0\.1:53 answers \(web\.gangway\.internal -> 172\.18\.0\.2\); registered: \/etc\/resolver/,
    );
  });

  test('collisions are mentioned (a warning) with the containers', async () => {
    const c = await dnsCheck({
      status: st,
      collisions: [{ name: 'db.gangway.internal', containers: ['db', 'db2'] }],
      query: answers,
    });
    assert.equal(c.status, 'warn');
    assert.match(c.detail, /name collisions.*db\.gangway\.internal \(db, db2\)/);
    assert.match(c.fix ?? '', /dev\.gangway\.name/);
  });

  test('not registered: a warning with the reason; not listening or not answering: a failure', async () => {
    const unreg = await dnsCheck({
      status: { ...st, resolver: null, lastError: 'systemd-resolved is not running' },
      collisions: [],
      query: answers,
    });
    assert.equal(unreg.status, 'warn');
    assert.match(unreg.detail, /not registered with the OS: systemd-resolved is not running/);
    const deaf = await dnsCheck({
      status: { ...st, listen: null, lastError: 'cannot listen on 10.57.0.1:53: EADDRINUSE' },
      collisions: [],
      query: answers,
    });
    assert.equal(deaf.status, 'fail');
    assert.match(deaf.detail, /EADDRINUSE/);
    const mute = await dnsCheck({
      status: st,
      collisions: [],
      query: () =>
        Promise.resolve({ name: 'web.gangway.internal', ok: false, detail: 'no answer in 1000 ms' }),
    });
    assert.equal(mute.status, 'fail');
    assert.match(mute.detail, /did not answer: no answer/);
    const off = await dnsCheck({
      status: { ...st, enabled: false, listen: null },
      collisions: [],
      query: answers,
    });
    assert.equal(off.status, 'skip');
  });
});

describe('the service check', () => {
  const check = async (over: Partial<DoctorProbe>) =>
    (await runDoctor(healthy(over))).checks.find((c) => c.id === 'service')!;

  test('an old install that runs a checkout in a home directory: a warning naming the file and the fix', async () => {
    const c = await check({
      service: () => ({
        installed: true,
        path: '/etc/systemd/system/gangway.service',
        programs: ['/usr/bin/node', '/home/bob/gangway/dist/helper/cli.js'],
        problems: ['/home/bob is owned by bob (uid 1000) (mode 0755)'],
      }),
    });
    assert.equal(c.status, 'warn');
    assert.match(
      c.detail,
      /runs \/usr\/bin\/node \/home\/bob\/gangway\/dist\/helper\/cli\.js, which a user other than root can change: \/home\/bob is owned by bob/,
    );
    assert.match(c.fix ?? '', /sudo gangway service install/);
  });

  test('no service, no probe, or an unreadable one: skipped, never a failure', async () => {
    assert.equal(
      (await check({ service: () => ({ installed: false, path: '/x', programs: [], problems: [] }) })).status,
      'skip',
    );
    assert.equal((await check({ service: undefined })).status, 'skip');
    const thrown = await check({
      service: () => {
        throw new Error('EACCES');
      },
    });
    assert.equal(thrown.status, 'skip');
    assert.match(thrown.detail, /EACCES/);
  });
});
