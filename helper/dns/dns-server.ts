// Gangway's DNS server: UDP and TCP on one address and port, authoritative for the suffix (and the reverse
// names of routed container subnets), REFUSED for everything else. It never forwards a query anywhere, so
// it cannot be used as an open resolver or an amplifier. TCP is bounded in connections, idle time, pending
// bytes and queued output.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv6, type Server, type Socket } from 'node:net';
import { parseIp } from '../../common/cidr';
import type { Logger } from '../../common/log';
import {
  CLASS_ANY,
  CLASS_IN,
  RCODE,
  TCP_MAX,
  TYPE,
  UDP_EDNS_MAX,
  UDP_PLAIN_MAX,
  aRdata,
  aaaaRdata,
  encodeName,
  encodeResponse,
  parseQuery,
  soaRdata,
  type ResourceRecord,
  type Response,
} from './dns-message';
import type { NameTable } from './name-table';

/** Short: containers come and go and change address; a client should ask again soon. */
export const DNS_TTL = 5;
export const MAX_TCP_CONNECTIONS = 64;
export const TCP_IDLE_MS = 10_000;
/** A client not reading its answers gets disconnected rather than queueing our memory. */
const MAX_TCP_QUEUED = 256 * 1024;

export interface DnsCounters {
  received: number;
  answered: number;
  nodata: number;
  nxdomain: number;
  refused: number;
  formerr: number;
  notimp: number;
  dropped: number;
  truncated: number;
  tcpConnections: number;
  tcpRejected: number;
}

function newCounters(): DnsCounters {
  return {
    received: 0,
    answered: 0,
    nodata: 0,
    nxdomain: 0,
    refused: 0,
    formerr: 0,
    notimp: 0,
    dropped: 0,
    truncated: 0,
    tcpConnections: 0,
    tcpRejected: 0,
  };
}

function v6Bytes(ip: string): Buffer | undefined {
  const p = parseIp(ip);
  if (!p || p.family !== 6) return undefined;
  const b = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) b[15 - i] = Number((p.value >> BigInt(8 * i)) & 0xffn);
  return b;
}

/**
 * Answers one message. `transport` sets the size limit: UDP 512 bytes, or the client's EDNS0 size up to
 * 1232; TCP 64 KiB. Returns undefined when the message is dropped (counted). Never throws on input.
 */
export function answerMessage(
  msg: Buffer,
  table: NameTable,
  transport: 'udp' | 'tcp',
  counters: DnsCounters = newCounters(),
): Buffer | undefined {
  counters.received++;
  const parsed = parseQuery(msg);
  if (parsed.kind === 'drop') {
    counters.dropped++;
    return undefined;
  }
  const base = { aa: false, answers: [], authority: [], edns: false, question: null };
  if (parsed.kind === 'formerr' || parsed.kind === 'notimp') {
    counters[parsed.kind]++;
    const rcode = parsed.kind === 'formerr' ? RCODE.FORMERR : RCODE.NOTIMP;
    return encodeResponse({ ...base, id: parsed.id, opcode: parsed.opcode, rd: parsed.rd, rcode }, 512);
  }
  const q = parsed.query;
  const edns = q.ednsUdpSize !== null;
  const max =
    transport === 'tcp'
      ? TCP_MAX
      : edns
        ? Math.min(Math.max(q.ednsUdpSize ?? 0, UDP_PLAIN_MAX), UDP_EDNS_MAX)
        : UDP_PLAIN_MAX;
  const r: Response = {
    ...base,
    id: q.id,
    opcode: q.opcode,
    rd: q.rd,
    rcode: RCODE.NOERROR,
    question: q.question,
    edns,
  };
  const { qtype, qclass } = q.question;
  const found = qclass === CLASS_IN || qclass === CLASS_ANY ? table.lookup(q.question.labels) : undefined;
  const soa = (): ResourceRecord[] => [
    { name: table.suffix, type: TYPE.SOA, ttl: DNS_TTL, rdata: soaRdata(table.suffix, DNS_TTL) },
  ];
  const reverse = found?.kind === 'found' && found.ptr.length > 0;
  if (!found || found.kind === 'refused') {
    counters.refused++;
    r.rcode = RCODE.REFUSED;
  } else if (found.kind === 'nxdomain') {
    counters.nxdomain++;
    r.rcode = RCODE.NXDOMAIN;
    r.aa = true;
    r.authority = soa();
  } else {
    r.aa = true;
    const rr = (type: number, rdata: Buffer): ResourceRecord => ({ name: null, type, ttl: DNS_TTL, rdata });
    const any = qtype === TYPE.ANY;
    if (qtype === TYPE.A || any) for (const ip of found.a) r.answers.push(rr(TYPE.A, aRdata(ip)));
    if (qtype === TYPE.AAAA || any)
      for (const ip of found.aaaa) {
        const b = v6Bytes(ip);
        if (b) r.answers.push(rr(TYPE.AAAA, aaaaRdata(b)));
      }
    if (qtype === TYPE.PTR || any) for (const n of found.ptr) r.answers.push(rr(TYPE.PTR, encodeName(n)));
    const apex = q.question.labels.join('.').toLowerCase() === table.suffix;
    if (apex && (qtype === TYPE.SOA || any)) r.answers.push(...soa().map((x) => ({ ...x, name: null })));
    if (r.answers.length === 0) {
      counters.nodata++;
      if (!reverse) r.authority = soa();
    } else counters.answered++;
  }
  const out = encodeResponse(r, max);
  if (out[2]! & 0x02) counters.truncated++;
  return out;
}

