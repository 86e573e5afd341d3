// The agent container's spec (host network, NET_ADMIN and the TUN device only, never privileged, no secret
// in what `docker inspect` shows) and AgentContainer's up/down/status decisions against a fake Docker.
// The real dockerd is in tests/integration/agent-container.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type Dockerode from 'dockerode';
import { createLogger } from '../../common/log';
import { formatAgentCredential } from '../../common/agent-credential';
import { AgentKeys } from '../../helper/agent-keys';
import {
  AGENT_CONTAINER_NAME,
  AgentContainer,
  CONTAINER_VERSION_LABEL,
  ROLE_LABEL,
  SECRET_PATH,
  SPEC_LABEL,
  agentContainerSpec,
  secretArchive,
  specHash,
} from '../../helper/docker/agent-container';

const log = createLogger('test', () => undefined);
const SECRET = Buffer.from('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 'hex');
const IMAGE = 'gangway/agent:1.0.0';

function assertNoSecret(text: string): void {
  for (const form of [SECRET.toString('hex'), SECRET.toString('base64'), SECRET.toString('latin1')])
    assert.ok(!text.includes(form), 'the secret must not appear');
}

test('the spec: host network, NET_ADMIN and SYS_NICE, the TUN device, restart unless stopped, never privileged', () => {
  const spec = agentContainerSpec({ image: IMAGE, secret: SECRET }, '1.0.0');
  const hc = spec.HostConfig;
  assert.equal(spec.name, AGENT_CONTAINER_NAME);
  assert.equal(spec.Image, IMAGE);
  assert.equal(hc.NetworkMode, 'host');
  assert.deepEqual(hc.CapAdd, ['NET_ADMIN', 'SYS_NICE']);
  assert.notEqual(hc.Privileged, true);
  assert.equal(hc.CapDrop, undefined);
  assert.deepEqual(hc.Devices, [
    { PathOnHost: '/dev/net/tun', PathInContainer: '/dev/net/tun', CgroupPermissions: 'rwm' },
  ]);
  assert.equal(hc.RestartPolicy?.Name, 'unless-stopped');
  assert.deepEqual(hc.ExtraHosts, ['host.docker.internal:host-gateway']);
  assert.equal(hc.SecurityOpt, undefined);
  assert.deepEqual(spec.Labels, { [ROLE_LABEL]: 'agent', [CONTAINER_VERSION_LABEL]: '1.0.0' });
  assert.deepEqual(spec.Cmd, ['--server', 'host.docker.internal:2611', '--secret-file', SECRET_PATH]);
  assert.equal(spec.Env, undefined);
  assert.equal(spec.Entrypoint, undefined, "the image's entrypoint runs the agent");
  assertNoSecret(JSON.stringify(spec));
});

test('the command: an explicit server, a port, the TUN name and extra arguments', () => {
  const a = agentContainerSpec({ image: IMAGE, secret: SECRET, port: 3000 });
  assert.deepEqual(a.Cmd?.slice(0, 2), ['--server', 'host.docker.internal:3000']);
  const b = agentContainerSpec({
    image: IMAGE,
    secret: SECRET,
    server: '10.0.0.1:2611',
    tunName: 'gwx',
    extraArgs: ['--no-offload'],
  });
  assert.deepEqual(b.Cmd, [
    '--server',
    '10.0.0.1:2611',
    '--secret-file',
    SECRET_PATH,
    '--tun-name',
    'gwx',
    '--no-offload',
  ]);
});

test('the spec hash changes with the settings, the image ID and the secret, and hides the secret', () => {
  const spec = agentContainerSpec({ image: IMAGE, secret: SECRET });
  const h = specHash(spec, 'sha256:a', SECRET);
  assert.equal(specHash(agentContainerSpec({ image: IMAGE, secret: SECRET }), 'sha256:a', SECRET), h);
  assert.notEqual(specHash(spec, 'sha256:b', SECRET), h);
  assert.notEqual(specHash(spec, 'sha256:a', Buffer.alloc(32, 1)), h);
  const other = agentContainerSpec({ image: IMAGE, secret: SECRET, extraArgs: ['--no-firewall'] });
  assert.notEqual(specHash(other, 'sha256:a', SECRET), h);
  assert.notEqual(
    specHash(agentContainerSpec({ image: IMAGE, secret: SECRET }, '2.0.0'), 'sha256:a', SECRET),
    h,
  );
  assertNoSecret(h);
});

test('the secret archive holds /run/gangway/secret, mode 0600, hex as the helper writes it', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gangway-secret-'));
  try {
    writeFileSync(path.join(dir, 's.tar'), await secretArchive(SECRET));
    execFileSync('tar', ['-xpf', path.join(dir, 's.tar'), '-C', dir]);
    const file = path.join(dir, SECRET_PATH);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(path.dirname(file)).mode & 0o777, 0o700);
    assert.equal(readFileSync(file, 'utf8'), `${SECRET.toString('hex')}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

interface FakeContainer {
  Id: string;
  name: string;
  state: string;
  labels: Record<string, string>;
  spec?: Dockerode.ContainerCreateOptions;
  archive?: Buffer;
  startedAt?: string;
  finishedAt?: string;
  exitCode?: number;
  restartCount?: number;
}

class FakeDocker {
  containers: FakeContainer[] = [];
  calls: string[] = [];
  imageId = 'sha256:img1';
  failPutArchive = false;
  stopAnswer: number | undefined;
  private n = 0;

  getImage(name: string) {
    return {
      inspect: () =>
        name === IMAGE
          ? Promise.resolve({ Id: this.imageId })
          : Promise.reject(Object.assign(new Error('no such image'), { statusCode: 404 })),
    };
  }

  listContainers(opts: { all: boolean; filters: { label?: string[]; name?: string[] } }) {
    const label = opts.filters.label?.[0];
    const name = opts.filters.name?.[0];
    const hits = this.containers.filter((c) => {
      if (label) {
        const [k, v] = label.split('=');
        return c.labels[k!] === v;
      }
      return name ? new RegExp(name).test(`/${c.name}`) : true;
    });
    return Promise.resolve(
      hits.map((c) => ({ Id: c.Id, Names: [`/${c.name}`], State: c.state, Labels: c.labels })),
    );
  }

  createContainer(spec: Dockerode.ContainerCreateOptions) {
    if (this.containers.some((c) => c.name === spec.name))
      return Promise.reject(Object.assign(new Error('Conflict'), { statusCode: 409 }));
    const c: FakeContainer = {
      Id: `c${++this.n}`.padEnd(64, '0'),
      name: spec.name!,
      state: 'created',
      labels: spec.Labels ?? {},
      spec,
    };
    this.containers.push(c);
    this.calls.push(`create ${c.Id.slice(0, 2)}`);
    return Promise.resolve(this.getContainer(c.Id));
  }

  getContainer(id: string) {
    const find = () => this.containers.find((c) => c.Id === id);
    const gone = () => Promise.reject(Object.assign(new Error('no such container'), { statusCode: 404 }));
    const short = id.slice(0, 2);
    return {
      id,
      putArchive: (data: Buffer, opts: { path: string }) => {
        this.calls.push(`putArchive ${short} ${opts.path}`);
        if (this.failPutArchive) return Promise.reject(new Error('archive refused'));
        find()!.archive = data;
        return Promise.resolve();
      },
      start: () => {
        this.calls.push(`start ${short}`);
        find()!.state = 'running';
        return Promise.resolve();
      },
      stop: (opts: { t: number }) => {
        this.calls.push(`stop ${short} t=${opts.t}`);
        if (this.stopAnswer)
          return Promise.reject(Object.assign(new Error('stop'), { statusCode: this.stopAnswer }));
        if (!find()) return gone();
        find()!.state = 'exited';
        return Promise.resolve();
      },
      remove: (opts: { force: boolean }) => {
        this.calls.push(`remove ${short} force=${opts.force}`);
        if (!find()) return gone();
        this.containers = this.containers.filter((c) => c.Id !== id);
        return Promise.resolve();
      },
      inspect: () => {
        const c = find();
        if (!c) return gone();
        return Promise.resolve({
          Id: c.Id,
          RestartCount: c.restartCount ?? 0,
          Config: { Labels: c.labels, Image: IMAGE },
          State: {
            Status: c.state,
            StartedAt: c.startedAt ?? '0001-01-01T00:00:00Z',
            FinishedAt: c.finishedAt ?? '0001-01-01T00:00:00Z',
            ExitCode: c.exitCode ?? 0,
            Error: '',
          },
        });
      },
    };
  }
}

function make(): { fake: FakeDocker; agent: AgentContainer } {
  const fake = new FakeDocker();
  return {
    fake,
    agent: new AgentContainer(fake as unknown as Dockerode, { log, stopTimeoutS: 7, version: '1.0.0' }),
  };
}

test('up(): create, put the secret in, then start; the container shows no secret', async () => {
  const { fake, agent } = make();
  const r = await agent.up({ image: IMAGE, server: '10.0.0.1:2611', secret: SECRET });
  assert.equal(r.action, 'created');
  assert.deepEqual(fake.calls, ['create c1', 'putArchive c1 /', 'start c1']);
  const c = fake.containers[0]!;
  assert.equal(c.state, 'running');
  assert.match(c.labels[SPEC_LABEL] ?? '', /^[0-9a-f]{64}$/);
  assertNoSecret(JSON.stringify(c.spec));
  assert.ok(
    c.archive!.includes(Buffer.from(SECRET.toString('hex'))),
    'the secret travels only in the archive',
  );
});

test('up() again with the same settings leaves the running container alone', async () => {
  const { fake, agent } = make();
  const first = await agent.up({ image: IMAGE, secret: SECRET });
  fake.calls = [];
  const again = await agent.up({ image: IMAGE, secret: SECRET });
  assert.deepEqual(again, { id: first.id, action: 'unchanged', replaced: [] });
  assert.deepEqual(fake.calls, []);
  fake.containers[0]!.state = 'restarting';
  assert.equal((await agent.up({ image: IMAGE, secret: SECRET })).action, 'unchanged');
});

test('up() replaces a container with other settings, image, secret or version, stopping it first', async () => {
  const { fake, agent } = make();
  const first = await agent.up({ image: IMAGE, secret: SECRET });
  for (const change of [
    () => agent.up({ image: IMAGE, secret: SECRET, tunName: 'gwb' }),
    () => {
      fake.imageId = 'sha256:img2'; // the tag was rebuilt
      return agent.up({ image: IMAGE, secret: SECRET, tunName: 'gwb' });
    },
    () => agent.up({ image: IMAGE, secret: Buffer.alloc(32, 9), tunName: 'gwb' }),
    () =>
      new AgentContainer(fake as unknown as Dockerode, { log, stopTimeoutS: 7, version: '2.0.0' }).up({
        image: IMAGE,
        secret: Buffer.alloc(32, 9),
        tunName: 'gwb',
      }),
  ]) {
    const before = fake.containers[0]!.Id.slice(0, 2);
    fake.calls = [];
    const r = await change();
    assert.equal(r.action, 'created');
    assert.deepEqual(fake.calls.slice(0, 2), [`stop ${before} t=7`, `remove ${before} force=true`]);
    assert.equal(fake.containers.length, 1);
  }
  assert.notEqual(fake.containers[0]!.Id, first.id);
  assert.equal(fake.containers[0]!.labels[CONTAINER_VERSION_LABEL], '2.0.0');
});

test('up() recreates an exited container, and removes stray containers of ours under other names', async () => {
  const { fake, agent } = make();
  await agent.up({ image: IMAGE, secret: SECRET });
  fake.containers[0]!.state = 'exited';
  fake.containers.push({
    Id: 'old'.padEnd(64, '0'),
    name: 'gangway-agent-0.0.9',
    state: 'running',
    labels: { [ROLE_LABEL]: 'agent' },
  });
  fake.calls = [];
  const r = await agent.up({ image: IMAGE, secret: SECRET });
  assert.equal(r.action, 'created');
  assert.equal(r.replaced.length, 2);
  assert.deepEqual(fake.calls, [
    'remove c1 force=true',
    'stop ol t=7',
    'remove ol force=true',
    'create c2',
    'putArchive c2 /',
    'start c2',
  ]);
});

test("up() refuses to touch a container named gangway-agent that is not Gangway's", async () => {
  const { fake, agent } = make();
  fake.containers.push({
    Id: 'user'.padEnd(64, '0'),
    name: AGENT_CONTAINER_NAME,
    state: 'running',
    labels: {},
  });
  await assert.rejects(agent.up({ image: IMAGE, secret: SECRET }), /Gangway did not create/);
  assert.deepEqual(fake.calls, []);
  assert.deepEqual(await agent.down(), { removed: [] });
  assert.equal(fake.containers.length, 1);
});

test('up() cleans up when the secret cannot be put in, and needs the image', async () => {
  const { fake, agent } = make();
  fake.failPutArchive = true;
  await assert.rejects(agent.up({ image: IMAGE, secret: SECRET }), /archive refused/);
  assert.deepEqual(fake.calls, ['create c1', 'putArchive c1 /', 'remove c1 force=true']);
  assert.equal(fake.containers.length, 0);
  await assert.rejects(agent.up({ image: 'gangway/agent:9.9.9', secret: SECRET }), /is not in Docker/);
  await assert.rejects(agent.up({ image: IMAGE, secret: Buffer.alloc(0) }), /needs the secret/);
});

test('down(): stop with the timeout, then remove; idempotent; an already stopped one is fine', async () => {
  const { fake, agent } = make();
  await agent.up({ image: IMAGE, secret: SECRET });
  fake.calls = [];
  fake.stopAnswer = 304;
  assert.equal((await agent.down()).removed.length, 1);
  assert.deepEqual(fake.calls, ['stop c1 t=7', 'remove c1 force=true']);
  assert.deepEqual(await agent.down(), { removed: [] });
});

test('status(): absent, running, restarting, exited with the last exit', async () => {
  const { fake, agent } = make();
  assert.deepEqual(await agent.status(), { state: 'absent' });
  const { id } = await agent.up({ image: IMAGE, secret: SECRET });
  const c = fake.containers[0]!;
  c.startedAt = '2026-01-01T00:00:00Z';
  let s = await agent.status();
  assert.equal(s.state, 'running');
  assert.equal(s.id, id);
  assert.equal(s.version, '1.0.0');
  assert.equal(s.startedAt, '2026-01-01T00:00:00Z');
  assert.equal(s.lastExit, undefined);
  c.state = 'restarting';
  c.restartCount = 3;
  c.finishedAt = '2026-01-01T00:01:00Z';
  c.exitCode = 1;
  s = await agent.status();
  assert.equal(s.state, 'restarting');
  assert.equal(s.restartCount, 3);
  assert.deepEqual(s.lastExit, { code: 1, at: '2026-01-01T00:01:00Z' });
  c.state = 'exited';
  assert.equal((await agent.status()).state, 'exited');
});

test('up() with per-container keys: kept while its key is current, a fresh key for every new container', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gangway-keys-'));
  try {
    const keys = new AgentKeys(SECRET, dir);
    const { fake, agent } = make();
    const first = await agent.up({ image: IMAGE, secret: keys });
    const key1 = keys.current()!;
    assert.equal(first.action, 'created');
    assert.ok(fake.containers[0]!.archive!.includes(Buffer.from(formatAgentCredential(key1))));
    assert.ok(!fake.containers[0]!.archive!.includes(Buffer.from(SECRET.toString('hex'))));
    assert.equal((await agent.up({ image: IMAGE, secret: keys })).action, 'unchanged');
    // Replaced for other settings: the new container gets a new key, the old one's is no longer valid.
    const second = await agent.up({ image: IMAGE, secret: keys, tunName: 'gwb' });
    assert.equal(second.action, 'created');
    assert.ok(!keys.current()!.keyId.equals(key1.keyId));
    assert.equal(keys.secretFor(key1.keyId), undefined);
    // After a revoke (gangway down) even an identical running container is replaced.
    await keys.revoke();
    const third = await agent.up({ image: IMAGE, secret: keys, tunName: 'gwb' });
    assert.equal(third.action, 'created');
    assert.deepEqual(third.replaced, [second.id]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
