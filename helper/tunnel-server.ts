// The helper's side of the tunnel handshake and control channel (see common/wire.ts for the messages).
//
// Only a peer that proved knowledge of its secret (the per-install one, or its container's) is pinned in the
// pump; until then, and for any other source, data is dropped by the pump and control messages are counted
// and ignored here. Who gets an answer to a HELLO at all is HelloGuard's call (hello-guard.ts).
import { EventEmitter } from 'node:events';
import { HelloGuard, type HelloGuardOptions } from './hello-guard';
import { Bucket } from './rate-bucket';
import { Counters } from '../common/counters';
import { type ControlPort, type Endpoint, sameEndpoint } from '../common/control-port';
import {
  MsgType,
  INSTALL_KEY_ID,
  type ChallengeOrAuth,
  type Hello,
  type Sealed,
  type SessionKeys,
  type TunnelConfig,
  deriveSessionKeys,
  encodeAckBody,
  decodeAckBody,
  encodeChallengeOrAuth,
  encodeConfigBody,
  handshakeMac,
  macEqual,
  newNonce,
  parseControl,
  seal,
  checkSealed,
  encodeCookieReply,
  encodeStale,
  decodeKeepaliveBody,
  KEEPALIVE_IDLE_MAX_MS,
  PEER_TIMEOUT_MS,
  peerForgetsAfterMs,
} from '../common/wire';

export const SERVER_COUNTERS = [
  'controlMalformed',
  'controlSendFailed',
  'handshakeOk',
  'handshakeBadMac',
  'handshakeUnknownNonce',
  'handshakeWrongSource',
  'handshakeRateLimited',
  'handshakeUnknownKey',
  'handshakeCookieSent',
  'handshakeCookieRateLimited',
  'sealedUnknownSession',
  'sealedBadTag',
  'sealedReplay',
  'sealedUnexpected',
  'configRetransmits',
  'peerRoamed',
  'peerForgotten',
  'staleSent',
  'staleRateLimited',
  'keepaliveBadInterval',
] as const;
export type ServerCounter = (typeof SERVER_COUNTERS)[number];

export type TunnelState = 'waiting' | 'connected';

export interface TunnelServerOptions extends HelloGuardOptions {
  /** The configuration pushed to the agent (seq, checksumOffload and keepaliveMaxMs are added here). */
  config: () => Omit<TunnelConfig, 'seq' | 'checksumOffload' | 'keepaliveMaxMs'>;
  /** The pump's TUN has offloads: offer the agent checksum offload across the tunnel (common/wire.ts). */
  checksumOffload?: boolean;
  /** A session with no authenticated message for this long is forgotten: for an agent that announces no
   *  keepalive interval, and the least for one that does (2.5 intervals, common/wire.ts). */
  peerTimeoutMs?: number;
  /** The longest keepalive interval an idle agent may announce (sent in the configuration). */
  keepaliveMaxMs?: number;
  /** How long a challenge may be answered. */
  challengeTtlMs?: number;
  now?: () => number;
}

/**
 * The secret for a HELLO's key id: the per-install secret for INSTALL_KEY_ID, the current agent container's
 * for its key id, nothing for a revoked or unknown one.
 */
export type AgentSecretLookup = (keyId: Buffer) => Buffer | undefined;

interface Pending {
  agentNonce: Buffer;
  secret: Buffer;
  from: Endpoint;
  expires: number;
}

interface Session {
  keys: SessionKeys;
  secret: Buffer;
  agentNonce: Buffer;
  helperNonce: Buffer;
  peer: Endpoint;
  establishedAt: number;
  lastHeard: number;
  /** The interval the agent's last keepalive announced (undefined: none, the default); how long the session
   *  may stay silent follows from it (forgetAfterMs). */
  keepaliveMs: number | undefined;
  rxCounter: bigint;
  txCounter: bigint;
  config?: { seq: number; frame: Buffer; acked: boolean; nextSend: number; attempts: number };
}

