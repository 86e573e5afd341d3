// What the Electron preload exposes to the window as `window.gangway` (types only, browser-safe). The window
// reaches the daemon through this or, under `gangway ui`, through fetch and EventSource: same shapes.
import type { ApiMethod } from './api-routes';

export interface ApiAnswer {
  status: number;
  body: unknown;
}

export interface GangwayBridge {
  /** One control-API call; only the routes in API_ROUTES are let through. */
  request(method: ApiMethod, path: string, body?: unknown): Promise<ApiAnswer>;
  /** Status snapshots from the daemon's event stream, and whether that stream is up. Returns unsubscribe. */
  subscribe(onStatus: (status: unknown) => void, onConnection: (up: boolean) => void): () => void;
}
