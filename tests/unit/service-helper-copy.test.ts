// The root-owned copy of the helper on the real file system: what makes a path changeable by a non-root
// user (owner, group- and other-writable modes, links followed), and the copy itself (modes, root as the
// owner, an earlier copy replaced whole), and on macOS the app bundle the runtime lives in, copied whole by
// the same code with cp -a in ditto's place. Parts that need chown run only as root (as CI does).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  lchownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  copiedMode,
  copyHelper,
  helperCopyPlan,
  helperInstallDir,
  treeCopier,
  treeProblems,
} from '../../helper/service/helper-copy';
import { transientLocation } from '../../common/install-location';
import { nonRootWritable, type OwnershipDeps } from '../../helper/service/root-owned';
import type { InstallOptions } from '../../helper/service/service-manager';
import { runServiceCommand } from '../../cli/service-cli';

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

test('a source file swapped for a link is refused, and a hard link to a file others may not read stays unreadable', () => {
  const bundle = join(work, 'swap-bundle');
  mkdirSync(bundle, { recursive: true });
  for (const f of ['gangway.js', 'gangway_native.node', 'gangway-agent.js', 'gangway-agent.Dockerfile'])
    writeFileSync(join(bundle, f), `v1 ${f}`);
  // Root's secret beside the bundle, on the same file system (a hard link needs that).
  const secret = join(work, 'root-secret');
  writeFileSync(secret, 'root only');
  chmodSync(secret, 0o600);
  const plan = helperCopyPlan(bundle);
  const dest = join(work, 'swap-lib', '0.1.0');
  // The bundle's user swaps gangway.js for a link to the secret while the install runs: root would copy the
  // secret into a file every user may read.
  rmSync(join(bundle, 'gangway.js'));
  symlinkSync(secret, join(bundle, 'gangway.js'));
  assert.throws(
    () => copyHelper(plan, dest),
    /gangway\.js is a symbolic link; the install copies regular files only/,
  );
  assert.equal(existsSync(dest), false, 'nothing installed');
  assert.deepEqual(readdirSync(join(work, 'swap-lib')), [], 'no staging directory is left');
  // A hard link is a regular file; its mode is the secret's, and the copy keeps others from reading it.
  rmSync(join(bundle, 'gangway.js'));
  linkSync(secret, join(bundle, 'gangway.js'));
  copyHelper(plan, dest);
  assert.equal(statSync(join(dest, 'gangway.js')).mode & 0o777, 0o600);
  assert.equal(statSync(join(dest, 'gangway-agent.js')).mode & 0o777, 0o644, 'the others as planned');
  assert.equal(copiedMode(0o755, 0o100644), 0o755);
  assert.equal(copiedMode(0o644, 0o100640), 0o640);
  assert.equal(copiedMode(0o755, 0o100600), 0o711);
});

/**
 * A fake app bundle as a Mac has it in /Applications: its user's (here nobody's), with an Electron-like
 * framework of relative links, a group-writable file, a group-writable directory and a set-uid file.
 */
function fakeApp(parent: string, name: string, uid = 65534): string {
  const app = join(parent, name);
  const fw = join(app, 'Contents', 'Frameworks', 'Fake Framework.framework');
  mkdirSync(join(app, 'Contents', 'MacOS'), { recursive: true });
  mkdirSync(join(fw, 'Versions', 'A'), { recursive: true });
  mkdirSync(join(app, 'Contents', 'Resources', 'helper'), { recursive: true });
  writeFileSync(join(app, 'Contents', 'MacOS', 'Fake'), '#!/bin/sh\n');
  chmodSync(join(app, 'Contents', 'MacOS', 'Fake'), 0o755);
  writeFileSync(join(fw, 'Versions', 'A', 'Fake Framework'), 'framework');
  symlinkSync('A', join(fw, 'Versions', 'Current'));
  symlinkSync('Versions/Current/Fake Framework', join(fw, 'Fake Framework'));
  writeFileSync(join(app, 'Contents', 'Resources', 'helper', 'gangway.js'), 'v1');
  chmodSync(join(app, 'Contents', 'Resources', 'helper', 'gangway.js'), 0o664);
  chmodSync(join(app, 'Contents', 'Resources'), 0o775);
  writeFileSync(join(app, 'Contents', 'Resources', 'suid'), '');
  chmodSync(join(app, 'Contents', 'Resources', 'suid'), 0o4755);
  const walk = (p: string): void => {
    lchownSync(p, uid, uid);
    if (lstatSync(p).isDirectory()) for (const e of readdirSync(p)) walk(join(p, e));
  };
  walk(app);
  return app;
}

