import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import net from 'node:net';
import { describe, it } from 'node:test';
import { isIP, isIPv4, isIPv6 } from '../../common/ip-address';

const samples = [
  '0.0.0.0',
  '255.255.255.255',
  '1.2.3.4',
  '01.2.3.4',
  '256.1.1.1',
  '1.2.3',
  '1.2.3.4.5',
  ' 1.2.3.4',
  '1.2.3.4 ',
  '::',
  '::1',
  '1::',
  'fe80::1',
  '2001:db8::8a2e:370:7334',
  '1:2:3:4:5:6:7:8',
  '1:2:3:4:5:6:7:8:9',
  '1:2:3:4:5:6:7',
  '1::2::3',
  ':1:2:3:4:5:6:7',
  '1:2:3:4:5:6:7:',
  '::ffff:1.2.3.4',
  '::1.2.3.4',
  '1:2:3:4:5:6:1.2.3.4',
  '1:2:3:4:5:6:7:1.2.3.4',
  '::ffff:1.2.3',
  '::ffff:256.2.3.4',
  '12345::',
  'g::',
  '1:2:3:4:5:6:7::',
  '::2:3:4:5:6:7:8',
  '',
  ':',
  ':::',
  '1.2.3.4::',
  'fd00:57::/64',
  'FD00::ABCD',
];

/** Node's answer, with zone ids (which this module rejects on purpose) counted as not an address. */
const nodeIsIP = (s: string) => (s.includes('%') ? 0 : net.isIP(s));

describe('ip-address (browser-safe) agrees with node:net', () => {
  it('on hand-picked edge cases', () => {
    for (const s of samples) assert.equal(isIP(s), nodeIsIP(s), s);
  });

  it('on 20000 random strings made of address characters', () => {
    const alphabet = '0123456789abcdefABCDEF:.:::..';
    for (let i = 0; i < 20000; i++) {
      const len = randomInt(1, 24);
      let s = '';
      for (let j = 0; j < len; j++) s += alphabet[randomInt(alphabet.length)];
      assert.equal(isIP(s), nodeIsIP(s), JSON.stringify(s));
    }
  });

  it('on random valid addresses, compressed and not', () => {
    for (let i = 0; i < 2000; i++) {
      const v4 = [0, 0, 0, 0].map(() => randomInt(256)).join('.');
      assert.ok(isIPv4(v4), v4);
      const groups = Array.from({ length: 8 }, () => randomInt(0x10000).toString(16));
      const full = groups.join(':');
      assert.ok(isIPv6(full), full);
      const a = randomInt(8);
      const b = randomInt(a, 8);
      const compressed = `${groups.slice(0, a).join(':')}::${groups.slice(b + 1).join(':')}`;
      assert.equal(isIPv6(compressed), net.isIPv6(compressed), compressed);
    }
  });
});
