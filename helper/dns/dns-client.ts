// A one-question UDP client for our own server: the doctor's end-to-end check, and the tests.
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { decodeResponse, encodeQuery, type DecodedResponse } from './dns-message';

export function queryUdp(
  address: string,
  port: number,
  name: string,
  qtype: number,
  timeoutMs = 1_000,
): Promise<DecodedResponse> {
  return new Promise((resolve, reject) => {
    const sock = createSocket(isIPv6(address) ? 'udp6' : 'udp4');
    const id = Math.floor(Math.random() * 0x10000);
    const done = (err: Error | undefined, r?: DecodedResponse) => {
      clearTimeout(timer);
      sock.close();
      if (err) reject(err);
      else resolve(r!);
    };
    const timer = setTimeout(
      () => done(new Error(`no answer from ${address}:${port} in ${timeoutMs} ms`)),
      timeoutMs,
    );
    sock.on('error', (err) => done(err));
    sock.on('message', (msg) => {
      try {
        const r = decodeResponse(msg);
        if (r.id === id) done(undefined, r);
      } catch (err) {
        done(err as Error);
      }
    });
    sock.send(encodeQuery(id, name, qtype), port, address);
  });
}
