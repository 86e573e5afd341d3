// The watcher's logic against a fake Docker: which networks count, the snapshot-then-events order, stream
// parsing, and reconnecting with backoff. The real dockerd is in tests/integration/docker-watcher.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import type Dockerode from 'dockerode';
import {
  NetworkWatcher,
  normaliseSubnet,
  toDockerNetwork,
  type DockerActivity,
  type DockerEventsClient,
  type DockerNetwork,
  type WatcherStatus,
} from '../../helper/docker/network-watcher';
import { parseLibpodBridges } from '../../helper/docker/libpod-bridges';

function info(
  name: string,
  id: string,
  subnets: string[],
  more: Partial<Dockerode.NetworkInspectInfo> = {},
): Dockerode.NetworkInspectInfo {
  return {
    Name: name,
    Id: id,
    Created: '',
    Scope: 'local',
    Driver: 'bridge',
    EnableIPv6: false,
    IPAM: { Driver: 'default', Config: subnets.map((Subnet) => ({ Subnet })) },
    Internal: false,
    Attachable: false,
    Ingress: false,
    ConfigOnly: false,
    Options: {},
    ...more,
  };
}

const DEFAULT_BRIDGE = info('bridge', 'a'.repeat(64), ['172.17.0.0/16'], {
  Options: { 'com.docker.network.bridge.name': 'docker0' },
});

class FakeDocker implements DockerEventsClient {
  networks: Dockerode.NetworkInspectInfo[] = [DEFAULT_BRIDGE];
  up = true;
  hangList = false;
  calls: string[] = [];
  stream: PassThrough | undefined;
  /** Runs inside the next listNetworks call, before it answers. */
  duringList: (() => void) | undefined;

  listNetworks(opts: { abortSignal?: AbortSignal }): Promise<Dockerode.NetworkInspectInfo[]> {
    this.calls.push('list');
    if (!this.up) return Promise.reject(new Error('connect ENOENT /var/run/docker.sock'));
    if (this.hangList)
      return new Promise((_, reject) =>
        opts.abortSignal?.addEventListener('abort', () => reject(new Error('aborted'))),
      );
    // Docker answers with the state as it was; the hook changes it while the answer is on its way.
    const answer = structuredClone(this.networks);
    const hook = this.duringList;
    this.duringList = undefined;
    hook?.();
    return Promise.resolve(answer);
  }

  getEvents(): Promise<NodeJS.ReadableStream> {
    this.calls.push('events');
    if (!this.up) return Promise.reject(new Error('connect ENOENT /var/run/docker.sock'));
    this.stream = new PassThrough();
    return Promise.resolve(this.stream);
  }

  event(type: string, action: string, id: string, name: string): string {
    return `${JSON.stringify({ Type: type, Action: action, Actor: { ID: id, Attributes: { name } }, time: 1 })}\n`;
  }
}

