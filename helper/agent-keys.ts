// Per-container agent secrets. Each agent container gets its own key id and a secret derived from the
// per-install secret and that id; the helper accepts the current id only. A container replaced or removed
// (gangway down) takes its key with it, so a secret copied out of a container (`docker cp`) dies with it.
// Only the key id is stored (<state-dir>/agent-key, 0600): the secret is derived again when needed, and a
// restarted helper still knows the running container's key.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { AgentCredential } from '../common/agent-credential';
import { INSTALL_KEY_ID, KEY_ID_LEN, deriveAgentSecret } from '../common/wire';
import { writeFileAtomic } from '../shared/atomic-file';

export const AGENT_KEY_FILE = 'agent-key';

export class AgentKeys {
  private currentId: Buffer | undefined;
  private readonly file: string;

  /** Loads the current key id from stateDir; a missing or unreadable one means no container key is valid. */
  constructor(
    private readonly installSecret: Buffer,
    stateDir: string,
  ) {
    this.file = join(stateDir, AGENT_KEY_FILE);
    try {
      const text = readFileSync(this.file, 'utf8').trim();
      if (new RegExp(`^[0-9a-f]{${KEY_ID_LEN * 2}}$`).test(text)) this.currentId = Buffer.from(text, 'hex');
    } catch {
      // none yet: the next agent container gets a fresh key
    }
  }

  /** The running container's credential, while it is valid. */
  current(): AgentCredential | undefined {
    const id = this.currentId;
    return id ? { keyId: id, secret: deriveAgentSecret(this.installSecret, id) } : undefined;
  }

  /** A fresh key for a container about to be created; the previous one is revoked at once. */
  async mint(): Promise<AgentCredential> {
    let id = randomBytes(KEY_ID_LEN);
    while (id.equals(INSTALL_KEY_ID)) id = randomBytes(KEY_ID_LEN);
    // Saved before the container holds it: a helper restarted a moment later still accepts it.
    await writeFileAtomic(this.file, `${id.toString('hex')}\n`, 0o600);
    this.currentId = id;
    return { keyId: id, secret: deriveAgentSecret(this.installSecret, id) };
  }

  /** No container key is valid any more (gangway down). */
  async revoke(): Promise<void> {
    this.currentId = undefined;
    await unlink(this.file).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  /** For the tunnel server: the secret a HELLO's key id stands for, if it is still valid. */
  readonly secretFor = (keyId: Buffer): Buffer | undefined => {
    if (keyId.equals(INSTALL_KEY_ID)) return this.installSecret;
    const id = this.currentId;
    return id && id.equals(keyId) ? deriveAgentSecret(this.installSecret, id) : undefined;
  };
}
