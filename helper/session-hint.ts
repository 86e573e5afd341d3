// The live tunnel session's id and the agent's address, kept in the state directory so that a helper that
// crashed (no farewell, TunnelServer.farewell) can tell its agent at once when it starts again: a STALE for that
// id. An idle agent's next keepalive may be 10 s away; this has it dial again within about a second. Neither
// value is secret (both cross the wire in every sealed message), and a STALE only hastens the agent's proof.
import { readFileSync, rmSync } from 'node:fs';
import { z } from 'zod';
import { isIP } from '../common/ip-address';
import { SESSION_ID_LEN } from '../common/wire';
import type { Endpoint } from '../common/control-port';
import type { Logger } from '../common/log';
import { writeFileAtomic } from '../shared/atomic-file';

const hintSchema = z
  .object({
    sessionId: z.string().regex(new RegExp(`^[0-9a-f]{${SESSION_ID_LEN * 2}}$`)),
    address: z.string().refine((s) => isIP(s) !== 0, 'not an IP address'),
    port: z.number().int().min(1).max(65_535),
  })
  .strict();

export interface SessionHint {
  sessionId: Buffer;
  peer: Endpoint;
}

export class SessionHintFile {
  constructor(
    private readonly file: string,
    private readonly log: Logger,
  ) {}

  /** Records the session now pinned. A failure costs only the fast re-dial after a crash: logged, not thrown. */
  async save(hint: SessionHint): Promise<void> {
    const body = {
      sessionId: hint.sessionId.toString('hex'),
      address: hint.peer.address,
      port: hint.peer.port,
    };
    await writeFileAtomic(this.file, `${JSON.stringify(body)}\n`, 0o600).catch((err: Error) =>
      this.log.warn('cannot record the tunnel session', { file: this.file, error: err.message }),
    );
  }

  /** The session a previous run left, if any, removed as it is read: it is used once. */
  take(): SessionHint | undefined {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch {
      return undefined; // none: the last run ended cleanly, or never had a session
    }
    this.clear();
    let parsed;
    try {
      parsed = hintSchema.safeParse(JSON.parse(text));
    } catch {
      parsed = undefined;
    }
    if (!parsed?.success) {
      this.log.warn('ignored an unreadable tunnel session record', { file: this.file });
      return undefined;
    }
    const { sessionId, address, port } = parsed.data;
    return { sessionId: Buffer.from(sessionId, 'hex'), peer: { address, port } };
  }

  /** The session ended and the agent was told (or never had one): nothing to hint after a restart. */
  clear(): void {
    rmSync(this.file, { force: true });
  }
}
