// One daemon per state directory: a lock taken before any side effect (TUN, routes, resolver registration)
// and held until the process is gone, so that two daemons started at the same instant cannot both set up,
// and the loser's stop() cannot undo what the winner registered. Node has no flock(), so the lock is made of
// what the kernel does atomically, and its liveness is asked of the kernel, not read from a pid:
//
// - The lock is the directory <stateDir>/daemon.lock holding the holder's unix socket, named
//   `<pid>-<16 hex digits>.sock` (a name never used twice), on which the holder listens for its whole life.
//   Its pid is in the name only to be shown; liveness is whether the socket accepts a connection: the kernel
//   closes the socket of a process that is gone (a crash, SIGKILL), whatever became of its pid (reused after a
//   reboot: a pid file would then block the start for good).
// - A daemon binds and listens on its socket in a directory of its own (`daemon.lock.<pid>-<hex>`), then
//   renames that directory to daemon.lock. rename() replaces an empty directory and fails on one with
//   anything in it, in one step: taking the lock is that rename.
// - A stale lock is taken over by unlinking, by its own unique name, each socket in daemon.lock that refuses
//   connections, then renaming again. A contender who judged a socket dead can only ever unlink that very
//   socket: a dead socket never comes back to life, a name is never reused, and a live holder's socket is
//   only ever published (renamed in) already listening. So an unlink that comes late finds nothing, and the
//   rename of whoever comes second fails on the winner's non-empty directory. No step compares and then
//   deletes a name another daemon may be reusing.
//
// What this cannot see (the remaining window): on macOS a live holder whose listen queue is full (more than
// kern.ipc.somaxconn, 128, connections waiting while its event loop is stalled) refuses connections like a
// dead one, and would be taken over; only root can connect (the directory is root's alone), and the holder
// accepts and closes each connection as soon as its loop runs. Linux answers a full queue with EAGAIN, which
// counts as alive. And someone who deletes daemon.lock's socket by hand frees the lock.
//
// Root never follows a link a user planted: the state directory, every directory above it and every link on
// the way must be root's (or this process owner's), and none writable by others (a sticky directory above
// it, like /tmp, is fine); else the daemon refuses, naming the rule and the way out. Inside it, only root
// can create anything.
import { randomBytes } from 'node:crypto';
import {
  lstatSync,
  mkdirSync,
  readdirSync,
  realpathSync,
  renameSync,
  rmdirSync,
  unlinkSync,
  type Stats,
} from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { dirname, join, parse, resolve } from 'node:path';
import { lstatOrUndefined } from './control-socket';

export const LOCK_DIR_NAME = 'daemon.lock';
/** A socket's path, with its NUL, must fit in sun_path: 104 bytes on macOS, 108 on Linux. */
export const MAX_SOCKET_PATH_BYTES = process.platform === 'linux' ? 107 : 103;
/** The widest pid: Linux's pid_max goes up to 4194304 (systemd sets it so), macOS's to 99998. The path check
 *  counts with it, so that a state directory is not accepted today and refused after a later restart. */
const WIDEST_PID = process.platform === 'linux' ? 4_194_304 : 99_998;
/** Rounds of stale takeover before giving up (each one removes a dead socket or meets a live holder). */
const MAX_ATTEMPTS = 8;
/** How long a socket that accepted nothing and refused nothing is given to answer. */
const PROBE_TIMEOUT_MS = 2_000;

export type DaemonLockCode = 'DAEMON_RUNNING' | 'STATE_DIR_REFUSED' | 'LOCK_UNUSABLE';

export class DaemonLockError extends Error {
  constructor(
    message: string,
    readonly code: DaemonLockCode,
    /** The pid that holds the lock, when that is the reason. */
    readonly holderPid?: number,
  ) {
    super(message);
  }
}

/** A socket's name in the lock directory: its holder's pid and a nonce. */
export function lockEntryName(pid: number, nonce: string): string {
  return `${pid}-${nonce}.sock`;
}

