// The window's only door to the system: `window.gangway`, a GangwayBridge. It lets through the API's own
// routes (checked here and again in the main process) and the status stream, nothing else.
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import { isApiRoute, type ApiMethod } from '../common/api-routes';
import type { ApiAnswer, GangwayBridge } from '../common/app-bridge';
import { IPC } from './ipc-channels';

const bridge: GangwayBridge = {
  request(method: ApiMethod, path: string, body?: unknown): Promise<ApiAnswer> {
    if (typeof path !== 'string' || !isApiRoute(method, path.split('?')[0] ?? ''))
      return Promise.reject(new Error(`no API route ${String(method)} ${String(path)}`));
    return ipcRenderer.invoke(IPC.request, method, path, body) as Promise<ApiAnswer>;
  },
  subscribe(onStatus, onConnection) {
    const status = (_e: IpcRendererEvent, s: unknown) => onStatus(s);
    const live = (_e: IpcRendererEvent, up: unknown) => onConnection(up === true);
    ipcRenderer.on(IPC.status, status);
    ipcRenderer.on(IPC.live, live);
    // Ask for the current state now rather than wait for the next change.
    ipcRenderer.send(IPC.live);
    return () => {
      ipcRenderer.off(IPC.status, status);
      ipcRenderer.off(IPC.live, live);
    };
  },
};

contextBridge.exposeInMainWorld('gangway', bridge);
