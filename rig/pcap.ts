// Reads UDP payloads out of a classic pcap file written by `tcpdump -w` on an Ethernet-like link (veth),
// so tests can replay what a real peer sent.
import { readFileSync } from 'node:fs';

export interface UdpDatagram {
  dstPort: number;
  srcPort: number;
  payload: Buffer;
}

export function readUdpPayloads(file: string): UdpDatagram[] {
  const buf = readFileSync(file);
  if (buf.length < 24) return [];
  const magic = buf.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const linkType = u32(20);
  const out: UdpDatagram[] = [];
  for (let off = 24; off + 16 <= buf.length;) {
    const capLen = u32(off + 8);
    const pkt = buf.subarray(off + 16, off + 16 + capLen);
    off += 16 + capLen;
    // DLT_EN10MB (1): 14-byte Ethernet header; DLT_LINUX_SLL (113): 16 bytes; DLT_RAW (101): none.
    const l2 = linkType === 1 ? 14 : linkType === 113 ? 16 : 0;
    const ip = pkt.subarray(l2);
    if (ip.length < 28 || ip[0] === undefined || ip[0] >> 4 !== 4 || ip[9] !== 17) continue;
    const ihl = (ip[0] & 0x0f) * 4;
    const udp = ip.subarray(ihl);
    if (udp.length < 8) continue;
    out.push({
      srcPort: udp.readUInt16BE(0),
      dstPort: udp.readUInt16BE(2),
      payload: Buffer.from(udp.subarray(8, udp.readUInt16BE(4))),
    });
  }
  return out;
}

/** The number of packets in a pcap file (any link type). */
export function countPackets(file: string): number {
  const buf = readFileSync(file);
  if (buf.length < 24) return 0;
  const le = buf.readUInt32LE(0) === 0xa1b2c3d4 || buf.readUInt32LE(0) === 0xa1b23c4d;
  let n = 0;
  for (let off = 24; off + 16 <= buf.length; n++)
    off += 16 + (le ? buf.readUInt32LE(off + 8) : buf.readUInt32BE(off + 8));
  return n;
}
