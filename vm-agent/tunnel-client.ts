// The agent's side of the handshake and control channel (messages: common/wire.ts).
//
// dialing --HELLO--> (CHALLENGE verified: the helper knows the secret) authenticating --AUTH--> (WELCOME)
// connected; a keepalive every `keepaliveMs` (2 s; doubling to the helper's `keepaliveMaxMs` while no data
// moves, common/wire.ts), resent every `probeMs` while unanswered; a keepalive left
// unanswered for `deadAfterMs` means the helper restarted or went away, and we dial again with a fresh nonce,
// forever, with capped exponential backoff. A STALE from the helper (it holds no such session: it restarted)
// shortens that wait to `staleDeadMs`.
import { EventEmitter } from 'node:events';
import { Counters } from '../common/counters';
import { type ControlPort, type Endpoint, sameEndpoint } from '../common/control-port';
import { tunnelConfigSchema } from '../common/tunnel-config';
import type { AgentCredential } from '../common/agent-credential';
import {
  ACK_FILLS_CHECKSUMS,
  INSTALL_KEY_ID,
  MsgType,
  type SessionKeys,
  type TunnelConfig,
  decodeAckBody,
  deriveSessionKeys,
  encodeAckBody,
  encodeKeepaliveBody,
  KEEPALIVE_IDLE_MAX_MS,
  KEEPALIVE_MS,
  PEER_TIMEOUT_MS,
  peerForgetsAfterMs,
  encodeChallengeOrAuth,
  encodeHello,
  handshakeMac,
  macEqual,
  newNonce,
  parseControl,
  seal,
  checkSealed,
  type Sealed,
} from '../common/wire';

export const CLIENT_COUNTERS = [
  'controlMalformed',
  'controlSendFailed',
  'wrongSource',
  'challengeBadMac',
  'challengeStale',
  'cookieStale',
  'sealedUnknownSession',
  'sealedBadTag',
  'sealedReplay',
  'configInvalid',
  'redials',
  'staleHints',
  'staleIgnored',
] as const;
export type ClientCounter = (typeof CLIENT_COUNTERS)[number];

export type ClientState = 'dialing' | 'authenticating' | 'connected';

export interface TunnelClientOptions {
  keepaliveMs?: number;
  probeMs?: number;
  deadAfterMs?: number;
  staleDeadMs?: number;
  /** The helper forgets a peer silent this long (its peerTimeoutMs): after a longer silence of ours (the VM
   *  was frozen) the session is surely gone, and we dial at once. */
  helperForgetsMs?: number;
  now?: () => number;
  /** Randomness for backoff jitter; injectable for tests. */
  random?: () => number;
  /** The pump's TUN has offloads: accept the helper's offer of checksum offload (common/wire.ts). */
  checksumOffload?: boolean;
  /** The longest keepalive interval when idle, if the helper accepts it (default KEEPALIVE_IDLE_MAX_MS). */
  idleKeepaliveMs?: number;
  /** A count that grows whenever data crosses the tunnel (the pump's TUN packets): read once a keepalive. */
  activity?: () => number;
}

export interface TunnelClientEvents {
  state: [state: ClientState];
  /** A new configuration from the helper; the agent applies it before it is acknowledged. */
  config: [config: TunnelConfig];
}

