// Registering the SMAppService daemon for an update (src-main/sm-register.ts), against a stand-in for
// SMAppService whose unregister finishes some time after its call, as reported, and whose register fails
// until then.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  REGISTER_RETRY_MS,
  UNREGISTER_WAIT_MS,
  registerService,
  unregisterService,
  type DaemonServiceStatus,
  type SmCalls,
} from '../../src-main/sm-register';

/** A fake clock and an SMAppService whose unregister takes `lagMs` to finish: until then its status still
 *  says enabled and a register is refused (and the status then says not-registered). */
function fakeService(lagMs: number, start: DaemonServiceStatus = 'enabled') {
  let clock = 0;
  let registered = start === 'enabled';
  let pendingUntil: number | undefined;
  let refused = false;
  const log: string[] = [];
  const pending = () => pendingUntil !== undefined && clock < pendingUntil;
  const calls: SmCalls = {
    unregister() {
      log.push(`unregister@${clock}`);
      registered = false;
      pendingUntil = clock + lagMs;
    },
    register() {
      refused = pending();
      log.push(`register@${clock}:${refused ? 'refused' : 'ok'}`);
      if (!refused) registered = true;
    },
    status: () => (refused ? 'not-registered' : pending() || registered ? 'enabled' : 'not-registered'),
    sleep: (ms) => {
      clock += ms;
      return Promise.resolve();
    },
    now: () => clock,
  };
  return { calls, log, time: () => clock };
}

test('an update waits for the old registration to go, then registers once', async () => {
  const s = fakeService(1_200);
  assert.equal(await registerService(s.calls, true), 'enabled');
  assert.deepEqual(s.log, ['unregister@0', 'register@1250:ok']);
});

test('a register refused while the unregister is still finishing is tried again', async () => {
  // The status said the old one was gone before the register could take (the reported race).
  const s = fakeService(800);
  const status = s.calls.status;
  s.calls.status = () => (s.time() === 0 ? 'not-registered' : status());
  assert.equal(await registerService(s.calls, true), 'enabled');
  assert.deepEqual(s.log, ['unregister@0', 'register@0:refused', 'register@500:refused', 'register@1000:ok']);
});

test('a first install registers at once; a register that never takes ends, bounded, in its status', async () => {
  const first = fakeService(0, 'not-registered');
  assert.equal(await registerService(first.calls, false), 'enabled');
  assert.deepEqual(first.log, ['register@0:ok']);
  const never = fakeService(0, 'not-registered');
  never.calls.register = () => never.log.push(`register@${never.time()}`);
  assert.equal(await registerService(never.calls, false), 'not-registered');
  assert.ok(
    never.time() >= REGISTER_RETRY_MS && never.time() < REGISTER_RETRY_MS + 1_000,
    String(never.time()),
  );
});

test('the uninstall unregisters and waits, bounded, until the job is gone', async () => {
  const s = fakeService(1_200);
  assert.equal(await unregisterService(s.calls), 'not-registered');
  assert.deepEqual(s.log, ['unregister@0']);
  assert.equal(s.time(), 1_250, 'waited for the unregister to finish');
  // A job that never goes: the status it is left in, after at most the wait.
  const stuck = fakeService(60_000);
  assert.equal(await unregisterService(stuck.calls), 'enabled');
  assert.ok(stuck.time() <= UNREGISTER_WAIT_MS + 250, String(stuck.time()));
});
