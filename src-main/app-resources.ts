// Where the packaged app keeps the helper it installs, and where the daemon's socket is. Paths come only
// from the app's own resources (electron-builder's extraResources), never from the user or the network.
import { app } from 'electron';
import { join } from 'node:path';
import { defaultSocketPath } from '../common/default-paths';

export function resourcesRoot(): string {
  // Packaged: Gangway.app/Contents/Resources; in development, the repository (dist/ sits in it).
  return app.isPackaged ? process.resourcesPath : join(__dirname, '..', '..');
}

/** The bundled `gangway` CLI that runs `service install`; it copies its own directory for the service. */
export function helperCli(): string {
  return app.isPackaged
    ? join(process.resourcesPath, 'helper', 'gangway.js')
    : join(resourcesRoot(), 'dist', 'bundle', 'gangway.js');
}

/** The app's own location: its .app bundle on macOS (Contents/MacOS/<binary> is three levels down). */
export function appLocation(): string {
  return process.platform === 'darwin' ? join(process.execPath, '..', '..', '..') : process.execPath;
}

export function socketPath(): string {
  return process.env.GANGWAY_SOCKET ?? defaultSocketPath();
}

export function rendererIndex(): string {
  return join(resourcesRoot(), 'dist', 'ui', 'index.html');
}
