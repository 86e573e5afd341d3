// Typed face of the C addon (native/src). Packets never cross into JavaScript: the addon's threads move
// them between the TUN device and the UDP socket. JavaScript opens things, pins the peer, exchanges control
// datagrams and reads counters.
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { ChecksumOffload } from '../common/control-port';

/** An open TUN device. The fd belongs to the caller until handed to a pump, which then owns it. */
export interface TunHandle {
  fd: number;
  /** The kernel's name for the device (e.g. `gw0`, or `utun5` on macOS). */
  name: string;
  /** True when the device was opened with IFF_VNET_HDR and TSO/USO offloads (Linux only). */
  offload: boolean;
  /**
   * Every packet on the device carries a 4-byte header and a pump over it moves one packet per syscall:
   * always on macOS (utun), on Linux only when opened with `macLike` (the bench's mac-like path).
   */
  macLike?: boolean;
  /** True when the device is multi-queue (Linux IFF_MULTI_QUEUE), so a pump may run several queues on it. */
  multiQueue?: boolean;
}

export interface OpenTunOptions {
  /** Ask for TUN offloads (Linux: IFF_VNET_HDR + TUNSETOFFLOAD). Falls back silently when refused. */
  offload?: boolean;
  /**
   * Linux, bench only: frame packets as macOS utun does (a 4-byte header, here the kernel's packet
   * information; no offloads), so that the pump created on this device pays per packet what a Mac pays: one
   * TUN read or write and one recvmsg or sendmsg per packet, no recvmmsg/sendmmsg, no UDP GSO/GRO.
   * Excludes `offload`.
   */
  macLike?: boolean;
  /** Linux: open the device with IFF_MULTI_QUEUE (needed for `queues` > 1). Ignored on macOS (utun). */
  multiQueue?: boolean;
}

/** Most queues a pump may run (native/src/pump.h PUMP_QUEUES_MAX). */
export const PUMP_QUEUES_MAX = 8;

export interface PumpOptions {
  /** Owned by the pump once createPump returns; when createPump throws, the caller still owns the fd. */
  tun: TunHandle;
  /** Local UDP address to bind ("127.0.0.1", "0.0.0.0", "::1", ...). */
  bindAddress: string;
  /** Local UDP port to bind; 0 picks one. */
  bindPort: number;
  /** Inner MTU: the largest IP packet carried in one datagram. */
  mtu: number;
  /** Called on the JS thread for every datagram whose first nibble is not 4 or 6. */
  onControl: (data: Buffer, address: string, port: number) => void;
  /** Socket buffer sizes in bytes; defaults chosen by the addon (Linux: 8 MiB receive, 1 MiB send). */
  rcvbuf?: number;
  sndbuf?: number;
  /**
   * Linux: batch the UDP side with UDP segmentation offload (UDP_SEGMENT) and UDP GRO, whatever the TUN
   * mode. Default true; the pump falls back to one datagram per send by itself if the kernel refuses.
   */
  udpOffload?: boolean;
  /**
   * Queues (1 to PUMP_QUEUES_MAX, default 1), each a TUN queue and a UDP socket on the same port
   * (SO_REUSEPORT) with its own two threads. The kernel keeps a flow on one queue at both ends, so flows
   * spread over the CPUs without reordering. More than 1 needs a TUN opened with `multiQueue` (Linux).
   */
  queues?: number;
}

