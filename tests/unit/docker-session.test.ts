// A Docker session follows Docker with one event stream, shared by the network watcher and the container
// index, and closing it (as the daemon does when dockerHost changes) closes that stream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import type Dockerode from 'dockerode';
import { createLogger } from '../../common/log';
import type { DockerEndpoint } from '../../helper/docker/docker-endpoint';
import { DockerSession } from '../../helper/docker/docker-session';

const NETWORK: Dockerode.NetworkInspectInfo = {
  Name: 'app',
  Id: 'b'.repeat(64),
  Created: '',
  Scope: 'local',
  Driver: 'bridge',
  EnableIPv6: false,
  IPAM: { Driver: 'default', Config: [{ Subnet: '172.20.0.0/16' }] },
  Internal: false,
  Attachable: false,
  Ingress: false,
  ConfigOnly: false,
  Options: {},
};

const CONTAINER_ID = 'c'.repeat(64);

function inspectInfo(ip: string): Dockerode.ContainerInspectInfo {
  return {
    Id: CONTAINER_ID,
    Name: '/web',
    State: { Running: true },
    Config: { Labels: {} },
    NetworkSettings: { Networks: { app: { IPAddress: ip, Aliases: [] } } },
  } as unknown as Dockerode.ContainerInspectInfo;
}

/** Just what the session's parts call; counts the event streams it opens. */
class FakeDocker {
  streams: PassThrough[] = [];
  filters: unknown[] = [];
  ip = '172.20.0.2';

  getEvents(opts: { filters?: unknown }): Promise<NodeJS.ReadableStream> {
    const s = new PassThrough();
    this.streams.push(s);
    this.filters.push(opts.filters);
    return Promise.resolve(s);
  }

  listNetworks(): Promise<Dockerode.NetworkInspectInfo[]> {
    return Promise.resolve([NETWORK]);
  }

  listContainers(): Promise<Dockerode.ContainerInfo[]> {
    return Promise.resolve([{ Id: CONTAINER_ID } as Dockerode.ContainerInfo]);
  }

  getContainer(): { inspect(): Promise<Dockerode.ContainerInspectInfo> } {
    return { inspect: () => Promise.resolve(inspectInfo(this.ip)) };
  }
}

const log = createLogger('test', () => undefined);

function open(fake: FakeDocker): DockerSession {
  return new DockerSession({
    dockerHost: 'unix:///nonexistent/docker.sock',
    log,
    onChange: () => undefined,
    createClient: () => fake as unknown as Dockerode,
  });
}

