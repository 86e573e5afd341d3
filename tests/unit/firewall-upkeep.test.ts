// When the agent looks at its firewall rules unasked (vm-agent/firewall-upkeep.ts): on the ruleset watch's word
// where it sees every change (rules in iptables-nft), on a timer everywhere else. A fake firewall counts the
// checks and says which backend it wrote to; a fake watch is called by hand. The real watch, against a real
// kernel: tests/integration/native-ruleset-watch.test.ts and agent-ipv6.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../../common/log';
import type { RulesetWatchCallback } from '../../native/index';
import { FirewallUpkeep, type UpkeepOptions } from '../../vm-agent/firewall-upkeep';

const input = { tun: 'gwa0', hostAddress: '10.33.0.1', joins: [] };

function fakeFirewall(backend: 'nft' | 'legacy' | 'unknown') {
  const fw = {
    backend,
    checks: 0,
    written: false,
    ensure: () => {
      fw.written = true;
      return Promise.resolve(0);
    },
    check: () => {
      fw.checks++;
      return Promise.resolve(0);
    },
    removeAll: () => {
      fw.written = false;
      return Promise.resolve();
    },
    rulesIn: () => (fw.written ? fw.backend : undefined),
  };
  return fw;
}

function fakeWatch() {
  const w = { closed: 0, changed: undefined as RulesetWatchCallback | undefined };
  const open = (cb: RulesetWatchCallback) => {
    w.changed = cb;
    return { close: () => void w.closed++ };
  };
  return { w, open };
}

/** Polls `ok` until it holds, for at most 3 s (a loaded machine runs timers late, never early). */
async function until(what: string, ok: () => boolean): Promise<void> {
  for (const t0 = Date.now(); !ok(); await sleep(10))
    if (Date.now() - t0 > 3_000) assert.fail(`not within 3 s: ${what}`);
}

function logged() {
  const lines: string[] = [];
  return { lines, log: createLogger('test', (l) => void lines.push(l), 'debug') };
}

function upkeep(backend: 'nft' | 'legacy' | 'unknown', openWatch: UpkeepOptions['openWatch'], checkMs = 40) {
  const fw = fakeFirewall(backend);
  const { lines, log } = logged();
  const u = new FirewallUpkeep(fw, log, { checkMs, openWatch, settleMs: 20, settleMaxMs: 200 });
  return { fw, lines, u };
}

test('rules in iptables-nft with the watch: no timer; a burst of changes is looked at once, after it settles', async (t) => {
  const { w, open } = fakeWatch();
  const { fw, lines, u } = upkeep('nft', open);
  t.after(() => u.stop());
  await u.ensure(input);
  await sleep(200);
  assert.equal(fw.checks, 0, 'nothing looked at without a change: no timer');
  for (let i = 0; i < 5; i++) w.changed!(2, false);
  assert.equal(fw.checks, 0, 'not before the burst settles');
  await until('the burst looked at', () => fw.checks === 1);
  await sleep(60);
  assert.equal(fw.checks, 1, 'once for the burst');
  assert.equal(u.changesSeen, 10);
  w.changed!(0, true); // the kernel dropped notifications: changes happened all the same
  await until('the overflow looked at', () => fw.checks === 2);
  assert.match(lines.join(''), /rules checked when nf_tables announces a change/);
  assert.doesNotMatch(lines.join(''), /on a timer/);
});

test("the helper's word that Docker changed something: a check unless the watch sees the rules", async (t) => {
  // The timers out of the way: only dockerChanged() checks here.
  const nft = upkeep('nft', fakeWatch().open, 60_000);
  const legacy = upkeep('legacy', fakeWatch().open, 60_000);
  const unwatched = upkeep('nft', undefined, 60_000);
  t.after(() => Promise.all([nft.u.stop(), legacy.u.stop(), unwatched.u.stop()]));
  for (const x of [nft, legacy, unwatched]) await x.u.ensure(input);
  const before = [nft, legacy, unwatched].map((x) => x.fw.checks);
  for (const x of [nft, legacy, unwatched]) await x.u.dockerChanged();
  assert.deepEqual(
    [nft, legacy, unwatched].map((x, i) => x.fw.checks - before[i]!),
    [0, 1, 1],
    "nf_tables with the watch: Docker's change was announced to the watch; legacy and no watch: checked",
  );
});

