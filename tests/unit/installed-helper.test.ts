// The copy method's installed helper as the app reads it from the root-owned plist (src-main/installed-helper.ts),
// on the plist `gangway service install` itself renders, and the uninstall command root then runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { DARWIN_HELPER_DIR } from '../../helper/service/helper-copy';
import { LaunchdServiceManager } from '../../helper/service/service-darwin';
import type { InstallOptions } from '../../helper/service/service-manager';
import { macUninstallInstalledScript } from '../../src-main/install-command';
import { INSTALLED_HELPER_DIR, installedHelper } from '../../src-main/installed-helper';

const OPTIONS: InstallOptions = {
  nodePath: `${DARWIN_HELPER_DIR}/Gangway & Co's.app/Contents/MacOS/Gangway`,
  cliPath: `${DARWIN_HELPER_DIR}/gangway.js`,
  owner: { uid: 501, gid: 20, user: 'ana' },
  socketPath: '/var/run/gangway/gangway.sock',
  stateDir: '/Library/Application Support/Gangway',
  logFile: '/Library/Logs/Gangway/helper.log',
  extraArgs: [],
  env: { ELECTRON_RUN_AS_NODE: '1' },
};

const plist = (o: InstallOptions) => new LaunchdServiceManager().render(o);

test("the installed copy's runtime and CLI, read back from the plist the install writes", () => {
  assert.equal(INSTALLED_HELPER_DIR, DARWIN_HELPER_DIR);
  assert.deepEqual(installedHelper(plist(OPTIONS)), { runtime: OPTIONS.nodePath, cli: OPTIONS.cliPath });
});

test('a plist whose program lies outside the installed copy is not used (the app stages its own then)', () => {
  for (const o of [
    { ...OPTIONS, nodePath: '/usr/local/bin/node' },
    { ...OPTIONS, cliPath: '/Users/ana/gangway/dist/bundle/gangway.js' },
    { ...OPTIONS, nodePath: `${DARWIN_HELPER_DIR}/../../../Users/ana/evil` },
    { ...OPTIONS, nodePath: `${DARWIN_HELPER_DIR}-not/Gangway.app/Contents/MacOS/Gangway` },
  ])
    assert.equal(installedHelper(plist(o)), undefined, o.nodePath + ' ' + o.cliPath);
  assert.equal(installedHelper(''), undefined);
  assert.equal(installedHelper('<plist><dict><key>Label</key></dict></plist>'), undefined);
});

test('the uninstall command: env -i, the installed copy, service uninstall --json, as one sh word each', () => {
  const h = installedHelper(plist(OPTIONS));
  assert.ok(h);
  const command = macUninstallInstalledScript(h, '/usr/bin/printf');
  // printf '%s\n' stands in for env: what sh hands it, word by word.
  const words = execFileSync('/bin/sh', ['-c', command.replace(/^'\/usr\/bin\/printf'/, "printf '%s\\n'")], {
    encoding: 'utf8',
  });
  assert.deepEqual(words.trimEnd().split('\n'), [
    '-i',
    'PATH=/usr/bin:/bin:/usr/sbin:/sbin',
    'ELECTRON_RUN_AS_NODE=1',
    OPTIONS.nodePath,
    OPTIONS.cliPath,
    'service',
    'uninstall',
    '--json',
  ]);
});
