// The tunnel wire format, shared by the helper (host) and the agent (VM).
//
// One UDP datagram carries one raw IP packet when its first nibble is 4 or 6; such datagrams have no
// header at all and never reach JavaScript. Every other datagram is a control message whose first byte is
// its type. The handshake proves that both ends hold the agent's secret: the per-install secret (key id all
// zeros), or the per-container secret derived from it for the key id the helper handed that container:
//
//   agent  -> helper  HELLO      v | agentNonce | keyId | cookie (zeros when it has none)
//   helper -> agent   COOKIE     v | agentNonce | cookie                    (only under load, see below)
//   helper -> agent   CHALLENGE  v | agentNonce | helperNonce | HMAC(secret, "challenge" | both nonces)
//   agent  -> helper  AUTH       v | agentNonce | helperNonce | HMAC(secret, "auth" | both nonces)
//   helper -> agent   WELCOME    (sealed)
//   helper -> agent   STALE      sessionId   (unsealed: "I hold no session with this id", see below)
//
// Under a HELLO flood the helper answers a HELLO without a valid cookie with a stateless COOKIE (a MAC of
// the sender's address and port under a rotating secret, as WireGuard does), no larger than the HELLO: only
// a sender that receives at its address can then go on, and per-source limits apply to real sources.
//
// After AUTH both ends derive a session id and one key per direction from the secret and the two nonces.
// Later control messages are "sealed": type | sessionId | counter | body | tag, where the tag is a truncated
// HMAC-SHA256 under the sender's direction key and the counter only ever grows (replays are rejected).
//
// Keepalives are sparse (every few seconds), so a restarted helper would only be noticed once the agent's
// keepalives had gone unanswered for its whole deadline. A helper that gets a sealed message for a session it
// does not hold answers STALE with that session id. Being unauthenticated, STALE proves nothing: the agent
// only shortens its wait for an authenticated answer to a keepalive it sends at once, so a forged STALE costs
// one keepalive. It is no larger than the message it answers. A helper that stops sends its agent one as it
// goes (TunnelServer.farewell), so an idle agent need not wait for its next keepalive to find out.
//
// Idle keepalives: an agent whose tunnel carried no data since its last keepalive doubles the interval, up to
// the longest its helper accepts (`keepaliveMaxMs` in the configuration), and says in each keepalive how long
// until the next (a 4-byte body, milliseconds; no body from older agents: the default 2 s). The helper forgets
// a peer silent for 2.5 such intervals. Data brings the interval back to 2 s at the next keepalive. Each
// keepalive wakes both processes (about five thread wake-ups a round trip), which is nearly all an idle
// tunnel costs; a NAT forgets a UDP flow after 30 s or more, far above the longest interval.
//
// Checksum offload across the tunnel (native/src/offload.h): a helper whose TUN has offloads says so in its
// configuration (`checksumOffload`), and from then on fills in the TCP checksums of what it writes to its
// TUN. An agent with offloads then does the same, leaves the checksums of what it sends out, and says so in
// its CONFIG_ACK (a flags byte after the sequence number, only in answer to such a configuration, so older
// helpers never see it); only then does the helper leave its own out. macOS's utun has no offloads, so a
// Mac's helper never offers it, and every checksum on that tunnel is complete, as before.
//
// Mixed versions: a helper and its agent need not be of one release (a newer helper keeps an older agent's
// container until it replaces it). The agent drops configuration fields it does not know
// (common/tunnel-config.ts) and checks the rest. So a new configuration field must be optional, and its absence
// must mean what older helpers did; a field an older agent may not ignore is offered and then confirmed in the
// agent's answer, as `checksumOffload` is by the CONFIG_ACK flag. A CONFIG_ACK and a keepalive are binary:
// their decoders ignore unknown flag bits and any bytes after the ones they know (helpers since f13a052; older
// ones drop a CONFIG_ACK longer than 5 bytes and a keepalive body other than 4).
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** 2: HELLO carries a key id and a cookie; COOKIE replies. */
export const PROTOCOL_VERSION = 2;
export const NONCE_LEN = 16;
export const MAC_LEN = 32;
export const TAG_LEN = 16;
export const SESSION_ID_LEN = 8;
export const KEY_ID_LEN = 16;
export const COOKIE_LEN = 16;
/** The key id of the per-install secret itself (an agent run by hand with --secret-file <state-dir>/secret). */
export const INSTALL_KEY_ID: Buffer = Buffer.alloc(KEY_ID_LEN);
const NO_COOKIE = Buffer.alloc(COOKIE_LEN);
/** The agent's keepalive interval while its tunnel carries data, and its first after a handshake. */
export const KEEPALIVE_MS = 2_000;
/** The longest interval a helper accepts from an idle agent (its `keepaliveMaxMs`). */
export const KEEPALIVE_IDLE_MAX_MS = 10_000;
/** How long the helper keeps a silent peer that announced no interval (2.5 of the default 2 s). */
export const PEER_TIMEOUT_MS = 5_000;
/** How long the helper keeps a silent peer: 2.5 announced intervals, and never less than its minimum. */
export function peerForgetsAfterMs(intervalMs: number, minMs = PEER_TIMEOUT_MS): number {
  return Math.max(minMs, Math.ceil(intervalMs * 2.5));
}
/** Smallest secret we accept: 256 bits. */
export const SECRET_LEN = 32;

