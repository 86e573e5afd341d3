// The window's hardening (src-main/window.ts) and the IPC bridge's sender check (src-main/ipc.ts): the pure
// decisions with hostile inputs, and then openWindow() and wireIpc() themselves, run against a stand-in for
// Electron's module (Electron's binary does not run here), so the handlers they register are called the way
// Electron calls them: every navigation refused, every new window denied and nothing opened in the browser,
// permissions denied but the Copy buttons' clipboard write from the app's own page, IPC answered only for
// the app's own page in the window's main frame.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as WindowModule from '../../src-main/window';
import type * as IpcModule from '../../src-main/ipc';
import type { DaemonState } from '../../src-main/daemon-state';
import { IPC } from '../../src-main/ipc-channels';

type Fn = (...args: unknown[]) => unknown;

/** The Electron module's parts that window.ts, ipc.ts and app-resources.ts use. */
class Emitter {
  readonly listeners = new Map<string, Fn[]>();
  on(event: string, fn: Fn): this {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), fn]);
    return this;
  }
  once(event: string, fn: Fn): this {
    return this.on(event, fn);
  }
  emit(event: string, ...args: unknown[]): void {
    for (const fn of this.listeners.get(event) ?? []) fn(...args);
  }
}

const permissionHandlers: { request?: Fn; check?: Fn } = {};
const fakeSession = {
  setPermissionRequestHandler: (h: Fn) => (permissionHandlers.request = h),
  setPermissionCheckHandler: (h: Fn) => (permissionHandlers.check = h),
};
const openedExternally: string[] = [];

class FakeWebContents extends Emitter {
  readonly session = fakeSession;
  openHandler?: Fn;
  readonly sent: unknown[][] = [];
  setWindowOpenHandler(h: Fn): void {
    this.openHandler = h;
  }
  send(...args: unknown[]): void {
    this.sent.push(args);
  }
}

class FakeBrowserWindow extends Emitter {
  static readonly made: FakeBrowserWindow[] = [];
  readonly webContents = new FakeWebContents();
  loaded?: string;
  constructor(readonly options: { webPreferences?: Record<string, unknown> }) {
    super();
    FakeBrowserWindow.made.push(this);
  }
  loadFile(path: string): Promise<void> {
    this.loaded = path;
    return Promise.resolve();
  }
  isDestroyed(): boolean {
    return false;
  }
  show(): void {}
  focus(): void {}
}

const ipcHandle = new Map<string, Fn>();
const ipcOn = new Map<string, Fn>();
const fakeElectron = {
  app: { isPackaged: false },
  BrowserWindow: FakeBrowserWindow,
  shell: {
    openExternal: (url: string) => {
      openedExternally.push(url);
      return Promise.resolve();
    },
  },
  session: { defaultSession: fakeSession },
  ipcMain: {
    handle: (channel: string, h: Fn) => ipcHandle.set(channel, h),
    on: (channel: string, h: Fn) => ipcOn.set(channel, h),
  },
};
const electronPath = require.resolve('electron');
require.cache[electronPath] = {
  id: electronPath,
  filename: electronPath,
  loaded: true,
  exports: fakeElectron,
} as unknown as NodeJS.Module;
/* eslint-disable @typescript-eslint/no-require-imports -- loaded after the stand-in is in require's cache */
const windowModule = require('../../src-main/window') as typeof WindowModule;
const ipcModule = require('../../src-main/ipc') as typeof IpcModule;
/* eslint-enable @typescript-eslint/no-require-imports */

// The file the window loads, as app-resources.ts finds it in development (dist/ui/index.html).
const INDEX_FILE = join(__dirname, '..', '..', '..', 'dist', 'ui', 'index.html');
const INDEX = pathToFileURL(INDEX_FILE).href;

