// The Apple-Silicon VM, rehearsed: Docker's VM there is linux/arm64, so the agent image is built on a
// linux/arm64 base (gangway-rig/agent-base-arm64, Debian arm64 + node's arm64 build) with the linux-arm64
// prebuild, and runs under qemu-user emulation (binfmt_misc) against the rig's real dockerd. The host (the
// helper, native here) reaches a container by IP and by name through it; the agent's counters say whether
// its TUN and UDP offloads work under emulation.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Dockerd } from '../../rig/dockerd';
import { waitFor } from '../../rig/exec';
import { ARM64_AGENT_BASE_IMAGE, arm64EmulationProblem, buildArm64AgentBase } from '../../rig/images-arm64';
import type { Rig } from '../../rig/rig';
import { DEFAULT_DNS_SUFFIX } from '../../helper/config';
import { gangwayCli, httpOk, runWeb, startDockerRig, teardownDockerRig } from './docker-helpers';
import { DIST, startDaemon, waitConnected, waitForDaemon, type DaemonHandle, type Workdir } from './harness';

const AGENT = 'gangway-agent';
const HTTP_SERVER = join(DIST, 'tests', 'fixtures', 'http-server.js');

describe('an arm64 agent under emulation', { timeout: 1_800_000, skip: arm64EmulationProblem() }, () => {
  let rig: Rig | undefined;
  let dockerd: Dockerd | undefined;
  let work: Workdir | undefined;
  let daemon: DaemonHandle | undefined;
  let netnsDir = '';
  let webIp = '';

  /** SIGUSR1 makes the agent log its offload state and pump counters (and keep running): the n-th such line. */
  const agentCounters = async (n: number) => {
    await dockerd!.docker(['kill', '-s', 'USR1', AGENT]);
    const line = await waitFor(
      `agent counters line ${n}`,
      async () => (await agentLogs()).split('\n').filter((l) => l.includes('"agent counters"'))[n - 1],
      20_000,
      200,
    );
    return { line, ...(JSON.parse(line) as { offload: boolean; stats: Record<string, number> }) };
  };

  const agentLogs = async () => {
    const r = await dockerd!.docker(['logs', AGENT], { allowFail: true });
    return r.stdout + r.stderr;
  };

  before(async () => {
    ({ rig, dockerd, work } = await startDockerRig({ containers: 0, subnetIndex: 24 }));
    await buildArm64AgentBase(dockerd.host, { progress: (m) => console.log(`# ${m}`) });
    daemon = startDaemon(rig, work, [
      '--docker-host',
      dockerd.host,
      '--agent-dial',
      rig.hostVethIp,
      '--agent-base-image',
      ARM64_AGENT_BASE_IMAGE,
    ]);
    const s = await waitForDaemon(daemon);
    // Names resolve through Gangway's DNS on the tunnel address, for the host namespace only.
    netnsDir = join('/etc/netns', rig.hostNs);
    mkdirSync(netnsDir, { recursive: true });
    writeFileSync(join(netnsDir, 'resolv.conf'), `nameserver ${s.tunnel.hostAddress}\noptions timeout:2\n`);
    await dockerd.docker(['network', 'create', 'app']);
    webIp = await runWeb(dockerd, 'web', 'app');
    // Enough bytes for the kernel to hand the agent's TUN large (TSO) frames on the way back to the host.
    await dockerd.docker(['exec', 'web', 'dd', 'if=/dev/zero', 'of=/www/big', 'bs=1M', 'count=8']);
  });

  after(async () => {
    if (netnsDir) rmSync(netnsDir, { recursive: true, force: true });
    await teardownDockerRig({ daemon, dockerd, rig, work });
  });

  test('gangway up: the agent container runs the arm64 image; a container answers by IP and by name', async () => {
    const t0 = Date.now();
    const r = await gangwayCli(daemon!.socket, 'up');
    assert.equal(r.code, 0, `${r.out}\n${daemon!.output()}`);
    await waitConnected(daemon!, 120_000).catch(async (err: Error) => {
      throw new Error(`${err.message}\n--- agent container:\n${await agentLogs()}`);
    });
    console.log(`# gangway up -> connected: ${Date.now() - t0} ms (image build and agent start under qemu)`);

    const image = (await dockerd!.docker(['inspect', '-f', '{{.Image}}', AGENT])).stdout.trim();
    const arch = (await dockerd!.docker(['image', 'inspect', '-f', '{{.Os}}/{{.Architecture}}', image]))
      .stdout;
    assert.equal(arch.trim(), 'linux/arm64', "the agent container's image");
    const uname = await dockerd!.docker(['exec', AGENT, 'uname', '-m']);
    assert.equal(uname.stdout.trim(), 'aarch64', 'the agent runs as an arm64 program');
    const addon = await dockerd!.docker([
      'exec',
      AGENT,
      'node',
      '-p',
      'require("fs").readFileSync("/opt/gangway/gangway_native.node").readUInt16LE(18)',
    ]);
    assert.equal(addon.stdout.trim(), '183', 'the addon in the image is an aarch64 ELF (EM_AARCH64)');

    await waitFor('the web container by IP', () => httpOk(rig!, webIp), 30_000, 200);
    const byName = await rig!.exec(
      rig!.hostNs,
      'curl',
      [
        '-sSf',
        '--max-time',
        '10',
        '-o',
        '/dev/null',
        '-w',
        '%{remote_ip}',
        `http://web.${DEFAULT_DNS_SUFFIX}/`,
      ],
      { allowFail: true },
    );
    assert.equal(byName.code, 0, `curl by name: ${byName.stderr}`);
    assert.equal(byName.stdout.trim(), webIp, 'the name resolves to the container');
  });

  test("the agent's firewall upkeep under emulation: the ruleset watch, or the timer and the reason", async () => {
    const logs = await agentLogs();
    // qemu-user passes only some netlink families through (route, uevent, audit): a netfilter one is refused,
    // and the agent falls back to its timer, saying why. The same refusal stops the image's own iptables-nft
    // ("Failed to initialize nft"), so under emulation the agent cannot write rules at all; the rig's networks
    // need none. On a real arm64 VM the kernel is native, and the same code watches, as the x86_64 agent does
    // in iptables-flavours.test.ts.
    const why = /"msg":"firewall: no ruleset watch here; rules checked on a timer","error":"([^"]+)"/.exec(
      logs,
    );
    console.log(
      `# arm64 agent under qemu: ${why ? `no ruleset watch (${why[1]})` : 'the ruleset watch is on'}`,
    );
    if (why) {
      assert.match(logs, /"msg":"firewall: rules checked on a timer","backend":"[a-z]+","everyS":300/);
      return;
    }
    assert.match(logs, /"msg":"firewall: rules checked when nf_tables announces a change"/);
    const ours = async () =>
      (await rig!.exec(rig!.vmNs, 'iptables-nft-save', [])).stdout
        .split('\n')
        .filter((l) => /gangway/.test(l)).length;
    const before = await ours();
    await rig!.exec(rig!.vmNs, 'iptables-nft', ['-F', 'DOCKER-USER']);
    await waitFor('our rules back', async () => (await ours()) === before, 10_000, 200);
  });

  test('bulk traffic both ways through the emulated agent; its counters show which offloads it used', async () => {
    const before = (await agentCounters(1)).stats;
    const t0 = Date.now();
    const get = await rig!.exec(
      rig!.hostNs,
      'curl',
      ['-sSf', '--max-time', '120', '-o', '/dev/null', '-w', '%{size_download}', `http://${webIp}/big`],
      { allowFail: true, timeoutMs: 130_000 },
    );
    assert.equal(get.code, 0, `download: ${get.stderr}`);
    assert.equal(get.stdout.trim(), String(8 << 20));
    console.log(`# 8 MiB container -> host through the arm64 agent in ${Date.now() - t0} ms`);

    // The other way: the container fetches from a server on the host's tunnel address.
    const hostAddress = (await daemon!.status()).tunnel.hostAddress;
    const server = rig!.spawn(rig!.hostNs, process.execPath, [HTTP_SERVER, hostAddress, '8080']);
    try {
      await waitFor(
        'the host-side server',
        async () =>
          (await rig!.exec(rig!.hostNs, 'curl', ['-sf', `http://${hostAddress}:8080/`], { allowFail: true }))
            .code === 0,
        10_000,
        100,
      );
      const t1 = Date.now();
      const fetched = await dockerd!.docker(
        [
          'exec',
          'web',
          'timeout',
          '120',
          'wget',
          '-q',
          '-O',
          '/dev/null',
          `http://${hostAddress}:8080/bytes/${8 << 20}`,
        ],
        { allowFail: true, timeoutMs: 130_000 },
      );
      assert.equal(fetched.code, 0, `host -> container: ${fetched.stderr}`);
      console.log(`# 8 MiB host -> container through the arm64 agent in ${Date.now() - t1} ms`);
    } finally {
      server.kill('SIGTERM');
    }

    const entry = await agentCounters(2);
    console.log(`# agent under qemu: ${entry.line.trim()}`);
    const s = Object.fromEntries(Object.entries(entry.stats).map(([k, v]) => [k, v - (before[k] ?? 0)]));
    assert.ok(
      (s.tunRxBytes ?? 0) > 8 << 20 && (s.udpTxPackets ?? 0) > 5000,
      'the agent carried the download',
    );
    assert.ok((s.udpRxBytes ?? 0) > 8 << 20 && (s.tunTxBytes ?? 0) > 8 << 20, 'and the other way');
    for (const drop of ['dropUdpSend', 'dropTunWrite', 'dropMalformed', 'dropOversize'])
      assert.equal(s[drop], 0, `${drop}: nothing lost under emulation during the transfers`);
    // UDP GSO is asked for by default; a refusal would be counted here (and logged once by the agent).
    assert.equal(s.udpGsoFallback, 0, `UDP GSO refused under emulation:\n${await agentLogs()}`);
    if (entry.offload) {
      assert.ok((s.tunRxGsoPackets ?? 0) > 0, 'TUN offload on: TSO super-packets read and split');
      assert.ok((s.tunTxGroPackets ?? 0) > 0, 'UDP GRO: datagrams coalesced into super-packets');
    }
  });
});
