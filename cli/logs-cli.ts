// `gangway logs`: the helper's recent log entries, read through the API (GET /v1/logs), so the user needs no
// access to the root-owned log file. --follow polls for newer entries until interrupted.
import { parseArgs } from 'node:util';
import { type LogEntry, logLevelSchema } from '../common/api';
import { callApi } from '../client/api-client';
import { ROUTES } from '../common/api-routes';
import { UsageError } from '../common/usage-error';
import { defaultSocketPath } from '../common/default-paths';

const USAGE = `Usage: gangway logs [--lines N] [--level debug|info|warn|error] [--follow] [--json] [--socket PATH]

Shows the helper's newest log entries (default 50, all levels), oldest first. --follow keeps printing new
entries until Ctrl-C. --json prints one JSON object per line, as stored.`;

const FIXED = new Set(['time', 'level', 'component', 'msg']);

/** One entry on one line: time, level, component, message, then the entry's fields as key=value. */
export function formatLogEntry(e: LogEntry): string {
  const fields = Object.entries(e)
    .filter(([k]) => !FIXED.has(k))
    .map(
      ([k, v]) =>
        `${k}=${typeof v === 'string' ? (/[\s"=]/.test(v) ? JSON.stringify(v) : v) : JSON.stringify(v)}`,
    );
  return [e.time, e.level.toUpperCase().padEnd(5), e.component, e.msg, ...fields].join(' ');
}

export async function runLogsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      lines: { type: 'string', short: 'n' },
      level: { type: 'string' },
      follow: { type: 'boolean', short: 'f' },
      json: { type: 'boolean' },
      socket: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length) throw new UsageError(USAGE);
  const lines = values.lines ?? '50';
  if (!/^\d{1,4}$/.test(lines) || Number(lines) < 1 || Number(lines) > 5000)
    throw new UsageError(`--lines takes a number from 1 to 5000, got "${lines}"`);
  const level = logLevelSchema.safeParse(values.level ?? 'debug');
  if (!level.success) throw new UsageError(`--level takes debug, info, warn or error, got "${values.level}"`);
  const socket = values.socket ?? defaultSocketPath();
  const print = (e: LogEntry) => console.log(values.json ? JSON.stringify(e) : formatLogEntry(e));
  const fetchLogs = (limit: number, since?: string) =>
    callApi(socket, ROUTES.logs, { query: { limit, level: level.data, since } });
  const first = await fetchLogs(Number(lines));
  if (first.file === null) {
    console.error('The helper writes no log file (it runs with --log-file none); see its stderr.');
    return 1;
  }
  first.entries.forEach(print);
  if (!values.follow) return 0;
  let since = first.entries.at(-1)?.time ?? new Date().toISOString();
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  while (!stop.signal.aborted) {
    await new Promise((r) => setTimeout(r, 1_000));
    if (stop.signal.aborted) break;
    const next = await fetchLogs(1000, since);
    next.entries.forEach(print);
    since = next.entries.at(-1)?.time ?? since;
  }
  return 0;
}