/** Hostile or foreign addresses a frame could be at. */
const FOREIGN = [
  'file:///etc/passwd',
  `${INDEX}?x=1`, // the index with another query
  `${INDEX}?`,
  `${INDEX.replace(/index\.html$/, 'other.html')}`,
  `${INDEX.replace(/index\.html$/, 'index.html/')}`,
  `file://evil.example${new URL(INDEX).pathname}`, // a file: URL with a host (a share)
  'javascript:alert(1)',
  `data:text/html,<script src="${INDEX}"></script>`,
  'https://example.com/',
  'http://127.0.0.1:2612/',
  'about:blank',
  `blob:${INDEX}`,
  `view-source:${INDEX}`,
  '',
  'not a url',
];

test('the own page: the index file itself, with any fragment; nothing else', () => {
  for (const url of [INDEX, `${INDEX}#/settings`, `${INDEX}#token=abc`, INDEX.replace('/ui/', '/ui/./')])
    assert.ok(windowModule.isOwnPage(url, INDEX), url);
  for (const url of FOREIGN) assert.equal(windowModule.isOwnPage(url, INDEX), false, url);
  // A path that needs escaping, spelled either way, is still the same file.
  const spaced = pathToFileURL('/Applications/Gangway 2.app/Contents/Resources/dist/ui/index.html').href;
  assert.ok(windowModule.isOwnPage(spaced.replace('%20', ' '), spaced));
});

test('the own frame: the own page in the main frame only, never a subframe or a frame that is gone', () => {
  assert.ok(windowModule.isOwnFrame({ url: `${INDEX}#/networks`, isMainFrame: true }, INDEX));
  assert.equal(windowModule.isOwnFrame({ url: INDEX, isMainFrame: false }, INDEX), false, 'a subframe');
  assert.equal(windowModule.isOwnFrame(null, INDEX), false, 'no frame');
  assert.equal(windowModule.isOwnFrame(undefined, INDEX), false, 'no frame');
  for (const url of FOREIGN)
    assert.equal(windowModule.isOwnFrame({ url, isMainFrame: true }, INDEX), false, url);
});

test('permissions: only the Copy buttons’ clipboard write, and only for the own page in the main frame', () => {
  const own = { url: `${INDEX}#/containers`, isMainFrame: true };
  assert.ok(windowModule.permissionAllowed('clipboard-sanitized-write', own, INDEX));
  for (const p of ['clipboard-read', 'media', 'geolocation', 'notifications', 'openExternal', 'fileSystem'])
    assert.equal(windowModule.permissionAllowed(p, own, INDEX), false, p);
  assert.equal(
    windowModule.permissionAllowed('clipboard-sanitized-write', { ...own, isMainFrame: false }, INDEX),
    false,
  );
  for (const url of FOREIGN)
    assert.equal(
      windowModule.permissionAllowed('clipboard-sanitized-write', { url, isMainFrame: true }, INDEX),
      false,
      url,
    );
});

test('openWindow: sandboxed, every navigation refused, no new window, nothing opened in the browser', () => {
  const w = windowModule.openWindow() as unknown as FakeBrowserWindow;
  assert.equal(FakeBrowserWindow.made.length, 1);
  assert.equal(w.loaded, INDEX_FILE);
  assert.equal(windowModule.rendererIndexUrl(), INDEX);
  const prefs = w.options.webPreferences ?? {};
  assert.equal(prefs.sandbox, true);
  assert.equal(prefs.contextIsolation, true);
  assert.equal(prefs.nodeIntegration, false);

  // Both events, in both frames, to any address: the app's own index included (its pages are hash routes,
  // which fire neither event), file:///etc/passwd and every other file: page above all.
  for (const event of ['will-navigate', 'will-frame-navigate']) {
    assert.ok(w.webContents.listeners.get(event)?.length, `${event} has a listener`);
    for (const url of [INDEX, `${INDEX}#/settings`, ...FOREIGN])
      for (const isMainFrame of [true, false]) {
        let refused = false;
        const e = { url, isMainFrame, isSameDocument: false, preventDefault: () => (refused = true) };
        w.webContents.emit(event, e, url, false, isMainFrame);
        assert.ok(refused, `${event} to ${url} (main frame: ${isMainFrame}) refused`);
      }
  }

  assert.ok(w.webContents.openHandler, 'a window-open handler');
  for (const url of ['https://example.com/', 'https://github.com/gangway', 'http://x/', INDEX, 'file:///etc'])
    assert.deepEqual(w.webContents.openHandler({ url, disposition: 'new-window' }), { action: 'deny' }, url);
  assert.deepEqual(openedExternally, [], 'nothing handed to the browser');
});

