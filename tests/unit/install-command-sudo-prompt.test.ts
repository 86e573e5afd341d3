// The Linux install command through @vscode/sudo-prompt's own code: sudo-prompt builds its line
// (`"/usr/bin/pkexec" --disable-internal-agent /bin/bash -c "echo SUDOPROMPT; <command>"`) and hands it to
// child_process.exec. Here pkexec is the only thing left out (no password prompt in a test): its two words
// are cut from the line, and the rest runs as sudo-prompt would run it. A helper at a path holding $(…),
// backticks, quotes and spaces must receive exactly its arguments, and nothing in the path may run.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import childProcess from 'node:child_process';
import fs from 'node:fs';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exec as sudoExec } from '@vscode/sudo-prompt';
import { installCommand } from '../../src-main/install-command';
import { installWithSudoPrompt } from '../../src-main/install-run';

const work = mkdtempSync(join(tmpdir(), 'gw-sudo-'));
after(() => rmSync(work, { recursive: true, force: true }));

const PKEXEC = '"/usr/bin/pkexec" --disable-internal-agent ';

/** Runs `start` (which calls sudo-prompt) with sudo-prompt's exec on Linux, pkexec left out. The stand-in
 *  stat answers at once, so sudo-prompt reaches exec before `start` returns and the stubs can go. */
function stubbedSudoPrompt<T>(start: () => Promise<T>): { line: () => string; done: Promise<T> } {
  const realExec = childProcess.exec;
  const realStat = fs.stat;
  let line = '';
  // sudo-prompt looks for kdesudo, then pkexec: say pkexec is there.
  Object.assign(fs, {
    stat: (p: string, cb: (err: NodeJS.ErrnoException | null) => void) =>
      p === '/usr/bin/pkexec' ? cb(null) : cb(Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' })),
  });
  Object.assign(childProcess, {
    exec: (cmd: string, opts: object, cb: (...a: unknown[]) => void) => {
      line = cmd;
      return realExec(cmd.replace(PKEXEC, ''), { ...opts, cwd: work }, cb);
    },
  });
  try {
    return { line: () => line, done: start() };
  } finally {
    Object.assign(childProcess, { exec: realExec });
    Object.assign(fs, { stat: realStat });
  }
}

/** Runs `command` through sudo-prompt's exec on Linux, pkexec left out; resolves to what came back. */
async function throughSudoPrompt(command: string): Promise<{ line: string; stdout: string; error?: Error }> {
  const run = stubbedSudoPrompt(
    () =>
      new Promise<{ stdout: string; error?: Error }>((resolve) => {
        sudoExec(command, { name: 'Gangway' }, (error, stdout) => {
          resolve({ stdout: String(stdout ?? ''), error: error ?? undefined });
        });
      }),
  );
  const r = await run.done;
  return { line: run.line(), ...r };
}

test(
  'a helper path with $(…), backticks, quotes, backslashes and spaces reaches bash intact',
  { skip: process.platform !== 'linux' && 'sudo-prompt runs bash -c on Linux only' },
  async () => {
    const marker = join(work, 'ran');
    const dir = join(work, `Gang way $(touch ${marker}) \`touch ${marker}\` 'q' "d" \\x $HOME`);
    mkdirSync(dir, { recursive: true });
    const cli = join(dir, 'gangway.js');
    writeFileSync(
      cli,
      'console.log(JSON.stringify({ argv: process.argv.slice(1), env: process.env.ELECTRON_RUN_AS_NODE }));\n',
    );
    const command = installCommand({ runtime: process.execPath, cli, uid: 1000, gid: 1001 }, 'linux');
    const r = await throughSudoPrompt(command);
    assert.ok(r.line.includes(PKEXEC), `sudo-prompt's line changed shape: ${r.line}`);
    assert.equal(r.error, undefined, `${r.error?.message}\n${r.line}`);
    assert.deepEqual(JSON.parse(r.stdout.trim()), {
      argv: [cli, 'service', 'install', '--socket-owner', '1000:1001'],
      env: '1',
    });
    assert.equal(existsSync(marker), false, 'a command in the path was run');

    // Without the second quoting, the shell around bash -c runs what the path holds: the test can fail.
    const naive = installCommand({ runtime: process.execPath, cli, uid: 1000, gid: 1001 }, 'darwin');
    await throughSudoPrompt(naive);
    assert.equal(existsSync(marker), true, 'the unescaped command should have run the path');
  },
);

test(
  "the app's current directory never reaches sudo-prompt's line: $(…) in it does not run, a trailing \\ breaks nothing",
  { skip: process.platform !== 'linux' && 'sudo-prompt runs bash -c on Linux only' },
  async () => {
    const cli = join(work, 'cwd-cli.js');
    writeFileSync(cli, 'console.log("ran");\n');
    // sudo-prompt writes `cd "<cwd>"` into its line, escaping only `"`.
    const hostile = join(work, 'x$(touch cwd-injected)`touch cwd-injected`\\');
    mkdirSync(hostile, { recursive: true });
    const before = process.cwd();
    process.chdir(hostile);
    try {
      const run = stubbedSudoPrompt(() =>
        installWithSudoPrompt({ runtime: process.execPath, cli, uid: 1000, gid: 1001 }),
      );
      const outcome = await run.done;
      assert.deepEqual(outcome, { kind: 'installed' }, run.line());
      assert.ok(run.line().includes('cd "/"'), run.line());
      assert.equal(existsSync(join(work, 'cwd-injected')), false, 'the directory name ran');
    } finally {
      process.chdir(before);
    }
  },
);