test('a long burst of changes is looked at while it goes on, at most the longest wait apart', async (t) => {
  const { w, open } = fakeWatch();
  const { fw, u } = upkeep('nft', open);
  t.after(() => u.stop());
  await u.ensure(input);
  const t0 = Date.now();
  while (Date.now() - t0 < 500) {
    w.changed!(1, false); // a change every 5 ms for 500 ms: never quiet for the 20 ms settle time
    await sleep(5);
  }
  const during = fw.checks;
  // 2 on an idle machine; a stalled loop may see a quiet 20 ms now and then. Looking 20 ms after the first
  // change of each burst would be about 25; waiting for quiet without a bound, 0.
  assert.ok(during >= 1 && during <= 6, `looked at every 200 ms or so while it went on: ${during}`);
  await until('once more after it went quiet', () => fw.checks === during + 1);
  await sleep(100);
  assert.equal(fw.checks, during + 1);
});

test('rules in iptables-legacy, which announces nothing: the timer runs, watch or not', async (t) => {
  const { open } = fakeWatch();
  const { fw, lines, u } = upkeep('legacy', open);
  t.after(() => u.stop());
  await sleep(100);
  assert.equal(fw.checks, 0, 'no timer before the first rules are written');
  await u.ensure(input);
  await until('three checks on the 40 ms timer', () => fw.checks >= 3);
  assert.match(lines.join(''), /"msg":"firewall: rules checked on a timer","backend":"legacy","everyS":0.04/);
});

test('Docker moving to another backend moves the upkeep with it', async (t) => {
  const { open } = fakeWatch();
  const { fw, u } = upkeep('legacy', open);
  t.after(() => u.stop());
  await u.ensure(input);
  fw.backend = 'nft'; // dockerd restarted with iptables-nft: the next ensure wrote there
  await u.ensure(input);
  const before = fw.checks;
  await sleep(150);
  assert.equal(fw.checks, before, 'the timer stopped once the rules are where the watch sees');
  fw.backend = 'unknown'; // Docker's chains in neither backend, and plain iptables does not say which it is
  await u.ensure(input);
  await until('back on the timer', () => fw.checks > before);
});

test('no watch here (the constructor throws): the timer, and the reason logged', async (t) => {
  const { fw, lines, u } = upkeep('nft', () => {
    throw new Error('socket(AF_NETLINK, NETLINK_NETFILTER): Protocol not supported');
  });
  t.after(() => u.stop());
  await u.ensure(input);
  await until('two checks on the timer', () => fw.checks >= 2);
  assert.match(lines.join(''), /no ruleset watch here.*Protocol not supported/);
});

test('--no-firewall-watch: the timer, no watch opened', async (t) => {
  const { fw, u } = upkeep('nft', undefined);
  t.after(() => u.stop());
  await u.ensure(input);
  await until('two checks on the timer', () => fw.checks >= 2);
});

test('a watch that fails is closed and the timer takes over', async (t) => {
  const { w, open } = fakeWatch();
  const { fw, lines, u } = upkeep('nft', open);
  t.after(() => u.stop());
  await u.ensure(input);
  await sleep(100);
  assert.equal(fw.checks, 0);
  w.changed!(0, false, 'recv(nf_tables notifications): Bad file descriptor');
  assert.equal(w.closed, 1);
  await until('two checks on the timer', () => fw.checks >= 2);
  assert.match(lines.join(''), /"level":"warn".*the ruleset watch failed.*Bad file descriptor/);
});

test('stop() closes the watch, ends the timers, removes the rules; a change after it is not looked at', async () => {
  const { w, open } = fakeWatch();
  const { fw, u } = upkeep('legacy', open);
  await u.ensure(input);
  w.changed!(1, false); // a check settling when the agent stops
  await u.stop();
  assert.equal(w.closed, 1);
  assert.equal(fw.written, false, 'rules removed');
  const checks = fw.checks;
  w.changed!(1, false);
  await sleep(150);
  assert.equal(fw.checks, checks, 'nothing after stop');
});
