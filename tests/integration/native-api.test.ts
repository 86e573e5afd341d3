// Argument validation of the native addon. Every call here fails before anything is opened, so it runs in
// the root namespace without creating a device or a socket.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { native, type PumpOptions, type TunHandle } from '../../native/index';

const fakeTun: TunHandle = { fd: 2147483000, name: 'none', offload: false };
const base: PumpOptions = {
  tun: fakeTun,
  bindAddress: '127.0.0.1',
  bindPort: 0,
  mtu: 1420,
  onControl: () => undefined,
};

test('openTun rejects a 20-character name with a clear error', () => {
  assert.throws(() => native().openTun('x'.repeat(20)), {
    message: 'invalid TUN name "xxxxxxxxxxxxxxxxxxxx": longer than 15 characters',
  });
});

test('openTun rejects names the kernel would refuse and bad options', () => {
  assert.throws(() => native().openTun('a/b'), /invalid TUN name "a\/b"/);
  assert.throws(() => native().openTun(42 as unknown as string), TypeError);
  assert.throws(
    () => native().openTun('gw0', { offload: 'yes' as unknown as boolean }),
    /offload must be a boolean/,
  );
});

test('createPump validates its options before opening anything', () => {
  const addon = native();
  const createPump = (options: PumpOptions): unknown => addon.createPump(options);
  const bad = (patch: Record<string, unknown>): PumpOptions => ({ ...base, ...patch });
  assert.throws(() => createPump(undefined as unknown as PumpOptions), TypeError);
  assert.throws(() => createPump(bad({ tun: undefined })), /tun must be the object openTun returned/);
  assert.throws(() => createPump(bad({ mtu: 100 })), {
    name: 'RangeError',
    message: /mtu must be between 576/,
  });
  assert.throws(() => createPump(bad({ mtu: 1420.5 })), {
    name: 'TypeError',
    message: /mtu must be an integer/,
  });
  assert.throws(() => createPump(bad({ bindPort: 70000 })), RangeError);
  assert.throws(() => createPump(bad({ bindAddress: 'localhost' })), /invalid IP address "localhost"/);
  assert.throws(() => createPump(bad({ onControl: 'no' })), /onControl must be a function/);
  assert.throws(() => createPump(bad({ rcvbuf: 1 })), /rcvbuf must be between/);
  assert.throws(() => createPump(base), /tun.fd 2147483000 is not an open file descriptor/);
});
