// The Gangway window: one at a time, sandboxed (contextIsolation on, nodeIntegration off, sandbox on),
// with the preload as its only bridge. It never leaves the app's own page: its pages are hash routes, which
// are not navigations, so every navigation (any frame, any address) is refused, no window is opened (nothing
// is handed to the browser either), and no permission is granted but the Copy buttons' clipboard write from
// the app's own page. The decisions are plain functions, tested without Electron
// (tests/unit/window-security.test.ts).
import { BrowserWindow, type Session } from 'electron';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { rendererIndex } from './app-resources';

/** The address of the app's page, as the window loads it (loadFile makes a file: URL of the path). */
export function rendererIndexUrl(): string {
  return pathToFileURL(rendererIndex()).href;
}

/** The file a file: URL names, or undefined for any other URL, one with a host, or one with a query. */
function localFile(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  if (u.protocol !== 'file:' || u.host !== '' || u.username !== '' || u.password !== '') return undefined;
  // After the fragment is dropped, a "?" can only start a query (one in the path is %3F): an empty one too.
  u.hash = '';
  if (u.href.includes('?')) return undefined;
  try {
    return fileURLToPath(u);
  } catch {
    return undefined;
  }
}

/** Whether `url` is the app's own page: its index file, with no query and any fragment (the page's route). */
export function isOwnPage(url: string, indexUrl: string): boolean {
  const page = localFile(url);
  return page !== undefined && page === localFile(indexUrl);
}

/** What a frame says about itself: its address and whether it is its window's main frame. */
export interface FrameFacts {
  url: string;
  isMainFrame: boolean;
}

/** Whether a frame is the app's own page in the window's main frame (a subframe never is, nor a frame that
 *  is gone). */
export function isOwnFrame(frame: FrameFacts | null | undefined, indexUrl: string): boolean {
  return !!frame && frame.isMainFrame === true && isOwnPage(frame.url, indexUrl);
}

/** The permissions the window uses: the Containers page's Copy buttons (navigator.clipboard.writeText). */
export const WINDOW_PERMISSIONS: readonly string[] = ['clipboard-sanitized-write'];

export function permissionAllowed(permission: string, frame: FrameFacts, indexUrl: string): boolean {
  return WINDOW_PERMISSIONS.includes(permission) && isOwnFrame(frame, indexUrl);
}

/** Electron grants every permission request and check when no handler is set: these deny all but the above. */
function guardPermissions(session: Session, indexUrl: string): void {
  session.setPermissionRequestHandler((_wc, permission, callback, details) =>
    callback(
      permissionAllowed(
        permission,
        { url: details.requestingUrl, isMainFrame: details.isMainFrame },
        indexUrl,
      ),
    ),
  );
  session.setPermissionCheckHandler((_wc, permission, _origin, details) =>
    permissionAllowed(
      permission,
      { url: details.requestingUrl ?? '', isMainFrame: details.isMainFrame },
      indexUrl,
    ),
  );
}

let win: BrowserWindow | null = null;

export function openWindow(): BrowserWindow {
  if (win && !win.isDestroyed()) {
    win.show();
    win.focus();
    return win;
  }
  win = new BrowserWindow({
    width: 960,
    height: 680,
    title: 'Gangway',
    show: false,
    webPreferences: {
      preload: join(__dirname, 'preload.js'),
      contextIsolation: true,
      nodeIntegration: false,
      sandbox: true,
      webSecurity: true,
    },
  });
  guardPermissions(win.webContents.session, rendererIndexUrl());
  // No page of the window opens a window or links outside it.
  win.webContents.setWindowOpenHandler(() => ({ action: 'deny' }));
  // loadFile below is not a navigation these events see, and the pages' hash routes are none either: any
  // navigation one would see is a page leaving the app (and would take the preload along), so none is let
  // through, in the main frame or any subframe.
  win.webContents.on('will-navigate', (e) => e.preventDefault());
  win.webContents.on('will-frame-navigate', (e) => e.preventDefault());
  win.once('ready-to-show', () => win?.show());
  win.on('closed', () => (win = null));
  void win.loadFile(rendererIndex());
  return win;
}

export function allWindows(): BrowserWindow[] {
  return win && !win.isDestroyed() ? [win] : [];
}
