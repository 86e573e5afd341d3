// `gangway service` against a real systemd: a Debian bookworm machine booted with systemd-nspawn (its own
// network namespace, nothing shared with the machine's network) runs the real CLI from this checkout.
// install -> the helper is copied into /usr/local/lib/gangway/<version>, root's, and the unit runs that copy;
// the daemon answers on its socket, which belongs to the given user. Installed from a tree a user owns, the
// user's later changes to it do nothing to the service; a runtime the user owns is refused. status ->
// running; uninstall -> unit, copy, daemon and socket gone. Skips, saying why, where systemd-nspawn is
// missing or systemd cannot boot.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { waitFor } from '../../rig/exec';
import {
  ensureSystemdRootfs,
  SystemdMachine,
  SystemdMachineBootError,
  systemdMachineUnavailable,
} from '../../rig/systemd-machine';
import { CLI, DIST } from './harness';
import { VERSION } from '../../helper/version';

const CHECKOUT = path.resolve(DIST, '..');
// The checkout appears at a fixed place inside the machine: its systemd mounts a fresh /tmp, which would
// hide a checkout that lives under /tmp (as CI's clones may).
const INSIDE = '/opt/gangway';
const CLI_INSIDE = path.join(INSIDE, path.relative(CHECKOUT, CLI));
const UNIT = '/etc/systemd/system/gangway.service';
const COPY = `/usr/local/lib/gangway/${VERSION}`;
const DAEMON = `${COPY}/gangway.js daemon`;
/** A user's unpacked app, and the user. */
const USER_TREE = '/home/dev/gangway';
const USER = 1000;
const SOCKET = '/run/gangway/gangway.sock';
const DAEMON_LOG = '/var/log/gangway/gangway.log';
const SERVICE_LOG = '/var/log/gangway/helper.log';
// An owner that exists nowhere: the daemon must hand the socket to exactly these numbers.
const OWNER = { uid: 4321, gid: 4322 };

