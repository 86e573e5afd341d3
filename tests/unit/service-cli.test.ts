import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appBundleOf, type AppCopy, type CopyItem } from '../../helper/service/helper-copy';
import { VERSION } from '../../helper/version';
import { checkInstalledCopy, planServiceInstall } from '../../helper/service/install-plan';
import type { OwnershipDeps } from '../../helper/service/root-owned';
import { runServiceCommand, type ServiceCliDeps } from '../../cli/service-cli';
import { uninstallNotes } from '../../src-main/install-run';
import type {
  InstallOptions,
  InstallResult,
  ServiceManager,
  ServiceStatus,
  UninstallResult,
} from '../../helper/service/service-manager';

class FakeManager implements ServiceManager {
  readonly kind = 'systemd' as const;
  readonly path = '/etc/systemd/system/gangway.service';
  installed: InstallOptions[] = [];
  started = true;
  statusValue: ServiceStatus = {
    manager: 'systemd',
    path: this.path,
    installed: true,
    managerRunning: true,
    running: true,
    pid: 7,
    detail: 'active',
  };
  render(o: InstallOptions): string {
    return `[Service]\nExecStart=${o.nodePath} ${o.cliPath} daemon`;
  }
  install(o: InstallOptions): Promise<InstallResult> {
    this.installed.push(o);
    return Promise.resolve({
      path: this.path,
      started: this.started,
      warnings: this.started ? [] : ['systemd is not running'],
    });
  }
  uninstall(): Promise<UninstallResult> {
    return Promise.resolve({ removed: [this.path], stopped: true, warnings: [] });
  }
  status(): Promise<ServiceStatus> {
    return Promise.resolve(this.statusValue);
  }
}

const BASE: InstallOptions = {
  nodePath: '/usr/bin/node',
  cliPath: '/opt/g/dist/cli/gangway.js',
  owner: { uid: 1000, gid: 1000, user: 'bob' },
  socketPath: '/run/gangway/gangway.sock',
  stateDir: '/var/lib/gangway',
  logFile: '/var/log/gangway/helper.log',
  extraArgs: [],
};

/** A bundle directory as npm run build leaves it (the files' contents do not matter here). */
const BUNDLE = (() => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-bundle-'));
  for (const f of ['gangway.js', 'gangway_native.node', 'gangway-agent.js', 'gangway-agent.Dockerfile'])
    writeFileSync(join(dir, f), f);
  mkdirSync(join(dir, 'prebuilds', 'linux-arm64'), { recursive: true });
  writeFileSync(join(dir, 'prebuilds', 'linux-arm64', 'gangway_native.node'), 'arm64');
  return dir;
})();
after(() => rmSync(BUNDLE, { recursive: true, force: true }));

const DEST = '/opt/gangway-test/0.1.0';

/** Ownership as the test says: root's and 0755, unless listed in `users` (path -> uid). */
function ownership(users: Record<string, number> = {}, links: Record<string, string> = {}): OwnershipDeps {
  return {
    realpath: (p) => links[p] ?? p,
    lstat: (p) => ({ uid: users[p] ?? 0, mode: 0o40755, isSymbolicLink: () => p in links }),
    userName: (uid) => (uid === 1000 ? 'bob' : undefined),
  };
}

async function cli(argv: string[], over: Partial<ServiceCliDeps> = {}) {
  const manager = new FakeManager();
  const out: string[] = [];
  const err: string[] = [];
  const copies: { items: CopyItem[]; dest: string; app?: AppCopy }[] = [];
  const code = await runServiceCommand(argv, {
    manager,
    out: (s) => out.push(s),
    err: (s) => err.push(s),
    isRoot: () => true,
    installDefaults: () => BASE,
    disconnect: () => Promise.resolve('disconnected (fake)'),
    removeDnsRegistrations: () => Promise.resolve([]),
    bundleDir: () => BUNDLE,
    plan: { dest: DEST, ownership: ownership() },
    copyHelper: (items, dest, app) => void copies.push({ items: [...items], dest, ...(app && { app }) }),
    removeHelperCopies: () => ['/opt/gangway-test'],
    ...over,
  });
  return { code, out: out.join('\n'), err: err.join('\n'), manager, copies };
}

