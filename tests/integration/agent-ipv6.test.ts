// The agent with IPv6 on, against a real dockerd with Docker's IPv6 firewall (ip6tables), for both iptables
// backends: the helper's real data plane in the host namespace pushes a configuration with
// hostAddress6/agentAddress6 (ipv6-tunnel-host.ts; the host's IPv6 address and routes are set there by hand),
// the agent runs as a plain process in the VM namespace. Containers on an --ipv6 and an --internal --ipv6
// network answer the host's IPv6 tunnel address, the ip6tables mirror is in Docker's backend only, a join
// opens Docker's IPv6 isolation, a flushed DOCKER-USER is healed, and nothing of ours is left after the agent
// exits. The agent's pump drops IPv6 from any other inner source than the host's tunnel address.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '../../rig/exec';
import { AGENT, DIST, stop, track, type Proc } from './harness';
import { runWeb, startDockerRig, teardownDockerRig, type DockerRig } from './docker-helpers';

const HOST6 = 'fd57:6177::1';
const AGENT6 = 'fd57:6177::2';
const PORT = 2611;
const TUN = 'gwa0';
const TUNNEL_HOST = join(DIST, 'tests', 'integration', 'ipv6-tunnel-host.js');

/** Our rules (by comment) in one backend's save output of one family. */
async function ourRules(r: DockerRig, tool: string): Promise<string[]> {
  const { stdout } = await r.rig.exec(r.rig.vmNs, `${tool}-save`, [], { allowFail: true });
  return stdout.split('\n').filter((l) => /--comment "?gangway"?( |$)/.test(l));
}

async function ip6On(r: DockerRig, container: string, network: string): Promise<string> {
  const f = `{{(index .NetworkSettings.Networks "${network}").GlobalIPv6Address}}`;
  return (await r.dockerd.docker(['inspect', '-f', f, container])).stdout.trim();
}

async function bridgeOf(r: DockerRig, network: string): Promise<string> {
  const id = (await r.dockerd.docker(['network', 'inspect', '-f', '{{.Id}}', network])).stdout.trim();
  return `br-${id.slice(0, 12)}`;
}

/** An HTTP GET over IPv6 from the rig's host namespace (-g: the brackets are not a curl glob). */
async function http6(r: DockerRig, ip: string): Promise<boolean> {
  const res = await r.rig.exec(r.rig.hostNs, 'curl', ['-6', '-gsSf', '--max-time', '1', `http://[${ip}]/`], {
    allowFail: true,
  });
  return res.code === 0;
}