const MAX_PENDING = 64;
/** STALE answers a second, all sources together: enough for any real agent, nothing worth reflecting. */
const STALE_PER_SECOND = 20;

export interface TunnelServerEvents {
  connected: [peer: Endpoint];
  /** The session's authenticated traffic now comes from this address (a proxy re-mapped the flow). */
  roamed: [peer: Endpoint];
  disconnected: [];
  /** The session ended because the agent's keepalives stopped (after 'disconnected'). */
  silent: [];
  configAcked: [seq: number];
}

export class TunnelServer extends EventEmitter<TunnelServerEvents> {
  readonly counters = new Counters<ServerCounter>(SERVER_COUNTERS);
  private readonly pending = new Map<string, Pending>();
  private session: Session | undefined;
  /** Why the last session ended, while no new one has started (shown by status). */
  private lost: string | undefined;
  private configSeq = 0;
  private lastState: TunnelState = 'waiting';
  private readonly guard: HelloGuard;
  private readonly now: () => number;
  private readonly peerTimeoutMs: number;
  private readonly keepaliveMaxMs: number;
  private readonly challengeTtlMs: number;
  private readonly secretFor: AgentSecretLookup;
  private readonly staleBudget: Bucket;

  constructor(
    private readonly port: ControlPort,
    secret: Buffer | AgentSecretLookup,
    private readonly opts: TunnelServerOptions,
  ) {
    super();
    this.now = opts.now ?? Date.now;
    this.peerTimeoutMs = opts.peerTimeoutMs ?? PEER_TIMEOUT_MS;
    this.keepaliveMaxMs = opts.keepaliveMaxMs ?? KEEPALIVE_IDLE_MAX_MS;
    this.challengeTtlMs = opts.challengeTtlMs ?? 10_000;
    this.guard = new HelloGuard(opts, this.now());
    this.staleBudget = new Bucket(STALE_PER_SECOND, STALE_PER_SECOND, this.now());
    this.secretFor =
      typeof secret === 'function' ? secret : (id) => (id.equals(INSTALL_KEY_ID) ? secret : undefined);
  }

  get state(): TunnelState {
    const s = this.session;
    return s && this.now() - s.lastHeard <= this.forgetAfterMs(s) ? 'connected' : 'waiting';
  }

  get peer(): Endpoint | undefined {
    return this.session?.peer;
  }

  /** Milliseconds since the agent was last heard from, if a session exists. */
  get lastHeardAgoMs(): number | undefined {
    return this.session ? this.now() - this.session.lastHeard : undefined;
  }

  /** The keepalive interval the agent last announced (undefined: no session, or an agent that announces none). */
  get keepaliveIntervalMs(): number | undefined {
    return this.session?.keepaliveMs;
  }

  /** Why no peer is pinned, when one was and is no more. */
  get peerLost(): string | undefined {
    return this.session ? undefined : this.lost;
  }

  /**
   * Ends the session and unpins its peer: `gangway down`, Docker gone, or keepalives stopped. Whoever holds
   * the old address and port afterwards (a new process in the VM, a proxy's recycled flow) gets nothing
   * from the host and injects nothing; a real agent must handshake again.
   */
  forget(reason: string): void {
    this.pending.clear();
    const had = this.session !== undefined;
    this.session = undefined;
    this.port.clearPeer();
    this.port.setChecksumOffload({ leave: false, fill: false });
    if (had) {
      this.lost = reason;
      this.counters.inc('peerForgotten');
    }
    this.updateState();
  }

  /**
   * Tells the agent that its session ends with us (the daemon stops, or re-opens its tunnel): the STALE our
   * successor would answer its next keepalive with, sent now. An idle agent's next keepalive may be 10 s away;
   * with this it dials again within about a second (unauthenticated, as any STALE: it only hastens the proof).
   */
  farewell(): void {
    const s = this.session;
    if (s) this.sendStale(s.keys.id, s.peer);
  }

