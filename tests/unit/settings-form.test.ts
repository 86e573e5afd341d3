// The Settings page's checks, as typed: the daemon's own schema, per field; only changed fields are sent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { UserSettings } from '../../common/api';
import { draftErrors, draftFrom, parseField, patchFrom } from '../../src-renderer/settings-form';

const saved: UserSettings = {
  tunnelSubnet: '10.57.0.0/30',
  tunnelSubnet6: 'fd57:6177::/64',
  port: 2611,
  mtu: 1420,
  dnsSuffix: 'gangway.internal',
  dnsPort: 53,
  dockerHost: null,
  routeNewNetworks: true,
};

test('a saved configuration is a valid draft with nothing to send', () => {
  const d = draftFrom(saved);
  assert.deepEqual(draftErrors(d), {});
  assert.deepEqual(patchFrom(d, saved), {});
});

test('each bad value gets its own message', () => {
  const d = {
    ...draftFrom(saved),
    mtu: '100',
    port: '70000',
    tunnelSubnet: '10.57.0.0/31',
    dnsSuffix: 'Bad Suffix',
    dnsPort: '5x',
  };
  const e = draftErrors(d);
  assert.deepEqual(Object.keys(e).sort(), ['dnsPort', 'dnsSuffix', 'mtu', 'port', 'tunnelSubnet']);
  assert.match(e.mtu!, /576/);
  assert.match(e.tunnelSubnet!, /room for two addresses/);
  assert.match(e.dnsSuffix!, /lower-case labels/);
  assert.equal(e.dnsPort, 'a whole number');
  // The same rules as the daemon's, with the same words.
  const pub = draftErrors({ ...draftFrom(saved), dnsSuffix: 'github.io', tunnelSubnet: '1.1.2.0/30' });
  assert.match(pub.dnsSuffix!, /"github\.io" is a public suffix \(Public Suffix List\)/);
  assert.match(pub.tunnelSubnet!, /must lie in a private range/);
});

test('only changed fields are sent; an empty Docker endpoint means automatic (null)', () => {
  const d = {
    ...draftFrom(saved),
    mtu: ' 1400 ',
    dockerHost: 'unix:///run/docker.sock',
    routeNewNetworks: false,
  };
  assert.deepEqual(patchFrom(d, saved), {
    mtu: 1400,
    dockerHost: 'unix:///run/docker.sock',
    routeNewNetworks: false,
  });
  assert.deepEqual(parseField('dockerHost', ''), { ok: true, value: null });
  assert.deepEqual(
    patchFrom(draftFrom({ ...saved, dockerHost: 'tcp://x:2375' }), { ...saved, dockerHost: 'tcp://x:2375' }),
    {},
  );
});
