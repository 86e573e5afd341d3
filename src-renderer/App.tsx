// The window: a page list on the left, one page at a time. The page lives in the address's hash so a reload
// (or the tray's "Open Gangway…") lands where the user was.
import { useEffect, useState } from 'react';
import { useGangway } from './store';
import { Overview } from './pages/Overview';
import { Networks } from './pages/Networks';
import { Containers } from './pages/Containers';
import { Settings } from './pages/Settings';
import { DiagnosticsPage } from './pages/Diagnostics';

const PAGES = [
  { id: 'overview', title: 'Overview', Component: Overview },
  { id: 'networks', title: 'Networks', Component: Networks },
  { id: 'containers', title: 'Containers', Component: Containers },
  { id: 'settings', title: 'Settings', Component: Settings },
  { id: 'diagnostics', title: 'Diagnostics', Component: DiagnosticsPage },
] as const;

function currentPage(): string {
  const id = window.location.hash.replace(/^#\/?/, '');
  return PAGES.some((p) => p.id === id) ? id : 'overview';
}

export function App() {
  const [page, setPage] = useState(currentPage);
  const live = useGangway((s) => s.live);
  const statusError = useGangway((s) => s.status.error);
  const actionError = useGangway((s) => s.actionError);

  useEffect(() => {
    const onHash = () => setPage(currentPage());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);

  const active = PAGES.find((p) => p.id === page) ?? PAGES[0];
  return (
    <div className="app">
      <nav aria-label="Pages" className="nav">
        <div className="brand">Gangway</div>
        <ul>
          {PAGES.map((p) => (
            <li key={p.id}>
              <a href={`#/${p.id}`} aria-current={p.id === active.id ? 'page' : undefined}>
                {p.title}
              </a>
            </li>
          ))}
        </ul>
        <p className={`live ${live ? 'on' : 'off'}`} role="status">
          {live ? 'Live' : 'Not connected to the helper'}
        </p>
      </nav>
      <main className="page" aria-labelledby="page-title">
        <h1 id="page-title">{active.title}</h1>
        {statusError && !live && (
          <p className="banner error" role="alert">
            {statusError.message}
          </p>
        )}
        {actionError && (
          <p className="banner error" role="alert">
            {actionError}
          </p>
        )}
        <active.Component />
      </main>
    </div>
  );
}