test('usage errors exit 2, --help exits 0', async () => {
  assert.equal((await cli([])).code, 2);
  assert.equal((await cli(['restart'])).code, 2);
  assert.equal((await cli(['status', 'extra'])).code, 2);
  assert.equal((await cli(['status', '--bogus'])).code, 2);
  assert.equal((await cli(['status', '--socket', '/x'])).code, 2);
  const h = await cli(['--help']);
  assert.equal(h.code, 0);
  assert.match(h.out, /Usage: gangway service/);
});

test('install passes flags and daemon args after --', async () => {
  const r = await cli(['install', '--socket', '/tmp/s.sock', '--log-file', '/tmp/l', '--', '--mtu', '1400']);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(r.manager.installed[0], {
    ...BASE,
    cliPath: `${DEST}/gangway.js`,
    socketPath: '/tmp/s.sock',
    logFile: '/tmp/l',
    extraArgs: ['--mtu', '1400'],
  });
  assert.match(r.out, /wrote \/etc\/systemd\/system\/gangway.service/);
});

test('install refuses settings, state, log and resolver paths a user other than root can change', async () => {
  const bobs = ownership({ '/home/bob': 1000 });
  const cases: [string[], RegExp][] = [
    [
      ['--', '--config', '/home/bob/gangway.json'],
      /read its settings from \/home\/bob\/gangway.json \(--config\)/,
    ],
    [
      ['--state-dir', '/home/bob/state'],
      /keep its secret and settings in \/home\/bob\/state \(--state-dir\)/,
    ],
    [['--log-file', '/home/bob/g.log'], /write its log to \/home\/bob\/g.log/],
    [['--', '--log-file=/home/bob/g.log'], /write its log to \/home\/bob\/g.log/],
    [['--', '--dns-resolver-dir=/home/bob/resolver'], /write DNS resolver files into \/home\/bob\/resolver/],
    [['--', '--config', 'gangway.json'], /gangway.json is not an absolute path/],
  ];
  for (const [args, why] of cases) {
    const r = await cli(['install', ...args], { plan: { dest: DEST, ownership: bobs } });
    assert.equal(r.code, 1, args.join(' '));
    assert.match(r.err, why);
    assert.match(r.err, /owned by bob|not an absolute path/);
    assert.deepEqual(r.manager.installed, [], 'nothing installed');
    assert.deepEqual(r.copies, [], 'nothing copied');
  }
  // Root's own paths, and no log file at all, pass.
  const ok = await cli(['install', '--', '--config', '/etc/gangway.json', '--log-file', 'none'], {
    plan: { dest: DEST, ownership: bobs },
  });
  assert.equal(ok.code, 0, ok.err);
});

test('install and uninstall need root; status does not', async () => {
  const r = await cli(['install'], { isRoot: () => false });
  assert.equal(r.code, 1);
  assert.match(r.err, /must be run as root/);
  assert.equal((await cli(['uninstall'], { isRoot: () => false })).code, 1);
  assert.equal((await cli(['status'], { isRoot: () => false })).code, 0);
});

test('install that could not start the service warns and exits 1', async () => {
  const manager = new FakeManager();
  manager.started = false;
  const r = await cli(['install'], { manager });
  assert.equal(r.code, 1);
  assert.match(r.err, /warning: systemd is not running/);
});

test('status and uninstall, human and --json', async () => {
  const s = await cli(['status']);
  assert.equal(s.code, 0);
  assert.match(s.out, /installed/);
  assert.match(s.out, /running \(pid 7\)/);
  const j = await cli(['status', '--json']);
  assert.equal((JSON.parse(j.out) as ServiceStatus).pid, 7);
  const manager = new FakeManager();
  manager.statusValue = { ...manager.statusValue, installed: false, running: false, pid: undefined };
  assert.equal((await cli(['status'], { manager })).code, 1);
  const u = await cli(['uninstall', '--json']);
  assert.equal(u.code, 0);
  assert.deepEqual((JSON.parse(u.out) as UninstallResult).removed, [
    '/etc/systemd/system/gangway.service',
    '/opt/gangway-test',
  ]);
});

