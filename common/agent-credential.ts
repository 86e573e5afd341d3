// What the agent proves it holds: a secret and the key id that names it to the helper. The per-install secret
// (key id all zeros) is stored as one hex string, as in <state-dir>/secret; an agent container's own secret
// is stored as "<key id hex> <secret hex>", so the helper can tell which one to check, and revoke it.
import { INSTALL_KEY_ID, KEY_ID_LEN, SECRET_LEN } from './wire';

export interface AgentCredential {
  keyId: Buffer;
  secret: Buffer;
}

export function formatAgentCredential(c: AgentCredential): string {
  return c.keyId.equals(INSTALL_KEY_ID)
    ? `${c.secret.toString('hex')}\n`
    : `${c.keyId.toString('hex')} ${c.secret.toString('hex')}\n`;
}

/** Parses a credential file's text; undefined when it is neither form. */
export function parseAgentCredential(text: string): AgentCredential | undefined {
  const parts = text.trim().split(/\s+/);
  const hex = (s: string | undefined, min: number, max = Infinity) =>
    s !== undefined &&
    /^[0-9a-f]+$/i.test(s) &&
    s.length % 2 === 0 &&
    s.length >= min * 2 &&
    s.length <= max * 2
      ? Buffer.from(s, 'hex')
      : undefined;
  if (parts.length === 1) {
    const secret = hex(parts[0], SECRET_LEN);
    return secret ? { keyId: INSTALL_KEY_ID, secret } : undefined;
  }
  if (parts.length === 2) {
    const keyId = hex(parts[0], KEY_ID_LEN, KEY_ID_LEN);
    const secret = hex(parts[1], SECRET_LEN);
    return keyId && secret && !keyId.equals(INSTALL_KEY_ID) ? { keyId, secret } : undefined;
  }
  return undefined;
}
