// The window's entry: picks the transport (the Electron preload's bridge, or HTTP under `gangway ui`),
// starts the store's event subscription, and renders the app.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { createApi } from './api';
import { App } from './App';
import { useGangway } from './store';
import { createHttpTransport } from './transport-http';

const transport = window.gangway ?? createHttpTransport();
useGangway.getState().start(createApi(transport), transport);

const root = document.getElementById('root');
if (root)
  createRoot(root).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
