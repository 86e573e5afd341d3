// Diagnostics: the daemon's hop-by-hop checks (gangway doctor) and its recent log.
import { useEffect, useRef } from 'react';
import { logLevelSchema } from '../../common/api';
import { useGangway } from '../store';

function Checks() {
  const { data, error, loading } = useGangway((s) => s.diagnostics);
  const load = useGangway((s) => s.load);
  return (
    <section aria-labelledby="checks-title">
      <h2 id="checks-title">Checks</h2>
      <button type="button" disabled={loading} onClick={() => void load('diagnostics')}>
        {loading ? 'Checking…' : data ? 'Check again' : 'Run checks'}
      </button>
      {error && <p className="banner error">{error.message}</p>}
      {data && (
        <ol className="checks">
          {data.checks.map((c) => (
            <li key={c.id} className={`check check-${c.status}`}>
              <span className="badge">{c.status}</span> <strong>{c.title}</strong>: {c.detail}
              {c.fix && <div className="fix">Fix: {c.fix}</div>}
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

function Logs() {
  const { data, error, loading } = useGangway((s) => s.logs);
  const level = useGangway((s) => s.logLevel);
  const setLevel = useGangway((s) => s.setLogLevel);
  const load = useGangway((s) => s.load);
  const pre = useRef<HTMLPreElement>(null);
  useEffect(() => void load('logs'), [load]);
  // The newest entries are last: show them.
  useEffect(() => {
    if (pre.current) pre.current.scrollTop = pre.current.scrollHeight;
  }, [data]);
  return (
    <section aria-labelledby="logs-title">
      <h2 id="logs-title">Recent log</h2>
      <label>
        Level{' '}
        <select value={level} onChange={(e) => setLevel(logLevelSchema.parse(e.target.value))}>
          {logLevelSchema.options.map((l) => (
            <option key={l}>{l}</option>
          ))}
        </select>
      </label>{' '}
      <button type="button" disabled={loading} onClick={() => void load('logs')}>
        Refresh
      </button>
      {error?.status === 404 ? (
        <p className="banner warn">This helper does not serve its log yet — update it.</p>
      ) : error ? (
        <p className="banner error">{error.message}</p>
      ) : data ? (
        <>
          {data.file && <p className="help">From {data.file}</p>}
          <pre ref={pre} className="log" tabIndex={0} aria-label="Log entries">
            {data.entries.map((e) => `${e.time} ${e.level.padEnd(5)} ${e.component}: ${e.msg}`).join('\n') ||
              'No entries.'}
          </pre>
        </>
      ) : null}
    </section>
  );
}

export function DiagnosticsPage() {
  return (
    <>
      <Checks />
      <Logs />
    </>
  );
}