export class TunnelClient extends EventEmitter<TunnelClientEvents> {
  readonly counters = new Counters<ClientCounter>(CLIENT_COUNTERS);
  private stateValue: ClientState = 'dialing';
  private agentNonce = newNonce();
  private helperNonce: Buffer | undefined;
  private keys: SessionKeys | undefined;
  private txCounter = 0n;
  private rxCounter = 0n;
  private nextSend = 0;
  private lastHeard = 0;
  /** When the oldest keepalive still unanswered was sent (undefined: all answered). */
  private unansweredSince: number | undefined;
  /** Dial again at this time unless an authenticated message arrives first. */
  private deadAt = Infinity;
  private attempt = 0;
  private lastConfigSeq = 0;
  /** The interval the keepalive in flight announced; the next one goes this long after it. */
  private intervalMs: number;
  /** What activity() said at the last keepalive. */
  private lastActivity = 0;
  /** The longest interval the helper accepts (its configuration's keepaliveMaxMs); none from older helpers. */
  private helperMaxMs: number | undefined;
  /** The helper's last cookie for our address (it asks for one under load); zeros until then. */
  private cookie: Buffer | undefined;
  private readonly keyId: Buffer;
  private readonly secret: Buffer;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly keepaliveMs: number;
  private readonly probeMs: number;
  private readonly deadAfterMs: number;
  private readonly staleDeadMs: number;
  private readonly helperForgetsMs: number;
  private readonly checksumOffload: boolean;
  private readonly idleKeepaliveMs: number;
  private readonly activity: (() => number) | undefined;

  constructor(
    private readonly port: ControlPort,
    credential: Buffer | AgentCredential,
    private server: Endpoint,
    opts: TunnelClientOptions = {},
  ) {
    super();
    const c = Buffer.isBuffer(credential) ? { keyId: INSTALL_KEY_ID, secret: credential } : credential;
    this.keyId = c.keyId;
    this.secret = c.secret;
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    // Every 2 s: Docker Desktop's UDP proxy forgets a flow after ~90 s, and the helper a peer after 5 s
    // (2.5 intervals). A keepalive unanswered after 400 ms is resent every 400 ms, so with 20% loss each way
    // seven round trips in a row must fail before the 3 s deadline declares the helper gone.
    this.keepaliveMs = opts.keepaliveMs ?? KEEPALIVE_MS;
    this.intervalMs = this.keepaliveMs;
    // An idle tunnel costs its keepalives (about five thread wake-ups a round trip): with nothing moving, each
    // interval doubles up to 10 s. A NAT keeps a UDP flow for 30 s or more.
    this.idleKeepaliveMs = opts.idleKeepaliveMs ?? KEEPALIVE_IDLE_MAX_MS;
    this.activity = opts.activity;
    this.probeMs = opts.probeMs ?? 400;
    this.deadAfterMs = opts.deadAfterMs ?? 3_000;
    this.staleDeadMs = opts.staleDeadMs ?? 1_000;
    this.helperForgetsMs = opts.helperForgetsMs ?? PEER_TIMEOUT_MS;
    this.checksumOffload = opts.checksumOffload ?? false;
  }

  get state(): ClientState {
    return this.stateValue;
  }

  /** Starts (or restarts) dialing `server`, e.g. after re-resolving host.docker.internal. */
  dial(server: Endpoint = this.server): void {
    this.server = server;
    // No data is accepted, or sent, until the helper proved the secret again (setState pins it then).
    this.port.clearPeer();
    this.agentNonce = newNonce();
    this.helperNonce = undefined;
    this.keys = undefined;
    this.unansweredSince = undefined;
    this.deadAt = Infinity;
    // A new session starts at the short interval, and with what its helper offers.
    this.intervalMs = this.keepaliveMs;
    this.helperMaxMs = undefined;
    this.setState('dialing');
    this.nextSend = this.now();
    this.tick();
  }

