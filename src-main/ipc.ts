// The main process's side of the window's bridge: API calls (allow-listed again here: the renderer is not
// trusted) and the status stream forwarded to open windows.
import { ipcMain, type BrowserWindow } from 'electron';
import type { ApiMethod } from '../common/api-routes';
import { rawRequest } from './helper-client';
import type { DaemonState } from './daemon-state';
import { IPC } from './ipc-channels';

export function wireIpc(socketPath: string, state: DaemonState, windows: () => BrowserWindow[]): void {
  let live = false;
  let lastStatus: unknown;
  ipcMain.handle(IPC.request, (_e, method: unknown, path: unknown, body: unknown) => {
    if (typeof method !== 'string' || typeof path !== 'string') throw new Error('bad request');
    return rawRequest(socketPath, method as ApiMethod, path, body);
  });
  ipcMain.on(IPC.live, (e) => {
    e.sender.send(IPC.live, live);
    if (lastStatus !== undefined) e.sender.send(IPC.status, lastStatus);
  });
  state.on('status', (s) => {
    lastStatus = s;
    for (const w of windows()) w.webContents.send(IPC.status, s);
  });
  state.on('live', (up) => {
    live = up;
    for (const w of windows()) w.webContents.send(IPC.live, up);
  });
}
