// The part of the native pump that the tunnel state machines use. Kept as an interface so the state machines
// are tested with a small fake, and run for real over the addon's UDP socket.
export interface Endpoint {
  address: string;
  port: number;
}

/**
 * Checksum offload across the tunnel, which the two ends agree on over the control channel (both need a TUN
 * with offloads; native/src/offload.h, common/wire.ts). As virtio-net does between a guest and its host, TCP
 * checksums are then computed by no one on the way: the kernels trust CHECKSUM_PARTIAL packets they deliver
 * locally and compute the checksum only for a packet they forward. The UDP checksum covers each datagram in
 * transit.
 */
export interface ChecksumOffload {
  /** TCP packets go out without their checksum computed: the peer said it fills them in. */
  leave: boolean;
  /** TCP packets received are written as CHECKSUM_PARTIAL with our own seed, whatever their field holds. */
  fill: boolean;
}

export interface ControlPort {
  /** Sends one control datagram. */
  send(data: Buffer, address: string, port: number): void;
  /** Pins the data peer: packets go only to it and are accepted only from it. */
  setPeer(address: string, port: number): void;
  clearPeer(): void;
  setChecksumOffload(mode: ChecksumOffload): void;
}

export function sameEndpoint(a: Endpoint | undefined, b: Endpoint | undefined): boolean {
  return !!a && !!b && a.address === b.address && a.port === b.port;
}

export function formatEndpoint(e: Endpoint): string {
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}
