// How the app installs its helper (SMAppService on a signed macOS 13+ app, the root-owned copy otherwise,
// never from a disk image or a translocated app), and the SMAppService plist the app carries: its keys, and
// its loader run with a stand-in require, as Electron-as-Node would run it. Neither macOS nor Electron runs
// here: the plist is not loaded by launchd in any test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import vm from 'node:vm';
import {
  SM_PLIST_PATH,
  SM_SERVICE_NAME,
  SM_STDERR_LOG,
  smAppServicePlist,
  smDaemonLoader,
} from '../../src-main/daemon-service-plist';
import {
  COPY_SERVICE_PLIST,
  SYSTEMD_UNIT,
  chooseInstallMethod,
  chooseUninstallMethod,
  type InstallFacts,
} from '../../src-main/install-method';
import { LaunchdServiceManager } from '../../helper/service/service-darwin';
import { SystemdServiceManager } from '../../helper/service/service-linux';

const MAC: InstallFacts = {
  platform: 'darwin',
  osRelease: '23.4.0', // macOS 14
  packaged: true,
  signed: true,
  appPath: '/Applications/Gangway.app',
};

test('a signed, packaged app on macOS 13+ registers with SMAppService', () => {
  assert.deepEqual(chooseInstallMethod(MAC), {
    kind: 'sm-app-service',
    serviceName: 'dev.gangway.helper.plist',
  });
  assert.deepEqual(chooseInstallMethod({ ...MAC, osRelease: '22.1.0' }).kind, 'sm-app-service');
});

test('unsigned, development, older macOS and Linux builds use the root-owned copy', () => {
  for (const f of [
    { ...MAC, signed: false },
    { ...MAC, packaged: false },
    { ...MAC, osRelease: '21.6.0' }, // macOS 12
    { ...MAC, platform: 'linux' as const, osRelease: '6.1.0', appPath: '/opt/Gangway/gangway' },
  ])
    assert.deepEqual(chooseInstallMethod(f), { kind: 'copy' }, JSON.stringify(f));
});

