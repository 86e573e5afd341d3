// Root never runs a file that a non-root user can change. A file passes when it, and every directory from it
// up to /, belongs to root and is writable by neither its group nor others: otherwise that user (or the
// group) can edit the file or swap it, or a directory above it, for their own. Symbolic links are followed
// and both sides are checked: the link's own directories, and the real path's.
import { lstatSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';

export interface OwnershipDeps {
  lstat?: (p: string) => { uid: number; mode: number; isSymbolicLink(): boolean };
  realpath?: (p: string) => string;
  /** uid -> user name, for messages; default /etc/passwd. */
  userName?: (uid: number) => string | undefined;
}

/** The name of a uid from /etc/passwd (macOS keeps its users elsewhere: then undefined). */
export function passwdName(uid: number, passwd = '/etc/passwd'): string | undefined {
  try {
    for (const line of readFileSync(passwd, 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length >= 3 && Number(f[2]) === uid && f[2] !== '') return f[0];
    }
  } catch {
    // no passwd file
  }
  return undefined;
}

/** `p` and each of its parents, up to /. */
function chain(p: string): string[] {
  const out = [p];
  for (let d = dirname(p); d !== out[out.length - 1]; d = dirname(d)) out.push(d);
  return out;
}

/**
 * Why a non-root user could change what runs as `file`: one line per offending path, naming it, its owner
 * and its mode; empty when nothing can. A missing path is a problem too.
 */
export function nonRootWritable(file: string, deps: OwnershipDeps = {}): string[] {
  const lstat = deps.lstat ?? lstatSync;
  const realpath = deps.realpath ?? realpathSync.native;
  const name = deps.userName ?? ((uid: number) => passwdName(uid));
  if (!isAbsolute(file)) return [`${file} is not an absolute path`];
  let real: string;
  try {
    real = realpath(file);
  } catch (err) {
    return [`${file} cannot be resolved: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`];
  }
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const p of [...chain(resolve(file)), ...chain(real)]) {
    if (seen.has(p)) continue;
    seen.add(p);
    let st: ReturnType<typeof lstat>;
    try {
      st = lstat(p);
    } catch (err) {
      problems.push(`${p} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      continue;
    }
    // A link's own mode means nothing; replacing it takes its directory, which is checked too.
    const user = st.uid === 0 ? undefined : name(st.uid);
    const owner = st.uid === 0 ? '' : `owned by ${user ? `${user} (uid ${st.uid})` : `uid ${st.uid}`}`;
    const modeText = `mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}`;
    const writable = st.isSymbolicLink()
      ? ''
      : st.mode & 0o002
        ? 'writable by every user'
        : st.mode & 0o020
          ? 'writable by its group'
          : '';
    if (owner || (writable && !st.isSymbolicLink()))
      problems.push(`${p} is ${[owner, writable].filter(Boolean).join(' and ')} (${modeText})`);
  }
  return problems;
}