  handle(data: Buffer, address: string, port: number): void {
    if (!sameEndpoint(this.server, { address, port })) {
      this.counters.inc('wrongSource');
      return;
    }
    const msg = parseControl(data);
    if (typeof msg === 'string') {
      this.counters.inc('controlMalformed');
      return;
    }
    if (msg.type === MsgType.Cookie) {
      // The helper is under load and wants proof that we receive at this address: ask again with it.
      if (this.stateValue !== 'dialing' || !msg.agentNonce.equals(this.agentNonce)) {
        this.counters.inc('cookieStale');
        return;
      }
      this.cookie = msg.cookie;
      this.send(encodeHello(this.agentNonce, this.keyId, this.cookie), address, port);
      return;
    }
    if (msg.type === MsgType.Challenge) {
      if (this.stateValue !== 'dialing' || !msg.agentNonce.equals(this.agentNonce)) {
        this.counters.inc('challengeStale');
        return;
      }
      if (!macEqual(msg.mac, handshakeMac(this.secret, MsgType.Challenge, msg.agentNonce, msg.helperNonce))) {
        this.counters.inc('challengeBadMac');
        return;
      }
      this.helperNonce = msg.helperNonce;
      this.keys = deriveSessionKeys(this.secret, this.agentNonce, msg.helperNonce);
      this.txCounter = 0n;
      this.rxCounter = 0n;
      // Config numbers count per session: a restarted or re-built helper starts again at 1, and its
      // configuration must not be taken for an old one (the session keys already stop replays).
      this.lastConfigSeq = 0;
      this.attempt = 0;
      this.setState('authenticating');
      this.nextSend = this.now();
      this.tick();
      return;
    }
    if (msg.type === MsgType.Stale) {
      this.onStale(msg.sessionId);
      return;
    }
    if (msg.type === MsgType.Welcome || msg.type === MsgType.KeepaliveAck || msg.type === MsgType.Config) {
      this.onSealed(msg, data);
      return;
    }
    this.counters.inc('controlMalformed');
  }

  /** Milliseconds until tick() has something to do (a send due, or the helper's silence to judge). */
  msUntilDue(): number {
    let due = this.nextSend;
    if (this.stateValue === 'connected') due = Math.min(due, this.deadAt);
    return Math.max(0, due - this.now());
  }

  /** Timers: HELLO/AUTH retransmission, keepalives, liveness. Call when msUntilDue() says. */
  tick(): void {
    const now = this.now();
    if (
      this.stateValue === 'connected' &&
      (now >= this.deadAt || now - this.lastHeard > peerForgetsAfterMs(this.intervalMs, this.helperForgetsMs))
    ) {
      this.counters.inc('redials');
      this.dial();
      return;
    }
    if (now < this.nextSend) return;
    const { address, port } = this.server;
    if (this.stateValue === 'dialing') {
      this.send(encodeHello(this.agentNonce, this.keyId, this.cookie), address, port);
      this.nextSend = now + this.backoff();
    } else if (this.stateValue === 'authenticating' && this.helperNonce) {
      this.send(
        encodeChallengeOrAuth(this.secret, MsgType.Auth, this.agentNonce, this.helperNonce),
        address,
        port,
      );
      this.nextSend = now + this.backoff();
      // A helper that never welcomes us (it restarted between CHALLENGE and AUTH) gets a fresh HELLO.
      if (this.attempt > 6) this.dial();
    } else if (this.stateValue === 'connected') {
      if (this.unansweredSince === undefined) this.intervalMs = this.nextInterval();
      // Only a helper that offered longer intervals reads the body (older ones keep a silent peer for 5 s).
      const body = this.helperMaxMs !== undefined ? encodeKeepaliveBody(this.intervalMs) : undefined;
      this.send(this.sealOut(MsgType.Keepalive, body), address, port);
      if (this.unansweredSince === undefined) {
        this.unansweredSince = now;
        this.deadAt = Math.min(this.deadAt, now + this.deadAfterMs);
      }
      // Resent until answered; the answer moves the next one to a full interval after the first.
      this.nextSend = now + this.probeMs;
    }
  }

  /** 2 s while data moves; with none since the last keepalive, twice the last interval, up to the longest
   *  both ends accept. */
  private nextInterval(): number {
    const seen = this.activity?.();
    const moved = seen === undefined || seen !== this.lastActivity;
    if (seen !== undefined) this.lastActivity = seen;
    const max = Math.min(this.idleKeepaliveMs, this.helperMaxMs ?? this.keepaliveMs);
    return moved ? this.keepaliveMs : Math.max(this.keepaliveMs, Math.min(max, this.intervalMs * 2));
  }

