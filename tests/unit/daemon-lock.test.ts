// The state directory's lock (helper/daemon-lock.ts): its names, its verdicts and its rules for the path, and
// the lock itself in a temporary directory: taken once, refused naming the holder, taken over from a process
// killed with SIGKILL, and never through a directory another user could redirect.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DaemonLockError,
  LOCK_DIR_NAME,
  MAX_SOCKET_PATH_BYTES,
  candidatePid,
  liveness,
  lockEntryName,
  lockEntryPid,
  pathRefusal,
  runningMessage,
  takeDaemonLock,
  type PathStat,
} from '../../helper/daemon-lock';

const LOCK_MODULE = join(__dirname, '..', '..', 'helper', 'daemon-lock.js');
const NONCE = '0123456789abcdef';
const isRoot = process.geteuid?.() === 0;

function stat(kind: 'dir' | 'link' | 'file', uid: number, mode: number): PathStat {
  return { uid, mode, isDirectory: () => kind === 'dir', isSymbolicLink: () => kind === 'link' };
}

describe('names, verdicts and messages', () => {
  test('a lock entry and a contender directory carry the pid, and nothing else parses', () => {
    assert.equal(lockEntryName(4242, NONCE), `4242-${NONCE}.sock`);
    assert.equal(lockEntryPid(lockEntryName(4242, NONCE)), 4242);
    for (const bad of [
      '4242.sock',
      `x-${NONCE}.sock`,
      `4242-${NONCE}`,
      `4242-${NONCE}.sock.bak`,
      '.DS_Store',
    ])
      assert.equal(lockEntryPid(bad), undefined, bad);
    assert.equal(candidatePid(`${LOCK_DIR_NAME}.77-${NONCE}`), 77);
    for (const bad of [
      LOCK_DIR_NAME,
      `${LOCK_DIR_NAME}.77`,
      `other.77-${NONCE}`,
      `${LOCK_DIR_NAME}.77-${NONCE}x`,
    ])
      assert.equal(candidatePid(bad), undefined, bad);
  });

  test('only a refused connection counts as a dead holder; anything unclear counts as alive', () => {
    assert.equal(liveness('connected'), 'live');
    assert.equal(liveness('ECONNREFUSED'), 'dead');
    assert.equal(liveness('ENOENT'), 'gone');
    for (const o of ['EAGAIN', 'timeout', 'EACCES', 'ENOTSOCK']) assert.equal(liveness(o), 'unsure', o);
  });

  test('the refusal names the pid, the state directory and what to do', () => {
    const m = runningMessage(123, '/var/lib/gangway');
    assert.match(
      m,
      /^another Gangway daemon \(pid 123\) is already running with the state directory \/var\/lib\/gangway: /,
    );
    assert.match(m, /stop it first \(sudo kill 123;/);
    assert.match(m, /gangway service uninstall/);
    assert.match(m, /another --state-dir$/);
    assert.match(
      runningMessage(123, '/s', 'EAGAIN'),
      /\(pid 123\) holds the lock .* but did not answer \(EAGAIN\)/,
    );
  });

  test("the path rules: root's or our own, nobody else may write, links only of trusted owners", () => {
    const ok = (st: PathStat, last: boolean, euid = 0) =>
      assert.equal(pathRefusal('/p', st, last, euid), undefined);
    const no = (st: PathStat, last: boolean, why: RegExp, euid = 0) =>
      assert.match(pathRefusal('/p', st, last, euid) ?? '(accepted)', why);
    ok(stat('dir', 0, 0o40700), true);
    ok(stat('dir', 0, 0o40755), true);
    ok(stat('dir', 0, 0o40755), false);
    // /tmp: others write, but the sticky bit keeps them off root's entries; not for the state directory itself.
    ok(stat('dir', 0, 0o41777), false);
    no(stat('dir', 0, 0o41777), true, /may be written by other users$/);
    no(stat('dir', 0, 0o40777), false, /may be written by other users and has no sticky bit/);
    no(stat('dir', 0, 0o40770), true, /may be written by other users/);
    no(stat('dir', 1000, 0o40700), true, /belongs to uid 1000, another user/);
    no(stat('dir', 1000, 0o41777), false, /belongs to uid 1000/);
    ok(stat('dir', 1000, 0o40700), true, 1000);
    ok(stat('link', 0, 0o120777), false);
    ok(stat('link', 0, 0o120777), true);
    no(stat('link', 1000, 0o120777), false, /symbolic link that belongs to uid 1000/);
    no(stat('file', 0, 0o100600), true, /is not a directory/);
  });
});

describe('the lock in a directory', () => {
  const root = mkdtempSync(join(tmpdir(), 'gangway-lock-'));
  let n = 0;
  const stateDir = () => join(root, `s${n++}`);
  after(() => rmSync(root, { recursive: true, force: true }));

  async function refusedWith(p: Promise<unknown>, code: string, message: RegExp): Promise<DaemonLockError> {
    const err = await p.then(
      () => assert.fail('the lock was taken'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof DaemonLockError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    return err;
  }

  test('taken once; a second taker is refused naming this pid; free again after release', async () => {
    const dir = stateDir();
    const lock = await takeDaemonLock(dir);
    assert.equal(lock.dir, join(dir, LOCK_DIR_NAME));
    const st = lstatSync(lock.socket);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(lstatSync(dir).mode & 0o777, 0o700, 'the state directory it made');
    assert.equal(lstatSync(lock.dir).mode & 0o777, 0o700);
    assert.deepEqual(readdirSync(dir), [LOCK_DIR_NAME], 'no contender directory left behind');
    const err = await refusedWith(takeDaemonLock(dir), 'DAEMON_RUNNING', /another Gangway daemon/);
    assert.equal(err.holderPid, process.pid);
    assert.equal(err.message, runningMessage(process.pid, dir));
    assert.deepEqual(readdirSync(dir), [LOCK_DIR_NAME], 'the refused taker cleaned up after itself');
    assert.deepEqual(readdirSync(lock.dir), [lock.socket.slice(lock.dir.length + 1)]);
    lock.release();
    lock.release();
    assert.ok(!existsSync(lock.dir), 'released');
    const again = await takeDaemonLock(dir);
    again.release();
  });

  test('a holder killed with SIGKILL leaves a dead socket, which the next taker replaces', async () => {
    const dir = stateDir();
    // A process that takes the lock, says where, and is killed.
    const child = spawn(process.execPath, [
      '-e',
      `require(${JSON.stringify(LOCK_MODULE)}).takeDaemonLock(${JSON.stringify(dir)}).then((l) => {
        console.log(l.socket); setInterval(() => {}, 1000); })`,
    ]);
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', () => out.includes('\n') && resolve());
      child.once('exit', (code) => reject(new Error(`the holder exited (${code}) before taking the lock`)));
    });
    const killedSocket = out.trim();
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    assert.ok(lstatSync(killedSocket).isSocket(), 'SIGKILL leaves the socket behind');
    const lock = await takeDaemonLock(dir);
    assert.notEqual(lock.socket, killedSocket);
    assert.deepEqual(
      readdirSync(lock.dir),
      [lock.socket.slice(lock.dir.length + 1)],
      'the dead socket is gone',
    );
    lock.release();
  });

  test('a contender killed half-way leaves its own directory, which the next taker sweeps', async () => {
    const dir = stateDir();
    mkdirSync(dir, { mode: 0o700 });
    // What a contender leaves when SIGKILL comes between its listen and its rename: its own directory, named
    // with its pid, and in it its socket, now dead.
    const child = spawn(process.execPath, [
      '-e',
      `const { join } = require('node:path');
      const own = join(${JSON.stringify(dir)}, '${LOCK_DIR_NAME}.' + process.pid + '-${NONCE}');
      require('node:fs').mkdirSync(own, { mode: 0o700 });
      require('node:net').createServer().listen(join(own, process.pid + '-${NONCE}.sock'), () =>
        process.kill(process.pid, 'SIGKILL'));`,
    ]);
    await new Promise((r) => child.once('exit', r));
    const left = join(dir, `${LOCK_DIR_NAME}.${child.pid}-${NONCE}`);
    assert.deepEqual(readdirSync(left), [`${child.pid}-${NONCE}.sock`]);
    const lock = await takeDaemonLock(dir);
    assert.ok(!existsSync(left), 'swept');
    assert.deepEqual(readdirSync(dir), [LOCK_DIR_NAME]);
    lock.release();
  });

  test("something that is not the daemon's in the way is never removed: the taker refuses, naming it", async () => {
    const dir = stateDir();
    mkdirSync(dir, { mode: 0o700 });
    writeFileSync(join(dir, LOCK_DIR_NAME), 'precious');
    await refusedWith(takeDaemonLock(dir), 'LOCK_UNUSABLE', /daemon\.lock is not a directory.*: remove it/);
    assert.equal(readFileSync(join(dir, LOCK_DIR_NAME), 'utf8'), 'precious');
    rmSync(join(dir, LOCK_DIR_NAME));
    mkdirSync(join(dir, LOCK_DIR_NAME), { mode: 0o700 });
    writeFileSync(join(dir, LOCK_DIR_NAME, 'notes.txt'), 'precious');
    await refusedWith(takeDaemonLock(dir), 'LOCK_UNUSABLE', /notes\.txt is not a lock of the daemon's/);
    assert.equal(readFileSync(join(dir, LOCK_DIR_NAME, 'notes.txt'), 'utf8'), 'precious');
    assert.deepEqual(readdirSync(dir), [LOCK_DIR_NAME], 'the refused taker cleaned up after itself');
  });

  test(
    "a state directory others may write, or reached through another user's link, is refused",
    { skip: !isRoot && 'needs root' },
    async () => {
      const open = stateDir();
      mkdirSync(open, { mode: 0o700 });
      chmodSync(open, 0o777);
      await refusedWith(
        takeDaemonLock(open),
        'STATE_DIR_REFUSED',
        /may be written by other users: choose another --state-dir/,
      );
      assert.ok(!existsSync(join(open, LOCK_DIR_NAME)));
      // A user's link to root's own directory: the user could point it elsewhere at any time.
      const target = stateDir();
      mkdirSync(target, { mode: 0o700 });
      const link = stateDir();
      symlinkSync(target, link);
      lchownSync(link, 65534, 65534);
      await refusedWith(takeDaemonLock(link), 'STATE_DIR_REFUSED', /symbolic link that belongs to uid 65534/);
      assert.deepEqual(readdirSync(target), []);
      // Below a directory of another user's: nothing is created there.
      const theirs = stateDir();
      mkdirSync(theirs, { mode: 0o755 });
      lchownSync(theirs, 65534, 65534);
      await refusedWith(takeDaemonLock(join(theirs, 'state')), 'STATE_DIR_REFUSED', /belongs to uid 65534/);
      assert.deepEqual(readdirSync(theirs), []);
      // Root's own link is followed, and the directory it leads to is checked too.
      const rootLink = stateDir();
      symlinkSync(target, rootLink);
      const lock = await takeDaemonLock(rootLink);
      assert.ok(existsSync(join(target, LOCK_DIR_NAME)));
      lock.release();
    },
  );

  test('a state directory too long for a socket path is refused up front', async () => {
    const long = join(root, 'x'.repeat(MAX_SOCKET_PATH_BYTES));
    await refusedWith(
      takeDaemonLock(long),
      'STATE_DIR_REFUSED',
      /too long a path .*: choose a shorter --state-dir/,
    );
    assert.deepEqual(readdirSync(long), []);
  });

  test(
    "the length limit counts with the widest pid, not this process's: the verdict does not change at a restart",
    { skip: process.platform !== 'linux' && "Linux's pid_max" },
    async () => {
      // daemon.lock.<pid>-<16 hex>/<pid>-<16 hex>.sock after the state directory, with pid 4194304.
      const overhead = Buffer.byteLength(
        `/daemon.lock.4194304-${'0'.repeat(16)}/4194304-${'0'.repeat(16)}.sock`,
      );
      const fits = MAX_SOCKET_PATH_BYTES - overhead;
      const at = (n: number) => join(root, 'l'.repeat(n - root.length - 1));
      assert.ok(String(process.pid).length < 7, 'this process has a shorter pid than the widest');
      const lock = await takeDaemonLock(at(fits));
      lock.release();
      await refusedWith(takeDaemonLock(at(fits + 1)), 'STATE_DIR_REFUSED', /too long a path/);
    },
  );
});
