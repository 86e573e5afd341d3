// DNS wire format (RFC 1035, EDNS0 from RFC 6891): just enough to read one question and write answers.
// Every byte read from the network is bounds-checked here; the parser never throws on any input. It
// returns a query, a FORMERR to send (the header was readable, the rest was not), or a drop (not even a
// header, or a response that must not be answered, so two servers can never ping-pong).

export const TYPE = { A: 1, NS: 2, SOA: 6, PTR: 12, AAAA: 28, OPT: 41, ANY: 255 } as const;
export const CLASS_IN = 1;
export const CLASS_ANY = 255;
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

const HEADER_LEN = 12;
const MAX_NAME_WIRE = 255;
const MAX_LABEL = 63;
/** Compression pointers followed for one name: a legal name needs far fewer; loops hit this bound. */
const MAX_POINTER_HOPS = 32;
/** Records besides the question we are willing to walk to find an OPT record. */
const MAX_EXTRA_RECORDS = 16;
/** Plain UDP without EDNS0 (RFC 1035), and what we offer with EDNS0 (the DNS flag day 2020 value). */
export const UDP_PLAIN_MAX = 512;
export const UDP_EDNS_MAX = 1232;
export const TCP_MAX = 65535;

export interface Question {
  /** Labels as received (latin1, original case), so the question can be echoed byte for byte. */
  labels: string[];
  qtype: number;
  qclass: number;
}

export interface Query {
  id: number;
  opcode: number;
  rd: boolean;
  question: Question;
  /** The client's EDNS0 UDP payload size, or null without an OPT record. */
  ednsUdpSize: number | null;
}

export type ParseResult =
  | { kind: 'query'; query: Query }
  | { kind: 'formerr'; id: number; opcode: number; rd: boolean; reason: string }
  | { kind: 'notimp'; id: number; opcode: number; rd: boolean }
  | { kind: 'drop'; reason: string };

class Malformed extends Error {}

/** Reads a possibly compressed name at `offset`; returns its labels and the offset after it in place. */
export function readName(buf: Buffer, offset: number): { labels: string[]; next: number } {
  const labels: string[] = [];
  let pos = offset;
  let next = -1;
  let hops = 0;
  let wire = 1; // the terminating zero
  for (;;) {
    if (pos >= buf.length) throw new Malformed('name runs past the end');
    const len = buf[pos]!;
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= buf.length) throw new Malformed('truncated compression pointer');
      const target = ((len & 0x3f) << 8) | buf[pos + 1]!;
      // Only strictly backwards: together with the hop bound this rules out every loop.
      if (target >= pos) throw new Malformed('compression pointer does not point backwards');
      if (++hops > MAX_POINTER_HOPS) throw new Malformed('too many compression pointers');
      if (next < 0) next = pos + 2;
      pos = target;
      continue;
    }
    if ((len & 0xc0) !== 0) throw new Malformed('unsupported label type');
    if (len === 0) {
      if (next < 0) next = pos + 1;
      return { labels, next };
    }
    if (len > MAX_LABEL) throw new Malformed('label longer than 63');
    if (pos + 1 + len > buf.length) throw new Malformed('label runs past the end');
    wire += len + 1;
    if (wire > MAX_NAME_WIRE) throw new Malformed('name longer than 255');
    labels.push(buf.toString('latin1', pos + 1, pos + 1 + len));
    pos += 1 + len;
  }
}

/** Skips one resource record at `offset`; returns its type, class, TTL field and the offset after it. */
function readRecordHead(buf: Buffer, offset: number) {
  const { labels, next } = readName(buf, offset);
  if (next + 10 > buf.length) throw new Malformed('record header runs past the end');
  const type = buf.readUInt16BE(next);
  const klass = buf.readUInt16BE(next + 2);
  const rdlen = buf.readUInt16BE(next + 8);
  const end = next + 10 + rdlen;
  if (end > buf.length) throw new Malformed('record data runs past the end');
  return { labels, type, klass, end };
}