  /** The live session's id (undefined: none), for the record that outlives a crash (session-hint.ts). */
  get sessionId(): Buffer | undefined {
    return this.session?.keys.id;
  }

  /** A STALE for a session a previous run of the helper held (session-hint.ts): its agent dials again now. */
  hintStale(sessionId: Buffer, to: Endpoint): void {
    this.sendStale(sessionId, to);
  }

  get configAcked(): boolean {
    return this.session?.config?.acked ?? false;
  }

  /** Entry point for every control datagram the pump hands up. */
  handle(data: Buffer, address: string, port: number): void {
    const from = { address, port };
    const msg = parseControl(data);
    if (typeof msg === 'string') {
      this.counters.inc('controlMalformed');
      return;
    }
    switch (msg.type) {
      case MsgType.Hello:
        this.onHello(msg, from);
        break;
      case MsgType.Auth:
        this.onAuth(msg, from);
        break;
      case MsgType.Keepalive:
      case MsgType.ConfigAck:
        this.onSealed(msg, data, from);
        break;
      default:
        // A challenge or a helper-to-agent message sent to the helper: nobody legitimate does that.
        this.counters.inc('sealedUnexpected');
    }
    this.updateState();
  }

  /** Sends the current configuration to the agent, reliably (retransmitted from tick() until acked). */
  pushConfig(): void {
    const s = this.session;
    if (!s) return;
    const seq = ++this.configSeq;
    const frame = this.sealTo(s, MsgType.Config, this.configBody(seq));
    s.config = { seq, frame, acked: false, nextSend: this.now() + 200, attempts: 1 };
    this.send(frame, s.peer.address, s.peer.port);
  }

  /** Milliseconds until tick() has something to do: a config to resend, a challenge or a peer to expire. */
  msUntilDue(): number {
    let due = Infinity;
    for (const p of this.pending.values()) due = Math.min(due, p.expires + 1);
    const s = this.session;
    if (s) {
      due = Math.min(due, s.lastHeard + this.forgetAfterMs(s) + 1);
      if (s.config && !s.config.acked) due = Math.min(due, s.config.nextSend);
    }
    return Math.max(0, due - this.now());
  }

  /** Timers: config retransmission, challenge expiry, liveness. Call when msUntilDue() says. */
  tick(): void {
    const now = this.now();
    for (const [k, p] of this.pending) if (p.expires < now) this.pending.delete(k);
    const silentFor = this.session ? this.forgetAfterMs(this.session) : Infinity;
    if (this.session && now - this.session.lastHeard > silentFor) {
      this.forget(`the agent sent no keepalive for ${Math.round(silentFor / 1000)} s`);
      this.emit('silent');
      return;
    }
    const c = this.session?.config;
    if (this.session && c && !c.acked && now >= c.nextSend) {
      // Backoff 200 ms doubling to 2 s: survives heavy loss without flooding a dead peer.
      c.attempts++;
      c.nextSend = now + Math.min(2_000, 200 * 2 ** Math.min(c.attempts - 1, 4));
      this.counters.inc('configRetransmits');
      // Resealed with a fresh counter so the agent's replay check accepts the copy.
      c.frame = this.sealTo(this.session, MsgType.Config, this.configBody(c.seq));
      this.send(c.frame, this.session.peer.address, this.session.peer.port);
    }
    this.updateState();
  }

  /**
   * A peer silent past the timeout is gone (a frozen or stopped VM): its pin and session die, so nothing more
   * is sent to its address. Behind Docker Desktop's proxy that port is a forgotten flow's, which the proxy,
   * or any other process, may hand out again. The agent dials again with a fresh handshake.
   */
  private updateState(): void {
    const state = this.state;
    if (state === this.lastState) return;
    this.lastState = state;
    if (state === 'connected' && this.session) this.emit('connected', this.session.peer);
    else this.emit('disconnected');
  }

