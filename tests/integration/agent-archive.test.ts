// `gangway agent export FILE` / `gangway agent import FILE` against the rig's real dockerd: the image the
// helper built is saved, removed, loaded back, and then found as it is (nothing rebuilt); archives that hold
// something else, junk, and a missing image are refused with the reason.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import Dockerode from 'dockerode';
import { createLogger } from '../../common/log';
import { agentImageTag, ensureAgentImage } from '../../helper/docker/agent-image';
import { bundleDir } from '../../helper/bundle-dir';
import type { Dockerd } from '../../rig/dockerd';
import { AGENT_BASE_IMAGE, BUSYBOX_IMAGE } from '../../rig/images';
import type { Rig } from '../../rig/rig';
import { startDockerRig, teardownDockerRig } from './docker-helpers';
import { CLI, type Workdir } from './harness';

const execFileP = promisify(execFile);

describe('gangway agent export / import', { timeout: 300_000 }, () => {
  let rig: Rig | undefined;
  let dockerd: Dockerd | undefined;
  let work: Workdir | undefined;
  let docker: Dockerode;
  const log = createLogger('test', () => undefined);
  const tag = agentImageTag();

  const agentCli = (...args: string[]) =>
    execFileP(process.execPath, [CLI, 'agent', ...args, '--docker-host', dockerd!.host], {
      timeout: 120_000,
    }).then(
      (r) => ({ code: 0, out: r.stdout + r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
    );
  const ensure = () => ensureAgentImage(docker, { bundleDir: bundleDir(), baseImage: AGENT_BASE_IMAGE, log });

  before(async () => {
    ({ rig, dockerd, work } = await startDockerRig({ containers: 0, subnetIndex: 25 }));
    docker = new Dockerode({ socketPath: dockerd.socketPath });
  });

  after(async () => {
    await teardownDockerRig({ dockerd, rig, work });
  });

  test('export, remove, import: the same image, and the helper builds nothing', async () => {
    const built = await ensure();
    const file = path.join(work!.dir, 'agent.tar');
    const ex = await agentCli('export', file);
    assert.equal(ex.code, 0, ex.out);
    assert.match(ex.out, new RegExp(`saved ${tag} \\(amd64, sha256:`));
    assert.ok(existsSync(file));
    assert.deepEqual(
      readdirSync(work!.dir).filter((f) => f.includes('partial')),
      [],
      'no temp file left',
    );
    await dockerd!.docker(['rmi', tag]);
    const gone = await agentCli('export', path.join(work!.dir, 'again.tar'));
    assert.equal(gone.code, 1);
    assert.match(gone.out, /has no gangway\/agent:.*run "gangway up" once/);
    assert.ok(!existsSync(path.join(work!.dir, 'again.tar')));

    const im = await agentCli('import', file);
    assert.equal(im.code, 0, im.out);
    assert.match(im.out, new RegExp(`loaded ${tag} \\(amd64, version \\S+, sha256:`));
    assert.equal((await docker.getImage(tag).inspect()).Id, built.id, 'the very image');
    assert.equal((await ensure()).how, 'present', 'the helper finds it and builds nothing');
  });

  test('another image, junk, a missing file, bad usage: refused with the reason', async () => {
    const other = path.join(work!.dir, 'busybox.tar');
    await dockerd!.docker(['save', '-o', other, BUSYBOX_IMAGE]);
    const wrong = await agentCli('import', other);
    assert.equal(wrong.code, 1);
    assert.match(wrong.out, /holds gangway-rig\/busybox:latest, not gangway\/agent:/);

    const junk = path.join(work!.dir, 'junk.tar');
    writeFileSync(junk, 'not a tar archive\n'.repeat(100));
    const j = await agentCli('import', junk);
    assert.equal(j.code, 1);
    assert.match(j.out, /gangway agent import: (docker load refused|.*holds no tagged image)/);

    const missing = await agentCli('import', path.join(work!.dir, 'nope.tar'));
    assert.equal(missing.code, 1);
    assert.match(missing.out, /cannot read .*nope\.tar/);

    const usage = await agentCli('frob', 'x');
    assert.equal(usage.code, 2);
    assert.match(usage.out, /expected "export FILE" or "import FILE"/);
    const help = await agentCli('--help');
    assert.equal(help.code, 0);
    assert.match(help.out, /Usage: gangway agent export FILE/);
  });
});