export enum MsgType {
  Hello = 0x01,
  Challenge = 0x02,
  Auth = 0x03,
  Welcome = 0x04,
  Keepalive = 0x05,
  KeepaliveAck = 0x06,
  Config = 0x07,
  ConfigAck = 0x08,
  Cookie = 0x09,
  Stale = 0x0a,
}

/** True for datagrams the pump treats as data (raw IPv4/IPv6). */
export function isDataPacket(buf: Uint8Array): boolean {
  const v = (buf[0] ?? 0) >> 4;
  return v === 4 || v === 6;
}

export function newNonce(): Buffer {
  return randomBytes(NONCE_LEN);
}

function hmac(key: Buffer, ...parts: (Buffer | string)[]): Buffer {
  const h = createHmac('sha256', key);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** Constant-time compare that tolerates different lengths. */
export function macEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

// ---- handshake -------------------------------------------------------------------------------------------

export interface Hello {
  type: MsgType.Hello;
  version: number;
  agentNonce: Buffer;
  keyId: Buffer;
  /** All zeros when the agent holds no cookie. */
  cookie: Buffer;
}

export interface CookieReply {
  type: MsgType.Cookie;
  version: number;
  agentNonce: Buffer;
  cookie: Buffer;
}

export interface ChallengeOrAuth {
  type: MsgType.Challenge | MsgType.Auth;
  version: number;
  agentNonce: Buffer;
  helperNonce: Buffer;
  mac: Buffer;
}

export function encodeHello(
  agentNonce: Buffer,
  keyId: Buffer = INSTALL_KEY_ID,
  cookie: Buffer = NO_COOKIE,
): Buffer {
  return Buffer.concat([Buffer.from([MsgType.Hello, PROTOCOL_VERSION]), agentNonce, keyId, cookie]);
}

export function hasCookie(h: Hello): boolean {
  return !h.cookie.equals(NO_COOKIE);
}

export function encodeCookieReply(agentNonce: Buffer, cookie: Buffer): Buffer {
  return Buffer.concat([Buffer.from([MsgType.Cookie, PROTOCOL_VERSION]), agentNonce, cookie]);
}

/** The cookie for a sender: a MAC of its address and port under the helper's current cookie secret. */
export function cookieFor(cookieSecret: Buffer, address: string, port: number): Buffer {
  return hmac(cookieSecret, 'gangway v2 cookie', `${address}|${port}`).subarray(0, COOKIE_LEN);
}

/** A per-container secret: derived from the per-install secret and the container's key id. */
export function deriveAgentSecret(installSecret: Buffer, keyId: Buffer): Buffer {
  return hmac(installSecret, 'gangway v2 agent key', keyId);
}

export function handshakeMac(
  secret: Buffer,
  type: MsgType.Challenge | MsgType.Auth,
  agentNonce: Buffer,
  helperNonce: Buffer,
) {
  const label = type === MsgType.Challenge ? 'gangway v1 challenge' : 'gangway v1 auth';
  return hmac(secret, label, agentNonce, helperNonce);
}

export function encodeChallengeOrAuth(
  secret: Buffer,
  type: MsgType.Challenge | MsgType.Auth,
  agentNonce: Buffer,
  helperNonce: Buffer,
): Buffer {
  return Buffer.concat([
    Buffer.from([type, PROTOCOL_VERSION]),
    agentNonce,
    helperNonce,
    handshakeMac(secret, type, agentNonce, helperNonce),
  ]);
}

// ---- session keys and sealed messages --------------------------------------------------------------------

export interface SessionKeys {
  id: Buffer;
  /** Key for messages the helper sends to the agent. */
  helperToAgent: Buffer;
  agentToHelper: Buffer;
}

export function deriveSessionKeys(secret: Buffer, agentNonce: Buffer, helperNonce: Buffer): SessionKeys {
  return {
    id: hmac(secret, 'gangway v1 session id', agentNonce, helperNonce).subarray(0, SESSION_ID_LEN),
    helperToAgent: hmac(secret, 'gangway v1 helper to agent', agentNonce, helperNonce),
    agentToHelper: hmac(secret, 'gangway v1 agent to helper', agentNonce, helperNonce),
  };
}

const SEALED_TYPES = new Set<number>([
  MsgType.Welcome,
  MsgType.Keepalive,
  MsgType.KeepaliveAck,
  MsgType.Config,
  MsgType.ConfigAck,
]);

export type SealedType =
  MsgType.Welcome | MsgType.Keepalive | MsgType.KeepaliveAck | MsgType.Config | MsgType.ConfigAck;

export interface Sealed {
  type: SealedType;
  sessionId: Buffer;
  counter: bigint;
  body: Buffer;
}

const SEALED_HEADER = 1 + SESSION_ID_LEN + 8;

export function seal(
  key: Buffer,
  type: SealedType,
  sessionId: Buffer,
  counter: bigint,
  body: Buffer = Buffer.alloc(0),
) {
  const head = Buffer.alloc(SEALED_HEADER);
  head[0] = type;
  sessionId.copy(head, 1);
  head.writeBigUInt64BE(counter, 1 + SESSION_ID_LEN);
  const tag = hmac(key, head, body).subarray(0, TAG_LEN);
  return Buffer.concat([head, body, tag]);
}

/** Checks the tag; returns undefined when it does not match (the caller counts that). */
export function unseal(key: Buffer, msg: Sealed, raw: Buffer): Sealed | undefined {
  const tag = raw.subarray(raw.length - TAG_LEN);
  const expect = hmac(key, raw.subarray(0, raw.length - TAG_LEN)).subarray(0, TAG_LEN);
  return macEqual(tag, expect) ? msg : undefined;
}

/** Why a sealed message was refused; the names are the counters both ends keep. */
export type SealedRejection = 'sealedUnknownSession' | 'sealedBadTag' | 'sealedReplay';

/**
 * The receiving side's checks on a sealed message, in order: it belongs to our session, its tag is right
 * under the sender's direction key, and its counter is newer than the last one accepted.
 */
export function checkSealed(
  keys: SessionKeys | undefined,
  from: 'helperToAgent' | 'agentToHelper',
  msg: Sealed,
  raw: Buffer,
  lastCounter: bigint,
): SealedRejection | undefined {
  if (!keys || !keys.id.equals(msg.sessionId)) return 'sealedUnknownSession';
  if (!unseal(keys[from], msg, raw)) return 'sealedBadTag';
  if (msg.counter <= lastCounter) return 'sealedReplay';
  return undefined;
}

// ---- parsing ---------------------------------------------------------------------------------------------

export interface StaleHint {
  type: MsgType.Stale;
  sessionId: Buffer;
}

export function encodeStale(sessionId: Buffer): Buffer {
  return Buffer.concat([Buffer.from([MsgType.Stale]), sessionId]);
}

export type ParseError = 'empty' | 'data' | 'unknown-type' | 'bad-length' | 'bad-version';

export type Parsed = Hello | CookieReply | ChallengeOrAuth | Sealed | StaleHint;

/**
 * Parses a control datagram's framing. Authenticity is NOT checked here: handshake MACs and sealed tags are
 * verified by the state machines, which know the keys.
 */
export function parseControl(buf: Buffer): Parsed | ParseError {
  if (buf.length === 0) return 'empty';
  if (isDataPacket(buf)) return 'data';
  const type = buf[0] as MsgType;
  if (type === MsgType.Hello) {
    if (buf.length >= 2 && buf[1] !== PROTOCOL_VERSION) return 'bad-version';
    if (buf.length !== 2 + NONCE_LEN + KEY_ID_LEN + COOKIE_LEN) return 'bad-length';
    const k = 2 + NONCE_LEN;
    return {
      type: MsgType.Hello,
      version: PROTOCOL_VERSION,
      agentNonce: Buffer.from(buf.subarray(2, k)),
      keyId: Buffer.from(buf.subarray(k, k + KEY_ID_LEN)),
      cookie: Buffer.from(buf.subarray(k + KEY_ID_LEN)),
    };
  }
  if (type === MsgType.Cookie) {
    if (buf.length !== 2 + NONCE_LEN + COOKIE_LEN) return 'bad-length';
    if (buf[1] !== PROTOCOL_VERSION) return 'bad-version';
    return {
      type: MsgType.Cookie,
      version: PROTOCOL_VERSION,
      agentNonce: Buffer.from(buf.subarray(2, 2 + NONCE_LEN)),
      cookie: Buffer.from(buf.subarray(2 + NONCE_LEN)),
    };
  }
  if (type === MsgType.Challenge || type === MsgType.Auth) {
    if (buf.length !== 2 + 2 * NONCE_LEN + MAC_LEN) return 'bad-length';
    if (buf[1] !== PROTOCOL_VERSION) return 'bad-version';
    return {
      type,
      version: buf[1],
      agentNonce: Buffer.from(buf.subarray(2, 2 + NONCE_LEN)),
      helperNonce: Buffer.from(buf.subarray(2 + NONCE_LEN, 2 + 2 * NONCE_LEN)),
      mac: Buffer.from(buf.subarray(2 + 2 * NONCE_LEN)),
    };
  }
  if (type === MsgType.Stale) {
    if (buf.length !== 1 + SESSION_ID_LEN) return 'bad-length';
    return { type, sessionId: Buffer.from(buf.subarray(1)) };
  }
  if (SEALED_TYPES.has(type)) {
    if (buf.length < SEALED_HEADER + TAG_LEN) return 'bad-length';
    return {
      type,
      sessionId: Buffer.from(buf.subarray(1, 1 + SESSION_ID_LEN)),
      counter: buf.readBigUInt64BE(1 + SESSION_ID_LEN),
      body: Buffer.from(buf.subarray(SEALED_HEADER, buf.length - TAG_LEN)),
    };
  }
  return 'unknown-type';
}

// ---- message bodies --------------------------------------------------------------------------------------

/** What the helper tells the agent after the handshake (sent reliably as a Config message). */
export interface TunnelConfig {
  /** Monotonic per session; the agent acknowledges each one. */
  seq: number;
  mtu: number;
  /** The host's address inside the tunnel, e.g. 10.57.0.1. */
  hostAddress: string;
  /** The agent's address inside the tunnel, e.g. 10.57.0.2. */
  agentAddress: string;
  /**
   * The tunnel ends' IPv6 addresses (from the ULA `tunnelSubnet6`, e.g. fd57:6177::1 and fd57:6177::2). Both
   * present or both absent: absent means IPv6 is off (an old helper, or an inner MTU below 1280).
   */
  hostAddress6?: string;
  agentAddress6?: string;
  /** Subnets the host routes into the tunnel (informational for the agent in this version). */
  routes: string[];
  /** Pairs of the VM's bridge interfaces (e.g. br-0123456789ab, docker0) whose containers may reach each other. */
  joins: [string, string][];
  /**
   * The helper fills in TCP checksums (its TUN has offloads): the agent may leave them out, and says in its
   * CONFIG_ACK whether it fills in the helper's. Absent: every checksum complete (a Mac, an older helper).
   */
  checksumOffload?: boolean;
  /** The longest keepalive interval the helper accepts from an idle agent. Absent: every 2 s (an older helper). */
  keepaliveMaxMs?: number;
}

export function encodeConfigBody(cfg: TunnelConfig): Buffer {
  return Buffer.from(JSON.stringify(cfg), 'utf8');
}

/** CONFIG_ACK flags (the optional fifth byte). */
export const ACK_FILLS_CHECKSUMS = 0x01;

export interface AckBody {
  seq: number;
  /** The agent fills in TCP checksums: the helper may leave them out (ACK_FILLS_CHECKSUMS). */
  fillsChecksums: boolean;
}

/** flags: only in answer to a configuration that offered checksum offload (older helpers want 4 bytes). */
export function encodeAckBody(seq: number, flags?: number): Buffer {
  const b = Buffer.alloc(flags === undefined ? 4 : 5);
  b.writeUInt32BE(seq >>> 0);
  if (flags !== undefined) b[4] = flags;
  return b;
}

/** A keepalive's body: milliseconds until the agent's next keepalive. */
export function encodeKeepaliveBody(intervalMs: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(Math.max(0, Math.min(0xffffffff, Math.round(intervalMs))));
  return b;
}

/** undefined for an empty body (an older agent: the default interval); NaN for a malformed one (1-3
 *  bytes). Bytes after the fourth are a later version's (the body is authenticated), and ignored. */
export function decodeKeepaliveBody(body: Buffer): number | undefined {
  if (body.length === 0) return undefined;
  return body.length >= 4 ? body.readUInt32BE(0) : NaN;
}

/** undefined for fewer than 4 bytes. Bytes after the flags are a later version's, and ignored, so that an
 *  agent of a newer release can say more without an older helper dropping its acknowledgement. */
export function decodeAckBody(body: Buffer): AckBody | undefined {
  if (body.length < 4) return undefined;
  return { seq: body.readUInt32BE(0), fillsChecksums: ((body[4] ?? 0) & ACK_FILLS_CHECKSUMS) !== 0 };
}