/** The pid in a lock entry's name, or undefined for a name the lock never makes. */
export function lockEntryPid(name: string): number | undefined {
  const m = /^(\d+)-[0-9a-f]{16}\.sock$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

/** The pid in a contender's own directory's name (`daemon.lock.<pid>-<hex>`), or undefined. */
export function candidatePid(name: string): number | undefined {
  const m = /^daemon\.lock\.(\d+)-[0-9a-f]{16}$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

/** What a connection to a lock socket says about its holder. */
export type Liveness = 'live' | 'dead' | 'gone' | 'unsure';

/** 'connected', or the connect error's code, or 'timeout'. */
export function liveness(outcome: string): Liveness {
  if (outcome === 'connected') return 'live';
  // Nobody listens: the holder is gone (a full queue on macOS says the same: see the file's header).
  if (outcome === 'ECONNREFUSED') return 'dead';
  // Removed meanwhile by another contender (or the holder, releasing it).
  if (outcome === 'ENOENT') return 'gone';
  // EAGAIN (Linux: a full queue), a timeout, anything else: someone may be there.
  return 'unsure';
}

/** The one message for a daemon refused because another one runs: who, and what to do. */
export function runningMessage(pid: number | undefined, stateDir: string, unsure?: string): string {
  const who = pid === undefined ? 'another Gangway daemon' : `another Gangway daemon (pid ${pid})`;
  const kill = pid === undefined ? 'stop it' : `sudo kill ${pid}`;
  const state = unsure
    ? `holds the lock of the state directory ${stateDir} but did not answer (${unsure})`
    : `is already running with the state directory ${stateDir}`;
  return `${who} ${state}: stop it first (${kill}; should it be Gangway's system service, which restarts it, remove that with gangway service uninstall), or give this daemon another --state-dir`;
}

/** The part of lstat() the path rules read. */
export type PathStat = Pick<Stats, 'uid' | 'mode' | 'isDirectory' | 'isSymbolicLink'>;

const STATE_DIR_WAY_OUT = "choose another --state-dir, or make it root's alone (chown root, chmod 0700)";

/**
 * Why root must not trust `path` on the way to its state directory (`last`: the state directory itself), or
 * undefined. A user who may change an entry on the way could point the daemon elsewhere.
 */
export function pathRefusal(path: string, st: PathStat, last: boolean, euid: number): string | undefined {
  const trusted = st.uid === 0 || st.uid === euid;
  if (st.isSymbolicLink())
    return trusted ? undefined : `${path} is a symbolic link that belongs to uid ${st.uid}, another user`;
  if (!st.isDirectory()) return `${path} is not a directory`;
  if (!trusted) return `${path} belongs to uid ${st.uid}, another user`;
  const othersWrite = (st.mode & 0o022) !== 0;
  // Above the state directory, the sticky bit keeps others' hands off root's entries (/tmp).
  if (othersWrite && (last || (st.mode & 0o1000) === 0))
    return `${path} may be written by other users${last ? '' : ' and has no sticky bit'}`;
  return undefined;
}

/** `path` and every directory above it, the root first. */
function prefixes(path: string): string[] {
  const out: string[] = [];
  for (let p = path; ; p = dirname(p)) {
    out.unshift(p);
    if (p === parse(p).root) return out;
  }
}

/**
 * Refuses a state directory a user other than root could redirect: checks each entry on the path as written
 * (links included) and on the path they resolve to. Parts not made yet are skipped (`mustExist` false).
 */
function checkStateDir(abs: string, euid: number, mustExist: boolean): void {
  const refuse = (why: string) =>
    new DaemonLockError(
      `the state directory ${abs} cannot be trusted with the daemon's lock: ${why}: ${STATE_DIR_WAY_OUT}`,
      'STATE_DIR_REFUSED',
    );
  const walk = (path: string) => {
    for (const p of prefixes(path)) {
      const st = lstatOrUndefined(p);
      if (!st) {
        if (mustExist) throw refuse(`${p} does not exist`);
        return;
      }
      const why = pathRefusal(p, st, p === path, euid);
      if (why) throw refuse(why);
    }
  };
  walk(abs);
  if (lstatOrUndefined(abs)) walk(realpathSync(abs));
}

/** Connects to a lock socket and says what that tells of its holder. */
function probe(path: string, timeoutMs: number): Promise<string> {
  return new Promise((done) => {
    const c = createConnection(path);
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    function finish(outcome: string) {
      clearTimeout(timer);
      c.destroy();
      done(outcome);
    }
    c.once('connect', () => finish('connected'));
    c.once('error', (err: NodeJS.ErrnoException) => finish(err.code ?? err.message));
  });
}

function ignoring(codes: string[], fn: () => void): void {
  try {
    fn();
  } catch (err) {
    if (!codes.includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes what contenders killed in the middle of taking the lock left behind: their own directories, when
 * their pid is gone and their socket refuses connections (both, so that a contender in another pid namespace,
 * or between its bind and its listen, keeps its own). Only sockets are unlinked; rmdir removes only an empty
 * directory.
 */
async function sweepCandidates(stateDir: string, timeoutMs: number): Promise<void> {
  for (const name of readdirSync(stateDir)) {
    const pid = candidatePid(name);
    if (pid === undefined || pid === process.pid || pidAlive(pid)) continue;
    const dir = join(stateDir, name);
    const st = lstatOrUndefined(dir);
    if (!st?.isDirectory()) continue;
    let entries: string[] = [];
    // Another daemon starting at the same time may sweep it first.
    ignoring(['ENOENT', 'ENOTDIR'], () => (entries = readdirSync(dir)));
    for (const entry of entries) {
      const p = join(dir, entry);
      if (!lstatOrUndefined(p)?.isSocket()) continue;
      if (liveness(await probe(p, timeoutMs)) === 'dead') ignoring(['ENOENT'], () => unlinkSync(p));
    }
    ignoring(['ENOENT', 'ENOTEMPTY', 'EEXIST'], () => rmdirSync(dir));
  }
}

/** A lock this process holds; given up when the process exits, or by release(). */
export interface DaemonLock {
  /** The lock directory (<stateDir>/daemon.lock). */
  readonly dir: string;
  /** This process's socket in it. */
  readonly socket: string;
  /** Gives the lock up at once (the process's exit does it too). Safe to call more than once. */
  release(): void;
}

const held = new Set<DaemonLock>();
let exitHook = false;

/** Binds this process's socket, listening, in a directory of its own beside the lock. */
async function candidate(
  stateDir: string,
): Promise<{ dir: string; name: string; server: Server; ino: number }> {
  const nonce = randomBytes(8).toString('hex');
  const name = lockEntryName(process.pid, nonce);
  const dir = join(stateDir, `${LOCK_DIR_NAME}.${process.pid}-${nonce}`);
  const widest = lockEntryName(WIDEST_PID, nonce);
  for (const p of [
    join(stateDir, `${LOCK_DIR_NAME}.${WIDEST_PID}-${nonce}`, widest),
    join(stateDir, LOCK_DIR_NAME, widest),
  ])
    if (Buffer.byteLength(p) > MAX_SOCKET_PATH_BYTES)
      throw new DaemonLockError(
        `the state directory ${stateDir} is too long a path for the daemon's lock socket (${p} has ${Buffer.byteLength(p)} bytes, at most ${MAX_SOCKET_PATH_BYTES} fit): choose a shorter --state-dir`,
        'STATE_DIR_REFUSED',
      );
  mkdirSync(dir, { mode: 0o700 });
  const server = createServer((c) => c.destroy());
  try {
    await new Promise<void>((ok, fail) => {
      server.once('error', fail);
      const previous = process.umask(0o177);
      try {
        server.listen(join(dir, name), () => ok());
      } finally {
        process.umask(previous);
      }
    });
  } catch (err) {
    ignoring(['ENOENT', 'ENOTEMPTY'], () => rmdirSync(dir));
    throw err;
  }
  // A failed accept (EMFILE) leaves it listening: nothing for the daemon to crash on.
  server.on('error', () => {});
  // It must not keep the process alive: the daemon's own work does, and the lock lasts as long as that.
  server.unref();
  return { dir, name, server, ino: lstatSync(join(dir, name)).ino };
}

/**
 * Takes the state directory's lock, or throws DaemonLockError: DAEMON_RUNNING (another daemon holds it;
 * holderPid), STATE_DIR_REFUSED (a directory root must not trust), LOCK_UNUSABLE (something else in the way).
 */
export async function takeDaemonLock(
  stateDir: string,
  opts: { euid?: number; probeTimeoutMs?: number } = {},
): Promise<DaemonLock> {
  const abs = resolve(stateDir);
  const euid = opts.euid ?? process.geteuid?.() ?? 0;
  checkStateDir(abs, euid, false);
  mkdirSync(abs, { recursive: true, mode: 0o700 });
  checkStateDir(abs, euid, true);
  const lockDir = join(abs, LOCK_DIR_NAME);
  const timeoutMs = opts.probeTimeoutMs ?? PROBE_TIMEOUT_MS;
  await sweepCandidates(abs, timeoutMs);
  let mine = await candidate(abs);
  const giveUp = () => {
    // Closing unlinks the socket at the path it was bound to, in the directory that is still ours.
    mine.server.close();
    ignoring(['ENOENT', 'ENOTEMPTY', 'EEXIST'], () => rmdirSync(mine.dir));
  };
  try {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      try {
        renameSync(mine.dir, lockDir);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' && !lstatOrUndefined(mine.dir)) {
          // Ours was swept by a contender that could not see this process (another pid namespace).
          mine.server.close();
          mine = await candidate(abs);
          continue;
        }
        // A directory with something in it (ENOTEMPTY, or EEXIST as POSIX also allows), or not a directory.
        if (!['ENOTEMPTY', 'EEXIST', 'ENOTDIR', 'EISDIR'].includes(code ?? '')) throw err;
        await clearDead(lockDir, abs, timeoutMs);
        continue;
      }
      // Ours from the rename on; it still holds our socket unless a sweep took it before (see above).
      const socket = join(lockDir, mine.name);
      if (lstatOrUndefined(socket)?.ino !== mine.ino) {
        ignoring(['ENOENT', 'ENOTEMPTY', 'EEXIST'], () => rmdirSync(lockDir));
        mine.server.close();
        mine = await candidate(abs);
        continue;
      }
      return hold(lockDir, socket, mine.server);
    }
  } catch (err) {
    giveUp();
    throw err;
  }
  giveUp();
  throw new DaemonLockError(
    `could not take the lock ${lockDir} in ${MAX_ATTEMPTS} attempts: other daemons keep starting there; start this one again once they have settled`,
    'LOCK_UNUSABLE',
  );
}

/**
 * Unlinks, each by its own name, the sockets in the lock directory that nobody listens on; throws when one
 * answers (a live daemon) or when something else is in the way.
 */
async function clearDead(lockDir: string, stateDir: string, timeoutMs: number): Promise<void> {
  const st = lstatOrUndefined(lockDir);
  if (!st) return;
  if (!st.isDirectory())
    throw new DaemonLockError(
      `${lockDir} is not a directory, and the daemon removes only a stale lock there: remove it`,
      'LOCK_UNUSABLE',
    );
  let entries: string[];
  try {
    entries = readdirSync(lockDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  for (const name of entries) {
    const path = join(lockDir, name);
    const entry = lstatOrUndefined(path);
    if (!entry) continue;
    const pid = lockEntryPid(name);
    if (!entry.isSocket() || pid === undefined)
      throw new DaemonLockError(
        `${path} is not a lock of the daemon's, and the daemon removes only its own stale locks: remove it, if no Gangway daemon runs with the state directory ${stateDir}`,
        'LOCK_UNUSABLE',
      );
    const outcome = await probe(path, timeoutMs);
    switch (liveness(outcome)) {
      case 'live':
        throw new DaemonLockError(runningMessage(pid, stateDir), 'DAEMON_RUNNING', pid);
      case 'unsure':
        throw new DaemonLockError(runningMessage(pid, stateDir, outcome), 'DAEMON_RUNNING', pid);
      case 'dead':
        ignoring(['ENOENT'], () => unlinkSync(path));
        break;
      case 'gone':
        break;
    }
  }
}

function hold(dir: string, socket: string, server: Server): DaemonLock {
  const lock: DaemonLock = {
    dir,
    socket,
    release() {
      if (!held.delete(lock)) return;
      // By its own name first: from then on the lock is free (an empty directory is one), and rmdir cannot
      // remove a directory another daemon has just renamed into place, as that one is not empty.
      ignoring(['ENOENT'], () => unlinkSync(socket));
      ignoring(['ENOENT', 'ENOTEMPTY', 'EEXIST'], () => rmdirSync(dir));
      server.close();
    },
  };
  held.add(lock);
  if (!exitHook) {
    exitHook = true;
    // After the daemon's stop() has undone everything: the lock is the last thing to go.
    process.once('exit', () => {
      for (const l of [...held]) l.release();
    });
  }
  return lock;
}
