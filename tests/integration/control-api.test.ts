// The control API against bad, hostile and many clients: another uid, malformed requests, header floods,
// stalled clients, a burst of requests and the event stream. The daemon runs with --no-docker in a rig.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { API_VERSION, statusSchema, type Status } from '../../common/api';
import { ApiError, callApi } from '../../client/api-client';
import { ROUTES } from '../../common/api-routes';
import { MAX_BODY_BYTES } from '../../helper/control-server';
import { waitFor } from '../../rig/exec';
import { createRig, type Rig } from '../../rig/rig';
import {
  Workdir,
  startAgent,
  startDaemon,
  stop,
  waitForDaemon,
  type DaemonHandle,
  type Proc,
} from './harness';

const execFileP = promisify(execFile);

interface RawAnswer {
  status: number;
  text: string;
  closedAfterMs: number;
}

/** Writes raw bytes on a fresh connection and collects everything until the daemon closes it. */
function raw(socket: string, data: string, opts: { end?: boolean } = {}): Promise<RawAnswer> {
  const started = Date.now();
  return new Promise((resolve) => {
    let text = '';
    const c = createConnection({ path: socket }, () => {
      c.write(data);
      if (opts.end !== false) c.end();
    });
    c.on('data', (d: Buffer) => (text += d.toString('utf8')));
    c.on('error', () => undefined); // a reset after the answer is fine: the answer is what is checked
    c.on('close', () => {
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      resolve({ status: m ? Number(m[1]) : 0, text, closedAfterMs: Date.now() - started });
    });
  });
}

const post = (path: string, body: string, extra = '') =>
  `POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}connection: close\r\n\r\n${body}`;

const errorCode = (a: RawAnswer) =>
  (JSON.parse(a.text.slice(a.text.indexOf('\r\n\r\n') + 4)) as { error: { code: string } }).error.code;

/** A parsed event stream: the `state` events seen so far and the count of keepalive comments. */
interface Sse {
  res: IncomingMessage;
  states: Status[];
  keepalives: number;
  closed: boolean;
  close(): void;
}

function subscribe(socket: string): Promise<Sse | { status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path: '/v1/events' }, (res) => {
      if (res.statusCode !== 200) {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        return;
      }
      const sse: Sse = { res, states: [], keepalives: 0, closed: false, close: () => req.destroy() };
      let buf = '';
      res.on('data', (d: Buffer) => {
        buf += d.toString('utf8');
        for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (block.startsWith(': keepalive')) sse.keepalives++;
          const data = /^event: state\ndata: (.*)$/s.exec(block);
          if (data) sse.states.push(statusSchema.parse(JSON.parse(data[1]!)));
        }
      });
      res.on('close', () => (sse.closed = true));
      res.on('error', () => undefined);
      resolve(sse);
    });
    req.on('error', reject);
    req.end();
  });
}

async function mustSubscribe(socket: string): Promise<Sse> {
  const s = await subscribe(socket);
  if ('status' in s) throw new Error(`GET /v1/events answered ${s.status}: ${s.body}`);
  return s;
}

