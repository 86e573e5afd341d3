import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkTargets, formatRatios } from '../../bench/report';
import { checkCongestion } from '../../bench/iperf';
import { estimateSeconds, parseOptions } from '../../bench/run';
import { PATH_LABELS, type PathName, type PathResult } from '../../bench/types';

test('defaults: 5 s, 3 runs, all paths in a fixed order', () => {
  assert.deepEqual(parseOptions([]), {
    seconds: 5,
    runs: 3,
    paths: ['direct', 'gangway', 'gangway-nooffload', 'wireguard', 'gangway-maclike'],
    pings: 200,
    idleSeconds: 60,
  });
});

test('the idle measurement: 60 s by default, 0 skips it, and it counts in the expected duration', () => {
  const base = parseOptions([]);
  const none = parseOptions(['--idle-seconds', '0']);
  assert.ok(base !== 'help' && none !== 'help');
  assert.equal(none.idleSeconds, 0);
  assert.equal(estimateSeconds(base) - estimateSeconds(none), 5 + 30 + 60);
  // Measured with the gangway path only.
  assert.equal(
    estimateSeconds({ ...base, paths: ['direct'] }),
    estimateSeconds({ ...none, paths: ['direct'] }),
  );
  assert.throws(() => parseOptions(['--idle-seconds', '1x']), /whole number/);
});

test('options parse and validate', () => {
  const o = parseOptions(['--seconds', '2', '--runs', '1', '--paths', 'wireguard, direct']);
  assert.ok(o !== 'help');
  assert.deepEqual(o.paths, ['direct', 'wireguard']);
  assert.equal(o.seconds, 2);
  assert.equal(parseOptions(['--help']), 'help');
  assert.throws(() => parseOptions(['--paths', 'direct,ipsec']), /unknown path "ipsec"/);
  assert.throws(() => parseOptions(['--seconds', '0']), /whole number/);
  assert.throws(() => parseOptions(['--runs', '2x']), /whole number/);
  assert.throws(() => parseOptions(['--bogus']), /Unknown option/);
});

test('the expected duration grows with paths, runs and seconds', () => {
  const base = parseOptions([]);
  assert.ok(base !== 'help');
  const t = estimateSeconds(base);
  assert.ok(t > 4 * 2 * 3 * 5 && t < 400, String(t));
  assert.ok(estimateSeconds({ ...base, runs: 1 }) < t);
  assert.ok(estimateSeconds({ ...base, paths: ['direct'] }) < t);
});

test('the emulated arm64 agent is measured only when asked for, and gets no target', () => {
  const o = parseOptions(['--paths', 'gangway-arm64,direct']);
  assert.ok(o !== 'help');
  assert.deepEqual(o.paths, ['direct', 'gangway-arm64']);
  const d = parseOptions([]);
  assert.ok(d !== 'help' && !d.paths.includes('gangway-arm64'));
  const row = (name: PathName, gbps: number): PathResult => ({
    name,
    label: PATH_LABELS[name],
    status: 'ok',
    oneStream: { streams: 1, runs: [], medianGbps: gbps, cpu: [], cpuSecondsPerGB: NaN },
    fourStream: { streams: 4, runs: [], medianGbps: gbps * 2, cpu: [], cpuSecondsPerGB: NaN },
  });
  const paths = [row('direct', 10), row('gangway-arm64', 2.5)];
  assert.deepEqual(formatRatios(paths), [
    'Gangway, arm64 agent under qemu (ratio only) / direct: 1 stream 0.25×, 4 streams 0.25×',
  ]);
  assert.deepEqual(checkTargets(paths), []);
});

test('--congestion: a name the kernel offers, else a clear error; without it, the machine default', () => {
  const opts = (argv: string[]) => {
    const o = parseOptions(argv);
    assert.notEqual(o, 'help');
    return o as Exclude<typeof o, 'help'>;
  };
  assert.equal(opts(['--congestion', 'cubic']).congestion, 'cubic');
  assert.equal(opts([]).congestion, undefined);
  assert.throws(() => parseOptions(['--congestion', 'cubic; reboot']), /congestion control's name/);
  const dir = mkdtempSync(join(tmpdir(), 'gangway-cc-'));
  try {
    writeFileSync(join(dir, 'tcp_congestion_control'), 'bbr\n');
    writeFileSync(join(dir, 'tcp_available_congestion_control'), 'reno bbr cubic\n');
    assert.equal(checkCongestion(undefined, dir), 'bbr');
    assert.equal(checkCongestion('cubic', dir), 'cubic');
    assert.throws(
      () => checkCongestion('vegas', dir),
      /--congestion vegas: this kernel offers reno, bbr, cubic/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // This machine's own answer is one it offers.
  const mine = checkCongestion(undefined);
  assert.ok(checkCongestion(mine) === mine);
});
