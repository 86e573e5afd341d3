// The per-install secret that the agent must prove it knows. 32 random bytes, stored hex-encoded in
// <state-dir>/secret with mode 0600 (root only); created on first start.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SECRET_LEN } from '../common/wire';
import { writeFileAtomic } from './atomic-file';

export function readSecretFile(file: string): Buffer {
  const text = readFileSync(file, 'utf8').trim();
  if (!/^[0-9a-f]+$/i.test(text) || text.length < SECRET_LEN * 2) {
    throw new Error(`${file} does not hold a Gangway secret (${SECRET_LEN * 2}+ hex digits)`);
  }
  return Buffer.from(text, 'hex');
}

/** Loads DIR/secret, creating it (and DIR, mode 0700) if missing. */
export async function loadOrCreateSecret(stateDir: string): Promise<Buffer> {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const file = join(stateDir, 'secret');
  try {
    const s = readSecretFile(file);
    chmodSync(file, 0o600);
    return s;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const secret = randomBytes(SECRET_LEN);
  // A crash never leaves a half-written secret behind.
  await writeFileAtomic(file, `${secret.toString('hex')}\n`, 0o600);
  return secret;
}
