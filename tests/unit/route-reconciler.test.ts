// The reconciler against a fake NetPlatform whose table behaves like Linux's (`ip route replace` replaces a
// route with the same destination whatever its device), so touching someone else's route would show.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HostRoute, LinkState, NetPlatform } from '../../shared/platform/net-platform';
import type { PlannedNetwork, RouteSettings } from '../../helper/routes/route-planner';
import { RouteReconciler, type ReconcileRequest } from '../../helper/routes/route-reconciler';

class FakeNet implements NetPlatform {
  table: HostRoute[];
  calls: string[] = [];
  failAdd = new Set<string>();
  failDelete = new Set<string>();
  failList = false;
  /** When set, listRoutes waits for it: lets a test pile up requests during a reconcile. */
  gate: Promise<void> | undefined;
  active = 0;
  maxActive = 0;

  constructor(table: HostRoute[]) {
    this.table = table.map((r) => ({ ...r }));
  }

  private async op<T>(fn: () => T): Promise<T> {
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    try {
      await new Promise((r) => setImmediate(r));
      return fn();
    } finally {
      this.active--;
    }
  }

  configureTun(): Promise<void> {
    return Promise.resolve();
  }
  configureTun6(): Promise<void> {
    return Promise.resolve();
  }

  addRoute(cidr: string, device: string): Promise<void> {
    return this.op(() => {
      this.calls.push(`add ${cidr} ${device}`);
      if (this.failAdd.has(cidr)) throw new Error(`RTNETLINK answers: Invalid argument (${cidr})`);
      this.table = this.table.filter((r) => r.destination !== cidr);
      this.table.push({ destination: cidr, device });
    });
  }

  deleteRoute(cidr: string, device: string): Promise<void> {
    return this.op(() => {
      this.calls.push(`del ${cidr} ${device}`);
      if (this.failDelete.has(cidr)) throw new Error('Operation not permitted');
      this.table = this.table.filter((r) => !(r.destination === cidr && r.device === device));
    });
  }

  linkState(): Promise<LinkState> {
    return Promise.resolve({ up: true, detail: 'up' });
  }

  async listRoutes(): Promise<HostRoute[]> {
    if (this.gate) await this.gate;
    return this.op(() => {
      this.calls.push('list');
      if (this.failList) throw new Error('ip: command not found');
      return this.table.map((r) => ({ ...r }));
    });
  }
}

const BASE: HostRoute[] = [
  { destination: '0.0.0.0/0', device: 'en0' },
  { destination: '::/0', device: 'en0' },
  { destination: '192.168.1.0/24', device: 'en0' },
  { destination: '10.57.0.2/32', device: 'gw0' },
];
const net = (name: string, ...subnets: string[]): PlannedNetwork => ({ id: name, name, subnets });
const req = (
  networks: PlannedNetwork[],
  settings: RouteSettings = { routeNewNetworks: true, networks: {} },
) => ({ networks, settings, tunnelSubnet: '10.57.0.0/30' }) satisfies ReconcileRequest;
const onDevice = (f: FakeNet, dev: string) =>
  f.table
    .filter((r) => r.device === dev)
    .map((r) => r.destination)
    .sort();

test('adds what is missing, deletes what it added and no longer wants, leaves the rest alone', async () => {
  const f = new FakeNet(BASE);
  const r = new RouteReconciler(f, 'gw0');
  const a = await r.reconcile(req([net('a', '172.18.0.0/16'), net('b', '172.19.0.0/16', 'fd00:19::/64')]));
  assert.deepEqual(a.added, ['172.18.0.0/16', '172.19.0.0/16', 'fd00:19::/64']);
  assert.deepEqual(a.errors, []);
  assert.deepEqual(onDevice(f, 'gw0'), ['10.57.0.2/32', '172.18.0.0/16', '172.19.0.0/16', 'fd00:19::/64']);

  const b = await r.reconcile(req([net('a', '172.18.0.0/16')]));
  assert.deepEqual(b.deleted, ['172.19.0.0/16', 'fd00:19::/64']);
  assert.deepEqual(b.added, []);
  // The kernel's peer route on the TUN was never ours: untouched.
  assert.deepEqual(onDevice(f, 'gw0'), ['10.57.0.2/32', '172.18.0.0/16']);
  assert.deepEqual(onDevice(f, 'en0'), ['0.0.0.0/0', '192.168.1.0/24', '::/0']);
  assert.ok(
    f.calls.every((c) => c === 'list' || c.endsWith(' gw0')),
    f.calls.join('\n'),
  );
  assert.deepEqual(b.routes, [{ cidr: '172.18.0.0/16', installed: true }]);
});

test('the user turning a network off removes its route; turning it on adds it back', async () => {
  const f = new FakeNet(BASE);
  const r = new RouteReconciler(f, 'gw0');
  const nets = [net('web', '172.18.0.0/16')];
  await r.reconcile(req(nets));
  await r.reconcile(req(nets, { routeNewNetworks: true, networks: { web: { routed: false } } }));
  assert.deepEqual(r.installed, []);
  await r.reconcile(req(nets, { routeNewNetworks: false, networks: { web: { routed: true } } }));
  assert.deepEqual(r.installed, ['172.18.0.0/16']);
});

test('never adds a route equal to another device’s, so `replace` cannot take over a LAN route', async () => {
  const f = new FakeNet(BASE);
  const r = new RouteReconciler(f, 'gw0');
  const res = await r.reconcile(req([net('lan', '192.168.1.0/24')]));
  assert.deepEqual(res.added, []);
  assert.deepEqual(onDevice(f, 'en0'), ['0.0.0.0/0', '192.168.1.0/24', '::/0']);
  assert.match(res.routes[0]!.error!, /already routes 192\.168\.1\.0\/24 via en0/);
  assert.equal(res.routes[0]!.installed, false);
});