describe('control API under bad input and load', { timeout: 150_000 }, () => {
  let rig: Rig;
  let work: Workdir;
  let daemon: DaemonHandle;
  let agent: Proc | undefined;
  // Opened first and checked last: the stream must outlive requestTimeout (10 s) and see keepalives (15 s).
  let longLived: Sse;
  let longLivedSince = 0;
  let userBin = '';

  before(async () => {
    rig = await createRig({ containers: 0, subnetIndex: 15 });
    work = new Workdir();
    // A directory of another user's first on the daemon's PATH, holding an `ip` that records its calls and
    // then does the real work (the rig runs `ip netns exec` with this environment too).
    userBin = join(work.dir, 'user-bin');
    mkdirSync(userBin, { mode: 0o755 });
    writeFileSync(
      join(userBin, 'ip'),
      `#!/bin/sh\necho "$*" >> ${join(work.dir, 'user-ip.calls')}\nexec /usr/sbin/ip "$@"\n`,
      { mode: 0o755 },
    );
    chownSync(userBin, 65534, 65534);
    chownSync(join(userBin, 'ip'), 65534, 65534);
    const env = { ...process.env, PATH: `${userBin}:${process.env.PATH ?? '/usr/sbin:/usr/bin'}` };
    daemon = startDaemon(rig, work, ['--no-docker'], undefined, undefined, env);
    await waitForDaemon(daemon);
    longLived = await mustSubscribe(daemon.socket);
    longLivedSince = Date.now();
  });

  after(async () => {
    longLived?.close();
    if (agent) await stop(agent);
    if (daemon) await stop(daemon);
    await rig?.teardown();
    work?.cleanup();
  });

  test('root runs no command from a PATH directory another user can change, and says so', async () => {
    const addr = (await rig.exec(rig.hostNs, 'ip', ['-4', 'addr', 'show', 'dev', 'gw0'])).stdout;
    assert.match(addr, /inet 10\.57\.0\.1 /, 'the daemon addressed its TUN (with ip)');
    const calls = existsSync(join(work.dir, 'user-ip.calls'))
      ? readFileSync(join(work.dir, 'user-ip.calls'), 'utf8').trim().split('\n')
      : [];
    assert.deepEqual(
      calls.filter((c) => !c.startsWith('netns exec ')),
      [],
      "the daemon ran the user's ip",
    );
    const log = readFileSync(daemon.logFile, 'utf8');
    assert.match(log, /PATH: left out directories a user other than root can change/);
    assert.ok(log.includes(userBin), log.slice(0, 2000));
  });

  test('version handshake: headers, /v1/version, skew and unknown prefixes', async () => {
    const v = await callApi(daemon.socket, ROUTES.version);
    assert.equal(v.apiVersion, API_VERSION);
    const head = await raw(daemon.socket, 'GET /v1/status HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    assert.equal(head.status, 200);
    assert.match(head.text, /\r\nx-gangway-api: 1\r\n/i);
    assert.match(
      head.text,
      new RegExp(`\\r\\nx-gangway-version: ${v.version.replace(/\./g, '\\.')}\\r\\n`, 'i'),
    );

    const skew = await raw(
      daemon.socket,
      'GET /v1/status HTTP/1.1\r\nhost: x\r\nx-gangway-api: 7\r\nconnection: close\r\n\r\n',
    );
    assert.equal(skew.status, 400);
    assert.equal(errorCode(skew), 'VERSION_SKEW');
    assert.match(skew.text, /speaks API 1, the client speaks API 7/);

    const v2 = await raw(daemon.socket, 'GET /v2/status HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    assert.equal(v2.status, 404);
    assert.match(v2.text, /API v1/);
    await assert.rejects(
      callApi(daemon.socket, { ...ROUTES.status, path: '/v2/status' }),
      (e: unknown) => e instanceof ApiError && e.code === 'VERSION_SKEW',
    );
  });

  test('another uid cannot connect to the socket', async () => {
    const script = `require('net').createConnection(${JSON.stringify(daemon.socket)})
      .on('connect', () => { console.log('CONNECTED'); process.exit(0); })
      .on('error', (e) => { console.log(e.code); process.exit(0); });`;
    const r = await execFileP('setpriv', [
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      process.execPath,
      '-e',
      script,
    ]);
    assert.equal(r.stdout.trim(), 'EACCES');
  });

  test('malformed requests get the right errors', async () => {
    const bad = await raw(daemon.socket, post('/v1/networks/route', '{"network": '));
    assert.equal(bad.status, 400);
    assert.equal(errorCode(bad), 'BAD_JSON');

    const types = await raw(daemon.socket, post('/v1/networks/route', '{"network": 5, "routed": "yes"}'));
    assert.equal(types.status, 400);
    assert.equal(errorCode(types), 'BAD_REQUEST');

    const extra = await raw(
      daemon.socket,
      post('/v1/networks/route', '{"network": "app", "routed": true, "sneaky": 1}'),
    );
    assert.equal(extra.status, 400);
    assert.equal(errorCode(extra), 'BAD_REQUEST');

    const big = JSON.stringify({ network: 'x'.repeat(MAX_BODY_BYTES), routed: true });
    const declared = await raw(daemon.socket, post('/v1/networks/route', big));
    assert.equal(declared.status, 413);
    // Chunked, so the size is only known while reading.
    const chunked = await raw(
      daemon.socket,
      `POST /v1/networks/route HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n` +
        `${Buffer.byteLength(big).toString(16)}\r\n${big}\r\n0\r\n\r\n`,
    );
    assert.equal(chunked.status, 413);

    const unknown = await raw(daemon.socket, 'GET /v1/nope HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    assert.equal(unknown.status, 404);
    const method = await raw(
      daemon.socket,
      'DELETE /v1/status HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n',
    );
    assert.equal(method.status, 405);
    const sseMethod = await raw(daemon.socket, post('/v1/events', '{}'));
    assert.equal(sseMethod.status, 405);
  });

  test('a request with 200 headers is refused and the daemon keeps serving', async () => {
    const headers = Array.from({ length: 200 }, (_, i) => `x-h${i}: ${i}\r\n`).join('');
    const r = await raw(
      daemon.socket,
      `GET /v1/status HTTP/1.1\r\nhost: x\r\n${headers}connection: close\r\n\r\n`,
    );
    assert.equal(r.status, 431);
    assert.equal((await daemon.status()).version.length > 0, true);
  });

  test('a stalled client is closed after headersTimeout while others are served', async () => {
    const stalled = raw(daemon.socket, 'GET /v1/sta', { end: false });
    for (let i = 0; i < 5; i++) {
      await daemon.status();
      await new Promise((r) => setTimeout(r, 300));
    }
    const r = await stalled;
    // headersTimeout is 5 s, with a deadline of its own for a new connection (not Node's 30 s check).
    assert.ok(r.closedAfterMs >= 4_500 && r.closedAfterMs < 9_000, `closed after ${r.closedAfterMs} ms`);
  });

  test('a request whose body stalls is closed after requestTimeout, not at a 30 s check', async () => {
    const r = await raw(
      daemon.socket,
      post('/v1/networks/route', '{"network":').replace(/content-length: \d+/, 'content-length: 100'),
      {
        end: false,
      },
    );
    assert.equal(r.status, 0, `answered: ${r.text}`);
    assert.ok(r.closedAfterMs >= 9_500 && r.closedAfterMs < 14_000, `closed after ${r.closedAfterMs} ms`);
  });

  test('a kept-alive connection that stalls in its next request is closed after headersTimeout', async () => {
    const r = await raw(daemon.socket, 'GET /v1/status HTTP/1.1\r\nhost: x\r\n\r\nGET /v1/sta', {
      end: false,
    });
    assert.equal(r.status, 200, r.text);
    assert.ok(r.closedAfterMs >= 4_500 && r.closedAfterMs < 9_000, `closed after ${r.closedAfterMs} ms`);
  });

  test('300 concurrent status requests are all answered', async () => {
    const all = await Promise.all(Array.from({ length: 300 }, () => callApi(daemon.socket, ROUTES.status)));
    assert.equal(all.length, 300);
  });

  test('the event stream reports the agent connecting and caps its clients', async () => {
    const sse = await mustSubscribe(daemon.socket);
    await waitFor('the initial state event', () => sse.states.length > 0);
    assert.equal(sse.states[0]!.state, 'waiting');
    agent = startAgent(rig, daemon);
    await waitFor(
      `a state event with the agent connected (agent: ${agent.output()})`,
      () => sse.states.some((s) => s.state === 'connected'),
      10_000,
    );

    // longLived + sse are two; 30 more reach the cap of 32.
    const more = await Promise.all(Array.from({ length: 30 }, () => mustSubscribe(daemon.socket)));
    const refused = await subscribe(daemon.socket);
    assert.ok('status' in refused, 'the 33rd client was accepted');
    assert.equal(refused.status, 503);
    assert.match(refused.body, /TOO_MANY_CLIENTS/);

    // Closing streams frees their slots.
    for (const s of [sse, ...more]) s.close();
    const again = await waitFor('a free event-stream slot', async () => {
      const s = await subscribe(daemon.socket);
      return 'status' in s ? undefined : s;
    });
    again.close();
  });

  test('the first stream outlived requestTimeout, got keepalives, and the daemon still answers', async () => {
    const wait = longLivedSince + 16_000 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    assert.equal(longLived.closed, false);
    assert.ok(longLived.keepalives >= 1, 'no keepalive within 16 s');
    assert.ok(longLived.states.some((s) => s.state === 'connected'));
    const s = await daemon.status();
    assert.equal(s.state, 'connected');
  });
});
