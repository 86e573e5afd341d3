// The root-owned copy of the helper on the real file system: what makes a path changeable by a non-root
// user (owner, group- and other-writable modes, links followed), and the copy itself (modes, root as the
// owner, an earlier copy replaced whole). Parts that need chown run only as root (as CI does).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copyHelper, helperCopyPlan, helperInstallDir } from '../../helper/service/helper-copy';
import { transientLocation } from '../../common/install-location';
import { nonRootWritable } from '../../helper/service/root-owned';

const isRoot = process.getuid?.() === 0;
const work = mkdtempSync(join(tmpdir(), 'gw-copy-'));
after(() => rmSync(work, { recursive: true, force: true }));

test('install directories: one per version on Linux, the privileged-helper directory on macOS', () => {
  assert.equal(helperInstallDir('linux', '0.1.0'), '/usr/local/lib/gangway/0.1.0');
  assert.equal(helperInstallDir('darwin', '0.1.0'), '/Library/PrivilegedHelperTools/dev.gangway.helper');
  for (const bad of ['../x', '', '1/2', '..'])
    assert.throws(() => helperInstallDir('linux', bad), /cannot name/);
  assert.match(transientLocation('/Volumes/Gangway 1/Gangway.app')!, /move Gangway to Applications first/);
  assert.equal(transientLocation('/Applications/Gangway.app/Contents/Resources/helper'), undefined);
});

test('a root-owned system binary passes; the temporary directory does not', () => {
  assert.deepEqual(nonRootWritable('/bin/sh'), [], 'a distribution binary is root-owned all the way up');
  const f = join(work, 'f');
  writeFileSync(f, '');
  const problems = nonRootWritable(f);
  // /tmp (1777) as usual; a TMPDIR of root's own would pass, and then there is nothing to see here.
  if (statSync(tmpdir()).mode & 0o002)
    assert.ok(
      problems.some((p) => p.startsWith(`${tmpdir()} is writable by every user`)),
      problems.join('\n'),
    );
  assert.match(nonRootWritable(join(work, 'missing'))[0]!, /cannot be resolved: ENOENT/);
  assert.match(nonRootWritable('relative/x')[0]!, /not an absolute path/);
});

test(
  'owner, group-writable and other-writable, also through a link',
  { skip: !isRoot && 'needs root (chown)' },
  () => {
    // A root-owned, 0755 tree under the work directory; only the work directory's parents fail then.
    const base = join(work, 'tree');
    mkdirSync(join(base, 'bin'), { recursive: true });
    const bin = join(base, 'bin', 'node');
    writeFileSync(bin, '');
    const others = new Set(nonRootWritable(work));
    const own = (p: string) => nonRootWritable(p).filter((x) => !others.has(x));
    assert.deepEqual(own(bin), []);
    chownSync(bin, 1234, 1234);
    assert.deepEqual(own(bin), [`${bin} is owned by uid 1234 (mode 0644)`]);
    chownSync(bin, 0, 0);
    chmodSync(join(base, 'bin'), 0o775);
    assert.deepEqual(own(bin), [`${join(base, 'bin')} is writable by its group (mode 0775)`]);
    chmodSync(join(base, 'bin'), 0o757);
    assert.deepEqual(own(bin), [`${join(base, 'bin')} is writable by every user (mode 0757)`]);
    chmodSync(join(base, 'bin'), 0o755);
    // A root-owned link to a file a user owns: the target counts.
    const userDir = join(work, 'user');
    mkdirSync(userDir);
    writeFileSync(join(userDir, 'node'), '');
    chownSync(userDir, 1234, 1234);
    symlinkSync(join(userDir, 'node'), join(base, 'bin', 'link'));
    assert.deepEqual(own(join(base, 'bin', 'link')), [`${userDir} is owned by uid 1234 (mode 0755)`]);
  },
);

test('the copy: the bundle files and prebuilds, modes set, owned by root, an earlier copy replaced whole', () => {
  const bundle = join(work, 'bundle');
  mkdirSync(join(bundle, 'prebuilds', 'linux-x64'), { recursive: true });
  mkdirSync(join(bundle, 'prebuilds', 'darwin-arm64'), { recursive: true });
  for (const f of ['gangway.js', 'gangway_native.node', 'gangway-agent.js', 'gangway-agent.Dockerfile'])
    writeFileSync(join(bundle, f), `v1 ${f}`);
  writeFileSync(join(bundle, 'prebuilds', 'linux-x64', 'gangway_native.node'), 'x64');
  writeFileSync(join(bundle, 'prebuilds', 'darwin-arm64', 'gangway_native.node'), 'not for the agent');
  writeFileSync(join(bundle, 'notes.txt'), 'not copied');
  const plan = helperCopyPlan(bundle);
  assert.deepEqual(
    plan.map((i) => i.to),
    [
      'gangway.js',
      'gangway_native.node',
      'gangway-agent.js',
      'gangway-agent.Dockerfile',
      'prebuilds/linux-x64/gangway_native.node',
    ],
  );
  const dest = join(work, 'lib', 'gangway', '0.1.0');
  copyHelper(plan, dest);
  assert.equal(readFileSync(join(dest, 'gangway.js'), 'utf8'), 'v1 gangway.js');
  const mode = (p: string) => statSync(join(dest, p)).mode & 0o777;
  assert.equal(mode('gangway.js'), 0o644);
  assert.equal(mode('gangway_native.node'), 0o755);
  assert.equal(mode('.'), 0o755);
  assert.equal(mode('prebuilds/linux-x64'), 0o755);
  if (isRoot) for (const p of ['.', 'gangway.js', 'prebuilds']) assert.equal(statSync(join(dest, p)).uid, 0);
  // Changing the source afterwards changes nothing in the copy; a new install replaces it whole.
  writeFileSync(join(bundle, 'gangway.js'), 'changed by the user');
  assert.equal(readFileSync(join(dest, 'gangway.js'), 'utf8'), 'v1 gangway.js');
  writeFileSync(join(dest, 'stray'), 'left from before');
  copyHelper(helperCopyPlan(bundle), dest);
  assert.equal(readFileSync(join(dest, 'gangway.js'), 'utf8'), 'changed by the user');
  assert.equal(existsSync(join(dest, 'stray')), false);
  assert.deepEqual(readdirSync(join(work, 'lib', 'gangway')), ['0.1.0'], 'no staging directory is left');
  rmSync(join(bundle, 'gangway-agent.js'));
  assert.throws(
    () => helperCopyPlan(bundle),
    /bundle is incomplete, missing .*gangway-agent\.js .*npm run build/,
  );
});
