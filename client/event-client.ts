// Follows the daemon's event stream (GET /v1/events, server-sent events) over the control socket: each
// `state` event carries a full status snapshot. Used by `gangway status --watch`; the app's main process
// follows the same stream.
import { request } from 'node:http';
import { API_VERSION, API_VERSION_HEADER, type Status, statusSchema } from '../common/api';
import { ApiClientError } from './api-client';

/** Splits an SSE byte stream into events; returns the data of each `state` event. */
export class SseParser {
  private buffer = '';

  push(chunk: string): string[] {
    this.buffer += chunk;
    const out: string[] = [];
    let end: number;
    while ((end = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (event === 'state' && data.length) out.push(data.join('\n'));
    }
    // A stream that never ends an event must not grow without bound.
    if (this.buffer.length > 4 * 1024 * 1024) this.buffer = '';
    return out;
  }
}

/**
 * Calls `onStatus` with every snapshot until `signal` aborts or the stream ends. Resolves when it ends;
 * rejects with ApiClientError('DAEMON_UNREACHABLE') when the daemon cannot be reached.
 */
export function watchStatus(
  socketPath: string,
  onStatus: (s: Status) => void,
  signal: AbortSignal,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath,
        method: 'GET',
        path: '/v1/events',
        headers: { [API_VERSION_HEADER]: String(API_VERSION) },
        signal,
      },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new ApiClientError('BAD_RESPONSE', `the event stream answered ${res.statusCode ?? '?'}`));
          return;
        }
        const parser = new SseParser();
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          for (const data of parser.push(chunk)) {
            try {
              const s = statusSchema.safeParse(JSON.parse(data));
              if (s.success) onStatus(s.data);
            } catch {
              // a torn event: the next snapshot replaces it
            }
          }
        });
        res.on('end', () => resolve());
        res.on('error', () => resolve());
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.name === 'AbortError') return resolve();
      reject(
        new ApiClientError('DAEMON_UNREACHABLE', `cannot reach the daemon on ${socketPath}: ${err.message}`),
      );
    });
    req.end();
  });
}
