// The container index against a fake Docker: first list, per-container updates from events (die drops at
// once, start and network connect re-inspect), garbage ignored, and a full re-list after a reconnect.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import type Dockerode from 'dockerode';
import { ContainerIndex, type ContainerClient } from '../../helper/dns/container-index';
import { waitFor } from '../../rig/exec';
import { createLogger } from '../../common/log';

const ID = (n: number) => `${String(n).repeat(12)}`.slice(0, 12) + 'abcdef';

class FakeDocker implements ContainerClient {
  running = new Map<string, { name: string; ip: string }>();
  streams: PassThrough[] = [];
  inspects = 0;
  listContainers(): Promise<Dockerode.ContainerInfo[]> {
    return Promise.resolve([...this.running.keys()].map((Id) => ({ Id }) as Dockerode.ContainerInfo));
  }
  getContainer(id: string) {
    return {
      inspect: () => {
        this.inspects++;
        const c = this.running.get(id);
        if (!c) return Promise.reject(Object.assign(new Error('no such container'), { statusCode: 404 }));
        return Promise.resolve({
          Id: id,
          Name: `/${c.name}`,
          State: { Running: true },
          Config: { Labels: {} },
          NetworkSettings: { Networks: { app: { IPAddress: c.ip, GlobalIPv6Address: '', Aliases: null } } },
        } as unknown as Dockerode.ContainerInspectInfo);
      },
    };
  }
  getEvents(): Promise<NodeJS.ReadableStream> {
    const s = new PassThrough();
    this.streams.push(s);
    return Promise.resolve(s);
  }
  event(type: string, action: string, id: string, attrs: Record<string, string> = {}): void {
    this.streams
      .at(-1)!
      .write(`${JSON.stringify({ Type: type, Action: action, Actor: { ID: id, Attributes: attrs } })}\n`);
  }
}

const ips = (idx: ContainerIndex) =>
  idx.containers
    .map((c) => `${c.name}=${c.networks[0]?.ipv4 ?? '-'}`)
    .sort()
    .join(' ');

describe('container index', () => {
  test('list, events, reconnect', async () => {
    const docker = new FakeDocker();
    docker.running.set(ID(1), { name: 'a', ip: '172.20.0.2' });
    const idx = new ContainerIndex(docker, { minBackoffMs: 10, maxBackoffMs: 20 });
    let changed = 0;
    idx.on('changed', () => changed++);
    idx.start();
    try {
      await waitFor('the first list', () => idx.connected, 2_000, 5);
      assert.equal(ips(idx), 'a=172.20.0.2');

      // A new container starts: one inspect of that container.
      docker.running.set(ID(2), { name: 'b', ip: '172.20.0.3' });
      const before = docker.inspects;
      docker.event('container', 'start', ID(2));
      await waitFor('b', () => ips(idx).includes('b=172.20.0.3'), 2_000, 5);
      assert.equal(docker.inspects - before, 1);

      // die: gone at once, without asking Docker.
      const c0 = changed;
      docker.running.delete(ID(1));
      docker.event('container', 'die', ID(1));
      await new Promise((r) => setImmediate(r));
      assert.equal(ips(idx), 'b=172.20.0.3');
      assert.ok(changed > c0);

      // Network connect names the container in its attributes: b is re-inspected with its new address.
      docker.running.set(ID(2), { name: 'b', ip: '172.20.0.30' });
      docker.event('network', 'connect', 'netid', { container: ID(2) });
      await waitFor('b moved', () => ips(idx) === 'b=172.20.0.30', 2_000, 5);

      // Garbage and odd ids are ignored.
      docker.streams
        .at(-1)!
        .write('not json\n{"Type":"container","Action":"start","Actor":{"ID":"../../etc"}}\n');
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(ips(idx), 'b=172.20.0.30');

      // Docker goes away; while it is away b stops and c starts; after reconnecting, a full re-list.
      docker.streams.at(-1)!.end();
      docker.running.delete(ID(2));
      docker.running.set(ID(3), { name: 'c', ip: '172.20.0.4' });
      await waitFor('the re-list', () => ips(idx) === 'c=172.20.0.4', 2_000, 5);
      assert.equal(docker.streams.length, 2);
    } finally {
      await idx.stop();
    }
  });

  test('Docker down: one warning for the outage, not one per reconnect attempt', async () => {
    const docker = new FakeDocker();
    let attempts = 0;
    docker.getEvents = () => {
      attempts++;
      return Promise.reject(new Error('connect ENOENT /var/run/docker.sock'));
    };
    const lines: string[] = [];
    const idx = new ContainerIndex(docker, {
      minBackoffMs: 5,
      maxBackoffMs: 10,
      log: createLogger('test', (l) => lines.push(l)),
    });
    idx.start();
    try {
      await waitFor('a few reconnect attempts', () => attempts >= 5, 2_000, 5);
    } finally {
      await idx.stop();
    }
    assert.equal(lines.filter((l) => l.includes('Docker unreachable')).length, 1, lines.join('\n'));
  });
});
