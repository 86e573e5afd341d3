// What `gangway doctor` reads back from an installed unit or plist: the programs, parsed from exactly what
// the generators write (hostile paths included), and whether a non-root user could change them.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchdPlist } from '../../helper/service/service-darwin';
import { systemdUnit } from '../../helper/service/service-linux';
import { plistPrograms } from '../../common/plist-programs';
import { auditInstalledService, unitPrograms } from '../../helper/service/service-audit';
import type { InstallOptions } from '../../helper/service/service-manager';

const work = mkdtempSync(join(tmpdir(), 'gw-audit-'));
after(() => rmSync(work, { recursive: true, force: true }));

const HOSTILE = `/opt/gw "q" 'a' $HOME %n & <x> \\ é`;

function opts(nodePath: string, cliPath: string): InstallOptions {
  return {
    nodePath,
    cliPath,
    owner: { uid: 501, gid: 20, user: 'alice' },
    socketPath: '/run/gangway/gangway.sock',
    stateDir: '/var/lib/gangway',
    logFile: '/var/log/gangway/helper.log',
    extraArgs: ['--mtu', '1400'],
  };
}

test('the programs round-trip through the unit and the plist, whatever the paths hold', () => {
  const o = opts(`${HOSTILE}/node`, `${HOSTILE}/gangway.js`);
  assert.deepEqual(unitPrograms(systemdUnit(o)), [o.nodePath, o.cliPath]);
  assert.deepEqual(plistPrograms(launchdPlist(o)), [o.nodePath, o.cliPath]);
});

test("an old install's unit pointing into a user's home directory: the problems name it", () => {
  const unit = join(work, 'old.service');
  writeFileSync(unit, systemdUnit(opts('/usr/bin/node', '/home/bob/gangway/dist/helper/cli.js')));
  const ownership = {
    realpath: (p: string) => p,
    lstat: (p: string) => ({
      uid: p.startsWith('/home/bob') ? 1000 : 0,
      mode: 0o755,
      isSymbolicLink: () => false,
    }),
    userName: () => 'bob',
  };
  const a = auditInstalledService('linux', { path: unit, ownership });
  assert.equal(a.installed, true);
  assert.deepEqual(a.programs, ['/usr/bin/node', '/home/bob/gangway/dist/helper/cli.js']);
  assert.deepEqual(a.problems, [
    '/home/bob/gangway/dist/helper/cli.js is owned by bob (uid 1000) (mode 0755)',
    '/home/bob/gangway/dist/helper is owned by bob (uid 1000) (mode 0755)',
    '/home/bob/gangway/dist is owned by bob (uid 1000) (mode 0755)',
    '/home/bob/gangway is owned by bob (uid 1000) (mode 0755)',
    '/home/bob is owned by bob (uid 1000) (mode 0755)',
  ]);
  // On the real file system: distribution binaries pass; no unit, nothing installed.
  writeFileSync(unit, systemdUnit(opts('/bin/sh', '/bin/true')));
  assert.deepEqual(auditInstalledService('linux', { path: unit }).problems, []);
  assert.equal(auditInstalledService('linux', { path: join(work, 'none') }).installed, false);
});