test('uninstall disconnects the daemon first, and still uninstalls when that fails', async () => {
  const asked: string[] = [];
  const ok = await cli(['uninstall', '--socket', '/tmp/g.sock'], {
    disconnect: (socket) => {
      asked.push(socket);
      return Promise.resolve('disconnected: agent removed');
    },
  });
  assert.equal(ok.code, 0, ok.err);
  assert.deepEqual(asked, ['/tmp/g.sock']);
  assert.match(ok.out, /^disconnected: agent removed\nremoved \/etc\/systemd\/system\/gangway.service/);
  const wedged = await cli(['uninstall', '--json'], {
    disconnect: () => Promise.reject(new Error('the daemon did not answer within 60 s')),
  });
  assert.equal(wedged.code, 0);
  const j = JSON.parse(wedged.out) as UninstallResult & { disconnected: string };
  assert.match(j.disconnected, /could not disconnect first \(the daemon did not answer/);
  assert.deepEqual(j.removed, ['/etc/systemd/system/gangway.service', '/opt/gangway-test']);
  // What the app shows of that report (src-main/install-run.ts): what could not be done, nothing of a clean one.
  assert.deepEqual(uninstallNotes(`${wedged.out}\n`), [j.disconnected]);
  assert.deepEqual(uninstallNotes(ok.out), [
    `the uninstall's report could not be read: ${ok.out.trim().slice(0, 200)}`,
  ]);
  const clean = await cli(['uninstall', '--json'], { disconnect: () => Promise.resolve('disconnected') });
  assert.deepEqual(uninstallNotes(clean.out), []);
  const warned = JSON.stringify({
    removed: [],
    warnings: ['launchctl bootout failed'],
    disconnected: 'disconnected',
  });
  assert.deepEqual(uninstallNotes(`${warned}\r`), ['launchctl bootout failed']);
});

test('install copies the bundle into the root-owned directory and the unit runs that copy', async () => {
  const r = await cli(['install']);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(r.copies, [
    {
      dest: DEST,
      items: [
        { from: join(BUNDLE, 'gangway.js'), to: 'gangway.js', mode: 0o644 },
        { from: join(BUNDLE, 'gangway_native.node'), to: 'gangway_native.node', mode: 0o755 },
        { from: join(BUNDLE, 'gangway-agent.js'), to: 'gangway-agent.js', mode: 0o644 },
        { from: join(BUNDLE, 'gangway-agent.Dockerfile'), to: 'gangway-agent.Dockerfile', mode: 0o644 },
        {
          from: join(BUNDLE, 'prebuilds/linux-arm64/gangway_native.node'),
          to: 'prebuilds/linux-arm64/gangway_native.node',
          mode: 0o755,
        },
      ],
    },
  ]);
  assert.equal(r.manager.installed[0]?.cliPath, `${DEST}/gangway.js`);
  assert.match(r.out, new RegExp(`^copied the helper into ${DEST}$`, 'm'));
});

test('a runtime a user can change is refused, naming the path and its owner; nothing is changed', async () => {
  const r = await cli(['install'], {
    installDefaults: () => ({ ...BASE, nodePath: '/home/bob/.nvm/node' }),
    plan: { dest: DEST, ownership: ownership({ '/home/bob': 1000, '/home/bob/.nvm/node': 1000 }) },
  });
  assert.equal(r.code, 1);
  assert.match(r.err, /refused, nothing was changed/);
  assert.match(r.err, /\/home\/bob\/\.nvm\/node is owned by bob \(uid 1000\)/);
  assert.match(r.err, /\/home\/bob is owned by bob \(uid 1000\)/);
  assert.deepEqual(r.copies, []);
  assert.deepEqual(r.manager.installed, []);
  // A root-owned link to a user's binary: the target is what runs, so it is checked too.
  const link = await cli(['install'], {
    installDefaults: () => ({ ...BASE, nodePath: '/usr/local/bin/node' }),
    plan: {
      dest: DEST,
      ownership: ownership({ '/home/bob/node': 1000 }, { '/usr/local/bin/node': '/home/bob/node' }),
    },
  });
  assert.equal(link.code, 1);
  assert.match(link.err, /\/home\/bob\/node is owned by bob/);
});

test('an app on a disk image or a translocated path is refused: move Gangway to Applications first', async () => {
  for (const dir of [
    '/Volumes/Gangway/Gangway.app/Contents/Resources/helper',
    '/private/var/folders/x/T/AppTranslocation/ABC/d/Gangway.app/Contents/Resources/helper',
  ]) {
    const r = await cli(['install'], { bundleDir: () => dir });
    assert.equal(r.code, 1);
    assert.match(r.err, /move Gangway to Applications first/);
    assert.deepEqual(r.copies, []);
  }
});

test('--dry-run prints the unit and the copies, changes nothing, and needs no root', async () => {
  const r = await cli(['install', '--dry-run'], { isRoot: () => false });
  assert.equal(r.code, 0, r.err);
  assert.match(
    r.out,
    /^# \/etc\/systemd\/system\/gangway.service\n\[Service\]\nExecStart=\/usr\/bin\/node \/opt\/gangway-test\/0.1.0\/gangway.js daemon/,
  );
  assert.match(r.out, new RegExp(`${join(BUNDLE, 'gangway.js')} -> ${DEST}/gangway.js \\(mode 644\\)`));
  assert.match(r.out, /nothing was changed \(--dry-run\)/);
  assert.deepEqual(r.copies, []);
  assert.deepEqual(r.manager.installed, []);
  const refused = await cli(['install', '--dry-run'], {
    plan: { dest: DEST, ownership: ownership({ '/usr/bin/node': 1000 }) },
  });
  assert.equal(refused.code, 1);
  assert.match(
    refused.out,
    /the install would be refused:\n- the runtime the service would start, \/usr\/bin\/node/,
  );
  assert.equal((await cli(['status', '--dry-run'])).code, 2);
});

// macOS: the runtime is the app's Electron binary, inside a bundle its user owns, in /Applications (the
// admin group's): the bundle is copied whole into the install directory and the plist runs the copy.
const APP = '/Applications/Gangway.app';
const APP_BIN = `${APP}/Contents/MacOS/Gangway`;

/** A Mac's ownership: /Applications root:admin 0775, the app bundle the user's (uid 501). */
function macOwnership(links: Record<string, string> = {}): OwnershipDeps {
  return {
    realpath: (p) => links[p] ?? p,
    lstat: (p) => ({
      uid: p.startsWith(APP) ? 501 : 0,
      mode: p === '/Applications' ? 0o40775 : 0o40755,
      isSymbolicLink: () => p in links,
    }),
    userName: (uid) => (uid === 501 ? 'alice' : undefined),
  };
}

function macCli(argv: string[], over: Partial<ServiceCliDeps> = {}) {
  return cli(argv, {
    platform: 'darwin',
    installDefaults: () => ({ ...BASE, nodePath: APP_BIN, env: { ELECTRON_RUN_AS_NODE: '1' } }),
    plan: { dest: DEST, ownership: macOwnership() },
    ...over,
  });
}

test('appBundleOf: the outermost bundle holding a Contents/…/MacOS executable', () => {
  assert.deepEqual(appBundleOf(APP_BIN), { bundle: APP, inside: 'Contents/MacOS/Gangway' });
  assert.deepEqual(appBundleOf('/Applications/Gangway Beta.app/Contents/MacOS/Gangway Beta'), {
    bundle: '/Applications/Gangway Beta.app',
    inside: 'Contents/MacOS/Gangway Beta',
  });
  // A nested helper app links the outer bundle's frameworks: the outer one is copied.
  assert.deepEqual(
    appBundleOf(`${APP}/Contents/Frameworks/Gangway Helper.app/Contents/MacOS/Gangway Helper`),
    {
      bundle: APP,
      inside: 'Contents/Frameworks/Gangway Helper.app/Contents/MacOS/Gangway Helper',
    },
  );
  // A development build runs Electron's own app from the checkout.
  assert.equal(
    appBundleOf('/Users/alice/gangway/node_modules/electron/dist/Electron.app/Contents/MacOS/Electron')
      ?.bundle,
    '/Users/alice/gangway/node_modules/electron/dist/Electron.app',
  );
  for (const p of ['/usr/local/bin/node', `${APP}/Contents/Resources/node`, `${APP}/MacOS/Gangway`, APP])
    assert.equal(appBundleOf(p), undefined, p);
});

test('macOS: a runtime in an app bundle a user can change is copied whole; the plist runs the copy', async () => {
  const r = await macCli(['install']);
  assert.equal(r.code, 0, r.err);
  const app = { from: APP, to: 'Gangway.app', runtime: 'Contents/MacOS/Gangway' };
  assert.equal(r.copies.length, 1);
  assert.deepEqual(r.copies[0]?.app, app);
  assert.equal(r.copies[0]?.items.length, 5, 'the helper files are copied beside it as before');
  assert.deepEqual(r.manager.installed[0], {
    ...BASE,
    nodePath: `${DEST}/Gangway.app/Contents/MacOS/Gangway`,
    cliPath: `${DEST}/gangway.js`,
    env: { ELECTRON_RUN_AS_NODE: '1' },
  });
  // The progress line comes before the copy.
  assert.match(
    r.out,
    new RegExp(`^copying ${APP} into ${DEST}, as the service's runtime \\(a few seconds\\)\\n`),
  );
  assert.match(r.out, new RegExp(`copied the helper into ${DEST}, and its runtime ${DEST}/Gangway.app/`));
  // Through a link to the binary: its real path decides.
  const linked = await macCli(['install'], {
    installDefaults: () => ({ ...BASE, nodePath: '/usr/local/bin/gangway-electron' }),
    plan: { dest: DEST, ownership: macOwnership({ '/usr/local/bin/gangway-electron': APP_BIN }) },
  });
  assert.equal(linked.code, 0, linked.err);
  assert.deepEqual(linked.copies[0]?.app, app);
});

test('macOS --dry-run shows the bundle copy and the copied runtime; --json carries it', async () => {
  const r = await macCli(['install', '--dry-run'], { isRoot: () => false });
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^ExecStart=\/opt\/gangway-test\/0\.1\.0\/Gangway\.app\/Contents\/MacOS\/Gangway /m);
  assert.match(
    r.out,
    /# the runtime's app bundle \(a user other than root can change it, or --copy-app\), copied whole \(ditto/,
  );
  assert.match(r.out, new RegExp(`^${APP} -> ${DEST}/Gangway.app$`, 'm'));
  assert.match(r.out, /nothing was changed \(--dry-run\)/);
  assert.deepEqual(r.copies, []);
  const j = await macCli(['install', '--dry-run', '--json'], { isRoot: () => false });
  const plan = JSON.parse(j.out) as { app: unknown; options: InstallOptions };
  assert.deepEqual(plan.app, { from: APP, to: 'Gangway.app', runtime: 'Contents/MacOS/Gangway' });
  assert.equal(plan.options.nodePath, `${DEST}/Gangway.app/Contents/MacOS/Gangway`);
});

