// The control socket's directory with real files, links and a real unprivileged uid (nobody, 65534): the
// daemon (root) must never change a directory it did not create, never follow a link, refuse a directory
// another user could swap the socket in, and still give the owner, and only the owner, the socket.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  rmdirSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import type { Server } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startControlServer } from '../../helper/control-server';
import { SocketDirError, prepareSocketDir, refuseLiveDaemon } from '../../helper/control-socket';

const NOBODY = { uid: 65534, gid: 65534 };
/** Another unprivileged uid that exists nowhere: it must not reach the owner's socket. */
const STRANGER = { uid: 65533, gid: 65533 };

const root = mkdtempSync(join(tmpdir(), 'gangway-socket-test-'));
// Everyone must be able to pass through to the directories below (the clients run as nobody).
chmodSync(root, 0o755);
const servers: Server[] = [];

after(async () => {
  for (const s of servers) await new Promise<void>((r) => s.close(() => r()));
  rmSync(root, { recursive: true, force: true });
});

async function start(socketPath: string, owner?: { uid: number; gid: number }, record?: string) {
  const server = await startControlServer({
    socketPath,
    routes: { 'GET /v1/ping': () => ({ pong: true }) },
    ...(owner ? { owner } : {}),
    ...(record ? { socketDirRecord: record } : {}),
  });
  servers.push(server);
  return server;
}

async function stopAll(): Promise<void> {
  for (const s of servers.splice(0)) await new Promise<void>((r) => s.close(() => r()));
}

/** Asks the socket for /v1/ping as `who` (a real process with that uid): the HTTP status, or the error code. */
function pingAs(who: { uid: number; gid: number }, socketPath: string): Promise<string> {
  const script = `require('node:http').get({ socketPath: ${JSON.stringify(socketPath)}, path: '/v1/ping' },
    (r) => { console.log(String(r.statusCode)); r.resume(); }).on('error', (e) => console.log(e.code));`;
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['-e', script], { uid: who.uid, gid: who.gid, cwd: '/' });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('close', () => resolve(out.trim()));
  });
}

function modeOf(path: string): { uid: number; gid: number; mode: number } {
  const st = statSync(path);
  return { uid: st.uid, gid: st.gid, mode: st.mode & 0o7777 };
}

async function refused(p: Promise<unknown>, rule: RegExp): Promise<void> {
  await assert.rejects(p, (err: Error) => {
    assert.ok(err instanceof SocketDirError, `expected SocketDirError, got ${err.message}`);
    assert.match(err.message, rule);
    assert.match(err.message, /choose another --socket/);
    return true;
  });
}