/** Counters since the pump was created. Monotonic; read them as often as you like. */
export interface PumpStats {
  /** Packets (and bytes) read from the TUN and sent as datagrams to the peer. */
  tunRxPackets: number;
  tunRxBytes: number;
  udpTxPackets: number;
  udpTxBytes: number;
  /** Datagrams received from the pinned peer and written to the TUN. */
  udpRxPackets: number;
  udpRxBytes: number;
  tunTxPackets: number;
  tunTxBytes: number;
  /** Control datagrams handed up to / sent down from JavaScript. */
  controlRx: number;
  controlTx: number;
  /** Drops, by reason. */
  dropNoPeer: number; // TUN packet while no peer is pinned
  dropNotPeer: number; // data datagram from an address other than the pinned peer
  dropMalformed: number; // data datagram with a bad IP header (too short, length mismatch)
  dropOversize: number; // packet larger than the MTU
  dropTunWrite: number; // write to the TUN failed
  dropUdpSend: number; // sendmmsg failed
  /** Times the kernel refused a UDP GSO send (EIO/EINVAL): the pump then sends one datagram per packet. */
  udpGsoFallback?: number;
  dropControlQueue: number; // control datagram dropped because JavaScript was not keeping up
  dropSpoofed: number; // data from the peer whose inner source is outside setAllowedSources' prefixes
  dropControlRate: number; // control datagram over its source's budget (50/s, burst 100; not the pinned peer)
  /**
   * With TUN offloads, tunRx/tunTx count TUN reads/writes, and one of them may be a 64 KB super-packet:
   * these count the super-packets read (split into several datagrams) and written (coalesced from several).
   */
  tunRxGsoPackets?: number;
  tunTxGroPackets?: number;
  /**
   * Datagrams the kernel dropped because the UDP socket's receive queue was full (Linux: SO_RXQ_OVFL; it
   * moves with the next datagram received after the drop). Always 0 on macOS.
   */
  udpRxOverflow?: number;
  /**
   * Bulk data (over 256 bytes) dropped on the way in by the pump's CoDel because it had waited too long since
   * the kernel received it (native/src/aqm.h): TCP slows down instead of the queue growing until the kernel
   * drops pings too. With offloads the receive queue is a FIFO (above 1 ms for 10 ms or more); without them
   * (macOS, --no-offload) the UDP -> TUN thread's flow queues (above 5 ms for 100 ms, per flow). Where the
   * kernel stamps received datagrams: Linux (SO_TIMESTAMPNS) and macOS (SO_TIMESTAMP).
   */
  dropQueueDelay?: number;
  /**
   * The same on the way out: bulk packets read from the TUN that waited in the TUN -> UDP thread's flow
   * queues (native/src/fq.h, FQ-CoDel) above 5 ms for 100 ms or more. Every platform.
   */
  dropFqDelay?: number;
  /**
   * Packets either pump thread dropped to make room when all its flow-queue slots were taken: the oldest
   * packet of the flow with the most bytes queued (native/src/fq.h). Without offloads only (macOS, the
   * mac-like path, --no-offload): with them the TUN -> UDP thread stops reading instead and the kernel's queue
   * holds the rest, and the UDP -> TUN thread has no flow queues.
   */
  dropFqFull?: number;
  /**
   * Packets the kernel dropped because the TUN's queue towards the pump was full (Linux: the device's
   * tx_dropped, read when stats() is called, counted since the device was created). Always 0 on macOS.
   */
  dropTunQueue?: number;
  /**
   * Datagrams (of udpTxPackets) sent on the pump's second socket, connected to the pinned peer, without an
   * address: the kernel keeps their route and source address instead of looking them up for each. Only a
   * per-packet pump (macOS; the bench's mac-like mode) bound to a specific address has that socket
   * (native/src/udp_peer.c); elsewhere 0.
   */
  udpTxConnected?: number;
  /**
   * Checksum offload across the tunnel (`Pump.setChecksumOffload`; TUN offloads only). udpTxCsumLeft: TCP
   * packets read from the TUN that went to the peer without their checksum computed (leave). tunTxCsumFilled:
   * TCP packets from the peer written to the TUN as CHECKSUM_PARTIAL with our own seed (fill). dropBadCsum: with
   * leave, a TCP packet with a complete checksum nobody had checked (a forwarded one) that was wrong.
   */
  udpTxCsumLeft?: number;
  tunTxCsumFilled?: number;
  dropBadCsum?: number;
  /**
   * Rounds after which a pump thread rested (100 µs; GANGWAY_LINGER_US) instead of waiting on its fds to be
   * woken: rounds that moved 16 KB or more of data and left nothing to do (native/src/pump.c, pump_linger).
   * Bulk traffic only (pings, ACKs and keepalives never cause one), and only with TUN offloads: always 0 on
   * macOS and without offloads.
   */
  lingers?: number;
  /**
   * IPv6 router solicitations read from the TUN and not sent: the kernel sends them on every IPv6 link without
   * forwarding (at doubling intervals up to an hour), no router across the tunnel answers, and each would wake
   * both ends (native/src/ip.h).
   */
  dropRouterSolicit?: number;
}