  /** The helper holds no session with this id. Unauthenticated, so it only hastens the proof: a keepalive
   *  now, and a shorter wait for its answer. */
  private onStale(sessionId: Buffer): void {
    if (this.stateValue !== 'connected' || !this.keys?.id.equals(sessionId)) {
      this.counters.inc('staleIgnored');
      return;
    }
    this.counters.inc('staleHints');
    const now = this.now();
    // Already hastened: the keepalive it sent is the proof asked for, and each STALE answering it again would
    // send another (a ping-pong with a restarted helper, up to its STALE limit, until the deadline).
    if (this.deadAt <= now + this.staleDeadMs) return;
    this.deadAt = Math.min(this.deadAt, now + this.staleDeadMs);
    this.nextSend = now;
    this.tick();
  }

  /**
   * 250 ms doubling to 1 s, with ±20% jitter so many agents do not retry in step. The cap is low on purpose:
   * a HELLO is 18 bytes, and a lost one must not delay reconnection by more than a second.
   */
  private backoff(): number {
    const base = Math.min(1_000, 250 * 2 ** Math.min(this.attempt, 2));
    this.attempt++;
    return Math.round(base * (0.8 + 0.4 * this.random()));
  }

  private onSealed(msg: Sealed, raw: Buffer): void {
    const rejected = checkSealed(this.keys, 'helperToAgent', msg, raw, this.rxCounter);
    if (rejected) {
      this.counters.inc(rejected);
      return;
    }
    this.rxCounter = msg.counter;
    const now = this.now();
    this.lastHeard = now;
    // Any authenticated message proves the helper holds our session.
    if (this.unansweredSince !== undefined) {
      this.nextSend = Math.max(now, this.unansweredSince + this.intervalMs);
      this.unansweredSince = undefined;
    }
    this.deadAt = Infinity;
    if (msg.type === MsgType.Welcome && this.stateValue === 'authenticating') {
      this.attempt = 0;
      this.setState('connected');
      this.nextSend = now + this.intervalMs;
    } else if (msg.type === MsgType.Config) {
      this.onConfig(msg.body);
    }
  }

  private onConfig(body: Buffer): void {
    let parsed: TunnelConfig;
    try {
      parsed = tunnelConfigSchema.parse(JSON.parse(body.toString('utf8')));
    } catch {
      this.counters.inc('configInvalid');
      return;
    }
    // A config can arrive before WELCOME when WELCOME was lost; it proves the session just as well.
    if (this.stateValue === 'authenticating') this.setState('connected');
    this.helperMaxMs = parsed.keepaliveMaxMs;
    if (parsed.seq > this.lastConfigSeq || parsed.seq < this.lastConfigSeq - 1000) {
      this.lastConfigSeq = parsed.seq;
      this.emit('config', parsed);
    }
    // Fill in the helper's checksums before the acknowledgement says so; leave ours out from now on.
    const offered = parsed.checksumOffload === true;
    const on = offered && this.checksumOffload;
    this.port.setChecksumOffload({ leave: on, fill: on });
    const flags = offered ? (on ? ACK_FILLS_CHECKSUMS : 0) : undefined;
    this.send(
      this.sealOut(MsgType.ConfigAck, encodeAckBody(parsed.seq, flags)),
      this.server.address,
      this.server.port,
    );
  }

  private sealOut(type: MsgType.Keepalive | MsgType.ConfigAck, body?: Buffer): Buffer {
    const keys = this.keys;
    if (!keys) throw new Error('sealOut called without a session');
    this.txCounter += 1n;
    return seal(keys.agentToHelper, type, keys.id, this.txCounter, body);
  }

  private setState(s: ClientState): void {
    if (s === this.stateValue) return;
    this.stateValue = s;
    if (s === 'connected') {
      this.port.setPeer(this.server.address, this.server.port);
    } else {
      this.port.clearPeer();
      this.port.setChecksumOffload({ leave: false, fill: false });
    }
    this.emit('state', s);
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

// Re-exported for tests that decode acks.
export { decodeAckBody };
