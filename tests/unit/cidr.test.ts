import { test } from 'node:test';
import assert from 'node:assert/strict';
import { contains, formatCidr, nthAddress, overlaps, parseCidr } from '../../common/cidr';

test('parses and formats IPv4 and IPv6 CIDRs', () => {
  assert.equal(formatCidr(parseCidr('172.18.0.0/16')!), '172.18.0.0/16');
  assert.equal(formatCidr(parseCidr('10.1.2.3')!), '10.1.2.3/32');
  assert.equal(formatCidr(parseCidr('fd00:1::/64')!), 'fd00:1::/64');
  assert.equal(formatCidr(parseCidr('2001:db8:0:0:1::/80')!), '2001:db8:0:0:1::/80');
  assert.equal(formatCidr(parseCidr('::/0')!), '::/0');
});

test('rejects anything that is not a clean CIDR, including shell metacharacters', () => {
  for (const bad of [
    '',
    '172.18.0.1/16',
    '172.18.0.0/33',
    '1.2.3/24',
    '1.2.3.4/-1',
    '1.2.3.4/24/1',
    '$(reboot)/24',
    '1.2.3.0/24; rm -rf /',
    'fd00::/129',
    'fd00::1::/64',
    '1.2.3.0/024x',
    ' 1.2.3.0/24',
  ]) {
    assert.equal(parseCidr(bad), undefined, bad);
  }
});

test('overlap and containment', () => {
  const a = parseCidr('172.18.0.0/16')!;
  assert.ok(overlaps(a, parseCidr('172.18.5.0/24')!));
  assert.ok(contains(a, parseCidr('172.18.5.0/24')!));
  assert.ok(!contains(parseCidr('172.18.5.0/24')!, a));
  assert.ok(overlaps(parseCidr('0.0.0.0/0')!, a));
  assert.ok(!overlaps(a, parseCidr('172.19.0.0/16')!));
  assert.ok(!overlaps(a, parseCidr('fd00::/8')!));
  assert.equal(nthAddress(parseCidr('10.57.0.0/30')!, 2), '10.57.0.2');
});