describe('gangway service on a real systemd (systemd-nspawn)', { timeout: 900_000 }, () => {
  let machine: SystemdMachine | undefined;
  let rootfs = '';
  let skipReason: string | undefined;
  const notes: string[] = [];

  /** The real CLI inside the machine, as root, with a clean environment. */
  const gangway = (args: string[], env: Record<string, string> = {}) =>
    machine!.exec(process.execPath, [CLI_INSIDE, ...args], { env, allowFail: true, timeoutMs: 60_000 });
  const systemctl = async (...args: string[]) =>
    (await machine!.exec('systemctl', args, { allowFail: true })).stdout.trim();

  before(async () => {
    skipReason = await systemdMachineUnavailable();
    if (skipReason) return;
    try {
      const r = await ensureSystemdRootfs({ progress: (m) => notes.push(m) });
      rootfs = r.dir;
      notes.push(`rootfs ${r.how} in ${r.ms} ms (${r.dir})`);
    } catch (err) {
      skipReason = `could not build the Debian rootfs with debootstrap: ${(err as Error).message}`;
      return;
    }
    const parts = ['dist', 'node_modules', 'native/build', 'package.json'].filter((p) =>
      existsSync(path.join(CHECKOUT, p)),
    );
    const binds = [
      process.execPath,
      ...parts.map((p) => `${path.join(CHECKOUT, p)}:${path.join(INSIDE, p)}`),
    ];
    const t0 = Date.now();
    try {
      machine = await SystemdMachine.boot({
        rootfs,
        bindsReadOnly: binds,
        devices: ['/dev/net/tun'],
        bootTimeoutMs: 60_000,
      });
    } catch (err) {
      if (!(err instanceof SystemdMachineBootError)) throw err;
      skipReason = `systemd does not boot in systemd-nspawn on this machine: ${err.message}`;
      return;
    }
    notes.push(`systemd booted in ${Date.now() - t0} ms`);
  });

  after(async () => {
    await machine?.stop();
  });

  const ready = (t: TestContext): boolean => {
    for (const n of notes.splice(0)) t.diagnostic(n);
    if (skipReason) t.skip(skipReason);
    return !skipReason;
  };

  test('service install: the unit is active and the daemon answers on a socket owned by the user', async (t) => {
    if (!ready(t)) return;
    const m = machine!;
    const t0 = Date.now();
    const r = await gangway(['service', 'install', '--', '--no-docker', '--dns-port', '0'], {
      SUDO_UID: String(OWNER.uid),
      SUDO_GID: String(OWNER.gid),
      SUDO_USER: 'tester',
    });
    assert.equal(r.code, 0, `service install failed:\n${r.stdout}${r.stderr}`);
    assert.match(r.stdout, new RegExp(`wrote ${UNIT}`));
    assert.equal(await systemctl('is-enabled', 'gangway.service'), 'enabled');
    assert.equal(await systemctl('is-active', 'gangway.service'), 'active');

    const st = await waitFor(
      'gangway status to reach the daemon',
      async () => {
        const s = await gangway(['status', '--socket', SOCKET]);
        return s.code === 0 && s;
      },
      15_000,
      100,
    ).catch(async (err: Error) => {
      const journal = await m.exec('journalctl', ['-u', 'gangway.service', '--no-pager'], {
        allowFail: true,
      });
      throw new Error(`${err.message}\n--- journal ---\n${journal.stdout}`);
    });
    t.diagnostic(`service install -> daemon answering: ${Date.now() - t0} ms`);
    assert.match(st.stdout, /tunnel\s+gw0/);
    assert.match(st.stdout, /not followed \(--no-docker\)/);

    // The unit really runs this checkout's daemon with the owner from sudo's variables.
    const unit = await readFile(m.hostPath(UNIT), 'utf8');
    assert.match(unit, new RegExp(`"--socket-owner" "${OWNER.uid}:${OWNER.gid}"`));
    assert.equal(
      existsSync(path.join(rootfs, UNIT)),
      false,
      'the cached rootfs must stay untouched (the machine writes to its overlay)',
    );
    // The unit runs the root-owned copy with the runtime's real path, never the checkout.
    assert.match(unit, new RegExp(`^ExecStart="${process.execPath}" "${COPY}/gangway.js" "daemon"`, 'm'));
    assert.doesNotMatch(unit, /\/opt\/gangway/);
    const daemons = await m.processes(DAEMON);
    assert.equal(daemons.length, 1, `one daemon process, found ${daemons.length}`);
    for (const f of readdirSync(m.hostPath(COPY))) {
      const st = statSync(m.hostPath(`${COPY}/${f}`));
      assert.equal(st.uid, 0, `${COPY}/${f} belongs to root`);
      assert.equal(st.mode & 0o022, 0, `${COPY}/${f} is writable by root only`);
    }

    const dir = statSync(m.hostPath(path.dirname(SOCKET)));
    assert.deepEqual({ uid: dir.uid, gid: dir.gid, mode: dir.mode & 0o777 }, { ...OWNER, mode: 0o700 });
    const sock = statSync(m.hostPath(SOCKET));
    assert.ok(sock.isSocket());
    assert.equal(sock.uid, OWNER.uid);
    assert.ok(statSync(m.hostPath(DAEMON_LOG)).size > 0, `${DAEMON_LOG} is empty`);
    assert.ok(existsSync(m.hostPath(SERVICE_LOG)), `${SERVICE_LOG} is missing`);

    // The TUN device is in the machine's own network namespace.
    const link = await m.exec('ip', ['-br', 'link', 'show', 'gw0'], { allowFail: true });
    assert.equal(link.code, 0, `no gw0 in the machine: ${link.stderr}`);
    assert.equal(await systemctl('show', '--property=NRestarts', '--value', 'gangway.service'), '0');
  });

  test('a second install restarts the daemon with the new command line', async (t) => {
    if (!ready(t)) return;
    const m = machine!;
    const before = await systemctl('show', '--property=MainPID', '--value', 'gangway.service');
    const owner = { uid: OWNER.uid + 10, gid: OWNER.gid + 10 };
    const r = await gangway(['service', 'install', '--', '--no-docker', '--dns-port', '0'], {
      SUDO_UID: String(owner.uid),
      SUDO_GID: String(owner.gid),
    });
    assert.equal(r.code, 0, `second service install failed:\n${r.stdout}${r.stderr}`);
    const after = await systemctl('show', '--property=MainPID', '--value', 'gangway.service');
    assert.notEqual(after, before, 'the daemon was not restarted');
    await waitFor(
      'the restarted daemon to answer',
      async () => (await gangway(['status', '--socket', SOCKET])).code === 0,
      15_000,
      100,
    );
    const dir = statSync(m.hostPath(path.dirname(SOCKET)));
    assert.deepEqual({ uid: dir.uid, gid: dir.gid }, owner);
    assert.equal((await m.processes(DAEMON)).length, 1);
  });

  test("installed from a tree a user owns: the user's later changes to it do nothing to the service", async (t) => {
    if (!ready(t)) return;
    const m = machine!;
    const sh = (script: string) => m.exec('sh', ['-c', script], { allowFail: true });
    const prep = await sh(
      `mkdir -p /home/dev && cp -r ${INSIDE}/dist/bundle ${USER_TREE} && chown -R ${USER}:${USER} /home/dev`,
    );
    assert.equal(prep.code, 0, prep.stderr);
    const r = await m.exec(
      process.execPath,
      [`${USER_TREE}/gangway.js`, 'service', 'install', '--', '--no-docker', '--dns-port', '0'],
      { env: { SUDO_UID: String(USER), SUDO_GID: String(USER) }, allowFail: true, timeoutMs: 60_000 },
    );
    assert.equal(r.code, 0, `install from the user's tree failed:\n${r.stdout}${r.stderr}`);
    assert.match(r.stdout, new RegExp(`copied the helper into ${COPY}`));
    const unit = await readFile(m.hostPath(UNIT), 'utf8');
    assert.doesNotMatch(unit, /\/home\/dev/);
    const hash = () =>
      createHash('sha256')
        .update(readFileSync(m.hostPath(`${COPY}/gangway.js`)))
        .digest('hex');
    const before = hash();

    // The user swaps the file they installed from for code that would leave a mark only root can leave.
    const evil = `require("fs").writeFileSync("/gangway-pwned", "ran as " + process.getuid());`;
    const w = await m.exec(
      'setpriv',
      [
        '--reuid',
        String(USER),
        '--regid',
        String(USER),
        '--clear-groups',
        'sh',
        '-c',
        `echo '${evil}' > ${USER_TREE}/gangway.js`,
      ],
      { allowFail: true },
    );
    assert.equal(w.code, 0, `the user could not change their own file: ${w.stderr}`);
    assert.equal(await systemctl('restart', 'gangway.service'), '');
    await waitFor(
      'the restarted daemon to answer',
      async () => (await gangway(['status', '--socket', SOCKET])).code === 0,
      15_000,
      100,
    );
    assert.equal(existsSync(m.hostPath('/gangway-pwned')), false, "root ran the user's file");
    assert.equal(hash(), before, 'the root-owned copy changed');
    assert.equal((await m.processes(DAEMON)).length, 1);
  });

  test('a runtime a user can change is refused, naming it and its owner; the service stays as it was', async (t) => {
    if (!ready(t)) return;
    const m = machine!;
    const unitBefore = await readFile(m.hostPath(UNIT), 'utf8');
    const prep = await m.exec(
      'sh',
      ['-c', `cp ${process.execPath} /home/dev/node && chown ${USER}:${USER} /home/dev/node`],
      { allowFail: true },
    );
    assert.equal(prep.code, 0, prep.stderr);
    const r = await m.exec('/home/dev/node', [`${INSIDE}/dist/bundle/gangway.js`, 'service', 'install'], {
      allowFail: true,
      timeoutMs: 60_000,
    });
    assert.equal(r.code, 1, `${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /refused, nothing was changed/);
    assert.match(r.stderr, new RegExp(`/home/dev/node is owned by uid ${USER}`));
    assert.equal(await readFile(m.hostPath(UNIT), 'utf8'), unitBefore);
    const dry = await m.exec(
      '/home/dev/node',
      [`${INSIDE}/dist/bundle/gangway.js`, 'service', 'install', '--dry-run'],
      {
        allowFail: true,
      },
    );
    assert.equal(dry.code, 1);
    assert.match(dry.stdout, /the install would be refused/);
    assert.equal(await systemctl('is-active', 'gangway.service'), 'active');
  });

  test('doctor warns about an old install whose unit runs files a user owns', async (t) => {
    if (!ready(t)) return;
    const m = machine!;
    const doctorCheck = async () => {
      const r = await gangway(['doctor', '--json', '--socket', SOCKET]);
      const d = JSON.parse(r.stdout) as { checks: { id: string; status: string; detail: string }[] };
      return d.checks.find((c) => c.id === 'service')!;
    };
    assert.equal((await doctorCheck()).status, 'ok');
    // What installs before the root-owned copy wrote: the unit runs a tree in the user's home directory.
    const unit = await readFile(m.hostPath(UNIT), 'utf8');
    const prep = await m.exec(
      'sh',
      ['-c', `cp -r ${INSIDE}/dist/bundle /home/dev/old && chown -R ${USER}:${USER} /home/dev/old`],
      { allowFail: true },
    );
    assert.equal(prep.code, 0, prep.stderr);
    const old = unit.replace(`"${COPY}/gangway.js"`, '"/home/dev/old/gangway.js"');
    assert.notEqual(old, unit);
    await writeFile(m.hostPath(UNIT), old);
    await systemctl('daemon-reload');
    await systemctl('restart', 'gangway.service');
    await waitFor(
      'the old-style daemon to answer',
      async () => (await gangway(['status', '--socket', SOCKET])).code === 0,
      15_000,
      100,
    );
    const c = await doctorCheck();
    assert.equal(c.status, 'warn', c.detail);
    assert.match(c.detail, new RegExp(`/home/dev/old/gangway.js is owned by uid ${USER}`));
    // Installing again puts it right.
    const r = await gangway(['service', 'install', '--', '--no-docker', '--dns-port', '0']);
    assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
    await waitFor(
      'the daemon to answer',
      async () => (await gangway(['status', '--socket', SOCKET])).code === 0,
      15_000,
      100,
    );
    assert.equal((await doctorCheck()).status, 'ok');
  });

  test('service status: installed and running, with the pid systemd reports', async (t) => {
    if (!ready(t)) return;
    const mainPid = await systemctl('show', '--property=MainPID', '--value', 'gangway.service');
    const r = await gangway(['service', 'status']);
    assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
    assert.match(r.stdout, new RegExp(`installed \\(${UNIT}\\)`));
    assert.match(r.stdout, new RegExp(`running \\(pid ${mainPid}\\)`));
    const j = await gangway(['service', 'status', '--json']);
    assert.equal(j.code, 0);
    assert.deepEqual(JSON.parse(j.stdout), {
      manager: 'systemd',
      path: UNIT,
      installed: true,
      managerRunning: true,
      running: true,
      pid: Number(mainPid),
      detail: 'active',
    });
  });

  test('service uninstall: the unit is gone, the daemon stopped and its socket removed', async (t) => {
    if (!ready(t)) return;
    const m = machine!;
    const t0 = Date.now();
    const r = await gangway(['service', 'uninstall']);
    assert.equal(r.code, 0, `service uninstall failed:\n${r.stdout}${r.stderr}`);
    t.diagnostic(`service uninstall: ${Date.now() - t0} ms`);
    assert.match(r.stdout, new RegExp(`removed ${UNIT}`));
    assert.equal(existsSync(m.hostPath(UNIT)), false);
    assert.equal(existsSync(m.hostPath('/usr/local/lib/gangway')), false, 'the copied helper is still there');
    assert.equal(await systemctl('show', '--property=LoadState', '--value', 'gangway.service'), 'not-found');
    assert.notEqual(await systemctl('is-active', 'gangway.service'), 'active');
    await waitFor('the daemon process to exit', async () => (await m.processes(DAEMON)).length === 0, 5_000);
    assert.equal(existsSync(m.hostPath(SOCKET)), false, 'the control socket is still there');
    const st = await gangway(['status', '--socket', SOCKET]);
    assert.equal(st.code, 3, `gangway status should find no daemon: ${st.stdout}${st.stderr}`);
    const s = await gangway(['service', 'status']);
    assert.equal(s.code, 1);
    assert.match(s.stdout, /not installed/);
    // The TUN device went with the daemon, and systemd saw a clean exit on SIGTERM (not a kill on timeout).
    const link = await m.exec('ip', ['link', 'show', 'gw0'], { allowFail: true });
    assert.notEqual(link.code, 0, 'gw0 is still there');
    const journal = await m.exec('journalctl', ['-u', 'gangway.service', '-o', 'cat', '--no-pager'], {
      allowFail: true,
    });
    assert.match(journal.stdout, /Deactivated successfully/, journal.stdout);
    assert.doesNotMatch(journal.stdout, /Failed with result|Killing process|timed out/, journal.stdout);
  });
});
