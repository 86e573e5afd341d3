// The Gangway window: one at a time, sandboxed (contextIsolation on, nodeIntegration off, sandbox on),
// with the preload as its only bridge. Navigation away from the app's own page is refused.
import { BrowserWindow, shell } from 'electron';
import { join } from 'node:path';
import { rendererIndex } from './app-resources';

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
  win.webContents.setWindowOpenHandler(({ url }) => {
    if (/^https:\/\//.test(url)) void shell.openExternal(url);
    return { action: 'deny' };
  });
  win.webContents.on('will-navigate', (e, url) => {
    if (!url.startsWith('file://')) e.preventDefault();
  });
  win.once('ready-to-show', () => win?.show());
  win.on('closed', () => (win = null));
  void win.loadFile(rendererIndex());
  return win;
}

export function allWindows(): BrowserWindow[] {
  return win && !win.isDestroyed() ? [win] : [];
}