test('openWindow: permission requests and checks denied, but the own page’s clipboard write', () => {
  windowModule.openWindow();
  const { request, check } = permissionHandlers;
  assert.ok(request && check, 'both permission handlers are set');
  const ask = (permission: string, requestingUrl: string, isMainFrame = true) => {
    let granted: boolean | undefined;
    request(null, permission, (g: boolean) => (granted = g), { requestingUrl, isMainFrame });
    return granted;
  };
  const own = `${INDEX}#/containers`;
  assert.equal(ask('clipboard-sanitized-write', own), true);
  assert.equal(ask('clipboard-sanitized-write', own, false), false);
  assert.equal(ask('clipboard-sanitized-write', 'file:///etc/passwd'), false);
  for (const p of ['media', 'geolocation', 'notifications', 'clipboard-read', 'openExternal', 'fullscreen'])
    assert.equal(ask(p, own), false, p);

  assert.equal(
    check(null, 'clipboard-sanitized-write', 'file:///', { requestingUrl: own, isMainFrame: true }),
    true,
  );
  assert.equal(
    check(null, 'clipboard-sanitized-write', 'file:///', { isMainFrame: false }),
    false,
    'no frame',
  );
  assert.equal(check(null, 'clipboard-read', 'file:///', { requestingUrl: own, isMainFrame: true }), false);
  assert.equal(check(null, 'media', 'file:///', { requestingUrl: own, isMainFrame: true }), false);
});

test('IPC: answered for the own page in the window’s main frame, refused for any other sender', async () => {
  const state = new EventEmitter() as unknown as DaemonState;
  const windows = [new FakeBrowserWindow({})];
  const own = windows[0]!.webContents;
  ipcModule.wireIpc('/nonexistent/gangway.sock', state, () => windows as never);
  const request = ipcHandle.get(IPC.request);
  const live = ipcOn.get(IPC.live);
  assert.ok(request && live);
  const event = (sender: FakeWebContents, frame: { url: string; parent: unknown } | null) => ({
    sender,
    senderFrame: frame,
  });
  const main = (url: string) => ({ url, parent: null });
  const invoke = (e: unknown) => Promise.resolve().then(() => request(e, 'GET', '/v1/status'));

  // The own page: the request goes through (to a socket that is not there: a 502 answer, not a refusal).
  const answer = (await request(event(own, main(`${INDEX}#/overview`)), 'GET', '/v1/status')) as {
    status: number;
  };
  assert.equal(answer.status, 502);
  live(event(own, main(INDEX)));
  assert.deepEqual(own.sent, [[IPC.live, false]]);

  const refused: [string, ReturnType<typeof event>][] = [
    ...FOREIGN.map((url) => [url, event(own, main(url))] as [string, ReturnType<typeof event>]),
    ['a subframe of the own page', event(own, { url: INDEX, parent: main(INDEX) })],
    ['a frame that is gone', event(own, null)],
    ['another webContents at the own page', event(new FakeWebContents(), main(INDEX))],
  ];
  for (const [what, e] of refused) {
    // Electron turns a handler's throw into the invoke's rejection.
    await assert.rejects(invoke(e), /refused/, what);
    const before = e.sender.sent.length;
    live(e);
    assert.equal(e.sender.sent.length, before, `${what}: no live state sent`);
  }
  // A frame whose properties throw (disposed while the message was in flight) is refused too.
  const disposed = {
    sender: own,
    get senderFrame(): never {
      throw new Error('Render frame was disposed before WebFrameMain could be accessed');
    },
  };
  await assert.rejects(invoke(disposed), /refused/);
});
