import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkTargets,
  formatCeilings,
  formatRatios,
  formatReport,
  formatTable,
  formatTargets,
} from '../../bench/report';
import type { PathName, PathResult } from '../../bench/types';
import { PATH_LABELS } from '../../bench/types';

function row(
  name: PathName,
  one: number,
  four: number,
  idle: [number, number],
  loadedP99: number,
  cpu: number,
): PathResult {
  const series = (g: number, streams: number) => ({
    streams,
    runs: [],
    medianGbps: g,
    cpu: [],
    cpuSecondsPerGB: streams === 1 ? cpu : NaN,
  });
  const ping = (p50: number, p99: number) => ({
    count: 200,
    transmitted: 200,
    received: 200,
    lossPct: 0,
    avgMs: p50,
    p50Ms: p50,
    p99Ms: p99,
    maxMs: p99,
  });
  return {
    name,
    label: PATH_LABELS[name],
    status: 'ok',
    device: `dev-${name}`,
    oneStream: series(one, 1),
    fourStream: series(four, 4),
    idlePing: ping(idle[0], idle[1]),
    loadedPing: ping(loadedP99 / 2, loadedP99),
  };
}

const direct = row('direct', 10, 18, [0.07, 0.1], 0.07, NaN);
const gangway = row('gangway', 3.5, 4, [0.15, 0.4], 6.2, 3.4);
const wg = row('wireguard', 0.4, 0.32, [0.5, 3.2], 11.8, 25.7);

test('the table has one row per path, ratios to direct and dashes for missing values', () => {
  const t = formatTable([direct, gangway, wg]).split('\n');
  assert.equal(t.length, 5);
  assert.match(
    t[0]!,
    /^\| path \| route dev \| 1-stream Gbit\/s \| ×direct \| 4-stream Gbit\/s \| idle RTT p50 \/ p99 ms \| loaded RTT p99 ms \| CPU-s\/GB \| download Gbit\/s \| download RTT p99 ms \|$/,
  );
  assert.equal(
    t[2],
    '| direct (veth routing) | dev-direct | 10.00 | 1.00 | 18.00 | 0.070 / 0.100 | 0.07 | – | – | – |',
  );
  assert.equal(
    t[3],
    '| Gangway (offloads on) | dev-gangway | 3.50 | 0.35 | 4.00 | 0.150 / 0.400 | 6.20 | 3.4 | – | – |',
  );
  assert.equal(
    t[4],
    '| wireguard-go | dev-wireguard | 0.40 | 0.04 | 0.32 | 0.500 / 3.200 | 11.80 | 25.7 | – | – |',
  );
});

test('ping loss under load shows next to the loaded p99', () => {
  const lossy = row('gangway-nooffload', 1.1, 1, [0.27, 0.37], 13.56, 11.4);
  lossy.loadedPing!.lossPct = 8;
  assert.match(formatTable([lossy]).split('\n')[2]!, /\| 13\.56 \(8\.0% lost\) \|/);
});

test('failed and skipped paths show their reason on one line, pipes escaped', () => {
  const failed: PathResult = {
    name: 'gangway-nooffload',
    label: PATH_LABELS['gangway-nooffload'],
    status: 'failed',
    error: 'agent | crashed\nstack...',
  };
  const t = formatTable([failed]).split('\n');
  assert.equal(t[2], '| Gangway --no-offload | – | failed: agent \\| crashed | | | | | | | |');
});

test('the download (one stream from the container) has its own columns and ratio', () => {
  const withDown = (r: PathResult, gbps: number, p99: number, lossPct = 0): PathResult => ({
    ...r,
    download: { streams: 1, reverse: true, runs: [], medianGbps: gbps, cpu: [], cpuSecondsPerGB: NaN },
    downloadPing: { ...r.loadedPing!, p99Ms: p99, lossPct },
  });
  const d = withDown(direct, 12, 0.09);
  const g = withDown(gangway, 4.8, 3.25, 0.5);
  const t = formatTable([d, g]).split('\n');
  assert.match(t[2]!, /\| – \| 12\.00 \| 0\.09 \|$/);
  assert.match(t[3]!, /\| 3\.4 \| 4\.80 \| 3\.25 \(0\.5% lost\) \|$/);
  assert.deepEqual(formatRatios([d, g]), [
    'Gangway (offloads on) / direct: 1 stream 0.35×, 4 streams 0.22×, download 0.40×',
  ]);
});

test('ratios Gangway/direct and Gangway/wireguard-go', () => {
  assert.deepEqual(formatRatios([direct, gangway, wg]), [
    'Gangway (offloads on) / direct: 1 stream 0.35×, 4 streams 0.22×',
    'Gangway (offloads on) / wireguard-go: 1 stream 8.75×, 4 streams 12.50×, CPU-s/GB 0.13×',
  ]);
});

