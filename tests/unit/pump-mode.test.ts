import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MACLIKE_ENV, macLikePump, tunPlan } from '../../shared/pump-mode';

test('GANGWAY_PUMP_MACLIKE: 1 turns the mac-like pump on; unset, empty and 0 leave it off', () => {
  assert.equal(macLikePump({}), false);
  assert.equal(macLikePump({ [MACLIKE_ENV]: '' }), false);
  assert.equal(macLikePump({ [MACLIKE_ENV]: '0' }), false);
  assert.equal(macLikePump({ [MACLIKE_ENV]: '1' }), true);
});

test('GANGWAY_PUMP_MACLIKE: any other value is refused with the rule and the way out', () => {
  for (const v of ['yes', 'true', '2', ' 1'])
    assert.throws(() => macLikePump({ [MACLIKE_ENV]: v }), /must be 1 .* or 0, got .*unset it/);
});

test('tunPlan: the mac-like pump gets a utun-framed device and one queue; otherwise what was asked', () => {
  assert.deepEqual(tunPlan(true, true, 4), { queues: 1, options: { macLike: true } });
  assert.deepEqual(tunPlan(false, true, 2), { queues: 2, options: { offload: true, multiQueue: true } });
  assert.deepEqual(tunPlan(false, false, 1), { queues: 1, options: { offload: false, multiQueue: false } });
});