test('macOS: a runtime outside any app bundle, or Linux, is still refused; a root-owned one is not copied', async () => {
  const nvm = await macCli(['install'], {
    installDefaults: () => ({ ...BASE, nodePath: '/Users/alice/.nvm/node' }),
    plan: { dest: DEST, ownership: ownership({ '/Users/alice': 501 }) },
  });
  assert.equal(nvm.code, 1);
  assert.match(nvm.err, /the runtime the service would start, \/Users\/alice\/\.nvm\/node/);
  assert.deepEqual(nvm.copies, []);
  // The bundle copy is macOS's answer only: elsewhere nothing runs from an app bundle.
  const linux = await macCli(['install'], { platform: 'linux' });
  assert.equal(linux.code, 1);
  assert.match(linux.err, /the runtime the service would start, \/Applications\/Gangway\.app/);
  assert.deepEqual(linux.copies, []);
  // An app bundle only root can change runs as it is...
  const rootApp = await macCli(['install'], { plan: { dest: DEST, ownership: ownership() } });
  assert.equal(rootApp.code, 0, rootApp.err);
  assert.equal(rootApp.copies[0]?.app, undefined);
  assert.equal(rootApp.manager.installed[0]?.nodePath, APP_BIN);
  // ...unless --copy-app says it is a stage the app's install removes afterwards.
  const staged = await macCli(['install', '--copy-app'], { plan: { dest: DEST, ownership: ownership() } });
  assert.equal(staged.code, 0, staged.err);
  assert.deepEqual(staged.copies[0]?.app, {
    from: APP,
    to: 'Gangway.app',
    runtime: 'Contents/MacOS/Gangway',
  });
  assert.equal(staged.manager.installed[0]?.nodePath, `${DEST}/Gangway.app/Contents/MacOS/Gangway`);
  const misplaced = await macCli(['status', '--copy-app']);
  assert.equal(misplaced.code, 2);
  assert.match(misplaced.err, /--copy-app and --expect-version apply to install only/);
  // The app names its version: a bundle swapped for another version's is refused before anything is copied.
  const swapped = await macCli(['install', '--copy-app', '--expect-version', '0.0.9'], {
    plan: { dest: DEST, ownership: ownership() },
  });
  assert.equal(swapped.code, 1);
  assert.match(
    swapped.err,
    new RegExp(
      `refused, nothing was changed: this helper is version ${VERSION.replace(/\./g, '\\.')}, and the app that started the install is 0\\.0\\.9`,
    ),
  );
  assert.deepEqual(swapped.copies, []);
  assert.deepEqual(swapped.manager.installed, []);
  const same = await macCli(['install', '--copy-app', '--expect-version', VERSION], {
    plan: { dest: DEST, ownership: ownership() },
  });
  assert.equal(same.code, 0, same.err);
});