for (const [i, flavour] of (['legacy', 'nft'] as const).entries()) {
  const other = flavour === 'legacy' ? 'nft' : 'legacy';
  describe(`the agent with IPv6, dockerd with ip6tables-${flavour}`, { timeout: 300_000 }, () => {
    let r: DockerRig | undefined;
    let host: Proc | undefined;
    let agent: Proc | undefined;
    const n = 61 + i;
    const subnets = { web6: `fd42:${n}::/64`, sealed6: `fd42:1${n}::/64`, other6: `fd42:2${n}::/64` };
    const ips: Record<string, string> = {};

    before(async () => {
      r = await startDockerRig({ containers: 0, subnetIndex: n }, () => ({ iptables: flavour, ipv6: true }));
      const d = r.dockerd;
      await d.docker(['network', 'create', '--ipv6', '--subnet', subnets.web6, 'web6']);
      await d.docker(['network', 'create', '--ipv6', '--internal', '--subnet', subnets.sealed6, 'sealed6']);
      await d.docker(['network', 'create', '--ipv6', '--subnet', subnets.other6, 'other6']);
      for (const [name, net] of [
        ['web', 'web6'],
        ['inner', 'sealed6'],
        ['peer', 'other6'],
      ] as const) {
        await runWeb(d, name, net);
        ips[name] = await ip6On(r, name, net);
      }
      const secret = join(r.work.dir, 'secret');
      writeFileSync(secret, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
      host = track(
        r.rig.spawn(r.rig.hostNs, process.execPath, [
          '--enable-source-maps',
          TUNNEL_HOST,
          secret,
          r.rig.hostVethIp,
          String(PORT),
          '10.57.0.0/24',
          HOST6,
          AGENT6,
          ...Object.values(subnets),
        ]),
      );
      await waitFor(`the tunnel host (${host.output()})`, () => /ready/.test(host!.output()), 15_000, 50);
      agent = track(
        r.rig.spawn(r.rig.vmNs, process.execPath, [
          '--enable-source-maps',
          AGENT,
          '--server',
          `${r.rig.hostVethIp}:${PORT}`,
          '--secret-file',
          secret,
          '--tun-name',
          TUN,
          // Docker events trigger a check through the helper, which this stand-in host does not follow. In
          // nf_tables the ruleset watch sees the heal test's flush (the timer is an hour, out of the way); the
          // legacy backend announces nothing, so there the timer runs, at its shortest.
          '--firewall-check-seconds',
          flavour === 'nft' ? '3600' : '5',
        ]),
      );
      await waitFor(
        'the agent to apply the configuration',
        () => /acked/.test(host!.output()),
        15_000,
        50,
      ).catch((err: Error) => {
        throw new Error(`${err.message}\n--- host:\n${host!.output()}\n--- agent:\n${agent!.output()}`);
      });
    });

    after(async () => {
      if (agent) await stop(agent);
      if (host) await stop(host);
      await teardownDockerRig({ ...r });
    });

    /** Docker 20.10 makes its IPv6 chains (isolation, DOCKER) but no ip6tables DOCKER-USER (later engines do):
     *  then the agent's IPv6 accepts go into FORWARD, ahead of Docker's jumps. */
    const chain6 = async () =>
      /^:DOCKER-USER /m.test(
        (await r!.rig.exec(r!.rig.vmNs, `ip6tables-${flavour}-save`, ['-t', 'filter'])).stdout,
      )
        ? 'DOCKER-USER'
        : 'FORWARD';

    test(`Docker's IPv6 chains are in ${flavour}, and Docker turned IPv6 forwarding on (the agent relies on it)`, async () => {
      const save = await r!.rig.exec(r!.rig.vmNs, `ip6tables-${flavour}-save`, ['-t', 'filter']);
      assert.match(save.stdout, /^:DOCKER-ISOLATION-STAGE-1 /m);
      const fwd = await r!.rig.exec(r!.rig.vmNs, 'sysctl', ['-n', 'net.ipv6.conf.all.forwarding']);
      assert.equal(fwd.stdout.trim(), '1');
    });

    test("the agent's TUN has its IPv6 address, with the host's as peer", async () => {
      await waitFor(
        `${AGENT6} on ${TUN}`,
        async () => {
          const { stdout } = await r!.rig.exec(r!.rig.vmNs, 'ip', ['-6', 'addr', 'show', 'dev', TUN]);
          return new RegExp(`inet6 ${AGENT6} peer ${HOST6}/128 scope global`).test(stdout);
        },
        10_000,
        50,
      );
    });

    test(`the ip6tables mirror is in ${flavour} (raw, filter in and out, MASQUERADE), none in ${other}`, async () => {
      await waitFor(
        'the IPv6 rules',
        async () => (await ourRules(r!, `ip6tables-${flavour}`)).length >= 4,
        10_000,
      );
      const rules = (await ourRules(r!, `ip6tables-${flavour}`)).join('\n');
      const chain = await chain6();
      assert.match(rules, new RegExp(`^-A PREROUTING -i ${TUN} .*-j ACCEPT`, 'm'));
      assert.match(rules, new RegExp(`^-A ${chain} -i ${TUN} .*-j ACCEPT`, 'm'));
      assert.match(rules, new RegExp(`^-A ${chain} -o ${TUN} .*-j ACCEPT`, 'm'));
      assert.match(rules, new RegExp(`^-A POSTROUTING -s ${HOST6}/128 ! -o ${TUN} .*-j MASQUERADE`, 'm'));
      // Inserted first: ahead of Docker's isolation jump when they are in FORWARD.
      const forward = await r!.rig.exec(r!.rig.vmNs, `ip6tables-${flavour}`, ['-S', chain]);
      assert.match(forward.stdout.split('\n')[1] ?? '', /gangway/, forward.stdout);
      assert.equal((await ourRules(r!, `iptables-${flavour}`)).length, 4, 'the IPv4 rules stay as they were');
      // What status and doctor read (gangway-agent --firewall-report): the IPv6 rules counted apart.
      const report = JSON.parse(
        (await r!.rig.exec(r!.rig.vmNs, process.execPath, [AGENT, '--firewall-report'])).stdout,
      ) as { backend: string; rules: number; rules6?: number };
      assert.deepEqual([report.backend, report.rules, report.rules6], [flavour, 4, 4]);
      assert.equal((await ourRules(r!, `ip6tables-${other}`)).length, 0, `rules leaked into ${other}`);
      assert.equal((await ourRules(r!, `iptables-${other}`)).length, 0, `rules leaked into ${other}`);
    });

    test('the host reaches a container on an --ipv6 network by its IPv6 address', async () => {
      await waitFor(`[${ips.web}] over IPv6`, () => http6(r!, ips.web!), 10_000, 100);
    });

    test('the host reaches a container on an --internal --ipv6 network (masqueraded)', async () => {
      await waitFor(`[${ips.inner}] over IPv6`, () => http6(r!, ips.inner!), 10_000, 100);
    });

    /** The line SIGUSR1 makes the agent log: its pump counters and the ruleset notifications it read. */
    const countersLine = async (): Promise<string> => {
      const before = agent!.output().length;
      agent!.child.kill('SIGUSR1');
      return waitFor(
        'the agent to log its counters',
        () => /"msg":"agent counters".*\n/.exec(agent!.output().slice(before))?.[0],
        5_000,
        50,
      );
    };

    test("the agent's pump takes IPv6 from the host's tunnel address only: another inner source is dropped", async () => {
      /** The agent's dropSpoofed counter. */
      const dropSpoofed = async (): Promise<number> =>
        Number(/"dropSpoofed":(\d+)/.exec(await countersLine())?.[1]);
      const spoofed = 'fd57:6177::99';
      const tunDev = 'gw6h';
      await r!.rig.exec(r!.rig.hostNs, 'ip', ['-6', 'addr', 'add', `${spoofed}/128`, 'dev', tunDev, 'nodad']);
      try {
        const d0 = await dropSpoofed();
        const ping = (from: string) =>
          r!.rig.exec(
            r!.rig.hostNs,
            'ping',
            ['-6', '-c', '3', '-i', '0.2', '-W', '1', '-I', from, ips.web!],
            {
              allowFail: true,
            },
          );
        assert.notEqual(
          (await ping(spoofed)).code,
          0,
          'a packet from a source the host does not own got through',
        );
        const d1 = await dropSpoofed();
        assert.ok(d1 - d0 >= 3, `dropSpoofed ${d0} -> ${d1}`);
        // (No exact count after this: the host's link-local chatter, MLD from fe80::, is dropped and counted too.)
        assert.equal((await ping(HOST6)).code, 0, "the host's IPv6 tunnel address still gets through");
      } finally {
        await r!.rig.exec(r!.rig.hostNs, 'ip', ['-6', 'addr', 'del', `${spoofed}/128`, 'dev', tunDev], {
          allowFail: true,
        });
      }
    });

    test('a join opens Docker’s IPv6 isolation between two networks', async () => {
      const reaches = async () =>
        (
          await r!.dockerd.docker(['exec', 'web', 'timeout', '2', 'wget', '-qO-', `http://[${ips.peer}]/`], {
            allowFail: true,
          })
        ).code === 0;
      assert.equal(await reaches(), false, 'Docker isolates the two IPv6 networks before the join');
      host!.child.stdin?.write(
        `${JSON.stringify([[await bridgeOf(r!, 'web6'), await bridgeOf(r!, 'other6')]])}\n`,
      );
      await waitFor('web6 to reach other6 over IPv6 after the join', reaches, 15_000, 200);
    });

    test(`our IPv6 rules are put back ${flavour === 'nft' ? 'at once, on the ruleset watch' : 'by the periodic check'} when Docker's chains are recreated`, async () => {
      const chain = await chain6();
      const ours = ['-i', TUN, '-m', 'comment', '--comment', 'gangway', '-j', 'ACCEPT'];
      await r!.rig.exec(r!.rig.vmNs, `ip6tables-${flavour}`, ['-D', chain, ...ours]);
      await r!.rig.exec(r!.rig.vmNs, `ip6tables-${flavour}`, ['-t', 'raw', '-F', 'PREROUTING']);
      const t0 = Date.now();
      await waitFor(
        'the agent to re-apply its IPv6 rules',
        async () =>
          (
            await r!.rig.exec(r!.rig.vmNs, `ip6tables-${flavour}`, ['-C', chain, ...ours], {
              allowFail: true,
            })
          ).code === 0 &&
          /gangway/.test(
            (await r!.rig.exec(r!.rig.vmNs, `ip6tables-${flavour}`, ['-t', 'raw', '-S'])).stdout,
          ),
        // nf_tables: the watch, 250 ms after the flush, and the check's own iptables runs; legacy: the 5 s timer
        flavour === 'nft' ? 3_000 : 12_000,
        100,
      );
      console.log(`# ${flavour}: rules back ${Date.now() - t0} ms after the flush`);
      const upkeep =
        flavour === 'nft' ? /rules checked when nf_tables announces a change/ : /rules checked on a timer/;
      assert.match(agent!.output(), upkeep);
      // The watch read the flush's notifications (none in legacy, which announces nothing).
      const changes = Number(/"firewallChanges":(\d+)/.exec(await countersLine())?.[1]);
      if (flavour === 'nft') assert.ok(changes > 0, `notifications read: ${changes}`);
      else assert.equal(changes, 0);
      await waitFor(`[${ips.web}] over IPv6 again`, () => http6(r!, ips.web!), 10_000, 100);
    });

    test('after the agent exits, no rule of ours is left in either family or backend', async () => {
      assert.equal(await stop(agent!), 0, agent!.output());
      for (const tool of ['iptables-legacy', 'iptables-nft', 'ip6tables-legacy', 'ip6tables-nft'])
        assert.deepEqual(await ourRules(r!, tool), [], tool);
    });
  });
}
