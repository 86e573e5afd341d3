// The agent's periodic firewall check: cheap (one iptables-save) while the rules are in place, the full
// probe-and-ensure when Docker flushed a chain. A fake iptables keeps the rules in a set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Runner } from '../../shared/exec';
import { createLogger } from '../../common/log';
import { Firewall } from '../../vm-agent/firewall';

const SAVE =
  '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:DOCKER - [0:0]\n:DOCKER-USER - [0:0]\nCOMMIT\n';

/** iptables-nft and ip6tables-nft with Docker's chains; rules are `[6 ]<table> <chain> <spec>` strings. */
function fakeIptables(): { run: Runner; calls: string[]; rules: Set<string> } {
  const calls: string[] = [];
  const rules = new Set<string>();
  const run: Runner = (cmd, args) => {
    calls.push([cmd, ...args].join(' '));
    const m = /^ip(6?)tables-nft(-save)?$/.exec(cmd);
    if (!m) return Promise.reject(new Error(`${cmd}: not found`));
    const prefix = m[1] ? '6 ' : '';
    if (m[2] && args.length > 0) return Promise.resolve(SAVE);
    if (m[2]) {
      // every table, our rules as iptables-save prints them
      const out: string[] = [];
      for (const table of ['raw', 'filter', 'nat']) {
        out.push(`*${table}`);
        for (const r of rules)
          if (r.startsWith(`${prefix}${table} `)) out.push(`-A ${r.slice(prefix.length + table.length + 1)}`); // spec ends with the comment
        out.push('COMMIT');
      }
      return Promise.resolve(out.join('\n') + '\n');
    }
    // ruleArgs(): -w 5 -t <table> <action> <chain> [1] <spec...>
    const [, , , table, action, chain, ...rest] = args;
    const spec = action === '-I' ? rest.slice(1) : rest;
    const key = `${prefix}${table} ${chain} ${spec.join(' ')}`;
    if (action === '-C') return rules.has(key) ? Promise.resolve('') : Promise.reject(new Error('no rule'));
    if (action === '-I') rules.add(key);
    if (action === '-D' && !rules.delete(key)) return Promise.reject(new Error('no rule'));
    return Promise.resolve('');
  };
  return { run, calls, rules };
}

const quiet = createLogger('test', () => undefined);
const input = { tun: 'gwa0', hostAddress: '10.33.0.1', joins: [] };

test('check() before any ensure() runs nothing', async () => {
  const ipt = fakeIptables();
  assert.equal(await new Firewall(ipt.run, quiet).check(), 0);
  assert.deepEqual(ipt.calls, []);
});

test('check() with the rules in place costs one iptables-save and inserts nothing', async () => {
  const ipt = fakeIptables();
  const fw = new Firewall(ipt.run, quiet);
  assert.equal(await fw.ensure(input), 4);
  ipt.calls.length = 0;
  assert.equal(await fw.check(), 0);
  assert.deepEqual(ipt.calls, ['iptables-nft-save']);
});

test('check() puts every rule back when Docker flushed DOCKER-USER, and when the raw table was flushed', async () => {
  const ipt = fakeIptables();
  const fw = new Firewall(ipt.run, quiet);
  await fw.ensure(input);
  const all = [...ipt.rules].sort();
  for (const table of ['filter', 'raw']) {
    for (const r of [...ipt.rules]) if (r.startsWith(`${table} `)) ipt.rules.delete(r);
    const missing = all.filter((r) => !ipt.rules.has(r)).length;
    assert.equal(await fw.check(), missing, `after flushing ${table}`);
    assert.deepEqual([...ipt.rules].sort(), all);
  }
});

test('check() after removeAll() runs nothing', async () => {
  const ipt = fakeIptables();
  const fw = new Firewall(ipt.run, quiet);
  await fw.ensure(input);
  await fw.removeAll();
  assert.equal(ipt.rules.size, 0);
  ipt.calls.length = 0;
  assert.equal(await fw.check(), 0);
  assert.deepEqual(ipt.calls, []);
});

const input6 = { ...input, hostAddress6: 'fd33::1' };

test('with IPv6 on, the ip6tables mirror goes into the same backend and check() reads both -save outputs', async () => {
  const ipt = fakeIptables();
  const fw = new Firewall(ipt.run, quiet);
  assert.equal(await fw.ensure(input6), 8);
  const v6 = [...ipt.rules].filter((r) => r.startsWith('6 '));
  assert.equal(v6.length, 4);
  assert.ok(v6.some((r) => r.startsWith('6 filter DOCKER-USER -i gwa0 -j ACCEPT')));
  assert.ok(v6.some((r) => r.includes('-s fd33::1 ! -o gwa0 -j MASQUERADE')));
  ipt.calls.length = 0;
  assert.equal(await fw.check(), 0);
  assert.deepEqual(ipt.calls, ['iptables-nft-save', 'ip6tables-nft-save']);
});

test('check() puts the IPv6 rules back when Docker flushed its ip6tables DOCKER-USER', async () => {
  const ipt = fakeIptables();
  const fw = new Firewall(ipt.run, quiet);
  await fw.ensure(input6);
  for (const r of [...ipt.rules]) if (r.startsWith('6 filter ')) ipt.rules.delete(r);
  assert.equal(await fw.check(), 2);
  assert.equal([...ipt.rules].filter((r) => r.startsWith('6 ')).length, 4);
});

test('IPv6 turned off, or the agent exiting, removes the ip6tables rules', async () => {
  const ipt = fakeIptables();
  const fw = new Firewall(ipt.run, quiet);
  await fw.ensure(input6);
  await fw.ensure(input);
  assert.deepEqual(
    [...ipt.rules].filter((r) => r.startsWith('6 ')),
    [],
  );
  assert.equal(ipt.rules.size, 4);
  await fw.ensure(input6);
  await fw.removeAll();
  assert.equal(ipt.rules.size, 0);
});
