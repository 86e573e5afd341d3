// Telling a silent Docker from a slow one (helper/docker/docker-answers.ts), with a stand-in for dockerode's
// ping: one that answers, one that never does (until its abortSignal fires, as docker-modem's does), one
// that is refused. The real ping against a frozen dockerd: tests/integration/docker-frozen.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type Dockerode from 'dockerode';
import { dockerAnswers, DockerSilentError, unlessDockerSilent } from '../../helper/docker/docker-answers';
import { createLogger } from '../../common/log';
import { EngineChoice } from '../../helper/docker/engine-choice';
import { probeEngine } from '../../helper/docker/engine-detect';

type Ping = 'answers' | 'silent' | 'refused';

function fakeDocker(ping: Ping): Dockerode {
  return {
    ping: (opts: { abortSignal: AbortSignal }) =>
      new Promise((resolve, reject) => {
        if (ping === 'answers') return resolve('OK');
        if (ping === 'refused') return reject(new Error('connect ECONNREFUSED /var/run/docker.sock'));
        opts.abortSignal.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
      }),
  } as unknown as Dockerode;
}

const after = <T>(ms: number, value: T) => new Promise<T>((r) => setTimeout(() => r(value), ms));

test('dockerAnswers: an answer passes, silence is DockerSilentError, a refusal is itself', async () => {
  await dockerAnswers(fakeDocker('answers'), 50);
  await assert.rejects(dockerAnswers(fakeDocker('silent'), 50), (err: unknown) => {
    assert.ok(err instanceof DockerSilentError);
    assert.match(err.message, /did not answer within 0.05 s/);
    return true;
  });
  await assert.rejects(dockerAnswers(fakeDocker('refused'), 50), /ECONNREFUSED/);
});

test('unlessDockerSilent: a slow work is waited for while Docker answers', async () => {
  const late: unknown[] = [];
  const v = await unlessDockerSilent(fakeDocker('answers'), after(150, 'built'), (e) => late.push(e), 50);
  assert.equal(v, 'built');
  assert.deepEqual(late, []);
});

test('unlessDockerSilent: a silent Docker ends the wait, and the work failing later goes to late', async () => {
  const late: unknown[] = [];
  let fail!: (err: Error) => void;
  const work = new Promise<string>((_r, reject) => (fail = reject));
  const t0 = Date.now();
  await assert.rejects(
    unlessDockerSilent(fakeDocker('silent'), work, (e) => late.push(e), 50),
    DockerSilentError,
  );
  assert.ok(Date.now() - t0 < 1_000);
  fail(new Error('socket hang up'));
  await after(10, undefined);
  assert.deepEqual(
    late.map((e) => (e as Error).message),
    ['socket hang up'],
  );
});

test('unlessDockerSilent: work done before the ping times out wins; a refused ping leaves the answer to the work', async () => {
  const late: unknown[] = [];
  assert.equal(
    await unlessDockerSilent(fakeDocker('silent'), after(5, 'quick'), (e) => late.push(e), 50),
    'quick',
  );
  assert.equal(
    await unlessDockerSilent(fakeDocker('refused'), after(80, 'anyway'), (e) => late.push(e), 50),
    'anyway',
  );
  await assert.rejects(
    unlessDockerSilent(
      fakeDocker('silent'),
      Promise.reject(new Error('no such image')),
      (e) => late.push(e),
      50,
    ),
    /no such image/,
  );
  assert.deepEqual(late, []);
});

test('the engine probe gives up on a silent docker info, so what waits for the detection goes on', async () => {
  const silentInfo = {
    info: (opts: { abortSignal: AbortSignal }) =>
      new Promise((_resolve, reject) =>
        opts.abortSignal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }),
      ),
    version: () => Promise.resolve({}),
  } as unknown as Pick<Dockerode, 'info' | 'version'>;
  await assert.rejects(
    probeEngine(silentInfo, { endpoint: 'unix:///var/run/docker.sock' }, 50),
    DockerSilentError,
  );

  // EngineChoice waits for a detection in flight (gangway up asks it for a refusal first): it ends.
  const warned: string[] = [];
  const choice = new EngineChoice({
    log: createLogger('test', (line) => warned.push(line)),
    onChange: () => undefined,
    probeTimeoutMs: 50,
  });
  void choice.detect(silentInfo, { endpoint: 'unix:///var/run/docker.sock', platform: 'linux' });
  assert.equal(await choice.settledRefusal(), undefined);
  assert.ok(
    warned.some((l) => l.includes('did not answer within 0.05 s')),
    warned.join('\n'),
  );
});
