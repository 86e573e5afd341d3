// The DNS codec and the answering logic on hostile input: round trips, every kind of malformed message,
// size limits and truncation, and a bounded random fuzz run.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  RCODE,
  TYPE,
  decodeResponse,
  encodeQuery,
  encodeResponse,
  parseQuery,
  readName,
} from '../../helper/dns/dns-message';
import { answerMessage } from '../../helper/dns/dns-server';
import { NameTable, type ContainerRecord } from '../../helper/dns/name-table';

function header(id: number, flags: number, qd: number, an = 0, ns = 0, ar = 0): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(id, 0);
  b.writeUInt16BE(flags, 2);
  b.writeUInt16BE(qd, 4);
  b.writeUInt16BE(an, 6);
  b.writeUInt16BE(ns, 8);
  b.writeUInt16BE(ar, 10);
  return b;
}
const tail = Buffer.from([0, 1, 0, 1]); // qtype A, class IN

function table(n = 1): NameTable {
  const containers: ContainerRecord[] = [];
  for (let i = 0; i < n; i++)
    containers.push({
      id: `${String(i).padStart(4, '0')}aaaa`,
      name: 'web',
      labels: {},
      networks: [
        {
          network: 'app',
          ipv4: `172.20.${Math.floor(i / 250)}.${(i % 250) + 2}`,
          ipv6: 'fd00::2',
          aliases: [],
        },
      ],
    });
  return new NameTable('gangway.internal', containers, [{ name: 'app', subnets: ['172.20.0.0/16'] }]);
}

