// The `gangway` CLI runs as the user and loads no daemon code: against a live daemon (--no-docker, in a rig),
// each read command's process loads nothing from dist/helper, no dockerode and no native addon. `gangway
// daemon --help` is the control: the same trace sees the daemon's modules when they are loaded.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import { promisify } from 'node:util';
import { createRig, type Rig } from '../../rig/rig';
import { CLI, DIST, Workdir, startDaemon, stop, waitForDaemon, type DaemonHandle } from './harness';

const execFileP = promisify(execFile);
const TRACE = join(__dirname, 'module-trace.js');

/** Runs the CLI with the trace preloaded; returns its exit code and the modules it loaded. */
async function traced(work: Workdir, args: string[]): Promise<{ code: number; modules: string[] }> {
  const file = join(work.dir, `modules-${args[0]}.json`);
  let code = 0;
  try {
    await execFileP(process.execPath, ['-r', TRACE, CLI, ...args], {
      env: { ...process.env, GANGWAY_MODULE_TRACE: file },
      timeout: 30_000,
    });
  } catch (err) {
    code = (err as { code?: number }).code ?? 1;
  }
  return { code, modules: JSON.parse(readFileSync(file, 'utf8')) as string[] };
}

const daemonModules = (modules: string[]) =>
  modules.filter(
    (m) =>
      m.startsWith(join(DIST, 'helper') + sep) ||
      m.includes(`${sep}node_modules${sep}dockerode${sep}`) ||
      m.endsWith('.node'),
  );

describe('the CLI loads no daemon module', { timeout: 90_000 }, () => {
  let rig: Rig;
  let work: Workdir;
  let daemon: DaemonHandle;

  before(async () => {
    rig = await createRig({ containers: 0, subnetIndex: 21 });
    work = new Workdir();
    daemon = startDaemon(rig, work, ['--no-docker']);
    await waitForDaemon(daemon);
  });

  after(async () => {
    if (daemon) await stop(daemon);
    await rig?.teardown();
    work?.cleanup();
  });

  for (const args of [['status'], ['networks'], ['containers'], ['settings', 'get'], ['logs'], ['doctor']])
    test(`gangway ${args.join(' ')}`, async () => {
      const r = await traced(work, [...args, '--json', '--socket', daemon.socket]);
      // doctor exits 1 when a check fails (no Docker here); every other command succeeds.
      assert.ok(r.code === 0 || (args[0] === 'doctor' && r.code === 1), `exit code ${r.code}`);
      assert.ok(
        r.modules.some((m) => m.startsWith(join(DIST, 'client') + sep)),
        'the trace sees the client',
      );
      assert.deepEqual(daemonModules(r.modules), []);
    });

  test('control: gangway daemon --help does load the daemon', async () => {
    const r = await traced(work, ['daemon', '--help']);
    assert.equal(r.code, 0);
    const loaded = daemonModules(r.modules);
    assert.ok(
      loaded.some((m) => m.endsWith(join('helper', 'daemon.js'))),
      loaded.join('\n'),
    );
    assert.ok(loaded.some((m) => m.includes('dockerode')));
  });
});
