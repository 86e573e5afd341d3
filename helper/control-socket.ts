// Where the control socket lives, made safe for a daemon that runs as root. The directory is the access
// check (only its owner and root may enter), so the daemon must never be tricked into handing another
// directory or file to the socket's owner:
// - modes and owners change through a descriptor opened with O_NOFOLLOW, or with lchown, never by path;
// - the socket is handed over (lchown) only where its owner cannot swap it for a hard link to a root file
//   at that instant: the daemon's own directory stays root's until then, and an owner's directory the daemon
//   did not create is used only where the kernel forbids such links (Linux's fs.protected_hardlinks);
// - a directory the daemon did not create (`--socket /tmp/x.sock`) is used as it is and never changed; one
//   it created is recognised on later runs by its identity (device, inode, birth time), kept in a
//   root-only file in the state directory (a marker inside the directory could be forged by its owner);
// - a socket directory that is a link, belongs to another non-root user, or that others may write to
//   without the sticky bit (they could swap the socket) is refused, naming the rule and the way out.
// The socket file gets its mode at bind time (umask), so no chmod by path is needed after it exists.
import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fstatSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  unlinkSync,
  type Stats,
} from 'node:fs';
import { createConnection } from 'node:net';
import type { Server } from 'node:http';
import { basename, dirname } from 'node:path';
import { writeFileAtomic } from '../shared/atomic-file';

export interface SocketOwner {
  uid: number;
  gid: number;
}

export class SocketDirError extends Error {
  readonly code = 'SOCKET_DIR_REFUSED';
}

const WAY_OUT = 'choose another --socket, or remove the directory so the daemon creates its own';

/** lstat, with a missing path as undefined (any other error is thrown). */
export function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Why an existing directory cannot hold the socket, or undefined when it can. */
function refusal(dir: string, st: Stats, owner: SocketOwner | undefined): string | undefined {
  if (st.isSymbolicLink())
    return `the socket directory ${dir} is a symbolic link (a link can be pointed elsewhere): ${WAY_OUT}`;
  if (!st.isDirectory()) return `the socket directory ${dir} is not a directory: ${WAY_OUT}`;
  if (st.uid !== 0 && st.uid !== owner?.uid)
    return `the socket directory ${dir} belongs to uid ${st.uid}, another non-root user (who could swap the socket): ${WAY_OUT}`;
  // Others who may write there could replace the socket, unless the sticky bit keeps their hands off it.
  if ((st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0)
    return `the socket directory ${dir} may be written by other users and has no sticky bit (they could swap the socket): ${WAY_OUT}`;
  return undefined;
}

/** Whether `who` may pass through the directory (search permission), as the kernel would decide. */
function canEnter(st: Stats, who: SocketOwner): boolean {
  if (st.uid === who.uid) return (st.mode & 0o100) !== 0;
  if (st.gid === who.gid) return (st.mode & 0o010) !== 0;
  return (st.mode & 0o001) !== 0;
}

interface DirIdentity {
  path: string;
  dev: number;
  ino: number;
  birthtimeMs: number;
}

function identity(path: string, st: Stats): DirIdentity {
  return { path, dev: st.dev, ino: st.ino, birthtimeMs: st.birthtimeMs };
}

function readRecord(file: string | undefined): DirIdentity | undefined {
  if (!file) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as DirIdentity;
  } catch {
    return undefined;
  }
}

function sameDir(a: DirIdentity | undefined, b: DirIdentity): boolean {
  return !!a && a.path === b.path && a.dev === b.dev && a.ino === b.ino && a.birthtimeMs === b.birthtimeMs;
}

export interface SocketDirOptions {
  owner?: SocketOwner;
  /** A root-only file (in the state directory) that remembers the directory this daemon created. */
  recordFile?: string;
  /** Whether the kernel forbids a user to hard-link another user's file (default: read from the system). */
  hardlinksProtected?: () => boolean;
}

/** What listenOnSocket must do once the socket is bound: hand the daemon's own directory to the owner. */
export interface SocketDirHandOver {
  dir: string;
  identity: DirIdentity;
}

/**
 * Linux's fs.protected_hardlinks (on by default on current distributions): a user cannot link a file they
 * may not write. macOS has no such rule.
 */
function systemProtectsHardlinks(): boolean {
  if (process.platform !== 'linux') return false;
  try {
    return readFileSync('/proc/sys/fs/protected_hardlinks', 'utf8').trim() === '1';
  } catch {
    return false;
  }
}

/**
 * Makes the socket's directory ready: creates it (mode 0700, the owner's) when missing, re-applies owner
 * and mode to the one it created on an earlier run, and leaves any other directory exactly as it is.
 * Throws SocketDirError, naming the rule and the way out, for a directory that must not be used.
 */
