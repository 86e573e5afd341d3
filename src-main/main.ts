// Gangway's menu-bar app. Reads top to bottom: one instance, no Dock icon, a tray whose menu is rebuilt from
// the daemon's state on every event, the window on demand, and the helper installed when none answers.
import { app, dialog, shell } from 'electron';
import { existsSync, readFileSync } from 'node:fs';
import { release, userInfo } from 'node:os';
import { join } from 'node:path';

import { callApi } from '../client/api-client';
import { ROUTES } from '../common/api-routes';
import { appLocation, helperCli, socketPath } from './app-resources';
import {
  appSignature,
  daemonServiceRegistered,
  registerDaemonService,
  unregisterDaemonService,
} from './daemon-service-electron';
import { SM_SERVICE_NAME } from './daemon-service-plist';
import { DaemonState } from './daemon-state';
import { installedHelper, type InstalledHelper } from './installed-helper';
import { confirmUninstall, installHelper, uninstallHelper } from './helper-install';
import {
  COPY_SERVICE_PLIST,
  SYSTEMD_UNIT,
  chooseInstallMethod,
  chooseUninstallMethod,
} from './install-method';
import { wireIpc } from './ipc';
import { createLoginItem } from './login-item';
import { buildMenuModel, offerInstallAtLaunch, type MenuAction } from './menu-model';
import { LOGIN_ITEMS_SETTINGS_URL, smNextStep } from './sm-approval';
import { expectedSigner, judgeSignature } from './release-signer';
import { GangwayTray } from './tray';
import { UserMarker } from './user-marker';
import { allWindows, openWindow } from './window';

// One app per user: a second launch only brings up the first one's window.
const primary = app.requestSingleInstanceLock();
if (!primary) app.exit(0);
app.on('second-instance', () => openWindow());
// A menu-bar app lives on with no window open.
app.on('window-all-closed', () => undefined);

const socket = socketPath();
const state = new DaemonState(socket, app.getVersion(), serviceInstalled);
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

// Read once, as the app starts: a release's own signer (release-signer.ts).
const RELEASE_SIGNER = expectedSigner(
  JSON.parse(readFileSync(join(app.getAppPath(), 'package.json'), 'utf8')) as unknown,
);

// So that a user who has not allowed the helper yet is not asked again at every launch.
const approvalTold = new UserMarker(() => join(app.getPath('userData'), 'helper-approval-asked'));
// So that a helper the user removed is not offered again at every launch (Install Helper… stays in the menu).
const helperRemoved = new UserMarker(() => join(app.getPath('userData'), 'helper-removed'));

async function askApproval(): Promise<void> {
  const choice = await dialog.showMessageBox({
    type: 'info',
    title: 'Allow Gangway’s helper',
    message: 'macOS needs your permission before Gangway’s helper can run.',
    detail:
      'In System Settings › General › Login Items, turn on Gangway under “Allow in the Background”. ' +
      'The helper then starts by itself.',
    buttons: ['Open Login Items', 'Later'],
    defaultId: 0,
    cancelId: 1,
  });
  if (choice.response === 0) await shell.openExternal(LOGIN_ITEMS_SETTINGS_URL);
}

async function installWithSmAppService(
  serviceName: string,
  update: boolean,
  trigger: 'launch' | 'menu',
): Promise<void> {
  const facts = { trigger, told: approvalTold.get() };
  let step = smNextStep({
    ...facts,
    status: app.getLoginItemSettings({ type: 'daemonService', serviceName }).status,
    registered: false,
  });
  if (step.action === 'register')
    step = smNextStep({
      ...facts,
      status: await registerDaemonService(serviceName, update),
      registered: true,
    });
  approvalTold.set(step.told);
  installDeclined = step.action !== 'check';
  if (step.action === 'ask-approval') {
    render();
    await askApproval();
  } else if (step.action === 'check') await state.helperChanged();
}

/** What the install and the uninstall decide from: the app's signature, where it runs, what is installed. */
async function rootFacts() {
  const sig =
    process.platform === 'darwin' && app.isPackaged
      ? judgeSignature(RELEASE_SIGNER, await appSignature(appLocation()))
      : {};
  const me = userInfo();
  return {
    facts: {
      platform: process.platform,
      osRelease: release(),
      packaged: app.isPackaged,
      signed: sig.team !== undefined,
      // Only a signed app is verified (appSignature); a release that finds itself unsigned is broken.
      signatureBroken: sig.broken,
      appPath: appLocation(),
      appImage: process.env.APPIMAGE,
      appImageDir: process.env.APPDIR,
      copyServiceInstalled: process.platform === 'darwin' && existsSync(COPY_SERVICE_PLIST),
    },
    plan: {
      runtime: process.execPath,
      cli: helperCli(),
      uid: me.uid,
      gid: me.gid,
      bundle: appLocation(),
      team: sig.team,
      identifier: sig.identifier,
      version: app.getVersion(),
    },
  };
}