async function until(what: string, ok: () => boolean, ms = 2_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('one event stream feeds both the network watcher and the container index', async () => {
  const fake = new FakeDocker();
  const session = open(fake);
  try {
    session.start();
    await until('networks listed', () => session.watcher.networks.length === 1);
    await until('containers listed', () => session.index.containers.length === 1);
    assert.equal(session.watcher.status.state, 'connected');
    assert.equal(session.index.connected, true);
    assert.equal(fake.streams.length, 1, 'one getEvents call for both consumers');
    // The stream asks for what both need: network create (watcher) and container rename (index).
    const f = fake.filters[0] as { type: string[]; event: string[] };
    assert.deepEqual([...f.type].sort(), ['container', 'network']);
    for (const e of ['create', 'destroy', 'start', 'die', 'rename', 'connect'])
      assert.ok(f.event.includes(e), e);

    // An event on the one stream reaches the index (a restarted container's new address) ...
    fake.ip = '172.20.0.9';
    const activity: string[] = [];
    session.watcher.on('activity', (a) => activity.push(a.action));
    const ev = {
      Type: 'container',
      Action: 'start',
      Actor: { ID: CONTAINER_ID, Attributes: { name: 'web' } },
    };
    fake.streams[0]!.write(`${JSON.stringify(ev)}\n`);
    await until('index updated', () => session.index.containers[0]?.networks[0]?.ipv4 === '172.20.0.9');
    // ... and the watcher (activity for the agent's restart logic).
    assert.deepEqual(activity, ['start']);
    // A rename is only the index's business: the watcher did not ask for it.
    fake.streams[0]!.write(`${JSON.stringify({ ...ev, Action: 'rename' })}\n`);
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(activity, ['start']);
  } finally {
    await session.close();
  }
});

test('replacing the session closes the old stream and opens exactly one new one', async () => {
  const oldFake = new FakeDocker();
  const newFake = new FakeDocker();
  const old = open(oldFake);
  old.start();
  await until('old session connected', () => old.watcher.status.state === 'connected');
  await old.close();
  assert.equal(oldFake.streams.length, 1);
  assert.equal(oldFake.streams[0]!.destroyed, true, 'the old event stream is closed');
  const next = open(newFake);
  try {
    next.start();
    await until('new session connected', () => next.watcher.status.state === 'connected');
    assert.equal(newFake.streams.length, 1);
    assert.equal(oldFake.streams.length, 1, 'the old session does not reconnect');
    // start() after close() opens nothing.
    old.start();
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(oldFake.streams.length, 1);
  } finally {
    await next.close();
  }
});

/** A Docker that is not there: every event stream fails at once, as on a socket nobody listens at. */
class AbsentDocker extends FakeDocker {
  attempts = 0;
  override getEvents(): Promise<NodeJS.ReadableStream> {
    this.attempts++;
    return Promise.reject(new Error('connect ENOENT /var/run/docker.sock'));
  }
}

function endpoint(url: string): DockerEndpoint {
  return { source: 'default', url, options: { socketPath: url.slice('unix://'.length) }, warnings: [] };
}

test('while Docker is unreachable the endpoint is worked out again, and a new one is reported once', async () => {
  // At boot launchd starts the service before anyone logs in; after login the user's Colima appears.
  const answers = [
    'unix:///var/run/docker.sock',
    'unix:///var/run/docker.sock',
    'unix:///Users/ana/.colima/default/docker.sock',
  ];
  let asked = 0;
  const moves: string[] = [];
  const fake = new AbsentDocker();
  const session = new DockerSession({
    dockerHost: null,
    log,
    onChange: () => undefined,
    createClient: () => fake as unknown as Dockerode,
    timing: { minBackoffMs: 5, maxBackoffMs: 5 },
    resolve: () => endpoint(answers[Math.min(asked++, answers.length - 1)]!),
    onEndpointMoved: (url) => moves.push(url),
  });
  try {
    assert.equal(session.endpoint, 'unix:///var/run/docker.sock');
    session.start();
    await until('the move reported', () => moves.length === 1);
    // Reported once, although the follower keeps retrying the old endpoint until the daemon replaces it.
    const attempts = fake.attempts;
    await until('more attempts', () => fake.attempts >= attempts + 3);
    assert.deepEqual(moves, ['unix:///Users/ana/.colima/default/docker.sock']);
  } finally {
    await session.close();
  }
});

test('an endpoint named by dockerHost is never worked out again, and a reachable Docker is left alone', async () => {
  let asked = 0;
  const moves: string[] = [];
  const absent = new AbsentDocker();
  const named = new DockerSession({
    dockerHost: 'unix:///opt/docker.sock',
    log,
    onChange: () => undefined,
    createClient: () => absent as unknown as Dockerode,
    timing: { minBackoffMs: 5, maxBackoffMs: 5 },
    resolve: (host) => (asked++, endpoint(host ?? 'unix:///elsewhere.sock')),
    onEndpointMoved: (url) => moves.push(url),
  });
  const fake = new FakeDocker();
  const reachable = new DockerSession({
    dockerHost: null,
    log,
    onChange: () => undefined,
    createClient: () => fake as unknown as Dockerode,
    resolve: () => (asked++, endpoint(asked > 1 ? 'unix:///elsewhere.sock' : 'unix:///var/run/docker.sock')),
    onEndpointMoved: (url) => moves.push(url),
  });
  try {
    named.start();
    reachable.start();
    await until('attempts on the named endpoint', () => absent.attempts >= 3);
    await until('the reachable one connected', () => reachable.watcher.status.state === 'connected');
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(asked, 2, 'each worked its endpoint out once, when it opened');
    assert.deepEqual(moves, []);
  } finally {
    await named.close();
    await reachable.close();
  }
});

test('requests go on the session’s own connections: https for a TLS endpoint; endRequests ends those open', async () => {
  let pool: unknown;
  const tls = new DockerSession({
    dockerHost: 'tcp://192.0.2.1:2376',
    log,
    onChange: () => undefined,
    createClient: (_options, connections) => ((pool = connections), new FakeDocker() as unknown as Dockerode),
    resolve: () => ({
      source: 'option',
      url: 'tcp://192.0.2.1:2376',
      options: { protocol: 'https', host: '192.0.2.1', port: 2376 },
      warnings: [],
    }),
  });
  assert.ok(
    pool instanceof HttpsAgent,
    'a TLS endpoint gets an https agent (an http one refuses https requests)',
  );
  await tls.close();

  // A Docker that accepts and never answers, as a frozen VM's socket does.
  const dir = mkdtempSync(path.join(tmpdir(), 'gangway-session-'));
  const socketPath = path.join(dir, 'docker.sock');
  const silent = createServer(() => undefined);
  let connected = 0;
  silent.on('connection', () => connected++);
  await new Promise<void>((r) => silent.listen(socketPath, r));
  const session = new DockerSession({
    dockerHost: `unix://${socketPath}`,
    log,
    onChange: () => undefined,
    resolve: () => ({ source: 'option', url: `unix://${socketPath}`, options: { socketPath }, warnings: [] }),
  });
  try {
    const ping = session.docker.ping().then(
      () => 'answered',
      (err: Error) => err.message,
    );
    await until('the request reaching the socket', () => connected > 0);
    const t0 = Date.now();
    session.endRequests();
    const outcome = await Promise.race([
      ping,
      new Promise((r) => setTimeout(r, 5_000)).then(() => 'still open after 5 s'),
    ]);
    assert.ok(Date.now() - t0 < 1_000, `the open request ended at once (${outcome})`);
    assert.notEqual(outcome, 'answered');
  } finally {
    await session.close();
    silent.closeAllConnections();
    await new Promise((r) => silent.close(r));
    rmSync(dir, { recursive: true, force: true });
  }
});
