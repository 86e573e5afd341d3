// Root finds its commands on PATH (ip, route, ifconfig, netstat, launchctl, systemctl, resolvectl). A
// service's PATH is systemd's or launchd's, all root's directories; but `sudo gangway daemon` and `sudo
// gangway service install` keep the caller's PATH where sudo has no `secure_path` (macOS), and there
// /opt/homebrew/bin (and on Intel Macs /usr/local/bin) belongs to the user: root would run the user's
// `ifconfig`. So root keeps only the PATH directories no user but root can change (root-owned.ts), in
// their order.
import { nonRootWritable } from './root-owned';

/** What root searches when the caller's PATH leaves nothing (the directories every system has). */
const FALLBACK = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];

export interface TrustedPath {
  path: string;
  /** The caller's directories left out, each with the first reason. */
  dropped: { dir: string; why: string }[];
}

export function trustedPath(
  path: string | undefined,
  check: (dir: string) => string[] = (d) => nonRootWritable(d),
): TrustedPath {
  const kept: string[] = [];
  const dropped: TrustedPath['dropped'] = [];
  // An empty entry means the current directory, as "." does: never root's.
  for (const dir of new Set((path ?? '').split(':'))) {
    const problems = dir === '' ? ['the current directory'] : check(dir);
    if (problems.length === 0) kept.push(dir);
    else dropped.push({ dir: dir || '(empty: the current directory)', why: problems[0] ?? '' });
  }
  if (kept.length === 0) kept.push(...FALLBACK.filter((d) => check(d).length === 0));
  return { path: kept.join(':'), dropped };
}

/** For root only: narrows process.env.PATH in place; returns what was left out (empty when not root). */
export function narrowPathForRoot(isRoot = process.getuid?.() === 0): TrustedPath['dropped'] {
  if (!isRoot) return [];
  const t = trustedPath(process.env.PATH);
  process.env.PATH = t.path;
  return t.dropped;
}
