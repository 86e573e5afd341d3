import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError } from '../../common/usage-error';
import { SseParser } from '../../client/sse-parser';
import { formatSettings, parseAssignments } from '../../cli/settings-cli';

test('KEY=VALUE words become a typed patch', () => {
  assert.deepEqual(
    parseAssignments([
      'port=2700',
      'mtu=1380',
      'routeNewNetworks=off',
      'dockerHost=auto',
      'dnsSuffix=dev.test',
    ]),
    { port: 2700, mtu: 1380, routeNewNetworks: false, dockerHost: null, dnsSuffix: 'dev.test' },
  );
  // Names under a public suffix, and suffixes the list does not know, are fine.
  for (const dnsSuffix of ['dev.example.com', 'docker', 'internal', 'home.arpa.test'])
    assert.deepEqual(parseAssignments([`dnsSuffix=${dnsSuffix}`]), { dnsSuffix });
  for (const tunnelSubnet of [
    '10.57.0.0/30',
    '100.64.7.0/30',
    '198.18.0.0/30',
    '192.168.77.0/30',
    'fd00::/126',
  ])
    assert.deepEqual(parseAssignments([`tunnelSubnet=${tunnelSubnet}`]), { tunnelSubnet });
  assert.deepEqual(parseAssignments(['dockerHost=unix:///var/run/docker.sock']), {
    dockerHost: 'unix:///var/run/docker.sock',
  });
});

test('unclear assignments are usage errors that say why', () => {
  const cases: [string[], RegExp][] = [
    [['mtu'], /expected KEY=VALUE/],
    [['=3'], /expected KEY=VALUE/],
    [['colour=red'], /unknown setting "colour"/],
    [['mtu=1e3'], /mtu takes a whole number/],
    [['mtu=100'], /mtu: /],
    [['port=1', 'port=2'], /given twice/],
    [['routeNewNetworks=yes'], /true or false/],
    [['tunnelSubnet=10.0.0.0/31'], /tunnelSubnet: a subnet with room for two/],
    [['dnsSuffix=Has_Caps'], /dnsSuffix: lower-case labels/],
    // Settings with system-wide effect (issue 11): a public suffix would take every name under it.
    [['dnsSuffix=com'], /dnsSuffix: "com" is a public suffix \(Public Suffix List\).*gangway\.internal/],
    [['dnsSuffix=co.uk'], /dnsSuffix: "co\.uk" is a public suffix/],
    [['dnsSuffix=github.io'], /dnsSuffix: "github\.io" is a public suffix/],
    [
      ['tunnelSubnet=1.1.2.0/30'],
      /tunnelSubnet: the tunnel subnet must lie in a private range .*10\.57\.0\.0\/30/,
    ],
    [['tunnelSubnet=2001:db8::/126'], /tunnelSubnet: the tunnel subnet must lie in a private range/],
    [['__proto__=1'], /unknown setting/],
  ];
  for (const [words, re] of cases)
    assert.throws(
      () => parseAssignments(words),
      (e: Error) => e instanceof UsageError && re.test(e.message),
      words.join(' '),
    );
});

test('settings print one per line, with the file warning first', () => {
  const out = formatSettings({
    settings: {
      tunnelSubnet: '10.57.0.0/30',
      tunnelSubnet6: null,
      port: 2611,
      mtu: 1420,
      dnsSuffix: 'gangway.internal',
      dnsPort: 53,
      dockerHost: null,
      routeNewNetworks: true,
    },
    warning: 'The settings file was corrupt',
  });
  assert.match(out, /^Warning: The settings file was corrupt\n\ntunnelSubnet\s+10\.57\.0\.0\/30\n/);
  assert.match(out, /^dockerHost\s+auto$/m);
  assert.match(out, /^tunnelSubnet6\s+off$/m);
});

test('tunnelSubnet6: a unique-local IPv6 subnet with room for two, or off', () => {
  for (const tunnelSubnet6 of ['fd57:6177::/64', 'fd00:1::/126', 'fc00::/7'])
    assert.deepEqual(parseAssignments([`tunnelSubnet6=${tunnelSubnet6}`]), { tunnelSubnet6 });
  assert.deepEqual(parseAssignments(['tunnelSubnet6=off']), { tunnelSubnet6: null });
  const cases: [string, RegExp][] = [
    // A global IPv6 subnet would take someone's addresses: refused, with the way out.
    [
      '2001:db8::/64',
      /tunnelSubnet6: the IPv6 tunnel subnet must lie in the unique-local range fc00::\/7, like fd57:6177::\/64/,
    ],
    ['fd57::/127', /tunnelSubnet6: an IPv6 subnet with room for two addresses/],
    ['10.57.0.0/30', /tunnelSubnet6: an IPv6 subnet/],
    ['fe80::/64', /unique-local/],
    ['fd57::1/64', /an IPv6 subnet/],
  ];
  for (const [v, re] of cases)
    assert.throws(
      () => parseAssignments([`tunnelSubnet6=${v}`]),
      (e: Error) => e instanceof UsageError && re.test(e.message),
      v,
    );
});

test('the SSE parser yields events across chunk boundaries and ignores comments', () => {
  const p = new SseParser();
  assert.deepEqual(p.push(': keepalive\n\nevent: sta'), []);
  assert.deepEqual(p.push('te\ndata: {"a":1}\n\nevent: other\ndata: x\n\nevent: state\ndata: {"b"'), [
    { event: 'state', data: '{"a":1}' },
    { event: 'other', data: 'x' },
  ]);
  assert.deepEqual(p.push(':2}\n\n'), [{ event: 'state', data: '{"b":2}' }]);
});