/** Collects what a watcher emits, with a way to wait for a condition (bounded). */
function observe(w: NetworkWatcher) {
  const snapshots: DockerNetwork[][] = [];
  const statuses: WatcherStatus[] = [];
  const activity: DockerActivity[] = [];
  w.on('networks', (n) => snapshots.push(n));
  w.on('status', (s) => statuses.push({ ...s, since: 0 }));
  w.on('activity', (a) => activity.push(a));
  const until = async (what: string, pred: () => boolean, ms = 2_000) => {
    const deadline = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  return { snapshots, statuses, activity, until };
}

const names = (s: DockerNetwork[] | undefined) => (s ?? []).map((n) => n.name);

test('only local bridge networks with subnets count; bridge names and subnets are normalised', () => {
  assert.deepEqual(toDockerNetwork(DEFAULT_BRIDGE), {
    id: 'a'.repeat(64),
    name: 'bridge',
    driver: 'bridge',
    internal: false,
    subnets: ['172.17.0.0/16'],
    bridge: 'docker0',
  });
  const user = toDockerNetwork(
    info('app_default', '0123456789abcdef0123', ['172.18.0.5/16', 'fd00:0:0:18::/64', 'bogus'], {
      Internal: true,
    }),
  );
  assert.deepEqual(user, {
    id: '0123456789abcdef0123',
    name: 'app_default',
    driver: 'bridge',
    internal: true,
    subnets: ['172.18.0.0/16', 'fd00:0:0:18::/64'],
    bridge: 'br-0123456789ab',
  });
  assert.equal(toDockerNetwork(info('host', 'h', [], { Driver: 'host' })), undefined);
  assert.equal(toDockerNetwork(info('none', 'n', [], { Driver: 'null' })), undefined);
  assert.equal(
    toDockerNetwork(info('ov', 'o', ['10.0.0.0/24'], { Driver: 'overlay', Scope: 'swarm' })),
    undefined,
  );
  assert.equal(toDockerNetwork(info('swarmbr', 's', ['10.0.0.0/24'], { Scope: 'swarm' })), undefined);
  assert.equal(toDockerNetwork(info('empty', 'e', [])), undefined);
  assert.equal(toDockerNetwork(info('noipam', 'i', [], { IPAM: undefined })), undefined);
  assert.equal(normaliseSubnet('10.1.2.3/8'), '10.0.0.0/8');
  assert.equal(normaliseSubnet('10.1.2.3'), undefined);
  assert.equal(normaliseSubnet('10.1.2.3/33'), undefined);
});

test('opens the event stream before listing, so a network created during the list is not missed', async () => {
  const d = new FakeDocker();
  const w = new NetworkWatcher(d);
  const o = observe(w);
  d.duringList = () => {
    d.networks.push(info('late', 'b'.repeat(64), ['172.19.0.0/16']));
    d.stream!.write(d.event('network', 'create', 'b'.repeat(64), 'late'));
  };
  w.start();
  try {
    await o.until('the late network', () => names(o.snapshots.at(-1)).includes('late'));
    assert.deepEqual(d.calls.slice(0, 2), ['events', 'list']);
    assert.deepEqual(names(o.snapshots[0]), ['bridge']);
    assert.equal(w.status.state, 'connected');
  } finally {
    await w.stop();
  }
});

test('events split across chunks or sharing one are parsed; garbage is ignored; no change means no emit', async () => {
  const d = new FakeDocker();
  const w = new NetworkWatcher(d);
  const o = observe(w);
  w.start();
  try {
    await o.until('connected', () => w.status.state === 'connected');
    const start = d.event('container', 'start', 'c1', 'web');
    d.stream!.write(start.slice(0, 10));
    d.stream!.write(start.slice(10) + 'not json\n' + d.event('container', 'die', 'c1', 'web'));
    await o.until('two activities', () => o.activity.length === 2);
    assert.deepEqual(o.activity, [
      { type: 'container', action: 'start', id: 'c1', name: 'web' },
      { type: 'container', action: 'die', id: 'c1', name: 'web' },
    ]);
    // A network event whose re-list shows nothing new emits no snapshot.
    const lists = d.calls.filter((c) => c === 'list').length;
    d.stream!.write(d.event('network', 'connect', DEFAULT_BRIDGE.Id, 'bridge'));
    await o.until('a re-list', () => d.calls.filter((c) => c === 'list').length > lists);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(o.snapshots.length, 1);
    d.networks = [];
    d.stream!.write(d.event('network', 'destroy', DEFAULT_BRIDGE.Id, 'bridge'));
    await o.until('an empty snapshot', () => o.snapshots.length === 2);
    assert.deepEqual(o.snapshots[1], []);
  } finally {
    await w.stop();
  }
});

test('the stream ending means unreachable, then retries with capped exponential backoff, then re-lists', async () => {
  const d = new FakeDocker();
  const w = new NetworkWatcher(d, { minBackoffMs: 20, maxBackoffMs: 80 });
  const o = observe(w);
  const attempts: number[] = [];
  const getEvents = d.getEvents.bind(d);
  d.getEvents = () => {
    attempts.push(Date.now());
    return getEvents();
  };
  w.start();
  try {
    await o.until('connected', () => w.status.state === 'connected');
    d.up = false;
    d.stream!.end();
    await o.until('six failed attempts', () => attempts.length >= 7, 3_000);
    assert.equal(w.status.state, 'unreachable');
    assert.match(w.status.lastError!, /ENOENT/);
    // Snapshot kept while Docker is away: routes must not flap when Docker restarts.
    assert.deepEqual(names(w.networks), ['bridge']);
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!);
    // 20 (after the stream ended), then 40, 80, 80, 80...: doubling, capped.
    assert.ok(gaps[1]! >= 35 && gaps[2]! >= 75, `gaps ${gaps.join(',')}`);
    assert.ok(
      gaps.slice(3).every((g) => g >= 75 && g < 1_000),
      `gaps ${gaps.join(',')}`,
    );
    d.networks.push(info('after', 'c'.repeat(64), ['172.20.0.0/16']));
    d.up = true;
    await o.until('reconnected with the new list', () => names(o.snapshots.at(-1)).includes('after'));
    assert.equal(w.status.state, 'connected');
    assert.deepEqual(
      o.statuses.map((s) => s.state),
      ['connected', 'unreachable', 'unreachable', 'connected'],
    );
    assert.match(o.statuses[1]!.lastError!, /event stream ended/);
  } finally {
    await w.stop();
  }
});