test('targets: PASS and MISS per Gangway row, n/a without the reference path', () => {
  const checks = checkTargets([direct, gangway, wg]);
  assert.deepEqual(
    checks.map((c) => [c.name, c.pass]),
    [
      ['1 stream vs direct', true],
      ['1 stream vs wireguard-go', true],
      ['idle RTT p50 added to direct', true], // 0.08 ms added
      ['RTT p99 under 4-stream load', false], // 6.2 ms
      ['pings lost under 4-stream load', true],
      ['1 stream vs direct (#15.1)', false], // 0.35×
      ['4 streams vs direct (#15.1)', false], // 0.22×
    ],
  );
  const fast = { ...row('gangway', 3.5, 4, [0.2, 0.4], 5, 3.4), label: 'fast' };
  assert.deepEqual(
    checkTargets([direct, fast])
      .filter((c) => !c.name.endsWith('(#15.1)'))
      .map((c) => [c.name, c.pass]),
    [
      ['1 stream vs direct', true],
      ['1 stream vs wireguard-go', null],
      ['idle RTT p50 added to direct', true], // 0.13 ms added: within 0.15
      ['RTT p99 under 4-stream load', true], // 5 ms: the limit is inclusive
      ['pings lost under 4-stream load', true],
    ],
  );
  fast.loadedPing!.lossPct = 0.3;
  const lossCheck = checkTargets([direct, fast]).find((c) => c.name === 'pings lost under 4-stream load');
  assert.equal(lossCheck?.pass, false, 'one ping lost is a MISS');
  const slow = { ...row('gangway-nooffload', 2, 2, [0.3, 0.9], 14, 6), label: 'slow' };
  const c2 = checkTargets([direct, slow, wg]).map((c) => c.pass);
  assert.deepEqual(c2, [false, false, false, false, true]);
  const lines = formatTargets(checkTargets([gangway]));
  assert.equal(
    lines[0],
    'Targets, gangway: 1 stream vs direct – (≥ 0.3×) n/a; 1 stream vs wireguard-go – (≥ 8×) n/a; ' +
      'idle RTT p50 added to direct – (≤ 0.15 ms) n/a; RTT p99 under 4-stream load 6.200 ms (≤ 5 ms) MISS; ' +
      'pings lost under 4-stream load 0.0 % (≤ 0 %) PASS; ' +
      '1 stream vs direct (#15.1) – (≥ 0.6×) n/a; 4 streams vs direct (#15.1) – (≥ 0.5×) n/a',
  );
});

test('targets of #15.1: PASS at 0.6× (1 stream) and 0.5× (4 streams) of direct, for gangway and gangway-1q', () => {
  const fast = { ...row('gangway', 6, 9, [0.1, 0.2], 1, 2), label: 'fast' };
  const oneQ = { ...row('gangway-1q', 6, 3, [0.1, 0.2], 1, 2), label: 'one queue' };
  const streams = checkTargets([direct, fast, oneQ]).filter((c) => c.name.endsWith('(#15.1)'));
  assert.deepEqual(
    streams.map((c) => [c.path, c.name, Number(c.value.toFixed(2)), c.pass]),
    [
      ['gangway', '1 stream vs direct (#15.1)', 0.6, true],
      ['gangway', '4 streams vs direct (#15.1)', 0.5, true],
      ['gangway-1q', '1 stream vs direct (#15.1)', 0.6, true],
      ['gangway-1q', '4 streams vs direct (#15.1)', 0.17, false],
    ],
  );
});

test('the report without a Gangway row says so', () => {
  const r = formatReport([direct, wg]);
  assert.match(r, /no Gangway row measured: no ratios/);
  assert.match(r, /Targets: n\/a/);
});

test('gangway-maclike: its ratio to wireguard-go, PASS at 3× or more, MISS below, n/a without wireguard-go', () => {
  const mac = (one: number) => row('gangway-maclike', one, one, [0.2, 0.5], 8, 9);
  const [pass] = checkTargets([direct, wg, mac(1.3)]);
  assert.deepEqual(
    { path: pass?.path, name: pass?.name, limit: pass?.limit, pass: pass?.pass },
    { path: 'gangway-maclike', name: '1 stream vs wireguard-go', limit: '≥ 3×', pass: true },
  );
  assert.ok(Math.abs(pass!.value - 3.25) < 1e-9);
  assert.equal(checkTargets([direct, wg, mac(1.1)])[0]?.pass, false);
  assert.equal(checkTargets([direct, mac(1.3)])[0]?.pass, null);
  assert.ok(
    formatRatios([direct, wg, mac(1.3)]).some((l) => /mac-like .*\/ wireguard-go: 1 stream 3\.25×/.test(l)),
  );
  assert.match(
    formatTargets(checkTargets([wg, mac(1.1)])).join('\n'),
    /gangway-maclike: 1 stream vs wireguard-go 2\.75× \(≥ 3×\) MISS/,
  );
});

