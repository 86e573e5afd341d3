import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchdPlist } from '../../helper/service/service-darwin';
import { xmlEscape } from '../../common/xml-escape';
import { systemdQuote, systemdUnit } from '../../helper/service/service-linux';
import { daemonArgv, type InstallOptions } from '../../helper/service/service-manager';

const HOSTILE = `/tmp/gw dir "q" 'a' $HOME %n & <x> \\ é 🚀`;

function opts(over: Partial<InstallOptions> = {}): InstallOptions {
  return {
    nodePath: process.execPath,
    cliPath: __filename,
    owner: { uid: 501, gid: 20, user: 'alice' },
    socketPath: `${HOSTILE}/gangway.sock`,
    stateDir: `${HOSTILE}/state`,
    logFile: `${HOSTILE}/helper.log`,
    extraArgs: ['--port', '4789', '--x=$(reboot)', '%h', ''],
    ...over,
  };
}

function hasBinary(name: string): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v "$1"', 'sh', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function run(
  cmd: string,
  args: string[],
  input?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

test('daemonArgv passes socket, state dir, socket owner, the rotated log and extra args', () => {
  const a = daemonArgv(opts({ extraArgs: ['--mtu', '1400'] }));
  assert.deepEqual(a.slice(2), [
    'daemon',
    '--socket',
    `${HOSTILE}/gangway.sock`,
    '--state-dir',
    `${HOSTILE}/state`,
    '--socket-owner',
    '501:20',
    '--log-file',
    `${HOSTILE}/gangway.log`,
    '--no-stderr-log',
    '--mtu',
    '1400',
  ]);
  assert.throws(() => daemonArgv(opts({ socketPath: 'relative.sock' })), /absolute/);
  assert.throws(() => daemonArgv(opts({ extraArgs: ['a\nExecStartPre=/bin/sh'] })), /control/);
  assert.throws(() => daemonArgv(opts({ owner: { uid: -1, gid: 0, user: 'x' } })), /owner/);
});

test('systemdQuote escapes backslash, quotes, % and $', () => {
  assert.equal(systemdQuote('/usr/bin/node'), '"/usr/bin/node"');
  assert.equal(systemdQuote('a b'), '"a b"');
  assert.equal(systemdQuote('say "hi"'), '"say \\"hi\\""');
  assert.equal(systemdQuote('c:\\x'), '"c:\\\\x"');
  assert.equal(systemdQuote('100%'), '"100%%"');
  assert.equal(systemdQuote('$HOME ${X}'), '"$$HOME $${X}"');
  assert.equal(systemdQuote("it's"), `"it's"`);
  assert.equal(systemdQuote(''), '""');
  assert.equal(systemdQuote('é🚀'), '"é🚀"');
  assert.throws(() => systemdQuote('a\nb'), /control/);
});

test('systemdUnit has the expected service settings', () => {
  const u = systemdUnit(opts());
  for (const line of [
    'Type=simple',
    'Restart=always',
    'RestartSec=1',
    'After=network-online.target docker.service',
    'Wants=network-online.target',
    'WantedBy=multi-user.target',
  ]) {
    assert.ok(u.split('\n').includes(line), line);
  }
  assert.doesNotMatch(u, /ProtectHome/);
  const exec = u.split('\n').find((l) => l.startsWith('ExecStart='))!;
  assert.ok(exec.startsWith(`ExecStart="${process.execPath}" `));
  assert.ok(exec.includes('"--socket-owner" "501:20"'));
  assert.ok(exec.includes('"--x=$$(reboot)" "%%h" ""'));
  assert.ok(u.includes(`StandardOutput=append:${HOSTILE.replace(/%/g, '%%')}/helper.log`));
});

