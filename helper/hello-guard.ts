// Who gets an answer to a HELLO (any local process or container can send them). Each source (address and
// port) has its own small budget, so one noisy socket cannot starve a restarting agent; a global budget
// bounds the challenges, so spoofed HELLOs cannot make the helper a reflector; and above a global rate a
// HELLO without a valid cookie only gets a stateless cookie (as WireGuard does), so spoofed sources, which
// never see it, use up no challenges.
import { randomBytes } from 'node:crypto';
import type { Endpoint } from '../common/control-port';
import { type Hello, cookieFor, hasCookie, macEqual } from '../common/wire';
import { Bucket } from './rate-bucket';

export interface HelloGuardOptions {
  /** Upper bound on challenges sent per second, so spoofed HELLOs cannot make us a traffic reflector. */
  challengesPerSecond?: number;
  /** HELLOs answered per second for one source (address and port), and its burst. */
  helloPerSourcePerSecond?: number;
  helloPerSourceBurst?: number;
  /** HELLOs per second (all sources) above which the helper is under load and asks for cookies. */
  helloLoadThreshold?: number;
  /** Upper bound on COOKIE replies per second. */
  cookiesPerSecond?: number;
}

/** What to do with one HELLO. */
export type HelloVerdict =
  | { kind: 'cookie'; cookie: Buffer }
  | { kind: 'drop'; reason: 'handshakeRateLimited' | 'handshakeCookieRateLimited' }
  | { kind: 'proceed' };

/** Sources tracked for per-source HELLO budgets; the least recently seen is forgotten beyond this. */
const MAX_SOURCES = 4096;
/** The cookie secret changes this often; cookies of the previous one stay valid until the next change. */
const COOKIE_ROTATE_MS = 120_000;

export class HelloGuard {
  private readonly challenges: Bucket;
  private readonly cookies: Bucket;
  private readonly sources = new Map<string, Bucket>();
  private window = { start: 0, count: 0, prev: 0 };
  private cookieSecrets: { current: Buffer; previous: Buffer; rotatedAt: number };

  constructor(
    private readonly opts: HelloGuardOptions,
    now: number,
  ) {
    const perSecond = opts.challengesPerSecond ?? 50;
    this.challenges = new Bucket(perSecond, perSecond, now);
    const cookies = opts.cookiesPerSecond ?? 5_000;
    this.cookies = new Bucket(cookies, cookies, now);
    this.cookieSecrets = { current: randomBytes(32), previous: randomBytes(32), rotatedAt: now };
  }

  /** First look at a HELLO: under load, one without a valid cookie gets a cookie (or nothing). */
  admit(msg: Hello, from: Endpoint, now: number): HelloVerdict {
    if (!this.underLoad(now) || this.validCookie(msg, from, now)) return { kind: 'proceed' };
    // The source's budget covers cookies too: one noisy socket gets a few per second, not the global share.
    if (!this.sourceAllows(from, now)) return { kind: 'drop', reason: 'handshakeRateLimited' };
    if (!this.cookies.take(now)) return { kind: 'drop', reason: 'handshakeCookieRateLimited' };
    return { kind: 'cookie', cookie: cookieFor(this.cookieSecrets.current, from.address, from.port) };
  }

  /** May this source be challenged now (its own budget and the global one)? */
  mayChallenge(from: Endpoint, now: number): boolean {
    return this.sourceAllows(from, now) && this.challenges.take(now);
  }

  /** Counts a HELLO; true while more than helloLoadThreshold arrived in this second or the last. */
  private underLoad(now: number): boolean {
    const w = this.window;
    if (now - w.start >= 1000) {
      w.prev = now - w.start >= 2000 ? 0 : w.count;
      w.start = now;
      w.count = 0;
    }
    w.count++;
    const threshold = this.opts.helloLoadThreshold ?? 100;
    return w.count > threshold || w.prev > threshold;
  }

  private validCookie(msg: Hello, from: Endpoint, now: number): boolean {
    const c = this.cookieSecrets;
    if (now - c.rotatedAt >= COOKIE_ROTATE_MS) {
      this.cookieSecrets = { current: randomBytes(32), previous: c.current, rotatedAt: now };
    }
    if (!hasCookie(msg)) return false;
    const { current, previous } = this.cookieSecrets;
    return (
      macEqual(msg.cookie, cookieFor(current, from.address, from.port)) ||
      macEqual(msg.cookie, cookieFor(previous, from.address, from.port))
    );
  }

  /** The source's own budget (a bounded table: the least recently seen source is dropped). */
  private sourceAllows(from: Endpoint, now: number): boolean {
    const key = `${from.address}|${from.port}`;
    let b = this.sources.get(key);
    if (b) this.sources.delete(key);
    else {
      b = new Bucket(this.opts.helloPerSourcePerSecond ?? 2, this.opts.helloPerSourceBurst ?? 5, now);
      if (this.sources.size >= MAX_SOURCES) {
        const oldest = this.sources.keys().next().value;
        if (oldest !== undefined) this.sources.delete(oldest);
      }
    }
    this.sources.set(key, b);
    return b.take(now);
  }
}