describe('control socket directory', () => {
  test('a directory the daemon did not create (like /tmp) is used as it is, never chmod-ed or chown-ed', async () => {
    const shared = join(root, 'shared-tmp');
    mkdirSync(shared);
    chmodSync(shared, 0o1777);
    const before = modeOf(shared);
    const sock = join(shared, 'x.sock');
    await start(sock, NOBODY);
    assert.deepEqual(modeOf(shared), before, 'the shared directory was changed');
    // The socket itself carries the access check here: 0600 from the bind on, owned by the owner.
    assert.deepEqual(modeOf(sock), { ...NOBODY, mode: 0o600 });
    assert.equal(await pingAs(NOBODY, sock), '200');
    assert.equal(await pingAs(STRANGER, sock), 'EACCES');
    await stopAll();
  });

  test('a directory the daemon creates is 0700 and the owner’s; the owner reaches the socket, others do not', async () => {
    const dir = join(root, 'made', 'gangway');
    const record = join(root, 'made-record.json');
    const sock = join(dir, 'gangway.sock');
    await start(sock, NOBODY, record);
    assert.deepEqual(modeOf(dir), { ...NOBODY, mode: 0o700 });
    // The parent it made on the way stays passable.
    assert.equal(modeOf(join(root, 'made')).mode & 0o755, 0o755);
    assert.equal(await pingAs(NOBODY, sock), '200');
    assert.equal(await pingAs(STRANGER, sock), 'EACCES');
    await stopAll();

    // A later run with another owner hands the directory it made (recognised by its identity) over.
    await start(sock, STRANGER, record);
    assert.deepEqual(modeOf(dir), { ...STRANGER, mode: 0o700 });
    assert.equal(await pingAs(STRANGER, sock), '200');
    assert.equal(await pingAs(NOBODY, sock), 'EACCES');
    await stopAll();

    // The previous owner replaced it with a directory of its own at the same path: that one is refused.
    rmSync(dir, { recursive: true });
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, NOBODY.uid, NOBODY.gid);
    await refused(start(sock, STRANGER, record), /belongs to uid 65534, another non-root user/);
    assert.deepEqual(modeOf(dir), { ...NOBODY, mode: 0o700 });
  });

  test("the directory the daemon makes stays root's until the socket in it is handed over", async () => {
    // While the owner may write the directory, it could swap the fresh socket for a hard link to a root file
    // just before the lchown; so the owner gets the directory only after the socket.
    const dir = join(root, 'handover', 'gangway');
    const record = join(root, 'handover-record.json');
    const sock = join(dir, 'gangway.sock');
    const handOver = await prepareSocketDir(sock, { owner: NOBODY, recordFile: record });
    assert.ok(handOver, "the directory is the daemon's own");
    assert.deepEqual(modeOf(dir), { uid: 0, gid: 0, mode: 0o700 }, "root's while the socket is bound");
    await start(sock, NOBODY, record);
    assert.deepEqual(modeOf(dir), { ...NOBODY, mode: 0o700 });
    assert.deepEqual(modeOf(sock), { ...NOBODY, mode: 0o600 });
    assert.equal(await pingAs(NOBODY, sock), '200');
    await stopAll();
    // On the next start the directory (the owner's now) is taken back first, the same way.
    assert.ok(await prepareSocketDir(sock, { owner: NOBODY, recordFile: record }));
    assert.deepEqual(modeOf(dir), { uid: 0, gid: 0, mode: 0o700 });
  });

  test("the owner's own directory is refused where the kernel lets a user hard-link root's files", async () => {
    const dir = join(root, 'owners-own');
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, NOBODY.uid, NOBODY.gid);
    const sock = join(dir, 'gangway.sock');
    await refused(
      prepareSocketDir(sock, { owner: NOBODY, hardlinksProtected: () => false }),
      /belongs to uid 65534, the socket's owner, and the daemon did not create it: .*hard link/,
    );
    assert.equal(
      await prepareSocketDir(sock, { owner: NOBODY, hardlinksProtected: () => true }),
      undefined,
      'used as it is (no hand-over) where links to root files are forbidden',
    );
    assert.deepEqual(modeOf(dir), { ...NOBODY, mode: 0o700 }, 'never changed');
  });

  test('a socket directory that is a symbolic link is refused, and its target is left alone', async () => {
    const target = join(root, 'victim-dir');
    mkdirSync(target, { mode: 0o755 });
    chmodSync(target, 0o755);
    const link = join(root, 'link-dir');
    symlinkSync(target, link);
    await refused(start(join(link, 'gangway.sock'), NOBODY), /is a symbolic link/);
    assert.deepEqual(modeOf(target), { uid: 0, gid: 0, mode: 0o755 });
    assert.equal(existsSync(join(target, 'gangway.sock')), false);
  });

  test('a directory of another non-root user is refused and not chown-ed', async () => {
    const dir = join(root, 'nobodys');
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, NOBODY.uid, NOBODY.gid);
    await refused(start(join(dir, 'gangway.sock'), STRANGER), /belongs to uid 65534, another non-root user/);
    await refused(start(join(dir, 'gangway.sock')), /belongs to uid 65534/);
    assert.deepEqual(modeOf(dir), { ...NOBODY, mode: 0o700 });
    // Its owner's own directory is fine for the owner.
    await start(join(dir, 'gangway.sock'), NOBODY);
    assert.deepEqual(modeOf(dir), { ...NOBODY, mode: 0o700 });
    await stopAll();
  });

  test('a directory others may write to without the sticky bit is refused', async () => {
    const dir = join(root, 'open');
    mkdirSync(dir);
    chmodSync(dir, 0o777);
    await refused(
      start(join(dir, 'gangway.sock'), NOBODY),
      /may be written by other users and has no sticky bit/,
    );
    assert.equal(modeOf(dir).mode, 0o777);
  });

  test('a root directory the owner cannot enter is refused, not silently left unreachable', async () => {
    const dir = join(root, 'roots');
    mkdirSync(dir, { mode: 0o700 });
    chmodSync(dir, 0o700);
    await refused(start(join(dir, 'gangway.sock'), NOBODY), /does not let uid 65534 reach the socket/);
    assert.deepEqual(modeOf(dir), { uid: 0, gid: 0, mode: 0o700 });
    // Without an owner, root alone uses it: fine as it is.
    await start(join(dir, 'gangway.sock'));
    assert.deepEqual(modeOf(dir), { uid: 0, gid: 0, mode: 0o700 });
    await stopAll();
  });

  test('a socket swapped for a link right after bind: the link is never followed (a real racing uid)', async () => {
    // The owner's own directory is allowed; the owner (nobody) races to replace the fresh socket with a link
    // to a root file, hoping the daemon's chmod/chown follows it. Bounded: 150 starts or 8 s.
    const dir = join(root, 'race');
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, NOBODY.uid, NOBODY.gid);
    const victim = join(root, 'victim-file');
    writeFileSync(victim, 'root only');
    chmodSync(victim, 0o644);
    const sock = join(dir, 'gangway.sock');
    const attacker = spawn(
      process.execPath,
      [
        '-e',
        `const fs = require('node:fs');
         const [sock, victim] = process.argv.slice(1);
         const end = Date.now() + 10000;
         let i = 0;
         process.stdout.write('ready\\n');
         while (Date.now() < end) {
           try {
             if (fs.lstatSync(sock).isSocket()) {
               const tmp = sock + '.link' + (i++ % 8);
               fs.symlinkSync(victim, tmp);
               fs.renameSync(tmp, sock);
             }
           } catch {}
         }`,
        sock,
        victim,
      ],
      { uid: NOBODY.uid, gid: NOBODY.gid, cwd: '/', stdio: ['ignore', 'pipe', 'ignore'] },
    );
    await new Promise<void>((r) => attacker.stdout.once('data', () => r()));
    let started = 0;
    let refusedStarts = 0;
    try {
      const t0 = Date.now();
      for (let i = 0; i < 150 && Date.now() - t0 < 8_000; i++) {
        try {
          await start(sock, NOBODY);
          started++;
        } catch {
          refusedStarts++;
        }
        await stopAll();
        // A link left at the path is removed here, as the test's own cleanup (the daemon refuses it).
        rmSync(sock, { force: true });
      }
    } finally {
      attacker.kill('SIGKILL');
    }
    console.log(`# race: ${started} starts bound and handed over, ${refusedStarts} refused`);
    assert.deepEqual(modeOf(victim), { uid: 0, gid: 0, mode: 0o644 }, 'the link was followed');
  });

  test('a file that is not a socket is never removed to make room', async () => {
    const dir = join(root, 'has-file');
    mkdirSync(dir, { mode: 0o700 });
    const file = join(dir, 'gangway.sock');
    writeFileSync(file, 'precious');
    await refused(start(file), /exists and is not a socket/);
    assert.equal(readFileSync(file, 'utf8'), 'precious');
    rmSync(file);
    rmdirSync(dir);
  });

  test('the early check refuses a live daemon and changes nothing, not even a stale socket', async () => {
    const dir = join(root, 'early');
    const sock = join(dir, 'gangway.sock');
    assert.equal(await refuseLiveDaemon(sock), false, 'no directory yet');
    assert.ok(!existsSync(dir), 'the check made the directory');
    mkdirSync(dir, { mode: 0o700 });
    const live = createServer();
    await new Promise<void>((r) => live.listen(sock, () => r()));
    await assert.rejects(refuseLiveDaemon(sock), /another Gangway daemon is already listening on /);
    // close() unlinks the socket; a crashed daemon leaves it behind, as this killed process does.
    await new Promise<void>((r) => live.close(() => r()));
    const stale = spawn(process.execPath, [
      '-e',
      `require('node:net').createServer().listen(${JSON.stringify(sock)}, () => process.kill(process.pid, 'SIGKILL'))`,
    ]);
    await new Promise((r) => stale.once('exit', r));
    assert.equal(await refuseLiveDaemon(sock), true, 'a stale socket');
    assert.ok(statSync(sock).isSocket(), 'the check removed the stale socket');
    const file = join(root, 'not-a-dir-file');
    writeFileSync(file, '');
    assert.equal(await refuseLiveDaemon(join(file, 'x.sock')), false, 'a path below a file');
    rmSync(file);
    rmSync(sock);
    rmdirSync(dir);
  });
});
