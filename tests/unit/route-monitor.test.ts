// Which routing-socket messages re-plan on macOS, and the monitor's line handling. The message texts are
// print_rtmsg()'s in route.c (network_cmds): a "got message of size N on <ctime>" line, then
// "<type>: <description>: len N, " and, for route messages, "pid: P, seq S, errno E, [ifscope I, ][ifref, ]
// flags:<...>", then "locks: ... inits: ...", "sockaddrs: <...>" and the addresses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RouteMonitor } from '../../helper/platform/route-monitor';
import { DarwinNet, monitorLineWantsReplan } from '../../shared/platform/net-darwin';

function message(head: string, rest: string): string {
  return `\ngot message of size 156 on Tue May 12 12:19:43 2020\n${head}\n${rest}`;
}

/** A neighbour learnt and forgotten, lookups, interface flags: what a busy Wi-Fi network prints all day. */
const NOISE = [
  message(
    'RTM_ADD: Add Route: len 156, pid: 0, seq 0, errno 0, ifscope 6, flags:<UP,HOST,LLINFO,WASCLONED,IFSCOPE,IFREF>',
    'locks:  inits: \nsockaddrs: <DST,GATEWAY,IFP,IFA>\n 192.168.1.23 en0:a8.10.87.18.67.37 en0:0.0.0.0.0.0 192.168.1.5\n',
  ),
  message(
    'RTM_CHANGE: Change Metrics or flags: len 156, pid: 0, seq 0, errno 0, ifscope 6, flags:<UP,HOST,LLINFO,WASCLONED,IFSCOPE>',
    'locks:  inits: \nsockaddrs: <DST,GATEWAY>\n 192.168.1.23 en0:a8.10.87.18.67.37\n',
  ),
  message(
    'RTM_DELETE: Delete Route: len 200, pid: 0, seq 0, errno 0, ifscope 6, flags:<HOST,LLINFO,WASCLONED,IFSCOPE>',
    'locks:  inits: \nsockaddrs: <DST,GATEWAY>\n fe80::1c2b:3dff:fe4a:5b6c%en0 en0:1e.2b.3d.4a.5b.6c\n',
  ),
  message(
    'RTM_ADD: Add Route: len 132, pid: 0, seq 0, errno 0, ifscope 6, flags:<UP,GATEWAY,HOST,WASCLONED,IFSCOPE,IFREF>',
    'locks:  inits: \nsockaddrs: <DST,GATEWAY,IFA>\n 17.253.144.10 192.168.1.1 192.168.1.5\n',
  ),
  message(
    'RTM_MISS: Lookup failed on this address: len 92, pid: 0, seq 0, errno 0, flags:',
    'locks:  inits: \nsockaddrs: <DST>\n 10.99.0.7\n',
  ),
  message(
    'RTM_RESOLVE: Route created by cloning: len 92, pid: 0, seq 0, errno 0, flags:<UP,HOST>',
    'locks:  inits: \nsockaddrs: <DST>\n 192.168.1.40\n',
  ),
  message(
    'RTM_GET: Report Metrics: len 252, pid: 318, seq 17, errno 0, flags:<UP,GATEWAY,DONE,STATIC,PRCLONING,GLOBAL>',
    'locks:  inits: \nsockaddrs: <DST,GATEWAY,NETMASK,IFP,IFA>\n default 192.168.1.1 default en0:a4.83.e7.1.2.3 192.168.1.5\n',
  ),
  message(
    'RTM_IFINFO: iface status change: len 112, if# 5, flags:<UP,BROADCAST,b6,RUNNING,PPROMISC,SIMPLEX,MULTICAST>',
    '',
  ),
  message(
    'RTM_NEWMADDR: new multicast group membership on iface: len 68, ',
    'sockaddrs: <GATEWAY,IFP,IFA>\n 1:0:5e:0:0:fb en0:a4.83.e7.1.2.3 224.0.0.251\n',
  ),
].join('');