/** The platform's own record of the helper's service, whether it runs or not. */
function serviceInstalled(): boolean {
  if (process.platform === 'darwin')
    return existsSync(COPY_SERVICE_PLIST) || daemonServiceRegistered(SM_SERVICE_NAME);
  return process.platform === 'linux' && existsSync(SYSTEMD_UNIT);
}

async function install(update: boolean, trigger: 'launch' | 'menu' = 'menu'): Promise<void> {
  // Asked for: from now on a missing helper is offered again at launch.
  if (trigger === 'menu') helperRemoved.set(false);
  const { facts, plan } = await rootFacts();
  const method = chooseInstallMethod(facts);
  if (method.kind === 'refuse') throw new Error(method.message);
  if (method.kind === 'sm-app-service') return installWithSmAppService(method.serviceName, update, trigger);
  const outcome = await installHelper(plan, update);
  installDeclined = outcome.kind === 'declined';
  if (outcome.kind === 'failed') throw new Error(`The helper could not be installed:\n${outcome.message}`);
  await state.helperChanged();
}

/** The copy method's installed helper on macOS, as its root-owned plist names it (installed-helper.ts). */
function installedCopy(): InstalledHelper | undefined {
  if (process.platform !== 'darwin') return undefined;
  try {
    return installedHelper(readFileSync(COPY_SERVICE_PLIST, 'utf8'));
  } catch {
    return undefined;
  }
}

async function uninstall(): Promise<void> {
  // An SMAppService helper is unregistered. A copy-method helper on macOS removes itself with its installed
  // copy's CLI (nothing of the app's bundle runs); else root runs the app's own, as the install does.
  const installed = installedCopy();
  const sm =
    process.platform === 'darwin' &&
    !existsSync(COPY_SERVICE_PLIST) &&
    daemonServiceRegistered(SM_SERVICE_NAME);
  const root = sm || installed ? undefined : await rootFacts();
  const method = root
    ? chooseUninstallMethod({ ...root.facts, smRegistered: false })
    : sm
      ? { kind: 'sm-app-service' as const, serviceName: SM_SERVICE_NAME }
      : { kind: 'copy' as const };
  if (method.kind === 'refuse') throw new Error(method.message);
  if (!(await confirmUninstall(method.kind === 'copy'))) return;
  if (method.kind === 'sm-app-service') {
    // The agent container leaves Docker's VM first (as long as the CLI's uninstall gives it); launchd's stop
    // then takes the rest with the daemon.
    await callApi(socket, ROUTES.disconnect, { timeoutMs: 60_000 }).catch(() => undefined);
    const status = await unregisterDaemonService(method.serviceName);
    if (status !== 'not-registered' && status !== 'not-found')
      throw new Error(
        `The helper is still registered (${status}): remove Gangway in System Settings › Login Items`,
      );
  } else {
    const outcome = await uninstallHelper(
      installed ? { installed } : { plan: (root ?? (await rootFacts())).plan },
    );
    if (outcome.kind === 'declined') return;
    if (outcome.kind === 'failed') throw new Error(`The helper could not be removed:\n${outcome.message}`);
    if (outcome.notes?.length)
      void dialog.showMessageBox({
        type: 'warning',
        message: 'The helper was removed, but not everything went:',
        detail: outcome.notes.map((n) => `• ${n}`).join('\n'),
      });
  }
  helperRemoved.set(true);
  await state.helperChanged();
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
    case 'uninstall-helper':
      return void run('uninstall', uninstall);
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
  // Once the helper answers it was allowed: should it ever be switched off, the next launch says so again.
  state.on('change', (view) => {
    if (view.kind === 'ok') approvalTold.set(false);
  });
  state.start();
  render();
  // Tests drive the app without a password prompt, and read the tray through this hook.
  const testing = process.env.GANGWAY_TEST_HOOKS === '1';
  if (testing)
    Object.assign(globalThis, { gangwayTest: { trayLabels: () => tray?.labels() ?? [], openWindow } });
  void state.checkVersion().then(() => {
    if (!testing && offerInstallAtLaunch(state.view, helperRemoved.get()))
      void run('install', () => install(false, 'launch'));
  });
});

app.on('before-quit', () => {
  state.stop();
  tray?.destroy();
});
