// The script root runs to install the helper on macOS (src-main/install-command.ts macInstallScript), run
// here by /bin/sh as root with stand-ins for Apple's ditto (cp -a, which as root also keeps owners) and
// codesign (records its arguments; fails on demand); mktemp, chown, chmod, rm and env are the real ones. The
// app's "binary" is a shell script that writes down where it runs from, as whom, with which arguments and
// environment. Root must run only the staged, root-owned copy, never the user's bundle, with none of the
// caller's environment, and leave no stage behind; a failed signature check stops it before anything runs.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
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
import { MAC_TOOLS, macInstallScript, type MacTools } from '../../src-main/install-command';
import { osascriptOutcome } from '../../src-main/install-run';

const root = process.getuid?.() === 0;
const skip = (!root || process.platform !== 'linux') && 'runs the script as root with GNU stand-ins';
const work = mkdtempSync(join(tmpdir(), 'gw-macinst-'));
after(() => rmSync(work, { recursive: true, force: true }));

const NOBODY = 65534;
const marker = join(work, 'injected');
const record = join(work, 'record');
const codesignLog = join(work, 'codesign-args');
const codesignFails = join(work, 'codesign-fails');

function standIn(name: string, body: string): string {
  const p = join(work, 'bin', name);
  mkdirSync(join(work, 'bin'), { recursive: true });
  writeFileSync(p, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return p;
}

function tools(stageParent: string): MacTools {
  return {
    ...MAC_TOOLS,
    mktemp: '/usr/bin/mktemp',
    chown: '/bin/chown',
    chmod: '/bin/chmod',
    rm: '/bin/rm',
    env: '/usr/bin/env',
    ditto: standIn('ditto', '[ "$1" = --noacl ] && shift\nexec cp -a "$1" "$2"'),
    codesign: standIn(
      'codesign',
      `printf '%s\\n' "$@" > '${codesignLog}'\n[ -e '${codesignFails}' ] && exit 1\nexit 0`,
    ),
    stageParent,
  };
}

/** A user's app bundle (owned by nobody) whose binary writes down how it was run. */
function fakeBundle(dir: string): { bundle: string; runtime: string; cli: string } {
  // Runs (in the shell's directory, `work`) if a shell ever reads the path as code.
  const bundle = join(dir, "Gang way $(touch injected) `touch injected` 'q'.app");
  const runtime = join(bundle, 'Contents', 'MacOS', 'Gangway');
  const cli = join(bundle, 'Contents', 'Resources', 'helper', 'gangway.js');
  mkdirSync(join(bundle, 'Contents', 'MacOS'), { recursive: true });
  mkdirSync(join(bundle, 'Contents', 'Resources', 'helper'), { recursive: true });
  mkdirSync(join(bundle, 'Contents', 'Frameworks'), { recursive: true });
  writeFileSync(cli, '// the CLI\n');
  const setuid = join(bundle, 'Contents', 'MacOS', 'setuid-tool');
  writeFileSync(setuid, '');
  symlinkSync('../MacOS', join(bundle, 'Contents', 'Frameworks', 'Current'));
  writeFileSync(
    runtime,
    [
      '#!/bin/sh',
      `{ echo "self=$0"; for a in "$@"; do echo "arg=$a"; done`,
      '  echo "uid=$(id -u)"; echo "owner=$(stat -c %u "$0")"',
      '  echo "setuid=$(stat -c %a "$(dirname "$0")/setuid-tool")"',
      '  echo "stage=$(stat -c %a "$(dirname "$0")/../../..")"',
      `  env | sed 's/^/env=/'; } > '${record}'`,
    ].join('\n'),
    { mode: 0o755 },
  );
  chmodSync(setuid, 0o4755);
  for (const p of [dir, bundle, runtime, cli]) chownSync(p, NOBODY, NOBODY);
  return { bundle, runtime, cli };
}

function runScript(script: string) {
  rmSync(record, { force: true });
  return spawnSync('/bin/sh', ['-c', script], {
    cwd: work,
    encoding: 'utf8',
    // What a user's session could carry into root's command: none of it may arrive.
    env: { PATH: '/usr/bin:/bin', NODE_OPTIONS: `--require ${join(work, 'evil.js')}`, HOME: work },
    timeout: 30_000,
  });
}

const recorded = () => {
  const lines = readFileSync(record, 'utf8').trimEnd().split('\n');
  const all = (k: string) => lines.filter((l) => l.startsWith(`${k}=`)).map((l) => l.slice(k.length + 1));
  return { all, one: (k: string) => all(k)[0] };
};

test(
  'root runs the staged, root-owned copy with only its own environment, and removes the stage',
  { skip },
  () => {
    const stages = mkdtempSync(join(work, 'stages-'));
    const app = fakeBundle(mkdtempSync(join(work, 'user-')));
    const script = macInstallScript({ ...app, uid: 501, gid: 20 }, tools(stages));
    const r = runScript(script);
    assert.equal(r.status, 0, r.stderr);
    const rec = recorded();
    const self = rec.one('self') ?? '';
    assert.ok(self.startsWith(`${stages}/gangway-install.`), self);
    assert.ok(
      self.endsWith("/Gang way $(touch injected) `touch injected` 'q'.app/Contents/MacOS/Gangway"),
      self,
    );
    assert.notEqual(self, app.runtime);
    assert.deepEqual(rec.all('arg'), [
      self.replace(/MacOS\/Gangway$/, 'Resources/helper/gangway.js'),
      'service',
      'install',
      '--copy-app',
      '--socket-owner',
      '501:20',
    ]);
    assert.equal(rec.one('uid'), '0');
    assert.equal(rec.one('owner'), '0', 'the copy is root’s');
    assert.equal(rec.one('setuid'), '755', 'no set-id bit survives the stage');
    assert.equal(rec.one('stage'), '700', 'only root enters the stage');
    const env = rec.all('env');
    assert.ok(env.includes('ELECTRON_RUN_AS_NODE=1'), env.join(' '));
    assert.ok(env.includes('PATH=/usr/bin:/bin:/usr/sbin:/sbin'), env.join(' '));
    assert.ok(!env.some((e) => /NODE_OPTIONS|HOME=/.test(e)), env.join(' '));
    assert.deepEqual(readdirSync(stages), [], 'the stage is removed');
    assert.equal(existsSync(marker), false, 'nothing in the bundle path ran');
    assert.equal(existsSync(codesignLog), false, 'an unsigned build is not verified');
  },
);

test(
  'a signed app: the copy is verified against its Team ID; a failed check stops before anything runs',
  { skip },
  () => {
    const stages = mkdtempSync(join(work, 'stages-'));
    const app = fakeBundle(mkdtempSync(join(work, 'user-')));
    const script = macInstallScript(
      { ...app, uid: 501, gid: 20, team: 'ABCDE12345', identifier: 'dev.gangway.app', version: '1.2.3' },
      tools(stages),
    );
    const ok = runScript(script);
    assert.equal(ok.status, 0, ok.stderr);
    const args = readFileSync(codesignLog, 'utf8').trimEnd().split('\n');
    assert.deepEqual(args.slice(0, 5), [
      '--verify',
      '--strict',
      '--deep',
      '-R',
      '=anchor apple generic and identifier "dev.gangway.app" and certificate leaf[subject.OU] = "ABCDE12345"',
    ]);
    // The staged helper must be the running app's version.
    assert.deepEqual(recorded().all('arg').slice(-2), ['--expect-version', '1.2.3']);
    assert.ok(args[5]?.startsWith(`${stages}/gangway-install.`), args[5]);

    writeFileSync(codesignFails, '');
    try {
      const bad = runScript(script);
      assert.notEqual(bad.status, 0);
      assert.equal(existsSync(record), false, 'the binary did not run');
      assert.deepEqual(readdirSync(stages), [], 'the stage is removed on failure too');
    } finally {
      rmSync(codesignFails, { force: true });
    }
  },
);

test('a development build: the CLI outside the bundle is staged beside it', { skip }, () => {
  const stages = mkdtempSync(join(work, 'stages-'));
  const user = mkdtempSync(join(work, 'user-'));
  const app = fakeBundle(user);
  const cliDir = join(user, 'dist', 'bundle');
  mkdirSync(cliDir, { recursive: true });
  writeFileSync(join(cliDir, 'gangway.js'), '// the CLI\n');
  const r = runScript(
    macInstallScript({ ...app, cli: join(cliDir, 'gangway.js'), uid: 501, gid: 20 }, tools(stages)),
  );
  assert.equal(r.status, 0, r.stderr);
  const self = recorded().one('self') ?? '';
  const stage = self.slice(0, self.indexOf('/', stages.length + 1));
  assert.equal(recorded().all('arg')[0], `${stage}/helper/gangway.js`);
});

test("the uninstall runs the staged copy's service uninstall, and nothing of the install's", { skip }, () => {
  const stages = mkdtempSync(join(work, 'stages-'));
  const app = fakeBundle(mkdtempSync(join(work, 'user-')));
  const r = runScript(
    macInstallScript({ ...app, uid: 501, gid: 20, version: '1.2.3' }, tools(stages), 'uninstall'),
  );
  assert.equal(r.status, 0, r.stderr);
  const rec = recorded();
  assert.ok((rec.one('self') ?? '').startsWith(`${stages}/gangway-install.`));
  assert.deepEqual(rec.all('arg').slice(1), ['service', 'uninstall', '--json']);
  assert.equal(rec.one('owner'), '0');
  assert.deepEqual(readdirSync(stages), []);
});

test('what the script builder refuses', () => {
  const app = {
    bundle: '/Applications/Gangway.app',
    runtime: '/Applications/Gangway.app/Contents/MacOS/Gangway',
    cli: '/Applications/Gangway.app/Contents/Resources/helper/gangway.js',
    uid: 501,
    gid: 20,
  };
  assert.throws(() => macInstallScript({ ...app, team: 'abc"; rm -rf /' }), /invalid Team ID/);
  assert.throws(
    () => macInstallScript({ ...app, team: 'ABCDE12345', identifier: 'x" or anchor apple' }),
    /invalid signing identifier/,
  );
  assert.throws(() => macInstallScript({ ...app, team: 'ABCDE12345' }), /invalid signing identifier/);
  assert.throws(() => macInstallScript({ ...app, version: '1.0; reboot' }), /invalid version/);
  assert.throws(() => macInstallScript({ ...app, uid: -1 }), /invalid uid/);
  assert.throws(
    () => macInstallScript({ ...app, runtime: '/usr/local/bin/node' }),
    /not inside an app bundle/,
  );
  assert.throws(
    () => macInstallScript({ ...app, bundle: '/Applications/Gangway' }),
    /not inside an app bundle/,
  );
  assert.throws(() => macInstallScript({ ...app, cli: '/x\n/y' }), /line break/);
  // Apple's tools by absolute path only.
  const script = macInstallScript(app);
  for (const tool of ['/usr/bin/mktemp', '/usr/bin/ditto', '/usr/sbin/chown', '/bin/chmod', '/usr/bin/env'])
    assert.ok(script.includes(`'${tool}'`), tool);
  assert.ok(script.includes("'/private/var/root/gangway-install.XXXXXXXX'"));
  assert.equal(execFileSync('/bin/sh', ['-n', '-c', script]).length, 0, 'sh parses it');
});

test("osascript's outcome: a cancelled dialog is declined; a failed script says its own error", () => {
  const fail = new Error('Command failed: /usr/bin/osascript');
  assert.deepEqual(osascriptOutcome(null, ''), { kind: 'installed' });
  assert.deepEqual(osascriptOutcome(fail, '0:180: execution error: User canceled. (-128)\n'), {
    kind: 'declined',
  });
  assert.deepEqual(
    osascriptOutcome(
      fail,
      '0:180: execution error: gangway service install: refused, nothing was changed:\r- the runtime … (1)\n',
    ),
    {
      kind: 'failed',
      message: 'gangway service install: refused, nothing was changed:\r- the runtime …',
    },
  );
  assert.deepEqual(osascriptOutcome(fail, ''), { kind: 'failed', message: fail.message });
});
