// The main process's side of the window's bridge: API calls (allow-listed again here: the renderer is not
// trusted) and the status stream forwarded to open windows. Only the app's own page, in the main frame of a
// Gangway window, is answered: a message from any other page or frame is refused.
import { ipcMain, type BrowserWindow, type IpcMainEvent, type IpcMainInvokeEvent } from 'electron';
import type { ApiMethod } from '../common/api-routes';
import { rawRequest } from './helper-client';
import type { DaemonState } from './daemon-state';
import { IPC } from './ipc-channels';
import { isOwnFrame, rendererIndexUrl } from './window';

/** Whether a message comes from the app's own page in the main frame of one of `windows`. */
export function fromOwnPage(
  e: IpcMainEvent | IpcMainInvokeEvent,
  windows: BrowserWindow[],
  indexUrl: string,
): boolean {
  try {
    if (!windows.some((w) => w.webContents === e.sender)) return false;
    // Null once the frame has navigated away or gone; its getters throw once it is disposed.
    const frame = e.senderFrame;
    return isOwnFrame(frame && { url: frame.url, isMainFrame: frame.parent === null }, indexUrl);
  } catch {
    return false;
  }
}

export function wireIpc(socketPath: string, state: DaemonState, windows: () => BrowserWindow[]): void {
  let live = false;
  let lastStatus: unknown;
  const indexUrl = rendererIndexUrl();
  ipcMain.handle(IPC.request, (e, method: unknown, path: unknown, body: unknown) => {
    if (!fromOwnPage(e, windows(), indexUrl)) throw new Error('refused: not the Gangway window');
    if (typeof method !== 'string' || typeof path !== 'string') throw new Error('bad request');
    return rawRequest(socketPath, method as ApiMethod, path, body);
  });
  ipcMain.on(IPC.live, (e) => {
    if (!fromOwnPage(e, windows(), indexUrl)) return;
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