export interface DnsServerOptions {
  log?: Logger;
  maxTcpConnections?: number;
  tcpIdleMs?: number;
}

export class DnsServer {
  readonly counters = newCounters();
  private udp: UdpSocket | undefined;
  private tcp: Server | undefined;
  private readonly conns = new Set<Socket>();
  private bound: { address: string; port: number } | undefined;

  constructor(
    private readonly table: () => NameTable,
    private readonly opts: DnsServerOptions = {},
  ) {}

  /** "addr:port" while listening. */
  get listen(): string | null {
    if (!this.bound) return null;
    const a = this.bound.address;
    return `${isIPv6(a) ? `[${a}]` : a}:${this.bound.port}`;
  }

  get port(): number | undefined {
    return this.bound?.port;
  }

  /** Binds UDP, then TCP on the same port (port 0: whatever UDP got). Both or neither. */
  async start(address: string, port: number): Promise<void> {
    await this.stop();
    const udp = createSocket({ type: isIPv6(address) ? 'udp6' : 'udp4' });
    try {
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind({ address, port, exclusive: true }, () => {
          udp.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      udp.close();
      throw err;
    }
    const actual = udp.address().port;
    udp.on('error', (err) => this.opts.log?.warn('dns udp error', { error: err.message }));
    udp.on('message', (msg, rinfo) => {
      let out: Buffer | undefined;
      try {
        out = answerMessage(msg, this.table(), 'udp', this.counters);
      } catch (err) {
        // A bug must cost one answer, not the daemon.
        this.counters.dropped++;
        this.opts.log?.error('dns answer failed', { error: (err as Error).message });
      }
      if (out) udp.send(out, rinfo.port, rinfo.address);
    });
    const tcp = createServer((s) => this.onTcp(s));
    tcp.maxConnections = this.opts.maxTcpConnections ?? MAX_TCP_CONNECTIONS;
    tcp.on('drop', () => this.counters.tcpRejected++);
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen({ host: address, port: actual, exclusive: true }, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      udp.close();
      throw err;
    }
    tcp.on('error', (err) => this.opts.log?.warn('dns tcp error', { error: err.message }));
    this.udp = udp;
    this.tcp = tcp;
    this.bound = { address, port: actual };
  }

  private onTcp(s: Socket): void {
    this.counters.tcpConnections++;
    this.conns.add(s);
    s.setTimeout(this.opts.tcpIdleMs ?? TCP_IDLE_MS, () => s.destroy());
    s.on('close', () => this.conns.delete(s));
    s.on('error', () => undefined);
    let pending: Buffer = Buffer.alloc(0);
    s.on('data', (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      while (pending.length >= 2) {
        const len = pending.readUInt16BE(0);
        if (len === 0) {
          this.counters.dropped++;
          s.destroy();
          return;
        }
        if (pending.length < 2 + len) break;
        const msg = pending.subarray(2, 2 + len);
        pending = pending.subarray(2 + len);
        let out: Buffer | undefined;
        try {
          out = answerMessage(msg, this.table(), 'tcp', this.counters);
        } catch (err) {
          this.counters.dropped++;
          this.opts.log?.error('dns answer failed', { error: (err as Error).message });
        }
        if (!out) {
          // Garbage on a stream: nothing after it can be framed reliably.
          s.destroy();
          return;
        }
        const len2 = Buffer.alloc(2);
        len2.writeUInt16BE(out.length, 0);
        s.write(Buffer.concat([len2, out]));
        if (s.writableLength > MAX_TCP_QUEUED) {
          this.counters.dropped++;
          s.destroy();
          return;
        }
      }
      // A copy, so a large chunk's buffer is not kept alive by a small unparsed tail.
      pending = Buffer.from(pending);
    });
  }

  async stop(): Promise<void> {
    const { udp, tcp } = this;
    this.udp = undefined;
    this.tcp = undefined;
    this.bound = undefined;
    for (const s of this.conns) s.destroy();
    this.conns.clear();
    if (udp) await new Promise<void>((resolve) => udp.close(() => resolve()));
    if (tcp) await new Promise<void>((resolve) => tcp.close(() => resolve()));
  }
}