test('a VPN that appears later takes precedence: our overlapping route is removed and the conflict shown', async () => {
  const f = new FakeNet(BASE);
  const r = new RouteReconciler(f, 'gw0');
  const nets = [net('corp', '172.18.0.0/16')];
  await r.reconcile(req(nets));
  f.table.push({ destination: '172.16.0.0/12', device: 'utun3' });
  const res = await r.reconcile(req(nets));
  assert.deepEqual(res.deleted, ['172.18.0.0/16']);
  assert.deepEqual(onDevice(f, 'utun3'), ['172.16.0.0/12']);
  assert.equal(res.routes[0]?.installed, false);
  assert.match(res.routes[0].error!, /172\.16\.0\.0\/12 via utun3/);
});

test('per-route failures are reported, the other routes still applied, and retried next time', async () => {
  const f = new FakeNet(BASE);
  const r = new RouteReconciler(f, 'gw0');
  f.failAdd.add('172.19.0.0/16');
  const nets = [net('a', '172.18.0.0/16'), net('b', '172.19.0.0/16')];
  const res = await r.reconcile(req(nets));
  assert.deepEqual(res.added, ['172.18.0.0/16']);
  assert.deepEqual(res.errors, [
    { cidr: '172.19.0.0/16', op: 'add', error: 'RTNETLINK answers: Invalid argument (172.19.0.0/16)' },
  ]);
  assert.deepEqual(
    res.routes.find((s) => s.cidr === '172.19.0.0/16'),
    { cidr: '172.19.0.0/16', installed: false, error: 'RTNETLINK answers: Invalid argument (172.19.0.0/16)' },
  );
  f.failAdd.clear();
  const again = await r.reconcile(req(nets));
  assert.deepEqual(again.added, ['172.19.0.0/16']);
  assert.deepEqual(again.errors, []);
});

test('a route that cannot be deleted stays installed, is reported, and is deleted on a later run', async () => {
  const f = new FakeNet(BASE);
  const r = new RouteReconciler(f, 'gw0');
  await r.reconcile(req([net('a', '172.18.0.0/16')]));
  f.failDelete.add('172.18.0.0/16');
  const res = await r.reconcile(req([]));
  assert.deepEqual(res.routes, [
    { cidr: '172.18.0.0/16', installed: true, error: 'could not remove it: Operation not permitted' },
  ]);
  f.failDelete.clear();
  assert.deepEqual((await r.reconcile(req([]))).deleted, ['172.18.0.0/16']);
});

test('an unreadable routing table changes nothing and is reported', async () => {
  const f = new FakeNet(BASE);
  const r = new RouteReconciler(f, 'gw0');
  await r.reconcile(req([net('a', '172.18.0.0/16')]));
  f.failList = true;
  const res = await r.reconcile(req([]));
  assert.equal(res.plan, undefined);
  assert.deepEqual(res.errors, [{ cidr: '', op: 'list', error: 'ip: command not found' }]);
  assert.deepEqual(r.installed, ['172.18.0.0/16']);
  assert.deepEqual(res.routes, [{ cidr: '172.18.0.0/16', installed: true }]);
});

test('a route of ours deleted behind our back is added again', async () => {
  const f = new FakeNet(BASE);
  const r = new RouteReconciler(f, 'gw0');
  const nets = [net('a', '172.18.0.0/16')];
  await r.reconcile(req(nets));
  f.table = f.table.filter((x) => x.destination !== '172.18.0.0/16');
  assert.deepEqual((await r.reconcile(req(nets))).added, ['172.18.0.0/16']);
});

test('one reconcile at a time; requests made meanwhile coalesce into one run with the latest input', async () => {
  const f = new FakeNet(BASE);
  const r = new RouteReconciler(f, 'gw0');
  let open!: () => void;
  f.gate = new Promise((res) => (open = res));
  const first = r.reconcile(req([net('a', '172.18.0.0/16')]));
  await new Promise((res) => setImmediate(res));
  const later = [1, 2, 3, 4, 5].map((i) => r.reconcile(req([net(`n${i}`, `172.${20 + i}.0.0/16`)])));
  f.gate = undefined;
  open();
  const results = await Promise.all([first, ...later]);
  assert.equal(f.calls.filter((c) => c === 'list').length, 2);
  assert.equal(f.maxActive, 1);
  assert.deepEqual(results[0].added, ['172.18.0.0/16']);
  // All five later callers get the one run that applied the last request.
  for (const res of results.slice(1)) assert.strictEqual(res, results[5]);
  assert.deepEqual(r.installed, ['172.25.0.0/16']);
});

test('close removes every route it added; a reconcile queued before or after close adds nothing', async () => {
  const f = new FakeNet(BASE);
  const r = new RouteReconciler(f, 'gw0');
  await r.reconcile(req([net('a', '172.18.0.0/16'), net('b', 'fd00:19::/64')]));
  let open!: () => void;
  f.gate = new Promise((res) => (open = res));
  const running = r.reconcile(req([net('a', '172.18.0.0/16')]));
  await new Promise((res) => setImmediate(res));
  const queued = r.reconcile(req([net('c', '172.20.0.0/16')]));
  const closed = r.close();
  f.gate = undefined;
  open();
  await running;
  const res = await closed;
  assert.strictEqual(await queued, res);
  assert.deepEqual(r.installed, []);
  assert.deepEqual(onDevice(f, 'gw0'), ['10.57.0.2/32']);
  await r.reconcile(req([net('d', '172.21.0.0/16')]));
  assert.deepEqual(onDevice(f, 'gw0'), ['10.57.0.2/32']);
  assert.ok(!f.calls.some((c) => c.includes('172.20.') || c.includes('172.21.')));
});