test('a signed app whose bundle on disk fails its signature check is refused, by either method', () => {
  const broken = 'Gangway.app: a sealed resource is missing or invalid';
  for (const f of [
    { ...MAC, signatureBroken: broken },
    { ...MAC, osRelease: '21.6.0', signatureBroken: broken },
  ]) {
    const m = chooseInstallMethod(f);
    assert.equal(m.kind, 'refuse', JSON.stringify(f));
    assert.match(
      m.kind === 'refuse' ? m.message : '',
      /no longer matches its signature \(Gangway\.app: a sealed resource/,
    );
    assert.match(m.kind === 'refuse' ? m.message : '', /Install Gangway again/);
  }
  // Unsigned builds have no signature to break: the copy method, as before.
  assert.deepEqual(chooseInstallMethod({ ...MAC, signed: false, signatureBroken: broken }), { kind: 'copy' });
});

test('a helper the copy method installed keeps the copy method, even for a signed app on macOS 13+', () => {
  assert.deepEqual(chooseInstallMethod({ ...MAC, copyServiceInstalled: true }), { kind: 'copy' });
  assert.equal(chooseInstallMethod({ ...MAC, copyServiceInstalled: false }).kind, 'sm-app-service');
  // The path the app looks at is the one `gangway service install` writes.
  assert.equal(COPY_SERVICE_PLIST, new LaunchdServiceManager().path);
  assert.equal(SYSTEMD_UNIT, new SystemdServiceManager().path);
});

test('from a disk image or an App Translocation path: refused, "move Gangway to Applications first"', () => {
  for (const appPath of [
    '/Volumes/Gangway 0.1.0/Gangway.app',
    '/private/var/folders/ab/xyz/T/AppTranslocation/1234-ABCD/d/Gangway.app',
  ]) {
    for (const signed of [true, false]) {
      const m = chooseInstallMethod({ ...MAC, appPath, signed });
      assert.equal(m.kind, 'refuse');
      assert.match(m.kind === 'refuse' ? m.message : '', /move Gangway to Applications first/);
    }
  }
});

const APPIMAGE_MOUNT = '/tmp/.mount_GangwaQx81Zp';
const LINUX_APPIMAGE: InstallFacts = {
  platform: 'linux',
  osRelease: '6.1.0',
  packaged: true,
  signed: false,
  appPath: `${APPIMAGE_MOUNT}/gangway`,
  appImage: '/home/ana/Downloads/Gangway-0.1.0.AppImage',
  appImageDir: APPIMAGE_MOUNT,
};

test('Linux, from an AppImage: refused before the password prompt, naming the .deb and the CLI', () => {
  for (const f of [
    LINUX_APPIMAGE,
    // --appimage-extract-and-run: a user's extracted copy, still the user's
    {
      ...LINUX_APPIMAGE,
      appPath: '/tmp/appimage_extracted_0123abcd/gangway',
      appImageDir: '/tmp/appimage_extracted_0123abcd',
    },
    // the AppImage runtime's mount point, even when the environment did not say so
    { ...LINUX_APPIMAGE, appImage: undefined, appImageDir: undefined },
    {
      ...LINUX_APPIMAGE,
      appImage: undefined,
      appImageDir: undefined,
      appPath: '/run/user/1000/.mount_Gangwa1/gangway',
    },
  ]) {
    const m = chooseInstallMethod(f);
    assert.equal(m.kind, 'refuse', JSON.stringify(f));
    const message = m.kind === 'refuse' ? m.message : '';
    assert.match(message, /AppImage/);
    assert.match(message, /\.deb/);
    assert.match(message, /sudo gangway service install/);
    if (f.appImage) assert.ok(message.includes(f.appImage), message);
  }
});

test('Linux, not from an AppImage: the copy method, even with an AppImage’s variables inherited', () => {
  const deb = {
    ...LINUX_APPIMAGE,
    appPath: '/opt/Gangway/gangway',
    appImage: undefined,
    appImageDir: undefined,
  };
  assert.deepEqual(chooseInstallMethod(deb), { kind: 'copy' });
  // Started from a program that runs from another AppImage (a terminal, an editor): its APPIMAGE and APPDIR
  // are in the environment, but Gangway is the .deb's.
  assert.deepEqual(
    chooseInstallMethod({
      ...deb,
      appImage: '/home/ana/Apps/Editor.AppImage',
      appImageDir: '/tmp/.mount_EditorAb12',
    }),
    { kind: 'copy' },
  );
  // A development run from a checkout: the copy method, whose own checks refuse what root must not run.
  assert.deepEqual(
    chooseInstallMethod({
      ...deb,
      packaged: false,
      appPath: '/home/ana/gangway/node_modules/electron/dist/electron',
    }),
    { kind: 'copy' },
  );
  // APPIMAGE means nothing on macOS.
  assert.equal(
    chooseInstallMethod({ ...MAC, appImage: '/x.AppImage', appImageDir: '/Applications' }).kind,
    'sm-app-service',
  );
});

test('the plist: label, BundleProgram inside the bundle, Electron as Node, kept alive, not throttled', () => {
  const p = smAppServicePlist();
  assert.equal(SM_PLIST_PATH, `Contents/Library/LaunchDaemons/${SM_SERVICE_NAME}`);
  const value = (key: string) => new RegExp(`<key>${key}</key>\\s*<string>([^<]*)</string>`).exec(p)?.[1];
  assert.equal(value('Label'), 'dev.gangway.helper');
  assert.equal(value('BundleProgram'), 'Contents/MacOS/Gangway');
  assert.match(p, /<key>ELECTRON_RUN_AS_NODE<\/key>\s*<string>1<\/string>/);
  assert.match(p, /<key>KeepAlive<\/key>\s*<true\/>/);
  assert.equal(value('ProcessType'), 'Interactive', 'not throttled as an unnamed job would be');
  assert.doesNotMatch(p, /<key>Program<\/key>/, 'BundleProgram, not an absolute Program');
  // launchd opens these before the helper runs, and nothing makes a folder for them first on this path.
  assert.equal(value('StandardErrorPath'), SM_STDERR_LOG);
  for (const key of ['StandardErrorPath', 'StandardOutPath']) {
    const file = value(key);
    if (file !== undefined) assert.equal(path.dirname(file), '/Library/Logs', `${key} ${file}`);
  }
  // The loader sits in the plist XML-escaped.
  assert.ok(
    p.includes(smDaemonLoader().replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/>/g, '&gt;')),
  );
});

