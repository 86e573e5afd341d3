// `gangway ui`'s server against a small fake daemon on a unix socket: the token (a header, never a cookie;
// a one-time ticket for the event stream),
// the Host and Origin checks, the route allow-list, the body cap, streaming of the event stream, static
// files without path traversal, and a clear 502 when no daemon answers.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { TICKET_PATH, UI_MAX_BODY_BYTES, startUiServer, type UiServer } from '../../cli/ui-server';

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function http(
  port: number,
  path: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<Answer> {
  return new Promise((resolveAnswer, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: opts.method ?? 'GET',
        headers: { host: `127.0.0.1:${port}`, ...opts.headers },
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolveAnswer({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

describe('gangway ui server', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gangway-ui-test-'));
  const socket = join(dir, 'daemon.sock');
  const staticDir = join(dir, 'ui');
  const seen: { method: string; url: string; body: string; headers: IncomingHttpHeaders }[] = [];
  let daemon: Server;
  let ui: UiServer;
  const auth = () => ({ authorization: `Bearer ${ui.token}` });

  before(async () => {
    mkdirSync(staticDir);
    writeFileSync(join(staticDir, 'index.html'), '<!doctype html><title>Gangway</title>');
    writeFileSync(join(staticDir, 'app.js'), 'console.log(1)');
    writeFileSync(join(dir, 'secret.js'), 'outside the static dir');
    daemon = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', body, headers: req.headers });
        if (req.url === '/v1/events') {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write('event: state\ndata: {"n":1}\n\n');
          return; // stays open, like the daemon's stream
        }
        res.writeHead(200, { 'content-type': 'application/json', 'x-gangway-version': '9.9.9' });
        res.end(JSON.stringify({ ok: true, method: req.method, url: req.url }));
      });
    });
    await new Promise<void>((r) => daemon.listen(socket, r));
    ui = await startUiServer({ socketPath: socket, staticDir, port: 0 });
  });

  after(async () => {
    await ui?.close();
    daemon?.closeAllConnections();
    await new Promise<void>((r) => daemon.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  test('the address carries a long random token on 127.0.0.1, in its fragment (never sent to a server)', () => {
    assert.match(ui.url, /^http:\/\/127\.0\.0\.1:\d+\/#token=[A-Za-z0-9_-]{32}$/);
    assert.notEqual(ui.port, 0);
  });

  test('without the token every API request is refused with 401; the app’s files need none', async () => {
    for (const path of ['/api/v1/status', '/api/v1/events', '/api/v1/events?ticket=made-up']) {
      const r = await http(ui.port, path);
      assert.equal(r.status, 401, path);
      assert.match(r.body, /NO_TOKEN/);
    }
    assert.equal((await http(ui.port, TICKET_PATH, { method: 'POST' })).status, 401);
    const wrong = { authorization: 'Bearer wrong' };
    assert.equal((await http(ui.port, '/api/v1/status', { headers: wrong })).status, 401);
    assert.equal((await http(ui.port, '/?token=wrong')).status, 200, 'the page itself holds no secret');
    assert.equal((await http(ui.port, '/app.js')).status, 200);
    assert.equal(seen.length, 0, 'nothing reached the daemon');
  });

  test('a cookie never carries the token: none is set, and one sent is not accepted', async () => {
    // Cookies ignore ports: a cookie for 127.0.0.1 would reach every other local server the browser visits.
    for (const path of ['/', `/?token=${ui.token}`, '/app.js'])
      assert.equal((await http(ui.port, path)).headers['set-cookie'], undefined, path);
    for (const cookie of [`gangway_ui_token=${ui.token}`, `token=${ui.token}`]) {
      const r = await http(ui.port, '/api/v1/status', { headers: { cookie } });
      assert.equal(r.status, 401, cookie);
    }
    const page = await http(ui.port, '/');
    assert.equal(page.status, 200);
    assert.match(page.body, /<title>Gangway/);
    assert.match(String(page.headers['content-security-policy']), /default-src 'self'/);
    assert.equal(page.headers['referrer-policy'], 'no-referrer');
  });

  test('the event stream opens with a one-time ticket, which the daemon never sees', async () => {
    const issued = await http(ui.port, TICKET_PATH, { method: 'POST', headers: auth() });
    assert.equal(issued.status, 200);
    const { ticket } = JSON.parse(issued.body) as { ticket: string };
    assert.match(ticket, /^[A-Za-z0-9_-]{32}$/);
    assert.equal((await http(ui.port, TICKET_PATH, { headers: auth() })).status, 405);
    seen.length = 0;
    const first = await new Promise<string>((resolveChunk, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: ui.port,
          path: `/api/v1/events?ticket=${ticket}`,
          headers: { host: `127.0.0.1:${ui.port}` },
        },
        (res) => {
          assert.equal(res.statusCode, 200);
          res.once('data', (c: Buffer) => {
            resolveChunk(c.toString());
            req.destroy();
          });
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.match(first, /^event: state/);
    assert.deepEqual(
      seen.map((x) => x.url),
      ['/v1/events'],
    );
    // Spent: a second use, or a ticket on any other route, is refused.
    assert.equal((await http(ui.port, `/api/v1/events?ticket=${ticket}`)).status, 401);
    const other = JSON.parse(
      (await http(ui.port, TICKET_PATH, { method: 'POST', headers: auth() })).body,
    ) as {
      ticket: string;
    };
    assert.equal((await http(ui.port, `/api/v1/status?ticket=${other.ticket}`)).status, 401);
  });

  test('a Host other than 127.0.0.1:PORT or localhost:PORT is refused (DNS rebinding)', async () => {
    for (const host of ['evil.example', `evil.example:${ui.port}`, `127.0.0.1:${ui.port + 1}`, '127.0.0.1']) {
      const r = await http(ui.port, '/api/v1/status', { headers: { host, ...auth() } });
      assert.equal(r.status, 421, host);
      assert.equal((await http(ui.port, '/', { headers: { host } })).status, 421, host);
    }
    const ok = await http(ui.port, '/', { headers: { host: `localhost:${ui.port}`, ...auth() } });
    assert.equal(ok.status, 200);
  });

  test('a cross-origin request is refused even with the token', async () => {
    const r = await http(ui.port, '/api/v1/connect', {
      method: 'POST',
      headers: { ...auth(), origin: 'http://evil.example' },
    });
    assert.equal(r.status, 403);
    const same = await http(ui.port, '/api/v1/status', {
      headers: { ...auth(), origin: ui.url.split('/#')[0]! },
    });
    assert.equal(same.status, 200);
  });

  test('only the API routes are proxied, with their method, query and body', async () => {
    seen.length = 0;
    const logs = await http(ui.port, '/api/v1/logs?limit=5&level=warn', { headers: auth() });
    assert.equal(logs.status, 200);
    assert.equal(logs.headers['x-gangway-version'], '9.9.9');
    const patch = await http(ui.port, '/api/v1/settings', {
      method: 'PATCH',
      headers: { ...auth(), 'content-type': 'application/json', 'x-gangway-api': '1' },
      body: '{"mtu":1400}',
    });
    assert.equal(patch.status, 200);
    assert.deepEqual(
      seen.map((s) => [
        s.method,
        s.url,
        s.body,
        s.headers['x-gangway-api'],
        s.headers.authorization,
        s.headers.cookie,
      ]),
      [
        ['GET', '/v1/logs?limit=5&level=warn', '', undefined, undefined, undefined],
        ['PATCH', '/v1/settings', '{"mtu":1400}', '1', undefined, undefined],
      ],
    );
    for (const [method, path] of [
      ['GET', '/api/v1/secret'],
      ['DELETE', '/api/v1/status'],
      ['POST', '/api/v1/status'],
      ['GET', '/api/v2/status'],
      ['GET', '/api/v1/status/../../etc/passwd'],
    ] as const) {
      const r = await http(ui.port, path, { method, headers: auth() });
      assert.equal(r.status, 404, `${method} ${path}`);
    }
    assert.equal(seen.length, 2, 'the refused calls never reached the daemon');
  });

  test('bodies over the cap are refused with 413', async () => {
    const r = await http(ui.port, '/api/v1/networks/route', {
      method: 'POST',
      headers: auth(),
      body: Buffer.alloc(UI_MAX_BODY_BYTES + 1, 0x20),
    }).catch((err: Error) => ({ status: 413, body: err.message, headers: {} }));
    assert.equal(r.status, 413);
  });

  test('the event stream arrives while it is still open', async () => {
    const first = await new Promise<string>((resolveChunk, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: ui.port,
          path: '/api/v1/events',
          headers: { host: `127.0.0.1:${ui.port}`, ...auth() },
        },
        (res) => {
          assert.equal(res.headers['content-type'], 'text/event-stream');
          res.once('data', (c: Buffer) => {
            resolveChunk(c.toString());
            req.destroy();
          });
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.equal(first, 'event: state\ndata: {"n":1}\n\n');
  });

  test('static files only from the built directory', async () => {
    assert.equal((await http(ui.port, '/app.js', { headers: auth() })).status, 200);
    for (const p of ['/../secret.js', '/%2e%2e/secret.js', '/..%2fsecret.js', '/nope.js', '/index.txt'])
      assert.equal((await http(ui.port, p, { headers: auth() })).status, 404, p);
  });

  test('no daemon on the socket: a 502 that says so', async () => {
    const other = await startUiServer({
      socketPath: join(dir, 'none.sock'),
      staticDir,
      port: 0,
      token: 't0k3n',
    });
    try {
      const r = await http(other.port, '/api/v1/status', { headers: { authorization: 'Bearer t0k3n' } });
      assert.equal(r.status, 502);
      assert.match(r.body, /DAEMON_UNREACHABLE/);
    } finally {
      await other.close();
    }
  });

  test('gangway ui prints the address as its first line of stdout', async () => {
    const cli = resolve(__dirname, '..', '..', 'cli', 'gangway.js');
    const child = spawn(process.execPath, [cli, 'ui', '--port', '0', '--socket', socket], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const line = await new Promise<string>((r) => createInterface({ input: child.stdout }).once('line', r));
      assert.match(line, /^http:\/\/127\.0\.0\.1:\d+\/#token=\S{32}$/);
    } finally {
      child.kill('SIGTERM');
    }
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    assert.equal(code, 0);
  });
});