test('a runtime already inside the install directory is copied again (the install replaces it), or refused', () => {
  const inDest = `${DEST}/Gangway.app/Contents/MacOS/Gangway`;
  const input = {
    version: '0.1.0',
    bundleDir: BUNDLE,
    base: { ...BASE, nodePath: inDest },
    dest: DEST,
    ownership: ownership(),
  };
  const mac = planServiceInstall({ ...input, platform: 'darwin' });
  assert.deepEqual(mac.refusals, []);
  assert.deepEqual(mac.app, {
    from: `${DEST}/Gangway.app`,
    to: 'Gangway.app',
    runtime: 'Contents/MacOS/Gangway',
  });
  assert.equal(mac.options.nodePath, inDest);
  const node = planServiceInstall({
    ...input,
    platform: 'linux',
    base: { ...BASE, nodePath: `${DEST}/node` },
  });
  assert.match(node.refusals.join('\n'), /lies in \/opt\/gangway-test\/0\.1\.0, which the install replaces/);
});

test('after the copy, the copied runtime is checked too', () => {
  const plan = planServiceInstall({
    platform: 'darwin',
    version: '0.1.0',
    bundleDir: BUNDLE,
    base: { ...BASE, nodePath: APP_BIN },
    dest: DEST,
    ownership: macOwnership(),
  });
  assert.deepEqual(checkInstalledCopy(plan, macOwnership()), []);
  const copyNotRoots: OwnershipDeps = {
    ...macOwnership(),
    lstat: (p) => ({
      uid: p === `${DEST}/Gangway.app` ? 501 : 0,
      mode: 0o40755,
      isSymbolicLink: () => false,
    }),
  };
  assert.match(
    checkInstalledCopy(plan, copyNotRoots).join('\n'),
    /\/Gangway\.app is owned by alice \(uid 501\)/,
  );
});