test('a stream error and a hung list are both treated as Docker being unreachable', async () => {
  const d = new FakeDocker();
  const w = new NetworkWatcher(d, { minBackoffMs: 10, maxBackoffMs: 20, requestTimeoutMs: 50 });
  const o = observe(w);
  w.start();
  try {
    await o.until('connected', () => w.status.state === 'connected');
    d.hangList = true;
    d.stream!.destroy(new Error('read ECONNRESET'));
    await o.until('unreachable', () => w.status.state === 'unreachable');
    assert.match(w.status.lastError!, /ECONNRESET/);
    await o.until('the hung list to time out', () => /aborted/.test(w.status.lastError ?? ''));
    d.hangList = false;
    await o.until('connected again', () => w.status.state === 'connected');
  } finally {
    await w.stop();
  }
});

test('periodic resync re-lists without any event', async () => {
  const d = new FakeDocker();
  const w = new NetworkWatcher(d, { resyncMs: 30 });
  const o = observe(w);
  w.start();
  try {
    await o.until('connected', () => w.status.state === 'connected');
    d.networks.push(info('quiet', 'd'.repeat(64), ['172.21.0.0/16']));
    await o.until('the quiet network', () => names(o.snapshots.at(-1)).includes('quiet'));
  } finally {
    await w.stop();
  }
});

test('stop() while Docker is unreachable returns promptly and leaves nothing running', async () => {
  const d = new FakeDocker();
  d.up = false;
  const w = new NetworkWatcher(d, { minBackoffMs: 5_000 });
  const o = observe(w);
  w.start();
  await o.until('unreachable', () => w.status.state === 'unreachable');
  const t = Date.now();
  await w.stop();
  assert.ok(Date.now() - t < 500);
  const calls = d.calls.length;
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(d.calls.length, calls);
});

// Podman 4.3.1's answers, captured here: its compatible list has no bridge option, its own API names the device.
const PODMAN_ID = '2f259bab93aaaaa2542ba43ef33eb990d0999ee1b9924b557b7be53c0b7a1bb9';
const PODMAN_COMPAT = info('podman', PODMAN_ID, ['10.88.0.0/16'], { Options: {} });
const LIBPOD_BODY = [
  {
    name: 'podman',
    id: PODMAN_ID,
    driver: 'bridge',
    network_interface: 'cni-podman0',
    subnets: [{ subnet: '10.88.0.0/16', gateway: '10.88.0.1' }],
    ipv6_enabled: false,
    internal: false,
    dns_enabled: false,
  },
];

test("Podman: bridge names come from its own API, and Docker's names come back when that API fails", async () => {
  assert.deepEqual(parseLibpodBridges(LIBPOD_BODY), new Map([[PODMAN_ID, 'cni-podman0']]));
  assert.deepEqual(parseLibpodBridges([{ id: 'x' }]), new Map(), 'no device: not guessed');
  assert.throws(() => parseLibpodBridges({ message: 'not found' }));

  const d = new FakeDocker();
  d.networks = [PODMAN_COMPAT];
  const w = new NetworkWatcher(d);
  const o = observe(w);
  let libpodUp = true;
  w.bridgeNames(() =>
    libpodUp ? Promise.resolve(parseLibpodBridges(LIBPOD_BODY)) : Promise.reject(new Error('404')),
  );
  w.start();
  try {
    await o.until('the Podman network', () => o.snapshots.length > 0);
    assert.equal(o.snapshots.at(-1)?.[0]?.bridge, 'cni-podman0');
    libpodUp = false;
    d.stream!.write(d.event('network', 'create', 'n2', 'other'));
    await o.until("Docker's default name", () => o.snapshots.at(-1)?.[0]?.bridge === 'br-2f259bab93aa');
    w.bridgeNames(undefined);
    assert.equal(w.networks[0]?.bridge, 'br-2f259bab93aa');
  } finally {
    await w.stop();
  }
});
