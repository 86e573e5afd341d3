// The main process's daemon link against a fake daemon on a unix socket: only API routes go through, and
// the event stream comes back by itself after the daemon goes away and returns.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RouteRefused, followEvents, helperInstalled, rawRequest } from '../../src-main/helper-client';
import { watchStatus } from '../../client/event-client';

describe('helper client', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gangway-client-'));
  const socket = join(dir, 'd.sock');
  after(() => rmSync(dir, { recursive: true, force: true }));

  function fakeDaemon(n: number): Promise<{ server: Server; streams: Set<ServerResponse>; paths: string[] }> {
    const streams = new Set<ServerResponse>();
    const paths: string[] = [];
    const server = createServer((req, res) => {
      paths.push(`${req.method} ${req.url}`);
      if (req.url === '/v1/events') {
        streams.add(res);
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(`: hello\n\nevent: state\ndata: {"n":${n}}\n\n`);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ path: req.url }));
    });
    return new Promise((r) => server.listen(socket, () => r({ server, streams, paths })));
  }

  test('rawRequest passes API routes (with a query) and refuses anything else before sending', async () => {
    const d = await fakeDaemon(0);
    try {
      assert.deepEqual(await rawRequest(socket, 'GET', '/v1/logs?limit=3'), {
        status: 200,
        body: { path: '/v1/logs?limit=3' },
      });
      await assert.rejects(rawRequest(socket, 'GET', '/v1/secret'), RouteRefused);
      await assert.rejects(rawRequest(socket, 'POST', '/v1/status'), RouteRefused);
      await assert.rejects(
        rawRequest(socket, 'PATCH', '/v1/settings', { x: 'y'.repeat(70_000) }),
        RouteRefused,
      );
      assert.deepEqual(d.paths, ['GET /v1/logs?limit=3']);
    } finally {
      d.server.closeAllConnections();
      await new Promise((r) => d.server.close(r));
    }
    const down = await rawRequest(socket, 'GET', '/v1/status');
    assert.equal(down.status, 502);
    assert.equal(helperInstalled(join(dir, 'never.sock')), false);
  });

  test('gangway status --watch: a snapshot of another version ends the watch with a version error', async () => {
    // The fake daemon's snapshot ({"n":2}) is no status this client can read, as a newer daemon's may not be.
    const d = await fakeDaemon(2);
    const seen: unknown[] = [];
    try {
      await assert.rejects(
        watchStatus(socket, (s) => seen.push(s), new AbortController().signal),
        (e: Error & { code?: string }) =>
          e.code === 'VERSION_SKEW' &&
          /does not match this client's version .*update the app\/CLI or the helper/.test(e.message),
      );
      assert.deepEqual(seen, []);
    } finally {
      d.server.closeAllConnections();
      await new Promise((r) => d.server.close(r));
    }
  });

  test('retryNow: a follower waiting out its backoff finds a daemon that just started at once', async () => {
    const got: unknown[] = [];
    const downs: number[] = [];
    const t0 = Date.now();
    const f = followEvents(
      socket,
      (s) => got.push(s),
      (up) => !up && downs.push(Date.now() - t0),
    );
    let d: Awaited<ReturnType<typeof fakeDaemon>> | undefined;
    try {
      // No daemon: refused at once, again at 0.5 s, and the next try waits 1 s more (until ~1.5 s).
      const end = Date.now() + 5_000;
      while (downs.length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      assert.equal(downs.length, 2, 'two refusals');
      d = await fakeDaemon(7);
      const asked = Date.now();
      f.retryNow();
      while (got.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
      assert.deepEqual(got, [{ n: 7 }]);
      // Well before the pending retry (about 1 s after the second refusal) would have found it.
      assert.ok(Date.now() - asked < 500, `found ${Date.now() - asked} ms after retryNow`);
      f.retryNow();
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(got, [{ n: 7 }], 'an open stream is left alone');
    } finally {
      f.stop();
      if (d) {
        d.server.closeAllConnections();
        await new Promise((r) => d!.server.close(r));
      }
    }
  });

  test('the event stream reconnects after the daemon restarts', async () => {
    const got: unknown[] = [];
    const ups: boolean[] = [];
    let d = await fakeDaemon(1);
    const f = followEvents(
      socket,
      (s) => got.push(s),
      (up) => ups.push(up),
    );
    try {
      const until = async (what: string, ok: () => boolean) => {
        const end = Date.now() + 5_000;
        while (!ok()) {
          if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      await until('the first snapshot', () => got.length === 1);
      assert.deepEqual(got, [{ n: 1 }]);
      // The daemon goes away (a restart, an update) …
      d.server.closeAllConnections();
      await new Promise((r) => d.server.close(r));
      await until('the stream to be reported down', () => ups.includes(false));
      // … and comes back: the follower finds it again without being asked.
      d = await fakeDaemon(2);
      await until('the snapshot from the new daemon', () => got.length === 2);
      assert.deepEqual(got, [{ n: 1 }, { n: 2 }]);
      assert.equal(ups[0], true);
      assert.equal(ups.at(-1), true);
    } finally {
      f.stop();
      d.server.closeAllConnections();
      await new Promise((r) => d.server.close(r));
    }
  });
});