/** Every entry under `top`, relative, with its owner, mode, and link target. */
function listing(top: string): string[] {
  const out: string[] = [];
  const walk = (p: string): void => {
    const st = lstatSync(p);
    const rel = p === top ? '.' : p.slice(top.length + 1);
    const link = st.isSymbolicLink() ? ` -> ${readlinkSync(p)}` : '';
    out.push(`${rel} uid ${st.uid} ${st.isSymbolicLink() ? 'link' : (st.mode & 0o7777).toString(8)}${link}`);
    if (st.isDirectory()) for (const e of readdirSync(p).sort()) walk(join(p, e));
  };
  walk(top);
  return out;
}

test(
  "macOS's app bundle copy, with the copier used off macOS: root's, user's write and set-id gone, links kept, earlier versions replaced",
  { skip: !isRoot && 'needs root (chown)' },
  () => {
    const src = join(work, 'apps');
    mkdirSync(src);
    const bundle = join(work, 'bundle-app');
    mkdirSync(bundle);
    for (const f of ['gangway.js', 'gangway_native.node', 'gangway-agent.js', 'gangway-agent.Dockerfile'])
      writeFileSync(join(bundle, f), f);
    const dest = join(work, 'PrivilegedHelperTools', 'dev.gangway.helper');
    // An earlier version's copy, under another name: the new install must not leave it beside the new one.
    copyHelper(helperCopyPlan(bundle), dest, {
      from: fakeApp(src, 'Old.app'),
      to: 'Old.app',
      runtime: 'Contents/MacOS/Fake',
    });
    assert.ok(existsSync(join(dest, 'Old.app', 'Contents', 'MacOS', 'Fake')));

    const app = fakeApp(src, 'Fake.app');
    assert.equal(statSync(app).uid, 65534);
    let stagingMode = -1;
    const copier = treeCopier('linux');
    copyHelper(
      helperCopyPlan(bundle),
      dest,
      { from: app, to: 'Fake.app', runtime: 'Contents/MacOS/Fake' },
      (from, to) => {
        // No other user may reach the copy while it is still the source's owner's.
        stagingMode = statSync(dirname(to)).mode & 0o777;
        copier(from, to);
        assert.equal(lstatSync(to).uid, 65534, 'the copier keeps the owner, as ditto does as root');
      },
    );
    assert.equal(stagingMode, 0o700);
    assert.deepEqual(readdirSync(dest).sort(), [
      'Fake.app',
      'gangway-agent.Dockerfile',
      'gangway-agent.js',
      'gangway.js',
      'gangway_native.node',
    ]);
    assert.deepEqual(
      readdirSync(dirname(dest)),
      ['dev.gangway.helper'],
      'no staging or old directory is left',
    );
    assert.equal(statSync(dest).mode & 0o777, 0o755);
    const fw = 'Contents/Frameworks/Fake Framework.framework';
    assert.deepEqual(listing(join(dest, 'Fake.app')), [
      '. uid 0 755',
      'Contents uid 0 755',
      'Contents/Frameworks uid 0 755',
      `${fw} uid 0 755`,
      `${fw}/Fake Framework uid 0 link -> Versions/Current/Fake Framework`,
      `${fw}/Versions uid 0 755`,
      `${fw}/Versions/A uid 0 755`,
      `${fw}/Versions/A/Fake Framework uid 0 644`,
      `${fw}/Versions/Current uid 0 link -> A`,
      'Contents/MacOS uid 0 755',
      'Contents/MacOS/Fake uid 0 755',
      'Contents/Resources uid 0 755',
      'Contents/Resources/helper uid 0 755',
      'Contents/Resources/helper/gangway.js uid 0 644',
      'Contents/Resources/suid uid 0 755',
    ]);
    assert.deepEqual(treeProblems(join(dest, 'Fake.app')), []);
    const others = new Set(nonRootWritable(work));
    const runtime = join(dest, 'Fake.app', 'Contents', 'MacOS', 'Fake');
    assert.deepEqual(
      nonRootWritable(runtime).filter((x) => !others.has(x)),
      [],
    );
    assert.deepEqual(
      nonRootWritable(app).filter((x) => !others.has(x)),
      [`${app} is owned by nobody (uid 65534) (mode 0755)`],
      "the source stays as it was, its user's",
    );
    // The user's later change to their app does nothing to the copy.
    writeFileSync(join(app, 'Contents', 'MacOS', 'Fake'), 'changed by the user');
    assert.equal(readFileSync(runtime, 'utf8'), '#!/bin/sh\n');
  },
);