describe('dns-message codec', () => {
  test('a query round-trips, with and without EDNS0, case preserved', () => {
    const q = parseQuery(encodeQuery(0x1234, 'Web.Gangway.Internal', TYPE.AAAA));
    assert.equal(q.kind, 'query');
    if (q.kind !== 'query') return;
    assert.equal(q.query.id, 0x1234);
    assert.equal(q.query.rd, true);
    assert.deepEqual(q.query.question, { labels: ['Web', 'Gangway', 'Internal'], qtype: 28, qclass: 1 });
    assert.equal(q.query.ednsUdpSize, null);
    const e = parseQuery(encodeQuery(7, 'a.b', TYPE.A, { edns: 4096 }));
    assert.equal(e.kind === 'query' && e.query.ednsUdpSize, 4096);
  });

  test('answers encode and decode: A, AAAA, SOA authority; AA set; the name compressed to the question', () => {
    const t = table();
    const a = decodeResponse(answerMessage(encodeQuery(1, 'WEB.gangway.internal', TYPE.A), t, 'udp')!);
    assert.equal(a.rcode, RCODE.NOERROR);
    assert.equal(a.aa, true);
    assert.deepEqual(
      a.answers.map((x) => [x.name, x.type, x.ttl, x.data]),
      [['WEB.gangway.internal', TYPE.A, 5, '172.20.0.2']],
    );
    const six = decodeResponse(answerMessage(encodeQuery(2, 'web.gangway.internal', TYPE.AAAA), t, 'udp')!);
    assert.deepEqual(
      six.answers.map((x) => x.data),
      ['fd00:0:0:0:0:0:0:2'],
    );
    const nx = decodeResponse(answerMessage(encodeQuery(3, 'nope.gangway.internal', TYPE.A), t, 'udp')!);
    assert.equal(nx.rcode, RCODE.NXDOMAIN);
    assert.equal(nx.authority[0]?.type, TYPE.SOA);
    const ptr = decodeResponse(answerMessage(encodeQuery(4, '2.0.20.172.in-addr.arpa', TYPE.PTR), t, 'udp')!);
    assert.deepEqual(
      ptr.answers.map((x) => x.data),
      ['web.gangway.internal'],
    );
  });

  test('malformed headers are dropped; malformed bodies get FORMERR with the id', () => {
    assert.equal(parseQuery(Buffer.alloc(5)).kind, 'drop');
    assert.equal(parseQuery(Buffer.concat([header(1, 0x8000, 1), Buffer.from([0]), tail])).kind, 'drop');
    const cases: [string, Buffer][] = [
      ['no question', header(9, 0, 0)],
      ['two questions', Buffer.concat([header(9, 0, 2), Buffer.from([0]), tail, Buffer.from([0]), tail])],
      ['truncated name', Buffer.concat([header(9, 0, 1), Buffer.from([5, 97, 98])])],
      [
        'label > 63',
        Buffer.concat([header(9, 0, 1), Buffer.from([64]), Buffer.alloc(64, 97), Buffer.from([0]), tail]),
      ],
      ['reserved label type', Buffer.concat([header(9, 0, 1), Buffer.from([0x40, 0]), tail])],
      ['missing qtype', Buffer.concat([header(9, 0, 1), Buffer.from([0, 0, 1])])],
      ['trailing bytes', Buffer.concat([header(9, 0, 1), Buffer.from([0]), tail, Buffer.from([1])])],
      ['self pointer', Buffer.concat([header(9, 0, 1), Buffer.from([0xc0, 12]), tail])],
      ['forward pointer', Buffer.concat([header(9, 0, 1), Buffer.from([0xc0, 14, 0]), tail])],
      ['record count bomb', Buffer.concat([header(9, 0, 1, 0xffff, 0xffff, 0xffff), Buffer.from([0]), tail])],
      [
        'OPT not root',
        Buffer.concat([
          header(9, 0, 1, 0, 0, 1),
          Buffer.from([0]),
          tail,
          Buffer.from([1, 97, 0, 0, 41, 16, 0, 0, 0, 0, 0, 0, 0]),
        ]),
      ],
    ];
    for (const [what, msg] of cases) {
      const r = parseQuery(msg);
      assert.equal(r.kind, 'formerr', what);
      const out = decodeResponse(answerMessage(msg, table(), 'udp')!);
      assert.equal(out.rcode, RCODE.FORMERR, what);
      assert.equal(out.id, 9, what);
    }
    // Another opcode (NOTIFY, UPDATE): NOTIMP.
    const notify = Buffer.concat([header(3, 4 << 11, 1), Buffer.from([0]), tail]);
    assert.equal(decodeResponse(answerMessage(notify, table(), 'udp')!).rcode, RCODE.NOTIMP);
  });

  test('names over 255 bytes are rejected, also when built from pointers', () => {
    // 5 labels of 63 = 320 bytes.
    const long = Buffer.concat([
      ...Array.from({ length: 5 }, () => Buffer.concat([Buffer.from([63]), Buffer.alloc(63, 97)])),
      Buffer.from([0]),
    ]);
    assert.equal(parseQuery(Buffer.concat([header(1, 0, 1), long, tail])).kind, 'formerr');
    // A name of 3 x 63 labels, then a question whose name is 63 bytes + a pointer to it: 256+ in total.
    const three = Buffer.concat([
      ...Array.from({ length: 3 }, () => Buffer.concat([Buffer.from([63]), Buffer.alloc(63, 98)])),
      Buffer.from([0]),
    ]);
    const buf = Buffer.concat([
      Buffer.alloc(12),
      three,
      Buffer.from([63]),
      Buffer.alloc(63, 99),
      Buffer.from([0xc0, 12]),
    ]);
    assert.throws(() => readName(buf, 12 + three.length), /longer than 255/);
  });

  test('compression loops: a chain of backward pointers is bounded by the hop limit', () => {
    // Each pointer points one pointer back, ending at a root label: 40 hops > the limit.
    const parts = [Buffer.alloc(12), Buffer.from([0])];
    let prev = 12;
    for (let i = 0; i < 40; i++) {
      const at = 12 + 1 + i * 2;
      parts.push(Buffer.from([0xc0 | (prev >> 8), prev & 0xff]));
      prev = at;
    }
    const buf = Buffer.concat(parts);
    assert.throws(() => readName(buf, prev), /too many compression pointers/);
    // A pointer back to itself through another pointer (a -> b -> a) cannot happen: both must go back.
    const loop = Buffer.concat([Buffer.alloc(12), Buffer.from([0xc0, 14, 0xc0, 12])]);
    assert.throws(() => readName(loop, 12), /backwards/);
    assert.throws(() => readName(loop, 14), /backwards/);
  });

  test('UDP answers fit in 512 bytes (TC set), EDNS0 allows up to 1232, TCP 64 KiB', () => {
    const big = table(200); // 200 containers called "web": 200 A records.
    const udp = answerMessage(encodeQuery(1, 'web.gangway.internal', TYPE.A), big, 'udp')!;
    assert.ok(udp.length <= 512, `${udp.length}`);
    const d = decodeResponse(udp);
    assert.equal(d.tc, true);
    assert.ok(d.answers.length > 10 && d.answers.length < 200);
    const edns = answerMessage(encodeQuery(1, 'web.gangway.internal', TYPE.A, { edns: 65000 }), big, 'udp')!;
    assert.ok(edns.length <= 1232 && edns.length > 512, `${edns.length}`);
    assert.equal(decodeResponse(edns).tc, true);
    const small = answerMessage(encodeQuery(1, 'web.gangway.internal', TYPE.A, { edns: 100 }), big, 'udp')!;
    assert.ok(small.length <= 512);
    const tcp = decodeResponse(answerMessage(encodeQuery(1, 'web.gangway.internal', TYPE.A), big, 'tcp')!);
    assert.equal(tcp.tc, false);
    assert.equal(tcp.answers.length, 200);
  });

  test('a whole truncated response never splits a record', () => {
    const r = encodeResponse(
      {
        id: 1,
        opcode: 0,
        rd: false,
        aa: true,
        rcode: 0,
        question: { labels: ['x'], qtype: 1, qclass: 1 },
        answers: Array.from({ length: 100 }, () => ({
          name: null,
          type: 1,
          ttl: 5,
          rdata: Buffer.from([1, 2, 3, 4]),
        })),
        authority: [],
        edns: false,
      },
      100,
    );
    assert.ok(r.length <= 100);
    const d = decodeResponse(r); // decodes cleanly: only whole records
    assert.equal(d.tc, true);
    assert.equal(r.length, 12 + 7 + d.answers.length * 16);
  });

  test('fuzz: 20k mutated and random packets never throw and never exceed the size limits', () => {
    const t = table(50);
    const seeds = [
      encodeQuery(1, 'web.gangway.internal', TYPE.A),
      encodeQuery(2, 'web.gangway.internal', TYPE.ANY, { edns: 1232 }),
      encodeQuery(3, '2.0.20.172.in-addr.arpa', TYPE.PTR),
      encodeQuery(4, 'example.com', TYPE.A),
      Buffer.concat([header(5, 0, 1), Buffer.from([3, 119, 101, 98, 0xc0, 12]), tail]),
    ];
    // A small deterministic PRNG, so a failure can be reproduced.
    let seed = 0x2545f491;
    const rnd = (n: number) => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const counts = { answered: 0, dropped: 0 };
    for (let i = 0; i < 20_000; i++) {
      let msg: Buffer;
      if (i % 10 === 0) msg = Buffer.from(Array.from({ length: rnd(600) }, () => rnd(256)));
      else {
        msg = Buffer.from(seeds[rnd(seeds.length)]!);
        for (let k = rnd(6); k >= 0; k--) msg[rnd(msg.length)] = rnd(256);
        if (rnd(4) === 0) msg = msg.subarray(0, rnd(msg.length + 1));
        if (rnd(8) === 0)
          msg = Buffer.concat([msg, Buffer.from(Array.from({ length: rnd(64) }, () => rnd(256)))]);
      }
      const transport = i % 2 ? 'udp' : 'tcp';
      const out = answerMessage(msg, t, transport);
      if (!out) {
        counts.dropped++;
        continue;
      }
      counts.answered++;
      assert.ok(out.length <= (transport === 'udp' ? 1232 : 65535), `answer of ${out.length} bytes`);
      const d = decodeResponse(out); // every answer we send is itself well-formed
      assert.ok([0, 1, 3, 4, 5].includes(d.rcode), `rcode ${d.rcode}`);
    }
    assert.ok(counts.answered > 1000 && counts.dropped > 100, JSON.stringify(counts));
  });
});