export function parseQuery(buf: Buffer): ParseResult {
  if (buf.length < HEADER_LEN) return { kind: 'drop', reason: 'shorter than a header' };
  const id = buf.readUInt16BE(0);
  const flags = buf.readUInt16BE(2);
  if (flags & 0x8000) return { kind: 'drop', reason: 'a response, not a query' };
  const opcode = (flags >> 11) & 0xf;
  const rd = (flags & 0x0100) !== 0;
  if (opcode !== 0) return { kind: 'notimp', id, opcode, rd };
  const qd = buf.readUInt16BE(4);
  const an = buf.readUInt16BE(6);
  const ns = buf.readUInt16BE(8);
  const ar = buf.readUInt16BE(10);
  const formerr = (reason: string): ParseResult => ({ kind: 'formerr', id, opcode, rd, reason });
  if (qd !== 1) return formerr(`${qd} questions (exactly one is answered)`);
  if (an + ns + ar > MAX_EXTRA_RECORDS) return formerr('too many records in a query');
  try {
    const { labels, next } = readName(buf, HEADER_LEN);
    if (next + 4 > buf.length) throw new Malformed('question runs past the end');
    const question = { labels, qtype: buf.readUInt16BE(next), qclass: buf.readUInt16BE(next + 2) };
    let pos = next + 4;
    let ednsUdpSize: number | null = null;
    for (let i = 0; i < an + ns + ar; i++) {
      const rr = readRecordHead(buf, pos);
      pos = rr.end;
      if (rr.type !== TYPE.OPT) continue;
      if (i < an + ns || ednsUdpSize !== null || rr.labels.length !== 0)
        throw new Malformed('misplaced or repeated OPT record');
      ednsUdpSize = rr.klass;
    }
    if (pos !== buf.length) throw new Malformed('trailing bytes after the records');
    return { kind: 'query', query: { id, opcode, rd, question, ednsUdpSize } };
  } catch (err) {
    if (err instanceof Malformed) return formerr(err.message);
    throw err;
  }
}

// ---- Encoding ----------------------------------------------------------------------------------------------

export interface ResourceRecord {
  /** Dotted owner name (our own, already validated); null: the question's name (compressed to it). */
  name: string | null;
  type: number;
  ttl: number;
  rdata: Buffer;
}

export interface Response {
  id: number;
  opcode: number;
  rd: boolean;
  aa: boolean;
  rcode: number;
  question: Question | null;
  answers: ResourceRecord[];
  authority: ResourceRecord[];
  /** Add an OPT record (the query had one). */
  edns: boolean;
}

/** A dotted name in wire format, uncompressed. Throws on names our own tables must never produce. */
export function encodeName(name: string): Buffer {
  const labels = name === '' || name === '.' ? [] : name.replace(/\.$/, '').split('.');
  return encodeLabels(labels);
}

function encodeLabels(labels: string[]): Buffer {
  const parts: Buffer[] = [];
  for (const l of labels) {
    const b = Buffer.from(l, 'latin1');
    if (b.length === 0 || b.length > MAX_LABEL) throw new Error(`invalid DNS label "${l}"`);
    parts.push(Buffer.from([b.length]), b);
  }
  parts.push(Buffer.from([0]));
  const out = Buffer.concat(parts);
  if (out.length > MAX_NAME_WIRE) throw new Error('DNS name longer than 255 bytes');
  return out;
}

function encodeRecord(rr: ResourceRecord): Buffer {
  const name = rr.name === null ? Buffer.from([0xc0, HEADER_LEN]) : encodeName(rr.name);
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(rr.type, 0);
  fixed.writeUInt16BE(CLASS_IN, 2);
  fixed.writeUInt32BE(rr.ttl >>> 0, 4);
  fixed.writeUInt16BE(rr.rdata.length, 8);
  return Buffer.concat([name, fixed, rr.rdata]);
}

function optRecord(): Buffer {
  const b = Buffer.alloc(11);
  b[0] = 0; // root name
  b.writeUInt16BE(TYPE.OPT, 1);
  b.writeUInt16BE(UDP_EDNS_MAX, 3);
  // extended rcode, version, flags, rdlength: all zero
  return b;
}

/**
 * Encodes a response in at most `maxSize` bytes. When the records do not fit, whole records are left out
 * from the end and TC is set, so the client retries over TCP (RFC 2181 §9).
 */
