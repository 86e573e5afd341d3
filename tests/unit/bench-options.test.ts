import { test } from 'node:test';
import assert from 'node:assert/strict';
import { estimateSeconds, parseOptions } from '../../bench/run';

test('defaults: 5 s, 3 runs, all paths in a fixed order', () => {
  assert.deepEqual(parseOptions([]), {
    seconds: 5,
    runs: 3,
    paths: ['direct', 'gangway', 'gangway-nooffload', 'wireguard'],
    pings: 200,
  });
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
