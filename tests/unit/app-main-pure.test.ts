// The Electron main process's plain parts: quoting for the administrator prompt, the install command, the
// XDG autostart entry, and the event-stream reader.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { autostartDesktopEntry, quoteExecArg } from '../../src-main/autostart-desktop';
import { installCommand, rootChanges, whyAdmin } from '../../src-main/install-command';
import { createXdgLoginItem, autostartPath } from '../../src-main/login-item-linux';
import { UnsafeArgumentError, buildCommand, quoteArg } from '../../src-main/shell-quote';
import { runServiceCommand } from '../../cli/service-cli';
import type { InstallOptions } from '../../helper/service/service-manager';
import { SseParser } from '../../client/sse-parser';

const NASTY = [
  'plain',
  'with space',
  "it's",
  "''",
  '$(touch /tmp/gangway-pwned)',
  '`id`',
  'a;b&&c|d',
  '"double" \\back\\',
  '*?[glob]',
  '~user',
  '-n',
  '',
  'ünï-cødé',
  '$HOME ${IFS}',
  '!bang',
];

test('quoted arguments reach the program unchanged through a real shell', () => {
  const cmd = buildCommand(['printf', '%s\\0', ...NASTY]);
  const out = execFileSync('/bin/sh', ['-c', cmd], { encoding: 'utf8' });
  assert.deepEqual(out.split('\0').slice(0, -1), NASTY);
  assert.equal(quoteArg("it's"), `'it'\\''s'`);
});

test('NUL and line breaks are refused, not escaped; an empty command is refused', () => {
  for (const bad of ['a\nb', 'a\rb', 'a\0b'])
    assert.throws(() => quoteArg(bad), UnsafeArgumentError, JSON.stringify(bad));
  assert.throws(() => buildCommand([]), UnsafeArgumentError);
});

test('the install command runs the packaged CLI as Node and names the user for the socket', () => {
  const command = installCommand(
    {
      runtime: '/opt/Gangway/gangway',
      cli: "/opt/Gangway's copy/resources/helper/gangway.js",
      uid: 1000,
      gid: 1000,
    },
    'darwin',
  );
  // Nothing of the caller's environment: env -i, then what the CLI needs.
  assert.equal(
    command,
    `'/usr/bin/env' '-i' 'PATH=/usr/bin:/bin:/usr/sbin:/sbin' 'ELECTRON_RUN_AS_NODE=1' '/opt/Gangway/gangway' '/opt/Gangway'\\''s copy/resources/helper/gangway.js' 'service' 'install' '--socket-owner' '1000:1000'`,
  );
  assert.equal(
    installCommand(
      { runtime: '/opt/Gangway/gangway', cli: '/opt/Gangway/g.js', uid: 1000, gid: 1000 },
      'linux',
      'uninstall',
    ),
    `'/usr/bin/env' '-i' 'PATH=/usr/bin:/bin:/usr/sbin:/sbin' 'ELECTRON_RUN_AS_NODE=1' '/opt/Gangway/gangway' '/opt/Gangway/g.js' 'service' 'uninstall' '--json'`,
  );
  assert.throws(() => installCommand({ runtime: '/a', cli: '/b', uid: -1, gid: 20 }));
  assert.throws(
    () => installCommand({ runtime: '/a', cli: '/b\nrm -rf /', uid: 1, gid: 1 }),
    UnsafeArgumentError,
  );
  // What a shell makes of it: exactly these arguments.
  const echoed = execFileSync('/bin/sh', ['-c', command.replace(/^'\/usr\/bin\/env'/, "printf '%s\\n'")], {
    encoding: 'utf8',
  });
  assert.deepEqual(echoed.trim().split('\n').slice(-4), [
    'service',
    'install',
    '--socket-owner',
    '1000:1000',
  ]);
  for (const platform of ['linux', 'darwin'] as const) {
    const why = whyAdmin(platform);
    for (const what of [
      /network interface/,
      /routes/,
      /port 53 of the tunnel/,
      /state, control socket and log/,
    ])
      assert.match(why, what);
    assert.equal(rootChanges(platform).length, 6);
  }
  assert.match(
    whyAdmin('linux'),
    /systemd-resolved.*\n.*\/usr\/local\/lib\/gangway and \/etc\/systemd\/system\/gangway\.service/,
  );
  assert.match(
    whyAdmin('darwin'),
    /\/etc\/resolver\/<suffix>.*\n.*\/Library\/PrivilegedHelperTools\/dev\.gangway\.helper/,
  );
});

