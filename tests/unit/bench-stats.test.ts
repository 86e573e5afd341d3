import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mean, median, percentile } from '../../bench/stats';

test('median of odd and even counts, unsorted input left untouched', () => {
  const xs = [3, 1, 2];
  assert.equal(median(xs), 2);
  assert.deepEqual(xs, [3, 1, 2]);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([7]), 7);
  assert.ok(Number.isNaN(median([])));
});

test('percentiles interpolate linearly between ranks (numpy default)', () => {
  const xs = Array.from({ length: 101 }, (_, i) => i); // 0..100
  assert.equal(percentile(xs, 0), 0);
  assert.equal(percentile(xs, 50), 50);
  assert.equal(percentile(xs, 99), 99);
  assert.equal(percentile(xs, 100), 100);
  // numpy.percentile([1, 2, 3, 4], 99) == 3.97
  assert.ok(Math.abs(percentile([4, 3, 2, 1], 99) - 3.97) < 1e-12);
  assert.equal(percentile([5, 1, 9, 3], 50), median([5, 1, 9, 3]));
  assert.equal(percentile([2], 99), 2);
  assert.ok(Number.isNaN(percentile([], 50)));
  assert.throws(() => percentile([1], 101), RangeError);
});

test('mean', () => {
  assert.equal(mean([1, 2, 3, 6]), 3);
  assert.ok(Number.isNaN(mean([])));
});