test(
  'systemd-analyze verify accepts the unit with hostile paths',
  {
    skip: hasBinary('systemd-analyze')
      ? false
      : 'systemd-analyze is not installed (scripts/setup.sh installs systemd)',
  },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-unit-'));
    try {
      const file = join(dir, 'gangway.service');
      writeFileSync(file, systemdUnit(opts()));
      const r = await run('systemd-analyze', ['verify', '--man=no', file]);
      const out = `${r.stdout}\n${r.stderr}`;
      // Without systemd as PID 1, verify may complain about the bus or missing dependency units
      // (docker.service); anything naming this unit's own syntax is a failure.
      const own = out
        .split('\n')
        .filter((l) => l.includes('gangway.service'))
        .filter((l) => !/docker\.service|network-online/.test(l));
      assert.deepEqual(own, [], out);
      assert.equal(r.code, 0, out);
      // The check is live: a unit with broken quoting fails it.
      writeFileSync(file, systemdUnit(opts()).replace(/^ExecStart=(.*)"$/m, 'ExecStart=$1'));
      const bad = await run('systemd-analyze', ['verify', '--man=no', file]);
      assert.match(`${bad.stdout}${bad.stderr}`, /Unbalanced quoting|bad unit file/);
      assert.doesNotMatch(out, /Invalid|Failed to parse|Unknown (key|section)|bad unit file|Ignoring/i, out);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test('xmlEscape escapes the five XML characters and refuses control characters', () => {
  assert.equal(xmlEscape(`a&b<c>d"e'f`), 'a&amp;b&lt;c&gt;d&quot;e&apos;f');
  assert.equal(xmlEscape('é🚀 $%'), 'é🚀 $%');
  assert.throws(() => xmlEscape('a\u0001'), /not allowed/);
});

/** A tiny XML checker: balanced tags, only known entities, no raw < or & in text. Returns the <string>s. */
function checkXml(xml: string): string[] {
  const body = xml.replace(/^<\?xml[^>]*\?>\s*/, '').replace(/<!DOCTYPE[^>]*>\s*/, '');
  const stack: string[] = [];
  const strings: string[] = [];
  const re = /<!--[\s\S]*?-->|<(\/?)([A-Za-z]+)([^>]*?)(\/?)>|([^<]+)/g;
  let m: RegExpExecArray | null;
  let consumed = 0;
  while ((m = re.exec(body))) {
    assert.equal(m.index, consumed, `unparsed text at ${consumed}: ${body.slice(consumed, consumed + 20)}`);
    consumed = m.index + m[0].length;
    if (m[0].startsWith('<!--')) continue;
    if (m[5] !== undefined) {
      assert.doesNotMatch(m[5], /&(?!(amp|lt|gt|quot|apos);)/, `bare & in ${m[5]}`);
      assert.doesNotMatch(m[5], />/, `raw > in ${m[5]}`);
      if (stack.at(-1) === 'string') {
        strings[strings.length - 1] = m[5]
          .replace(/&lt;/g, '<')
          .replace(/&gt;/g, '>')
          .replace(/&quot;/g, '"')
          .replace(/&apos;/g, "'")
          .replace(/&amp;/g, '&');
      }
      continue;
    }
    if (m[4]) continue; // <true/>
    if (m[1]) assert.equal(stack.pop(), m[2], `mismatched </${m[2]}>`);
    else {
      assert.notEqual(stack.at(-1), 'string', `<${m[2]}> inside <string>`);
      if (m[2] === 'string') strings.push('');
      stack.push(m[2]!);
    }
  }
  assert.equal(consumed, body.length);
  assert.deepEqual(stack, []);
  return strings;
}

test('launchdPlist is well-formed XML and ProgramArguments round-trip (own checker)', () => {
  const o = opts({ extraArgs: ['--port', '4789', '--x=$(reboot)', '%h', 'a&b<c>', ''] });
  const strings = checkXml(launchdPlist(o));
  const argv = daemonArgv(o);
  // strings: Label, ProgramArguments..., ProcessType, StandardOutPath, StandardErrorPath
  assert.deepEqual(strings, ['dev.gangway.helper', ...argv, 'Interactive', o.logFile, o.logFile]);
});

test(
  'python plistlib parses the plist and ProgramArguments match exactly',
  { skip: hasBinary('python3') ? false : 'python3 is not installed (scripts/setup.sh installs it)' },
  async () => {
    const o = opts();
    const script =
      'import plistlib,sys,json; d=plistlib.loads(sys.stdin.buffer.read()); sys.stdout.write(json.dumps(d))';
    const r = await run('python3', ['-c', script], launchdPlist(o));
    assert.equal(r.code, 0, r.stderr);
    const d = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual(d, {
      Label: 'dev.gangway.helper',
      ProgramArguments: daemonArgv(o),
      RunAtLoad: true,
      KeepAlive: true,
      ThrottleInterval: 1,
      ProcessType: 'Interactive',
      StandardOutPath: o.logFile,
      StandardErrorPath: o.logFile,
    });
  },
);

test(
  'plutil -lint accepts the plist',
  {
    skip:
      hasBinary('plutil') && existsSync('/usr/bin/plutil')
        ? false
        : 'plutil exists only on macOS; plistlib checks the same file above',
  },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-plist-'));
    try {
      const file = join(dir, 'dev.gangway.helper.plist');
      writeFileSync(file, launchdPlist(opts()));
      const r = await run('plutil', ['-lint', file]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test('the service environment reaches the unit and the plist (a packaged app runs Electron as Node)', async () => {
  const o = opts({ env: { ELECTRON_RUN_AS_NODE: '1' } });
  const unit = systemdUnit(o);
  assert.match(unit, /^Environment="ELECTRON_RUN_AS_NODE=1"\nExecStart=/m);
  assert.doesNotMatch(systemdUnit(opts()), /^Environment=/m);
  if (hasBinary('python3')) {
    const script =
      'import plistlib,sys,json; d=plistlib.loads(sys.stdin.buffer.read()); sys.stdout.write(json.dumps(d))';
    const r = await run('python3', ['-c', script], launchdPlist(o));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((JSON.parse(r.stdout) as { EnvironmentVariables: unknown }).EnvironmentVariables, {
      ELECTRON_RUN_AS_NODE: '1',
    });
  }
  assert.throws(() => systemdUnit(opts({ env: { 'A B': '1' } })), /invalid environment name/);
  assert.throws(() => launchdPlist(opts({ env: { A: 'x\ny' } })), /control characters/);
});
