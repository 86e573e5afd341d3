// iptables flavours, rehearsed with a real dockerd whose PATH finds iptables-legacy or iptables-nft first
// (Rancher Desktop's Alpine VMs: nf_tables since 3.19, legacy before): the agent (its real container,
// launched by `gangway up`) finds Docker's chains and writes its rules into the same backend, a container is
// reachable, the rules are kept (on the ruleset watch in nf_tables, on a timer in legacy), a join works, and
// `gangway down` leaves no rule of ours in either backend. Then a dockerd with
// no chains at all (--iptables=false; Engine 29's nftables backend has no DOCKER-USER either): doctor and
// status say so and what to do.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { callApi } from '../../client/api-client';
import { ROUTES } from '../../common/api-routes';
import { waitFor } from '../../rig/exec';
import {
  gangwayCli,
  httpOk,
  runWeb,
  startDockerDaemon,
  startDockerRig,
  teardownDockerRig,
  type DockerRig,
} from './docker-helpers';
import { waitConnected, type DaemonHandle } from './harness';

async function ourRules(r: DockerRig, backend: 'legacy' | 'nft'): Promise<number> {
  const { stdout } = await r.rig.exec(r.rig.vmNs, `iptables-${backend}-save`, [], { allowFail: true });
  return stdout.split('\n').filter((l) => /--comment "?gangway"?( |$)/.test(l)).length;
}

async function firewallCheck(d: DaemonHandle) {
  const diag = await callApi(d.socket, ROUTES.diagnostics);
  return diag.checks.find((c) => c.id === 'firewall');
}

for (const [i, flavour] of (['legacy', 'nft'] as const).entries()) {
  const other = flavour === 'legacy' ? 'nft' : 'legacy';
  describe(`dockerd with iptables-${flavour}`, { timeout: 300_000 }, () => {
    let r: DockerRig | undefined;
    let daemon: DaemonHandle | undefined;
    let ipA = '';
    let ipB = '';
    const aReachesB = async () =>
      (
        await r!.dockerd.docker(['exec', 'a-ctr', 'timeout', '2', 'wget', '-qO-', `http://${ipB}/`], {
          allowFail: true,
        })
      ).code === 0;

    before(async () => {
      r = await startDockerRig({ containers: 0, subnetIndex: 45 + i }, () => ({ iptables: flavour }));
      daemon = await startDockerDaemon(r);
      await r.dockerd.docker(['network', 'create', 'net-a']);
      await r.dockerd.docker(['network', 'create', 'net-b']);
      ipA = await runWeb(r.dockerd, 'a-ctr', 'net-a');
      ipB = await runWeb(r.dockerd, 'b-ctr', 'net-b');
      const up = await gangwayCli(daemon.socket, 'up');
      assert.equal(up.code, 0, up.out);
      await waitConnected(daemon, 60_000);
    });

    after(() => teardownDockerRig({ daemon, ...r }));

    test(`Docker's chains are in ${flavour} only (the PATH choice took)`, async () => {
      assert.equal(await r!.dockerd.iptablesFlavour(), flavour);
    });

    test(`reachable, with the agent's rules in ${flavour} and none in ${other}`, async () => {
      await waitFor(`the container on net-a (${ipA})`, () => httpOk(r!.rig, ipA), 15_000, 100);
      await waitFor(`rules in ${flavour}`, async () => (await ourRules(r!, flavour)) >= 4, 10_000, 200);
      assert.equal(await ourRules(r!, other), 0, `rules leaked into ${other}`);
      // Status learns the backend by itself shortly after the agent connected (before any doctor run).
      await waitFor(
        'status to show the backend',
        async () => (await daemon!.status()).agent.firewall?.backend === flavour,
        10_000,
        200,
      );
      const check = await firewallCheck(daemon!);
      assert.equal(check?.status, 'ok', JSON.stringify(check));
      assert.match(check?.detail ?? '', new RegExp(`in iptables-${flavour} \\(DOCKER-USER\\)`));
    });

    test(`the agent's container ${flavour === 'nft' ? 'watches nf_tables: a flushed DOCKER-USER is healed at once' : 'checks its legacy rules on a timer (x_tables announces no change)'}`, async () => {
      const logs = async () => {
        const { stdout, stderr } = await r!.dockerd.docker(['logs', 'gangway-agent']);
        return stdout + stderr;
      };
      if (flavour === 'legacy') {
        assert.match(
          await logs(),
          /"msg":"firewall: rules checked on a timer","backend":"legacy","everyS":300/,
        );
        return;
      }
      const before = await ourRules(r!, flavour);
      await r!.rig.exec(r!.rig.vmNs, 'iptables-nft', ['-F', 'DOCKER-USER']);
      assert.ok((await ourRules(r!, flavour)) < before, 'the flush took ours');
      // No Docker event and a 5-minute timer: only the watch can bring them back this soon.
      await waitFor('our rules back', async () => (await ourRules(r!, flavour)) === before, 3_000, 100);
      assert.match(await logs(), /"msg":"firewall: rules checked when nf_tables announces a change"/);
    });

    test('a join lets the two networks reach each other', async () => {
      assert.equal(await aReachesB(), false, 'Docker isolates them before the join');
      const join = await gangwayCli(daemon!.socket, 'join', 'net-a', 'net-b');
      assert.equal(join.code, 0, join.out);
      await waitFor('net-a to reach net-b after the join', aReachesB, 15_000, 200);
    });

    test('gangway down leaves no rule of ours in either backend', async () => {
      const down = await gangwayCli(daemon!.socket, 'down');
      assert.equal(down.code, 0, down.out);
      assert.equal(await ourRules(r!, flavour), 0);
      assert.equal(await ourRules(r!, other), 0);
    });
  });
}

describe(
  "a dockerd without iptables chains (--iptables=false, like Engine 29's nftables backend)",
  { timeout: 300_000 },
  () => {
    let r: DockerRig | undefined;
    let daemon: DaemonHandle | undefined;

    before(async () => {
      r = await startDockerRig({ containers: 0, subnetIndex: 47 }, () => ({
        extraArgs: ['--iptables=false'],
      }));
      daemon = await startDockerDaemon(r);
      const up = await gangwayCli(daemon.socket, 'up');
      assert.equal(up.code, 0, up.out);
      await waitConnected(daemon, 60_000);
    });

    after(() => teardownDockerRig({ daemon, ...r }));

    test('doctor fails the firewall check and says what to do; status and `gangway status` carry it', async () => {
      assert.equal(await r!.dockerd.iptablesFlavour(), 'none');
      // Status learns it by itself shortly after the agent connected (before any doctor run).
      await waitFor(
        'status to show the missing chains',
        async () => (await daemon!.status()).agent.firewall?.backend === 'none',
        10_000,
        200,
      );
      const check = await firewallCheck(daemon!);
      assert.equal(check?.status, 'fail', JSON.stringify(check));
      assert.match(check?.detail ?? '', /neither iptables-legacy nor iptables-nft/);
      assert.match(check?.fix ?? '', /gateway_mode_ipv4=routed/);
      const s = await daemon!.status();
      assert.equal(s.agent.firewall?.backend, 'none');
      const text = await gangwayCli(daemon!.socket, 'status');
      assert.match(text.out, /firewall +Docker's iptables chains are in neither/);
    });
  },
);
