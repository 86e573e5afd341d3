// The name table: which names exist for which containers, and what each query gets.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  NameTable,
  addressOfReverse,
  reverseName,
  toRelativeName,
  type ContainerRecord,
} from '../../helper/dns/name-table';
import { toContainerRecord } from '../../helper/dns/container-index';
import type Dockerode from 'dockerode';

const S = 'gangway.internal';
const routed = [
  { name: 'app', subnets: ['172.20.0.0/16', 'fd00:20::/64'] },
  { name: 'other', subnets: ['172.21.0.0/16'] },
];

function c(
  id: string,
  name: string,
  nets: [string, string | null, string | null, string[]?][],
  labels: Record<string, string> = {},
): ContainerRecord {
  return {
    id,
    name,
    labels,
    networks: nets.map(([network, ipv4, ipv6, aliases]) => ({ network, ipv4, ipv6, aliases: aliases ?? [] })),
  };
}

const q = (t: NameTable, name: string) => t.lookup(name.split('.'));

describe('name table', () => {
  test('container names, A and AAAA, case-insensitive; unknown names NXDOMAIN; outside REFUSED', () => {
    const t = new NameTable(S, [c('aa01', 'Web', [['app', '172.20.0.2', 'fd00:20::2']])], routed);
    assert.deepEqual(q(t, 'web.gangway.internal'), {
      kind: 'found',
      a: ['172.20.0.2'],
      aaaa: ['fd00:20::2'],
      ptr: [],
    });
    assert.deepEqual(q(t, 'WEB.Gangway.INTERNAL'), q(t, 'web.gangway.internal'));
    assert.deepEqual(q(t, 'db.gangway.internal'), { kind: 'nxdomain' });
    assert.deepEqual(q(t, 'example.com'), { kind: 'refused' });
    assert.deepEqual(q(t, 'gangway.internal.evil.com'), { kind: 'refused' });
    assert.deepEqual(q(t, 'internal'), { kind: 'refused' });
    // The apex exists (NODATA, not NXDOMAIN).
    assert.deepEqual(q(t, 'gangway.internal'), { kind: 'found', a: [], aaaa: [], ptr: [] });
    assert.deepEqual(t.namesOf('aa01'), ['web.gangway.internal']);
  });

  test('compose: service.project (all replicas), n.service.project (one), container name', () => {
    const compose = (n: number, ip: string) =>
      c(`bb0${n}`, `shop-web-${n}`, [['app', ip, null]], {
        'com.docker.compose.project': 'shop',
        'com.docker.compose.service': 'web',
        'com.docker.compose.container-number': String(n),
      });
    const t = new NameTable(S, [compose(1, '172.20.0.11'), compose(2, '172.20.0.12')], routed);
    const svc = q(t, 'web.shop.gangway.internal');
    assert.equal(svc.kind, 'found');
    assert.deepEqual(svc.kind === 'found' && svc.a.sort(), ['172.20.0.11', '172.20.0.12']);
    assert.deepEqual(q(t, '2.web.shop.gangway.internal'), {
      kind: 'found',
      a: ['172.20.0.12'],
      aaaa: [],
      ptr: [],
    });
    assert.deepEqual(q(t, 'shop-web-1.gangway.internal'), {
      kind: 'found',
      a: ['172.20.0.11'],
      aaaa: [],
      ptr: [],
    });
    // The project is an empty non-terminal: it exists, with no address.
    assert.deepEqual(q(t, 'shop.gangway.internal'), { kind: 'found', a: [], aaaa: [], ptr: [] });
    assert.deepEqual(q(t, '3.web.shop.gangway.internal'), { kind: 'nxdomain' });
    assert.deepEqual(t.namesOf('bb01'), [
      'shop-web-1.gangway.internal',
      'web.shop.gangway.internal',
      '1.web.shop.gangway.internal',
    ]);
    // Replicas of one service sharing its name is not a collision worth reporting... but it is one name
    // claimed by two containers, and it is listed as such (resolving to both is the point).
    assert.deepEqual(t.collisions(), [{ name: 'web.shop.gangway.internal', containers: ['bb01', 'bb02'] }]);
  });

  test('aliases resolve to their own network only; the short id alias is ignored; custom label', () => {
    const t = new NameTable(
      S,
      [
        c(
          'cc0123456789abcd',
          'api',
          [
            ['app', '172.20.0.5', null, ['backend', 'cc0123456789']],
            ['other', '172.21.0.5', null, ['API-2']],
          ],
          { 'dev.gangway.name': 'my-api, billing.gangway.internal ,bad name!' },
        ),
      ],
      routed,
    );
    assert.deepEqual(q(t, 'api.gangway.internal'), {
      kind: 'found',
      a: ['172.20.0.5', '172.21.0.5'],
      aaaa: [],
      ptr: [],
    });
    assert.deepEqual(q(t, 'backend.gangway.internal'), {
      kind: 'found',
      a: ['172.20.0.5'],
      aaaa: [],
      ptr: [],
    });
    assert.deepEqual(q(t, 'api-2.gangway.internal'), { kind: 'found', a: ['172.21.0.5'], aaaa: [], ptr: [] });
    assert.deepEqual(q(t, 'cc0123456789.gangway.internal'), { kind: 'nxdomain' });
    assert.equal(q(t, 'my-api.gangway.internal').kind, 'found');
    assert.equal(q(t, 'billing.gangway.internal').kind, 'found');
    assert.deepEqual(t.namesOf('cc0123456789abcd').sort(), [
      'api-2.gangway.internal',
      'api.gangway.internal',
      'backend.gangway.internal',
      'billing.gangway.internal',
      'my-api.gangway.internal',
    ]);
  });

  test('collisions: one name, two containers: both addresses, listed', () => {
    const t = new NameTable(
      S,
      [
        c('dd01', 'db', [['app', '172.20.0.7', null]]),
        c('dd02', 'db2', [['other', '172.21.0.7', null, ['DB']]]),
      ],
      routed,
    );
    const r = q(t, 'db.gangway.internal');
    assert.deepEqual(r.kind === 'found' && r.a.sort(), ['172.20.0.7', '172.21.0.7']);
    assert.deepEqual(t.collisions(), [{ name: 'db.gangway.internal', containers: ['dd01', 'dd02'] }]);
  });

  test('only routed networks count; a container only on unrouted networks has no name', () => {
    const t = new NameTable(
      S,
      [
        c('ee01', 'both', [
          ['app', '172.20.0.9', null],
          ['hidden', '10.99.0.9', null],
        ]),
        c('ee02', 'lonely', [['hidden', '10.99.0.3', null]]),
      ],
      routed,
    );
    assert.deepEqual(q(t, 'both.gangway.internal'), { kind: 'found', a: ['172.20.0.9'], aaaa: [], ptr: [] });
    assert.deepEqual(q(t, 'lonely.gangway.internal'), { kind: 'nxdomain' });
    assert.deepEqual(t.namesOf('ee02'), []);
  });

  test('PTR: container addresses in routed subnets; others in scope NXDOMAIN; out of scope REFUSED', () => {
    const t = new NameTable(S, [c('ff01', 'web', [['app', '172.20.0.2', 'fd00:20::2']])], routed);
    assert.deepEqual(q(t, '2.0.20.172.in-addr.arpa'), {
      kind: 'found',
      a: [],
      aaaa: [],
      ptr: ['web.gangway.internal'],
    });
    assert.deepEqual(q(t, reverseName('fd00:20::2')!), {
      kind: 'found',
      a: [],
      aaaa: [],
      ptr: ['web.gangway.internal'],
    });
    assert.deepEqual(q(t, '3.0.20.172.in-addr.arpa'), { kind: 'nxdomain' });
    assert.deepEqual(q(t, '1.1.168.192.in-addr.arpa'), { kind: 'refused' });
    assert.deepEqual(q(t, '20.172.in-addr.arpa'), { kind: 'refused' });
    assert.deepEqual(q(t, '300.0.20.172.in-addr.arpa'), { kind: 'refused' });
  });

  test('suffix change and odd names', () => {
    const t = new NameTable(
      'dev.test',
      [
        c('gg01', 'My_App.v2', [['app', '172.20.0.4', null]]),
        c('gg02', 'ünï', [['app', '172.20.0.5', null]]),
      ],
      routed,
    );
    assert.equal(q(t, 'my_app.v2.dev.test').kind, 'found');
    assert.deepEqual(q(t, 'web.gangway.internal'), { kind: 'refused' });
    assert.deepEqual(t.namesOf('gg02'), []);
    assert.equal(toRelativeName('-bad'), undefined);
    assert.equal(toRelativeName('a'.repeat(64)), undefined);
    assert.equal(toRelativeName('Ok-Name.'), 'ok-name');
    // A label carrying a dot (possible on the wire) matches nothing.
    assert.deepEqual(t.lookup(['my_app.v2', 'dev', 'test']), { kind: 'nxdomain' });
  });

  test('reverse names both ways', () => {
    assert.equal(reverseName('10.1.2.3'), '3.2.1.10.in-addr.arpa');
    assert.deepEqual(addressOfReverse('3.2.1.10.in-addr.arpa'.split('.')), { family: 4, value: 0x0a010203n });
    const r6 = reverseName('2001:db8::1')!;
    assert.equal(r6.split('.').length, 34);
    assert.deepEqual(addressOfReverse(r6.split('.')), {
      family: 6,
      value: 0x20010db8000000000000000000000001n,
    });
  });

  test('toContainerRecord: running only, aliases and DNSNames merged, name without the slash', () => {
    const info = {
      Id: 'abc',
      Name: '/web',
      State: { Running: true },
      Config: { Labels: { a: 'b' } },
      NetworkSettings: {
        Networks: {
          app: {
            IPAddress: '172.20.0.2',
            GlobalIPv6Address: '',
            Aliases: ['x'],
            DNSNames: ['web', 'x', 'abc'],
          },
        },
      },
    } as unknown as Dockerode.ContainerInspectInfo;
    assert.deepEqual(toContainerRecord(info), {
      id: 'abc',
      name: 'web',
      labels: { a: 'b' },
      networks: [{ network: 'app', ipv4: '172.20.0.2', ipv6: null, aliases: ['x', 'web', 'abc'] }],
    });
    assert.equal(
      toContainerRecord({ ...info, State: { Running: false } } as Dockerode.ContainerInspectInfo),
      undefined,
    );
  });
});