export async function prepareSocketDir(
  socketPath: string,
  opts: SocketDirOptions = {},
): Promise<SocketDirHandOver | undefined> {
  const { owner, recordFile } = opts;
  const dir = dirname(socketPath);
  let created = false;
  if (!lstatOrUndefined(dir)) {
    // Parents made on the way must stay passable for the owner; the last directory is the lock.
    mkdirSync(dirname(dir), { recursive: true, mode: 0o755 });
    try {
      mkdirSync(dir, { mode: 0o700 });
      created = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  let fd: number;
  try {
    fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (err) {
    const st = lstatOrUndefined(dir);
    const why = st && refusal(dir, st, owner);
    throw new SocketDirError(
      why ?? `cannot open the socket directory ${dir}: ${(err as Error).message}: ${WAY_OUT}`,
    );
  }
  try {
    // Checked on the descriptor: this is the directory that is used (and maybe changed), whatever the path does.
    const st = fstatSync(fd);
    const id = identity(dir, st);
    const ours = created || sameDir(readRecord(recordFile), id);
    // A directory the daemon made earlier may still belong to the previous owner: it is handed over.
    const why = refusal(dir, st, ours ? { uid: st.uid, gid: st.gid } : owner);
    if (why) throw new SocketDirError(why);
    if (!ours) {
      // Left as it is, it must still let the owner reach the socket, or the owner would only see EACCES.
      if (owner && !canEnter(st, owner))
        throw new SocketDirError(
          `the socket directory ${dir} (uid ${st.uid}, mode ${(st.mode & 0o7777).toString(8)}) does not let uid ${owner.uid} reach the socket, and the daemon changes no directory it did not create: ${WAY_OUT}`,
        );
      // The socket is handed over by path (lchown): in a directory its owner may write, the owner could
      // put a hard link to a root file there in the instant between the check and the lchown, and be given
      // that file. Only a kernel that forbids such links makes the owner's own directory safe.
      if (
        owner &&
        st.uid === owner.uid &&
        st.uid !== 0 &&
        !(opts.hardlinksProtected ?? systemProtectsHardlinks)()
      )
        throw new SocketDirError(
          `the socket directory ${dir} belongs to uid ${st.uid}, the socket's owner, and the daemon did not create it: handing the socket over there could give that user a root file through a hard link, which this system does not forbid: ${WAY_OUT}`,
        );
      return undefined;
    }
    // Root's until the socket in it is handed over (listenOnSocket): meanwhile its owner can change nothing
    // in it, so the socket's lchown cannot be pointed at another file.
    fchmodSync(fd, 0o700);
    fchownSync(fd, 0, 0);
    if (recordFile && !sameDir(readRecord(recordFile), id))
      await writeFileAtomic(recordFile, `${JSON.stringify(id)}\n`);
    return { dir, identity: id };
  } finally {
    closeSync(fd);
  }
}

/**
 * Throws when another daemon answers on `path` (or something other than a socket is there), and changes
 * nothing, so a daemon can ask before its first side effect. Says whether a stale socket is left there.
 * Two daemons with one state directory are kept apart by its lock (daemon-lock.ts), taken before this; what
 * this check adds is a daemon with another state directory on the same socket, and that only when one of
 * them already listens (two such daemons started at the same instant both pass it, as before).
 */
export async function refuseLiveDaemon(path: string): Promise<boolean> {
  let st: Stats | undefined;
  try {
    st = lstatOrUndefined(path);
  } catch (err) {
    // Nothing can listen below a file; prepareSocketDir refuses such a path later, naming the way out.
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') return false;
    throw err;
  }
  if (!st) return false;
  if (!st.isSocket())
    throw new SocketDirError(
      `${path} exists and is not a socket; the daemon removes only a stale socket there: choose another --socket, or remove it`,
    );
  const alive = await new Promise<boolean>((resolve) => {
    const c = createConnection(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`another Gangway daemon is already listening on ${path}`);
  return true;
}

/**
 * Refuses to start over a socket another daemon is still serving; removes a stale socket, nothing else.
 * Between the check and the unlink another daemon could bind there; under the state directory's lock that can
 * only be one with another state directory.
 */
export async function clearStaleSocket(path: string): Promise<void> {
  if (await refuseLiveDaemon(path)) unlinkSync(path);
}

/**
 * Binds `server` to the socket with mode 0600 from the start (the umask is narrowed for the synchronous
 * bind only), then hands it to `owner` with lchown, which never follows a link planted under its name.
 */
export async function listenOnSocket(
  server: Server,
  socketPath: string,
  owner?: SocketOwner,
  handOver?: SocketDirHandOver,
): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const previous = process.umask(0o177);
    try {
      // node binds a unix socket synchronously inside listen(); errors still arrive as 'error'.
      server.listen(socketPath, () => resolve());
    } finally {
      process.umask(previous);
    }
  });
  if (owner) {
    const st = lstatSync(socketPath);
    if (!st.isSocket()) throw new SocketDirError(`${basename(socketPath)} was replaced after it was bound`);
    lchownSync(socketPath, owner.uid, owner.gid);
  }
  if (handOver) handDirOver(handOver, owner);
}

/** The daemon's own directory goes to the socket's owner (root keeps it without one), through a descriptor. */
function handDirOver(h: SocketDirHandOver, owner: SocketOwner | undefined): void {
  const fd = openSync(h.dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  try {
    if (!sameDir(h.identity, identity(h.dir, fstatSync(fd))))
      throw new SocketDirError(`the socket directory ${h.dir} was replaced while the socket was bound`);
    fchownSync(fd, owner?.uid ?? 0, owner?.gid ?? 0);
  } finally {
    closeSync(fd);
  }
}