test(
  'an app bundle whose copy would lead outside itself is refused; the copy in place stays',
  { skip: !isRoot && 'needs root (chown)' },
  () => {
    const src = join(work, 'bad-apps');
    mkdirSync(src);
    const dest = join(work, 'helper-tools', 'dev.gangway.helper');
    const good = fakeApp(src, 'Good.app');
    copyHelper([], dest, { from: good, to: 'Good.app', runtime: 'Contents/MacOS/Fake' });
    const outside = join(work, 'users-file');
    writeFileSync(outside, '');
    chownSync(outside, 65534, 65534);
    const cases: [string, (app: string) => void, RegExp][] = [
      [
        'absolute link',
        (a) => symlinkSync(outside, join(a, 'Contents', 'abs')),
        /links to the absolute path/,
      ],
      [
        'relative link out',
        // From the copy, Bad.app/Contents/rel, this reaches the work directory's file.
        (a) => symlinkSync('../../../../users-file', join(a, 'Contents', 'rel')),
        new RegExp(`Contents/rel links to ${outside}, outside the copy$`, 'm'),
      ],
      [
        'dangling link out',
        (a) => symlinkSync('../../users-file', join(a, 'Contents', 'out')),
        /Contents\/out links to .*\.new-\d+\/users-file, outside the copy \(and missing\)/,
      ],
      [
        'dangling link',
        (a) => symlinkSync('nothing', join(a, 'Contents', 'dangling')),
        /which does not exist/,
      ],
      [
        'fifo',
        (a) => execFileSync('mkfifo', [join(a, 'Contents', 'fifo')]),
        /fifo is neither a file, a directory nor a link/,
      ],
      [
        'no runtime',
        (a) => rmSync(join(a, 'Contents', 'MacOS', 'Fake')),
        /the runtime, is missing from the copy/,
      ],
    ];
    for (const [name, spoil, why] of cases) {
      const app = fakeApp(src, `${name}.app`);
      spoil(app);
      assert.throws(
        () => copyHelper([], dest, { from: app, to: 'Bad.app', runtime: 'Contents/MacOS/Fake' }),
        (e: Error) =>
          /could still be changed by a user other than root, or reach outside itself/.test(e.message) &&
          why.test(e.message),
        name,
      );
      assert.deepEqual(readdirSync(dest), ['Good.app'], name);
      assert.deepEqual(readdirSync(dirname(dest)), ['dev.gangway.helper'], `${name}: no staging left`);
    }
    assert.throws(() => treeCopier('darwin')(good, join(work, 'x.app')), /\/usr\/bin\/ditto could not copy/);
  },
);

