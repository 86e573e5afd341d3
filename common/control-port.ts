// The part of the native pump that the tunnel state machines use. Kept as an interface so the state machines
// are tested with a small fake, and run for real over the addon's UDP socket.
export interface Endpoint {
  address: string;
  port: number;
}

export interface ControlPort {
  /** Sends one control datagram. */
  send(data: Buffer, address: string, port: number): void;
  /** Pins the data peer: packets go only to it and are accepted only from it. */
  setPeer(address: string, port: number): void;
  clearPeer(): void;
  /**
   * Checksum offload across the tunnel (common/wire.ts): leave, TCP checksums go out uncomputed; fill, TCP
   * packets received are written with the checksum for the kernel to fill in. Both need TUN offloads.
   */
  setChecksumOffload(mode: { leave: boolean; fill: boolean }): void;
}

export function sameEndpoint(a: Endpoint | undefined, b: Endpoint | undefined): boolean {
  return !!a && !!b && a.address === b.address && a.port === b.port;
}

export function formatEndpoint(e: Endpoint): string {
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}