/** Changes to the routing table netstat shows, and to interface addresses. */
const CHANGES = [
  // `route -n add -inet 0.0.0.0/1 -interface utun3` (wg-quick), as the kernel echoes it to listeners.
  'RTM_ADD: Add Route: len 132, pid: 5120, seq 1, errno 0, flags:<UP,DONE,STATIC>',
  // One of Gangway's routes deleted by hand.
  'RTM_DELETE: Delete Route: len 132, pid: 5121, seq 1, errno 0, flags:<DONE,STATIC>',
  'RTM_CHANGE: Change Metrics or flags: len 132, pid: 5122, seq 1, errno 0, flags:<UP,GATEWAY,DONE,STATIC>',
  'RTM_ADD: Add Route: len 140, pid: 0, seq 0, errno 0, ifscope 6, flags:<UP,CLONING,STATIC,IFSCOPE>',
  'RTM_REDIRECT: Told to use different route: len 140, pid: 0, seq 0, errno 0, flags:<GATEWAY,HOST,DYNAMIC>',
  'RTM_NEWADDR: address being added to iface: len 64, metric 0, flags:<UP>',
  'RTM_DELADDR: address being removed from iface: len 64, metric 0, flags:<UP>',
];

test('macOS monitor: route and address changes re-plan; neighbours, lookups and interface flags do not', () => {
  for (const line of NOISE.split('\n')) assert.equal(monitorLineWantsReplan(line), false, line);
  for (const line of CHANGES) assert.equal(monitorLineWantsReplan(line), true, line);
  assert.equal(monitorLineWantsReplan('routing message version 4 not understood'), false);
});

/**
 * Runs the monitor on a stand-in command that prints `before`, then marks a file and prints `after` in two
 * chunks (split mid-line), and resolves at the first change it reports, saying whether `after` had been
 * printed by then.
 */
async function firstChange(
  filter: { relevant?: (line: string) => boolean },
  before: string,
  after: string,
): Promise<{ afterPrinted: boolean; changes: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'gangway-monitor-'));
  const marker = join(dir, 'after');
  const cut = Math.floor(after.length / 2);
  const script = `
    const { writeFileSync } = require('node:fs');
    const [before, head, tail, marker] = process.argv.slice(1);
    process.stdout.write(before);
    setTimeout(() => {
      writeFileSync(marker, '');
      process.stdout.write(head);
      setTimeout(() => process.stdout.write(tail), 50);
    }, 300);
    setTimeout(() => {}, 20000);
  `;
  let changes = 0;
  try {
    return await new Promise((resolve, reject) => {
      const failing = setTimeout(() => reject(new Error('no change reported')), 10_000);
      const monitor = new RouteMonitor({
        command: {
          cmd: process.execPath,
          args: ['-e', script, before, after.slice(0, cut), after.slice(cut), marker],
          ...filter,
        },
        debounceMs: 10,
        onChange: () => {
          changes++;
          if (changes > 1) return;
          const afterPrinted = existsSync(marker);
          // Let any further report arrive before counting.
          setTimeout(() => {
            monitor.stop();
            clearTimeout(failing);
            resolve({ afterPrinted, changes });
          }, 400);
        },
      });
      monitor.start();
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("macOS monitor: the neighbour cache's traffic does not re-plan; the next route change does", async () => {
  const { relevant } = new DarwinNet(() => Promise.resolve('')).routeMonitor;
  const r = await firstChange({ relevant }, NOISE, message(CHANGES[1]!, 'locks:  inits: \n'));
  assert.deepEqual(r, { afterPrinted: true, changes: 1 });
});

test('without a filter (Linux: `ip monitor route` prints only routes) any output re-plans', async () => {
  const r = await firstChange({}, 'Deleted 172.18.0.0/16 dev gw0 scope link\n', '');
  assert.equal(r.changes, 1);
});
