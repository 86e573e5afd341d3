// Gangway's menu-bar app. Reads top to bottom: one instance, no Dock icon, a tray whose menu is rebuilt from
// the daemon's state on every event, the window on demand, and the helper installed when none answers.
import { app, dialog } from 'electron';
import { release, userInfo } from 'node:os';

import { callApi } from '../client/api-client';
import { ROUTES } from '../common/api-routes';
import { appLocation, helperCli, socketPath } from './app-resources';
import { bundleIsSigned, registerDaemonService } from './daemon-service-electron';
import { DaemonState } from './daemon-state';
import { installHelper } from './helper-install';
import { chooseInstallMethod } from './install-method';
import { wireIpc } from './ipc';
import { createLoginItem } from './login-item';
import { buildMenuModel, type MenuAction } from './menu-model';
import { GangwayTray } from './tray';
import { allWindows, openWindow } from './window';

// One app per user: a second launch only brings up the first one's window.
const primary = app.requestSingleInstanceLock();
if (!primary) app.exit(0);
app.on('second-instance', () => openWindow());
// A menu-bar app lives on with no window open.
app.on('window-all-closed', () => undefined);

const socket = socketPath();
const state = new DaemonState(socket, app.getVersion());
const loginItem = createLoginItem();
const busy = new Set<string>();
let installDeclined = false;
let tray: GangwayTray | undefined;

function render(): void {
  tray?.show(
    buildMenuModel({ daemon: state.view, openAtLogin: loginItem.isEnabled(), installDeclined, busy }),
  );
}

/** Runs an action with its menu item disabled meanwhile; a failure is shown, never thrown. */
async function run(key: string, fn: () => Promise<unknown>): Promise<void> {
  busy.add(key);
  render();
  try {
    await fn();
  } catch (err) {
    dialog.showErrorBox('Gangway', (err as Error).message);
  } finally {
    busy.delete(key);
    render();
  }
}

async function install(update: boolean): Promise<void> {
  const method = chooseInstallMethod({
    platform: process.platform,
    osRelease: release(),
    packaged: app.isPackaged,
    signed: process.platform === 'darwin' && app.isPackaged && (await bundleIsSigned(appLocation())),
    appPath: appLocation(),
  });
  if (method.kind === 'refuse') throw new Error(method.message);
  if (method.kind === 'sm-app-service') {
    if (registerDaemonService(method.serviceName, update) === 'requires-approval')
      throw new Error('Allow Gangway’s helper in System Settings › General › Login Items, then try again.');
    return void (await state.checkVersion());
  }
  const me = userInfo();
  const outcome = await installHelper(
    { runtime: process.execPath, cli: helperCli(), uid: me.uid, gid: me.gid },
    update,
  );
  installDeclined = outcome.kind === 'declined';
  if (outcome.kind === 'failed') throw new Error(`The helper could not be installed:\n${outcome.message}`);
  await state.checkVersion();
}

function onAction(a: MenuAction): void {
  switch (a.kind) {
    case 'connect':
      return void run('connect', () => callApi(socket, ROUTES.connect, { timeoutMs: 600_000 }));
    case 'disconnect':
      return void run('disconnect', () => callApi(socket, ROUTES.disconnect));
    case 'route':
      return void run(`route:${a.network}`, async () => {
        await callApi(socket, ROUTES.route, {
          body: {
            network: a.network,
            routed: a.routed,
          },
        });
        await state.refreshNetworks();
      });
    case 'route-new-networks':
      return void run('route-new-networks', async () => {
        await callApi(socket, ROUTES.saveSettings, { body: { routeNewNetworks: a.on } });
        await state.refreshNetworks();
      });
    case 'open-at-login':
      loginItem.setEnabled(a.on);
      return render();
    case 'install-helper':
      return void run('install', () => install(false));
    case 'update-helper':
      return void run('install', () => install(true));
    case 'open-window':
      openWindow();
      return;
    case 'quit':
      app.quit();
      return;
  }
}

void app.whenReady().then(() => {
  if (!primary) return;
  // No Dock icon: Gangway lives in the menu bar (LSUIElement in the packaged Info.plist does the same).
  app.dock?.hide();
  tray = new GangwayTray(onAction);
  wireIpc(socket, state, allWindows);
  state.on('change', render);
  state.start();
  render();
  // Tests drive the app without a password prompt, and read the tray through this hook.
  const testing = process.env.GANGWAY_TEST_HOOKS === '1';
  if (testing)
    Object.assign(globalThis, { gangwayTest: { trayLabels: () => tray?.labels() ?? [], openWindow } });
  void state.checkVersion().then(() => {
    if (!testing && state.view.kind === 'unreachable' && !state.view.installed)
      void run('install', () => install(false));
  });
});

app.on('before-quit', () => {
  state.stop();
  tray?.destroy();
});