test(
  "gangway service install on macOS, all but launchd: the user's app in a group-writable Applications is copied, the plist runs the copy",
  { skip: !isRoot && 'needs root (chown)' },
  async () => {
    const top = join(work, 'mac');
    const apps = join(top, 'Applications');
    mkdirSync(apps, { recursive: true });
    chmodSync(apps, 0o775); // root:admin 0775 on a Mac
    const app = fakeApp(apps, 'Gangway.app');
    const helper = join(app, 'Contents', 'Resources', 'helper');
    for (const f of ['gangway.js', 'gangway_native.node', 'gangway-agent.js', 'gangway-agent.Dockerfile'])
      writeFileSync(join(helper, f), f);
    const dest = join(top, 'PrivilegedHelperTools', 'dev.gangway.helper');
    // The real file system below `top`; above it (the temporary directory) counts as root's.
    const ownership: OwnershipDeps = {
      lstat: (p) => {
        const st = lstatSync(p);
        return p === top || p.startsWith(top + '/')
          ? st
          : { uid: 0, mode: 0o40755, isSymbolicLink: () => false };
      },
    };
    const installed: InstallOptions[] = [];
    const manager = {
      kind: 'launchd' as const,
      path: join(top, 'dev.gangway.helper.plist'),
      render: (o: InstallOptions) => `ProgramArguments ${o.nodePath} ${o.cliPath} daemon`,
      install: (o: InstallOptions) => {
        installed.push(o);
        return Promise.resolve({ path: join(top, 'dev.gangway.helper.plist'), started: true, warnings: [] });
      },
      uninstall: () => Promise.reject(new Error('not here')),
      status: () => Promise.reject(new Error('not here')),
    };
    const out: string[] = [];
    const err: string[] = [];
    const base: InstallOptions = {
      nodePath: join(app, 'Contents', 'MacOS', 'Fake'),
      cliPath: join(helper, 'gangway.js'),
      owner: { uid: 65534, gid: 65534, user: 'nobody' },
      socketPath: join(top, 'gangway.sock'),
      stateDir: join(top, 'state'),
      logFile: join(top, 'log', 'helper.log'),
      extraArgs: [],
      env: { ELECTRON_RUN_AS_NODE: '1' },
    };
    const deps = {
      manager,
      platform: 'darwin' as const,
      out: (s: string) => out.push(s),
      err: (s: string) => err.push(s),
      isRoot: () => true,
      installDefaults: () => base,
      bundleDir: () => helper,
      plan: { dest, ownership },
    };
    const dry: string[] = [];
    assert.equal(
      await runServiceCommand(['install', '--dry-run'], { ...deps, out: (s) => dry.push(s) }),
      0,
      err.join('\n'),
    );
    assert.match(dry.join('\n'), new RegExp(`^${app} -> ${dest}/Gangway.app$`, 'm'));
    assert.match(
      dry.join('\n'),
      new RegExp(`^ProgramArguments ${dest}/Gangway.app/Contents/MacOS/Fake `, 'm'),
    );
    assert.equal(existsSync(dest), false, '--dry-run copies nothing');

    assert.equal(await runServiceCommand(['install'], deps), 0, err.join('\n'));
    const runtime = join(dest, 'Gangway.app', 'Contents', 'MacOS', 'Fake');
    assert.equal(installed[0]?.nodePath, runtime);
    assert.equal(installed[0]?.cliPath, join(dest, 'gangway.js'));
    assert.deepEqual(out.slice(0, 1), [
      `copying ${app} into ${dest}, as the service's runtime (a few seconds)`,
    ]);
    assert.equal(readFileSync(runtime, 'utf8'), '#!/bin/sh\n');
    assert.deepEqual(nonRootWritable(runtime, ownership), []);
    assert.deepEqual(nonRootWritable(join(dest, 'gangway.js'), ownership), []);
    assert.deepEqual(treeProblems(join(dest, 'Gangway.app')), []);
    // Without the copy this very runtime is refused: the app is nobody's and Applications group-writable.
    assert.match(
      nonRootWritable(base.nodePath, ownership).join('\n'),
      /Applications is writable by its group/,
    );
  },
);