export function encodeResponse(r: Response, maxSize: number): Buffer {
  const question = r.question
    ? Buffer.concat([encodeLabels(r.question.labels), u16(r.question.qtype), u16(r.question.qclass)])
    : Buffer.alloc(0);
  const opt = r.edns ? optRecord() : Buffer.alloc(0);
  let budget = maxSize - HEADER_LEN - question.length - opt.length;
  let truncated = false;
  const take = (rrs: ResourceRecord[]): Buffer[] => {
    const out: Buffer[] = [];
    for (const rr of rrs) {
      const b = encodeRecord(rr);
      if (truncated || b.length > budget) {
        truncated = true;
        break;
      }
      budget -= b.length;
      out.push(b);
    }
    return out;
  };
  const answers = take(r.answers);
  const authority = truncated ? [] : take(r.authority);
  const header = Buffer.alloc(HEADER_LEN);
  header.writeUInt16BE(r.id, 0);
  let flags = 0x8000 | ((r.opcode & 0xf) << 11) | (r.rcode & 0xf);
  if (r.aa) flags |= 0x0400;
  if (truncated) flags |= 0x0200;
  if (r.rd) flags |= 0x0100;
  header.writeUInt16BE(flags, 2);
  header.writeUInt16BE(r.question ? 1 : 0, 4);
  header.writeUInt16BE(answers.length, 6);
  header.writeUInt16BE(authority.length, 8);
  header.writeUInt16BE(r.edns ? 1 : 0, 10);
  return Buffer.concat([header, question, ...answers, ...authority, opt]);
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n & 0xffff, 0);
  return b;
}

// ---- Record data -------------------------------------------------------------------------------------------

export function aRdata(ip: string): Buffer {
  const parts = ip.split('.').map(Number);
  return Buffer.from(parts);
}

export function aaaaRdata(bytes: Buffer): Buffer {
  return Buffer.from(bytes);
}

export function soaRdata(zone: string, negativeTtl: number): Buffer {
  const fixed = Buffer.alloc(20);
  fixed.writeUInt32BE(1, 0); // serial
  fixed.writeUInt32BE(3600, 4); // refresh
  fixed.writeUInt32BE(600, 8); // retry
  fixed.writeUInt32BE(86400, 12); // expire
  fixed.writeUInt32BE(negativeTtl, 16); // minimum: how long a "no such name" is cached
  return Buffer.concat([encodeName(`ns.${zone}`), encodeName(`hostmaster.${zone}`), fixed]);
}

// ---- Building queries (the doctor's probe, tests) ----------------------------------------------------------

export function encodeQuery(id: number, name: string, qtype: number, opts: { edns?: number } = {}): Buffer {
  const header = Buffer.alloc(HEADER_LEN);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x0100, 2); // RD
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(opts.edns ? 1 : 0, 10);
  const parts = [header, encodeName(name), u16(qtype), u16(CLASS_IN)];
  if (opts.edns) {
    const opt = optRecord();
    opt.writeUInt16BE(opts.edns, 3);
    parts.push(opt);
  }
  return Buffer.concat(parts);
}

export interface DecodedAnswer {
  name: string;
  type: number;
  ttl: number;
  /** A/AAAA: the address; PTR: the target name; others: hex. */
  data: string;
}

export interface DecodedResponse {
  id: number;
  rcode: number;
  aa: boolean;
  tc: boolean;
  answers: DecodedAnswer[];
  authority: DecodedAnswer[];
}

/** Reads a response (ours); throws on malformed input. For the doctor's probe and tests, not the server. */
export function decodeResponse(buf: Buffer): DecodedResponse {
  if (buf.length < HEADER_LEN) throw new Error('short DNS response');
  const flags = buf.readUInt16BE(2);
  let pos = HEADER_LEN;
  for (let i = 0; i < buf.readUInt16BE(4); i++) pos = readName(buf, pos).next + 4;
  const section = (count: number): DecodedAnswer[] => {
    const out: DecodedAnswer[] = [];
    for (let i = 0; i < count; i++) {
      const { labels, next } = readName(buf, pos);
      if (next + 10 > buf.length) throw new Error('truncated record');
      const type = buf.readUInt16BE(next);
      const ttl = buf.readUInt32BE(next + 4);
      const len = buf.readUInt16BE(next + 8);
      const start = next + 10;
      if (start + len > buf.length) throw new Error('truncated record data');
      const rd = buf.subarray(start, start + len);
      let data = rd.toString('hex');
      if (type === TYPE.A && len === 4) data = [...rd].join('.');
      else if (type === TYPE.AAAA && len === 16) data = formatV6(rd);
      else if (type === TYPE.PTR) data = readName(buf, start).labels.join('.');
      if (type !== TYPE.OPT) out.push({ name: labels.join('.'), type, ttl, data });
      pos = start + len;
    }
    return out;
  };
  const answers = section(buf.readUInt16BE(6));
  const authority = section(buf.readUInt16BE(8));
  return {
    id: buf.readUInt16BE(0),
    rcode: flags & 0xf,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    answers,
    authority,
  };
}

function formatV6(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  return groups.join(':');
}
