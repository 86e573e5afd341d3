// The receive time the macOS pump reads for its receive-side CoDel (SO_TIMESTAMP's SCM_TIMESTAMP, a struct
// timeval: native/src/udp_rx_time.c). Linux has the same option, so the parser runs here against a real
// socket on loopback; on macOS it is only cross-compiled (npm run prebuilds).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, test } from 'node:test';

import { buildCDriver, type CDriver } from '../fixtures/c-driver';

let built: CDriver;

before(() => {
  built = buildCDriver('udp-rx-time-driver', ['udp_rx_time.c']);
});
after(() => built.remove());

test('SCM_TIMESTAMP gives the time the datagram was queued, not the time it was read', () => {
  const delayMs = 30;
  const [sent, stamp, read, claimed] = execFileSync(built.path, [String(delayMs)], { encoding: 'utf8' })
    .trim()
    .split(' ')
    .map(BigInt);
  assert.ok(stamp! > 0n, 'the control message was found and parsed');
  // Microseconds: the stamp may fall up to 1 µs before a nanosecond reading taken just before the send.
  assert.ok(stamp! >= sent! - 1000n, `stamp ${stamp} is not before the send at ${sent}`);
  const waitedMs = Number(read! - stamp!) / 1e6;
  assert.ok(waitedMs >= delayMs, `the datagram waited ${waitedMs} ms in the queue, at least ${delayMs} ms`);
  assert.ok(waitedMs < delayMs + 1000, `and not absurdly long (${waitedMs} ms)`);
  assert.equal(claimed, 0n, 'a control message of another type is not read as a timestamp');
});