test('service install takes --socket-owner from the app', async () => {
  const installed: InstallOptions[] = [];
  const manager = {
    kind: 'systemd' as const,
    path: '/etc/systemd/system/gangway.service',
    render: () => '',
    install: (o: InstallOptions) => {
      installed.push(o);
      return Promise.resolve({ path: '/x', started: true, warnings: [] });
    },
    uninstall: () => Promise.reject(new Error('unused')),
    status: () => Promise.reject(new Error('unused')),
  };
  const base: InstallOptions = {
    nodePath: '/usr/bin/node',
    cliPath: '/opt/g/dist/cli/gangway.js',
    owner: { uid: 0, gid: 0, user: 'root' },
    socketPath: '/run/gangway/gangway.sock',
    stateDir: '/var/lib/gangway',
    logFile: '/var/log/gangway/helper.log',
    extraArgs: [],
  };
  const errs: string[] = [];
  const run = (argv: string[]) =>
    runServiceCommand(argv, {
      manager,
      out: () => undefined,
      err: (s) => errs.push(s),
      isRoot: () => true,
      installDefaults: () => base,
      // Nothing is copied anywhere: this test is about the owner only.
      plan: {
        dest: '/opt/gangway-test/0.1.0',
        ownership: {
          lstat: () => ({ uid: 0, mode: 0o755, isSymbolicLink: () => false }),
          realpath: (p) => p,
        },
      },
      copyHelper: () => undefined,
    });
  assert.equal(await run(['install', '--socket-owner', '501:20']), 0);
  assert.deepEqual(installed[0]?.owner, { uid: 501, gid: 20, user: 'uid 501' });
  assert.equal(await run(['install', '--socket-owner', 'alice']), 2);
  assert.equal(await run(['status', '--socket-owner', '1:1']), 2);
  assert.match(errs.join('\n'), /--socket-owner takes UID:GID/);
});

test('the XDG autostart entry', () => {
  assert.equal(
    autostartDesktopEntry('/opt/Gangway/gangway'),
    [
      '[Desktop Entry]',
      'Type=Application',
      'Version=1.0',
      'Name=Gangway',
      'Comment=Reach Docker containers by IP and by name',
      'Exec=/opt/Gangway/gangway',
      'Terminal=false',
      'X-GNOME-Autostart-enabled=true',
      '',
    ].join('\n'),
  );
  assert.equal(quoteExecArg('/home/a b/Gangway.AppImage'), '"/home/a b/Gangway.AppImage"');
  assert.equal(quoteExecArg('/x/$HOME`"\\'), '"/x/\\$HOME\\`\\"\\\\"');
  assert.equal(quoteExecArg('/x/100%'), '/x/100%%');
  assert.throws(() => quoteExecArg('/x\nExec=evil'));
});

test('the Linux login item writes and removes ~/.config/autostart/gangway.desktop', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gangway-xdg-'));
  try {
    const file = autostartPath({ XDG_CONFIG_HOME: dir });
    assert.equal(file, join(dir, 'autostart', 'gangway.desktop'));
    assert.equal(
      autostartPath({ XDG_CONFIG_HOME: 'relative' }).endsWith('/.config/autostart/gangway.desktop'),
      true,
    );
    const item = createXdgLoginItem('/opt/Gangway/gangway', file);
    assert.equal(item.isEnabled(), false);
    item.setEnabled(true);
    assert.equal(item.isEnabled(), true);
    assert.match(readFileSync(file, 'utf8'), /^Exec=\/opt\/Gangway\/gangway$/m);
    item.setEnabled(false);
    assert.equal(item.isEnabled(), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the event-stream reader: split chunks, comments, several events in one chunk', () => {
  const p = new SseParser();
  assert.deepEqual(p.push(': keepalive\n\nevent: sta'), []);
  assert.deepEqual(p.push('te\ndata: {"a":'), []);
  assert.deepEqual(p.push('1}\r\n\r\nevent: state\ndata: 2\n\ndata: x\ndata: y\n\n'), [
    { event: 'state', data: '{"a":1}' },
    { event: 'state', data: '2' },
    { event: 'message', data: 'x\ny' },
  ]);
});
