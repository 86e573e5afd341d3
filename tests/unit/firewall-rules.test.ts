import { test } from 'node:test';
import assert from 'node:assert/strict';
import { firewallRules, ruleArgs, ruleCommand } from '../../vm-agent/firewall-rules';

test('the rules accept tunnel traffic before Docker ≥ 28 drops it, both ways, and masquerade the host', () => {
  const rules = firewallRules({ tun: 'gwa0', hostAddress: '10.57.0.1', filterChain: 'DOCKER-USER' });
  const lines = rules.map((r) => ruleArgs('-I', r).join(' '));
  assert.deepEqual(lines, [
    '-w 5 -t raw -I PREROUTING 1 -i gwa0 -j ACCEPT -m comment --comment gangway',
    '-w 5 -t filter -I DOCKER-USER 1 -i gwa0 -j ACCEPT -m comment --comment gangway',
    '-w 5 -t filter -I DOCKER-USER 1 -o gwa0 -j ACCEPT -m comment --comment gangway',
    '-w 5 -t nat -I POSTROUTING 1 -s 10.57.0.1 ! -o gwa0 -j MASQUERADE -m comment --comment gangway',
  ]);
});

test("Docker 28's raw-table drop is preceded by our accept: the rule is inserted at position 1", () => {
  // Docker ≥ 28 (moby PR #49829) installs, per container: -t raw -A PREROUTING -d <ctr>/32 ! -i <bridge> -j DROP.
  // Only an accept that comes first in raw PREROUTING lets tunnel traffic through, so we insert, not append.
  const raw = firewallRules({ tun: 'gwa0', hostAddress: '10.57.0.1', filterChain: 'DOCKER-USER' })[0]!;
  assert.deepEqual(ruleArgs('-I', raw).slice(2, 7), ['-t', 'raw', '-I', 'PREROUTING', '1']);
  assert.deepEqual(ruleArgs('-D', raw).slice(2, 6), ['-t', 'raw', '-D', 'PREROUTING']);
});

test('joined subnets get accepts in both directions; without DOCKER-USER the FORWARD chain is used', () => {
  const rules = firewallRules({
    tun: 'gwa0',
    hostAddress: '10.57.0.1',
    filterChain: 'FORWARD',
    joins: [['br-a', 'br-b']],
  });
  const joins = rules.filter((r) => r.spec.includes('br-a')).map((r) => `${r.chain} ${r.spec.join(' ')}`);
  assert.deepEqual(joins, ['FORWARD -i br-a -o br-b -j ACCEPT', 'FORWARD -i br-b -o br-a -j ACCEPT']);
});

test('with IPv6 on, every rule is mirrored for ip6tables, masquerading the host IPv6 tunnel address', () => {
  const rules = firewallRules({
    tun: 'gwa0',
    hostAddress: '10.57.0.1',
    hostAddress6: 'fd57:6177::1',
    filterChain: 'DOCKER-USER',
    filterChain6: 'FORWARD',
    joins: [['br-a', 'br-b']],
  });
  const v6 = rules.filter((r) => r.family === 6);
  assert.equal(v6.length, rules.length / 2);
  assert.deepEqual(
    v6.map((r) => `${ruleCommand('iptables-legacy', r)} ${r.table} ${r.chain} ${r.spec.join(' ')}`),
    [
      'ip6tables-legacy raw PREROUTING -i gwa0 -j ACCEPT',
      'ip6tables-legacy filter FORWARD -i gwa0 -j ACCEPT',
      'ip6tables-legacy filter FORWARD -o gwa0 -j ACCEPT',
      'ip6tables-legacy nat POSTROUTING -s fd57:6177::1 ! -o gwa0 -j MASQUERADE',
      'ip6tables-legacy filter FORWARD -i br-a -o br-b -j ACCEPT',
      'ip6tables-legacy filter FORWARD -i br-b -o br-a -j ACCEPT',
    ],
  );
  for (const r of rules.filter((x) => x.family !== 6))
    assert.equal(ruleCommand('iptables-nft', r), 'iptables-nft');
});

test('without hostAddress6 there is no IPv6 rule (IPv6 off: the agent behaves as before)', () => {
  const rules = firewallRules({ tun: 'gwa0', hostAddress: '10.57.0.1', filterChain: 'DOCKER-USER' });
  assert.equal(rules.filter((r) => r.family === 6).length, 0);
});
