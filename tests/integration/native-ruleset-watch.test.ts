// The addon's RulesetWatch (native/src/js_ruleset_watch.c), against the real kernel in namespaces this test
// makes: a change committed with iptables-nft in the watch's namespace is announced, and nothing else is
// (reading the rules, the legacy backend, another namespace). A burst the process is too busy to read reports
// an overflow; close() ends the calls; without CAP_NET_ADMIN the constructor says why.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { NetnsPair, nsRun, run, withNetnsPair } from '../fixtures/netns-pair';
import { spawnInNetns, type JsonProcess } from '../fixtures/json-process';

const ADDON = require.resolve('../../native/index');

/** A child that prints a JSON line per callback; "busy N" on stdin blocks its loop N ms, "close" closes. */
const WATCHER = `
const { RulesetWatch } = require(${JSON.stringify(ADDON)}).native();
const say = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
const w = new RulesetWatch((changes, overflowed, error) => say({ changes, overflowed, error }));
require('node:readline').createInterface({ input: process.stdin }).on('line', (l) => {
  const [cmd, arg] = l.split(' ');
  if (cmd === 'busy') { const t = Date.now(); while (Date.now() - t < Number(arg)); say({ busy: true }); }
  if (cmd === 'close') { w.close(); w.close(); say({ closed: true }); }
});
say({ ready: true });
`;

describe('RulesetWatch, the nf_tables change notifications', { timeout: 120_000 }, () => {
  const pair = new NetnsPair({ tag: 'rsw', aAddresses: ['10.88.1.1'], bAddresses: ['10.88.1.2'] });
  let watcher: JsonProcess | undefined;
  withNetnsPair(pair, () => {
    watcher?.proc.kill('SIGKILL');
    pair.deleteSync();
  });

  const calls = () => watcher!.lines.filter((l) => 'changes' in l);
  const nft = (ns: string, ...args: string[]) => nsRun(ns, 'iptables-nft', args);

  test('a change in its namespace is announced; reads, the legacy backend and another namespace are not', async () => {
    watcher = spawnInNetns(pair.a, process.execPath, ['-e', WATCHER]);
    await watcher.waitFor((l) => l.ready === true, 'the watch to start');
    await nft(pair.a, '-N', 'GWTEST');
    await watcher.waitFor((l) => typeof l.changes === 'number' && l.changes > 0, 'the new chain announced');
    await sleep(300); // the rest of that commit's notifications
    const seen = calls().length;
    await nsRun(pair.a, 'iptables-nft-save', []);
    await nft(pair.a, '-S');
    await nsRun(pair.a, 'iptables-nft', ['-C', 'GWTEST', '-j', 'ACCEPT']).catch(() => 'absent');
    await nsRun(pair.a, 'iptables-legacy', ['-N', 'GWLEGACY']);
    await nft(pair.b, '-N', 'GWOTHER');
    await sleep(700);
    assert.deepEqual(calls().slice(seen), [], 'nothing announced for reads, legacy, or the other namespace');
    const from = watcher.lines.length;
    await nft(pair.a, '-A', 'GWTEST', '-j', 'ACCEPT');
    await watcher.waitFor((l) => 'changes' in l, 'the appended rule announced', 5_000, from);
    assert.ok(calls().every((c) => c.overflowed === false && c.error === undefined));
  });

  test('a burst it is too busy to read is reported as an overflow, and the watch goes on', async () => {
    // 3,000 chains in one commit: more notifications than the socket's default buffer (212 KB) holds.
    const restore = [
      '*filter',
      ...Array.from({ length: 3000 }, (_, i) => `:GWB${i} - [0:0]`),
      'COMMIT',
      '',
    ].join('\n');
    const from = watcher!.lines.length;
    watcher!.proc.stdin!.write('busy 3000\n');
    await sleep(300);
    execFileSync('ip', ['netns', 'exec', pair.a, 'iptables-nft-restore', '--noflush'], {
      input: restore,
      timeout: 20_000,
    });
    await watcher!.waitFor((l) => l.overflowed === true, 'an overflow reported', 10_000, from);
    await sleep(500);
    const later = watcher!.lines.length;
    await nft(pair.a, '-N', 'GWAFTER');
    await watcher!.waitFor((l) => 'changes' in l, 'a change after the overflow', 5_000, later);
  });

  test('close() ends the calls', async () => {
    await watcher!.command('close', (l) => l.closed === true);
    const from = watcher!.lines.length;
    await nft(pair.a, '-N', 'GWCLOSED');
    await sleep(700);
    assert.deepEqual(watcher!.lines.slice(from), []);
    assert.equal(await watcher!.stop(), null, 'ended by our SIGTERM, not crashed');
  });

  test('a collected watch and one in a worker that ends are closed without a crash; a watch never holds the process', async () => {
    const script = `
      const { Worker } = require('node:worker_threads');
      const addon = ${JSON.stringify(ADDON)};
      new (require(addon).native().RulesetWatch)(() => {});   // unreferenced: collected below
      globalThis.gc();
      const w = new Worker(\`new (require(\${JSON.stringify(addon)}).native().RulesetWatch)(() => {});
        require('node:worker_threads').parentPort.postMessage('open');\`, { eval: true });
      w.on('message', () => w.terminate().then(() => { globalThis.gc(); console.log('done'); }));
      globalThis.kept = new (require(addon).native().RulesetWatch)(() => {}); // held, yet the process may end
    `;
    const out = await nsRun(pair.a, process.execPath, ['--expose-gc', '-e', script], 10_000);
    assert.equal(out, 'done\n');
  });

  test('without CAP_NET_ADMIN the constructor throws, naming the call', async () => {
    const script = `try { new (require(${JSON.stringify(ADDON)}).native().RulesetWatch)(() => {}); console.log('opened'); } catch (e) { console.log(e.message); }`;
    const out = await run('ip', [
      'netns',
      'exec',
      pair.a,
      'setpriv',
      '--bounding-set',
      '-net_admin',
      process.execPath,
      '-e',
      script,
    ]);
    assert.match(out, /(NETLINK_ADD_MEMBERSHIP|NETLINK_NETFILTER).*: Operation not permitted/);
  });
});