test("the loader starts the bundle's daemon and gives the socket to the app bundle's owner", async () => {
  let required = '';
  let argv: string[] = [];
  const proc = {
    execPath: '/Applications/Gangway.app/Contents/MacOS/Gangway',
    exitCode: undefined as unknown,
  };
  const fakeRequire = (id: string): unknown => {
    if (id === 'path') return path;
    if (id === 'fs')
      return {
        statSync: (p: string) => {
          assert.equal(p, '/Applications/Gangway.app');
          return { uid: 501, gid: 20 };
        },
      };
    required = id;
    return {
      main: (a: string[]) => {
        argv = a;
        return Promise.resolve(0);
      },
    };
  };
  vm.runInNewContext(smDaemonLoader(), { require: fakeRequire, process: proc, console });
  await new Promise((r) => setImmediate(r));
  assert.equal(required, '/Applications/Gangway.app/Contents/Resources/helper/gangway.js');
  assert.deepEqual(Array.from(argv.slice(0, 3)), ['daemon', '--socket-owner', '501:20']); // from the vm's realm
  assert.equal(proc.exitCode, 0);
});

test('the real bundle exports main() for the loader, and requiring it runs nothing', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(path.resolve(__dirname, '../../bundle/gangway.js')) as { main?: unknown };
  assert.equal(typeof mod.main, 'function');
});

test('the uninstall takes the way the helper was installed; where an install is refused, so is it', () => {
  const sm = { kind: 'sm-app-service', serviceName: 'dev.gangway.helper.plist' };
  assert.deepEqual(chooseUninstallMethod({ ...MAC, smRegistered: true }), sm);
  // A copy-method helper (its plist in /Library/LaunchDaemons) is removed as root, even by a signed app.
  assert.deepEqual(chooseUninstallMethod({ ...MAC, smRegistered: true, copyServiceInstalled: true }), {
    kind: 'copy',
  });
  assert.deepEqual(chooseUninstallMethod({ ...MAC, smRegistered: false }), { kind: 'copy' });
  assert.deepEqual(chooseUninstallMethod({ ...MAC, signed: false, smRegistered: false }), { kind: 'copy' });
  const linux = { ...MAC, platform: 'linux' as const, osRelease: '6.1.0', appPath: '/opt/Gangway/gangway' };
  assert.deepEqual(chooseUninstallMethod({ ...linux, smRegistered: false }), { kind: 'copy' });
  for (const f of [
    { ...LINUX_APPIMAGE, smRegistered: false },
    { ...MAC, appPath: '/Volumes/Gangway/Gangway.app', smRegistered: false },
    { ...MAC, signatureBroken: 'a sealed resource is missing', smRegistered: false },
  ]) {
    const m = chooseUninstallMethod(f);
    assert.equal(m.kind, 'refuse', JSON.stringify(f));
    const message = m.kind === 'refuse' ? m.message : '';
    assert.match(message, /^The app cannot remove the helper from here: /);
    assert.doesNotMatch(message, /\.\./);
    assert.match(
      message,
      f.platform === 'darwin'
        ? /without the app: cd \/Library\/PrivilegedHelperTools\/dev\.gangway\.helper && sudo env ELECTRON_RUN_AS_NODE=1 Gangway\.app\/Contents\/MacOS\/Gangway gangway\.js service uninstall$/
        : /without the app: sudo gangway service uninstall$/,
    );
  }
});