test('IPv6 rows compare with direct IPv6 routing, not with direct IPv4', () => {
  const d6 = row('direct-ipv6', 8, 16, [0.08, 0.1], 0.08, NaN);
  const g6 = row('gangway-ipv6', 2, 3, [0.2, 0.4], 6, 4);
  const table = formatTable([direct, gangway, d6, g6]);
  assert.match(table, /\| Gangway IPv6 \(offloads on\) \| dev-gangway-ipv6 \| 2\.00 \| 0\.25 \|/);
  assert.match(table, /\| Gangway \(offloads on\) \| dev-gangway \| 3\.50 \| 0\.35 \|/);
  assert.ok(
    formatRatios([d6, g6]).includes(
      'Gangway IPv6 (offloads on) / direct IPv6: 1 stream 0.25×, 4 streams 0.19×',
    ),
  );
  assert.deepEqual(formatRatios([g6]), []);
});

test('drops per run: one line per path that has them, after the targets', () => {
  const g = row('gangway', 3.5, 4, [0.2, 0.4], 5, 3.4);
  g.fourStream!.drops = [
    { hostUdpRcvbuf: 0, vmUdpRcvbuf: 180, hostTunTxDropped: 0, vmTunTxDropped: 2 },
    { hostUdpRcvbuf: 1, vmUdpRcvbuf: 0, hostTunTxDropped: NaN, vmTunTxDropped: 0 },
  ];
  g.download = {
    streams: 1,
    reverse: true,
    runs: [],
    medianGbps: 2,
    cpu: [],
    cpuSecondsPerGB: NaN,
    drops: [{ hostUdpRcvbuf: 7, vmUdpRcvbuf: 0, hostTunTxDropped: 0, vmTunTxDropped: 0 }],
  };
  const lines = formatReport([direct, g]).split('\n');
  assert.equal(
    lines.at(-1),
    'Drops per run, Gangway (offloads on): 4 streams: udp rcvbuf host 0 / vm 180, tun queue host 0 / vm 2; ' +
      'udp rcvbuf host 1 / vm 0, tun queue host – / vm 0 | download: udp rcvbuf host 7 / vm 0, tun queue host 0 / vm 0',
  );
  assert.ok(!formatReport([direct, gangway]).includes('Drops per run'), 'no samples, no line');
});

test('CPU ceilings: within reach, or by how much the CPU per byte must fall; absent without the machine figures', () => {
  const withMachine = (
    r: PathResult,
    busy1: number,
    ceil1: number,
    busy4: number,
    ceil4: number,
  ): PathResult => ({
    ...r,
    oneStream: { ...r.oneStream!, machineBusyFraction: busy1, machineCeilingGbps: ceil1 },
    fourStream: { ...r.fourStream!, machineBusyFraction: busy4, machineCeilingGbps: ceil4 },
  });
  const d = withMachine(direct, 0.6, 16.7, 1, 18);
  // 1 stream: 3.5 Gbit/s at 97% busy -> at most 4.0 = 0.40x of 10 (target 0.6: a third less CPU per byte);
  // 4 streams: ceiling 9.9 of direct's 18 = 0.55x, over the 0.5 target.
  const g = withMachine(gangway, 0.97, 4, 0.4, 9.9);
  assert.deepEqual(formatCeilings([d, g]), [
    'CPU ceiling, gangway, 1 stream: machine 97% busy at 3.50 Gbit/s (direct 10.00 at 60%); with every CPU at ' +
      'this cost per byte at most 4.00 Gbit/s = 0.40× direct (target 0.6×): out of reach unless the CPU per ' +
      'byte falls by 33%',
    'CPU ceiling, gangway, 4 streams: machine 40% busy at 4.00 Gbit/s (direct 18.00 at 100%); with every CPU ' +
      'at this cost per byte at most 9.90 Gbit/s = 0.55× direct (target 0.5×): within reach',
  ]);
  assert.deepEqual(formatCeilings([direct, gangway]), [], 'results saved before the machine was measured');
  assert.deepEqual(formatCeilings([g]), [], 'no direct path');
  assert.match(formatReport([d, g]), /\n\nCPU ceiling, gangway, 1 stream: /);
});
