// Whether an address answers: what doctor asks of each routed network's gateway, through the tunnel.
import { connect } from 'node:net';
import { type CommandError, runCommand } from '../shared/exec';

/** One ping (a TCP connect as a fallback where ping is missing): whether `ip` answers within `timeoutMs`. */
export async function probeAddress(ip: string, timeoutMs: number): Promise<boolean> {
  const wait = String(Math.max(1, Math.round(timeoutMs / 1000)));
  const args = process.platform === 'darwin' ? ['-c', '1', '-t', wait, ip] : ['-c', '1', '-W', wait, ip];
  try {
    await runCommand('ping', args);
    return true;
  } catch (err) {
    if ((err as CommandError).exitCode !== 'ENOENT') return false;
  }
  // A refused connection is an answer too.
  return new Promise((resolvePromise) => {
    const sock = connect({ host: ip, port: 80, timeout: timeoutMs });
    const done = (ok: boolean) => {
      sock.destroy();
      resolvePromise(ok);
    };
    sock.once('connect', () => done(true));
    sock.once('timeout', () => done(false));
    sock.once('error', (e: NodeJS.ErrnoException) => done(e.code === 'ECONNREFUSED'));
  });
}