export interface Pump {
  /** The bound UDP port (useful with bindPort 0). */
  localPort(): number;
  /** Pin the peer: data goes only to it, and data is accepted only from it. */
  setPeer(address: string, port: number): void;
  clearPeer(): void;
  /**
   * Anti-spoofing: data from the peer is written to the TUN only when its inner source address lies in one
   * of these prefixes ("10.57.0.2/32", "172.18.0.0/16", "fd00::/64"; host bits zero; at most 256 per
   * family), else dropped as dropSpoofed. null (the default) lets every source through.
   */
  setAllowedSources(prefixes: readonly string[] | null): void;
  /** Throws without TUN offloads (unless both are false). Takes effect with the threads' next batch. */
  setChecksumOffload(mode: ChecksumOffload): void;
  /** Send one control datagram (first nibble must not be 4 or 6) to any address. */
  send(data: Buffer, address: string, port: number): void;
  stats(): PumpStats;
  /** The same counters per queue (stats() is their sum); control datagrams are all queue 0's. */
  queueStats(): PumpStats[];
  /** `udpGsoFallback` summed over the queues, without building the counters objects (cheap enough to poll). */
  udpGsoFallbacks(): number;
  /** Data packets sent to the peer and written to the TUN, summed over the queues: grows whenever data crosses
   *  the tunnel (control datagrams and dropped packets do not count). As cheap as udpGsoFallbacks(). */
  dataPackets(): number;
  /** Stops the threads, closes the UDP socket and the TUN fd. Idempotent. */
  close(): void;
}

/**
 * A one-shot timer with its own libuv handle (native/src/js_timer.c). Unlike setTimeout, moving it later with
 * start() moves the process's wake-up too: clearTimeout leaves Node's shared timer armed for the old time, an
 * empty wake-up (one per keepalive in the daemon and the agent before this). Armed, it keeps the process alive
 * and fires even if nothing else references it; stopped or fired, it does neither.
 */
export interface NativeTimer {
  /** (Re-)arms the timer to call the callback once, `ms` (0..2^31-1) from now. */
  start(ms: number): void;
  stop(): void;
}

/**
 * What a RulesetWatch tells its callback: `changes` notifications read, `overflowed` when the kernel dropped
 * some (changes happened that were not described: look anyway), `error` when reading failed, after which the
 * watch is closed.
 */
export type RulesetWatchCallback = (changes: number, overflowed: boolean, error?: string) => void;

/**
 * Calls back when the network namespace's nf_tables ruleset changed (native/src/js_ruleset_watch.c): what
 * iptables-nft, nft, firewalld and Docker's nftables backend write; the legacy x_tables backend announces
 * nothing. Linux only, and needs CAP_NET_ADMIN: the constructor throws otherwise ("socket(AF_NETLINK,
 * NETLINK_NETFILTER): …", also under qemu-user, which passes no netfilter netlink through). It never keeps the
 * process alive, and a collected watch stops.
 */
export interface RulesetWatch {
  /** Stops it; the callback is not called after. Idempotent. */
  close(): void;
}

export interface NativeAddon {
  openTun(name: string, options?: OpenTunOptions): TunHandle;
  createPump(options: PumpOptions): Pump;
  Timer: new (callback: () => void) => NativeTimer;
  RulesetWatch: new (callback: RulesetWatchCallback) => RulesetWatch;
}

let loaded: NativeAddon | undefined;

/** Loads the compiled addon; throws with the build command when it is missing. */
export function native(): NativeAddon {
  if (loaded) return loaded;
  // A bundle (dist/bundle/gangway.js, the agent's gangway-agent.js) carries the addon beside itself.
  // Otherwise dist/native/index.js and native/index.ts both sit one level below the package root.
  const beside = path.join(__dirname, 'gangway_native.node');
  const root = path.resolve(__dirname, __dirname.includes(`${path.sep}dist${path.sep}`) ? '../..' : '..');
  const file = existsSync(beside)
    ? beside
    : path.join(root, 'native', 'build', 'Release', 'gangway_native.node');
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = require(file) as NativeAddon;
  } catch (err) {
    throw new Error(
      `cannot load the native addon at ${file}: ${(err as Error).message}. Run: npm run build:native`,
    );
  }
  return loaded;
}
