// Reads the newest entries of the log file and its rotated predecessors, for GET /v1/logs and `gangway logs`.
// Only the tail of each file is read (a bounded number of bytes), and lines that are not log entries (a torn
// last line, a stray print) are skipped rather than failing the whole answer.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { type LogEntry, logEntrySchema } from '../../common/api';
import type { Level } from '../../common/log';
import { LogFile } from './log-file';

const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };
/** Enough for the 1000 newest entries of a typical daemon without reading megabytes per request. */
const TAIL_BYTES = 1024 * 1024;

export interface LogQuery {
  limit: number;
  /** The lowest level returned. */
  level: Level;
  /** Only entries strictly newer than this ISO time (for `gangway logs --follow`). */
  since?: string;
}

function readTail(path: string, maxBytes: number): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const size = fstatSync(fd).size;
    const start = Math.max(0, size - maxBytes);
    const buf = Buffer.alloc(size - start);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, start + off);
      if (n === 0) break;
      off += n;
    }
    const text = buf.subarray(0, off).toString('utf8');
    // A tail that starts mid-file starts mid-line: drop the partial first line.
    return start > 0 ? text.slice(text.indexOf('\n') + 1) : text;
  } finally {
    closeSync(fd);
  }
}

export function parseLogLines(text: string): LogEntry[] {
  const out: LogEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const r = logEntrySchema.safeParse(JSON.parse(line));
      if (r.success) out.push(r.data);
    } catch {
      // a torn or foreign line
    }
  }
  return out;
}

/** The newest `limit` entries at or above `level`, oldest first. */
export function readLogs(path: string, q: LogQuery): LogEntry[] {
  const keep = (e: LogEntry) => ORDER[e.level] >= ORDER[q.level] && (!q.since || e.time > q.since);
  let picked: LogEntry[] = [];
  let budget = TAIL_BYTES;
  for (const file of [path, ...LogFile.rotatedPaths(path)]) {
    if (budget <= 0 || picked.length >= q.limit) break;
    const text = readTail(file, budget);
    if (text === undefined) continue;
    budget -= Buffer.byteLength(text);
    const entries = parseLogLines(text).filter(keep);
    picked = [...entries, ...picked];
    // Older files only hold older entries: stop once nothing newer than `since` is left to find.
    if (q.since && entries.length === 0) break;
  }
  return picked.slice(-q.limit);
}