  private onHello(msg: Hello, from: Endpoint): void {
    const now = this.now();
    // Under load, first make the sender show it receives at its address: a stateless cookie costs one MAC
    // and a datagram no larger than the HELLO, and keeps no state for spoofed sources.
    const verdict = this.guard.admit(msg, from, now);
    if (verdict.kind === 'drop') {
      this.counters.inc(verdict.reason);
      return;
    }
    if (verdict.kind === 'cookie') {
      this.counters.inc('handshakeCookieSent');
      this.send(encodeCookieReply(msg.agentNonce, verdict.cookie), from.address, from.port);
      return;
    }
    const secret = this.secretFor(msg.keyId);
    if (!secret) {
      // A revoked container's key (gangway down, or the container replaced), or one we never issued.
      this.counters.inc('handshakeUnknownKey');
      return;
    }
    if (!this.guard.mayChallenge(from, now)) {
      this.counters.inc('handshakeRateLimited');
      return;
    }
    const helperNonce = newNonce();
    if (this.pending.size >= MAX_PENDING) {
      const oldest = this.pending.keys().next().value;
      if (oldest !== undefined) this.pending.delete(oldest);
    }
    this.pending.set(helperNonce.toString('hex'), {
      agentNonce: msg.agentNonce,
      secret,
      from,
      expires: now + this.challengeTtlMs,
    });
    const challenge = encodeChallengeOrAuth(secret, MsgType.Challenge, msg.agentNonce, helperNonce);
    this.send(challenge, from.address, from.port);
  }

  private onAuth(msg: ChallengeOrAuth, from: Endpoint): void {
    const key = msg.helperNonce.toString('hex');
    const p = this.pending.get(key);
    const s = this.session;
    if (!p) {
      // The agent resends AUTH until it hears WELCOME; answer the copy if it is for the live session.
      if (
        s &&
        sameEndpoint(s.peer, from) &&
        s.helperNonce.equals(msg.helperNonce) &&
        this.authValid(msg, s.secret)
      ) {
        this.sendWelcome(s);
        return;
      }
      this.counters.inc('handshakeUnknownNonce');
      return;
    }
    if (!sameEndpoint(p.from, from)) {
      this.counters.inc('handshakeWrongSource');
      return;
    }
    if (!p.agentNonce.equals(msg.agentNonce) || !this.authValid(msg, p.secret)) {
      this.counters.inc('handshakeBadMac');
      return;
    }
    this.pending.delete(key);
    const now = this.now();
    this.session = {
      keys: deriveSessionKeys(p.secret, msg.agentNonce, msg.helperNonce),
      secret: p.secret,
      agentNonce: msg.agentNonce,
      helperNonce: msg.helperNonce,
      peer: from,
      establishedAt: now,
      lastHeard: now,
      keepaliveMs: undefined,
      rxCounter: 0n,
      txCounter: 0n,
    };
    this.lost = undefined;
    this.counters.inc('handshakeOk');
    this.port.setPeer(from.address, from.port);
    // We fill in checksums from the offer on (the agent may leave them out as soon as it reads it), and leave
    // ours out only once the agent's acknowledgement says it fills them in.
    this.port.setChecksumOffload({ leave: false, fill: this.opts.checksumOffload === true });
    this.sendWelcome(this.session);
    // A new session is a new agent (or a restarted one): emit even if we were "connected" before.
    this.lastState = 'connected';
    this.emit('connected', from);
    this.pushConfig();
  }

  private authValid(msg: ChallengeOrAuth, secret: Buffer): boolean {
    return macEqual(msg.mac, handshakeMac(secret, MsgType.Auth, msg.agentNonce, msg.helperNonce));
  }

  private onSealed(msg: Sealed, raw: Buffer, from: Endpoint): void {
    const s = this.session;
    const rejected = checkSealed(s?.keys, 'agentToHelper', msg, raw, s?.rxCounter ?? 0n);
    if (rejected || !s) {
      this.counters.inc(rejected ?? 'sealedUnknownSession');
      // An agent keeping a session we do not hold (we restarted, or forgot it): tell it, so it need not wait
      // out its whole keepalive deadline before it dials again.
      if ((rejected ?? 'sealedUnknownSession') === 'sealedUnknownSession' && msg.type === MsgType.Keepalive)
        this.sendStale(msg.sessionId, from);
      return;
    }
    s.rxCounter = msg.counter;
    s.lastHeard = this.now();
    if (!sameEndpoint(s.peer, from)) {
      // Authenticated traffic from a new address: Docker's UDP proxy re-mapped the flow. Follow it.
      s.peer = from;
      this.port.setPeer(from.address, from.port);
      this.counters.inc('peerRoamed');
      this.emit('roamed', from);
    }
    if (msg.type === MsgType.Keepalive) {
      this.noteInterval(s, msg.body);
      this.send(this.sealTo(s, MsgType.KeepaliveAck), from.address, from.port);
    } else if (msg.type === MsgType.ConfigAck) {
      const ack = decodeAckBody(msg.body);
      if (ack && s.config && ack.seq === s.config.seq && !s.config.acked) {
        s.config.acked = true;
        // An agent that declined computes its checksums: check them again, as without the offer.
        if (this.opts.checksumOffload)
          this.port.setChecksumOffload({ leave: ack.fillsChecksums, fill: ack.fillsChecksums });
        this.emit('configAcked', ack.seq);
      }
    }
  }

  private configBody(seq: number): Buffer {
    return encodeConfigBody({
      seq,
      ...this.opts.config(),
      ...(this.opts.checksumOffload ? { checksumOffload: true } : {}),
      keepaliveMaxMs: this.keepaliveMaxMs,
    });
  }

  /** The interval a keepalive announces sets how long the session may stay silent. The message is
   *  authenticated, so a bad value is a bug in the agent: counted, and held to what we offered. */
  private noteInterval(s: Session, body: Buffer): void {
    let ms = decodeKeepaliveBody(body);
    if (ms !== undefined && !(ms >= 0 && ms <= this.keepaliveMaxMs)) {
      this.counters.inc('keepaliveBadInterval');
      ms = Number.isNaN(ms) ? undefined : this.keepaliveMaxMs;
    }
    s.keepaliveMs = ms;
  }

  /** Silent this long, a session is forgotten: from the interval its last keepalive announced. */
  private forgetAfterMs(s: Session): number {
    return s.keepaliveMs === undefined
      ? this.peerTimeoutMs
      : peerForgetsAfterMs(s.keepaliveMs, this.peerTimeoutMs);
  }

  private sendStale(sessionId: Buffer, to: Endpoint): void {
    if (!this.staleBudget.take(this.now())) {
      this.counters.inc('staleRateLimited');
      return;
    }
    this.counters.inc('staleSent');
    this.send(encodeStale(sessionId), to.address, to.port);
  }

  private sendWelcome(s: Session): void {
    this.send(this.sealTo(s, MsgType.Welcome, encodeAckBody(0)), s.peer.address, s.peer.port);
  }

  private sealTo(
    s: Session,
    type: MsgType.Welcome | MsgType.KeepaliveAck | MsgType.Config,
    body?: Buffer,
  ): Buffer {
    s.txCounter += 1n;
    return seal(s.keys.helperToAgent, type, s.keys.id, s.txCounter, body);
  }

  /**
   * Sends a control datagram. A failed send (ENOBUFS, EPERM from a firewall, an unreachable network) is a
   * lost datagram like any other on UDP: counted, and recovered by the retransmission timers, never thrown.
   */
  private send(data: Buffer, address: string, port: number): void {
    try {
      this.port.send(data, address, port);
    } catch {
      this.counters.inc('controlSendFailed');
    }
  }
}
