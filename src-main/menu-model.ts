// The tray menu as data: a pure function from what the app knows about the daemon to a description of the
// menu (status line, actions, one checkbox per network). menu-template.ts turns it into Electron's menu;
// tests and the README's menu picture use it directly.
import type { NetworksResponse, Status } from '../common/api';
import { PUBLIC_NOT_ROUTED, publicNote } from '../common/private-ranges';
import { PHASE_TRAY, phaseText, type TrayState } from '../common/phase';

export type { TrayState };

/** What the app knows about the daemon. */
export type DaemonView =
  /** Not asked yet (the app is starting). */
  | { kind: 'starting' }
  /** No daemon answers. `installed` false: its socket is not even there (the helper was never installed). */
  | {
      kind: 'unreachable';
      /** Its socket is there: installed, not answering. */
      installed: boolean;
      reason: string;
      /** Its service is installed (a launchd job or plist, a systemd unit), running or not. */
      service?: boolean;
    }
  /** A daemon answers but speaks another version than this app. */
  | { kind: 'version-skew'; daemonVersion: string; appVersion: string }
  /** `outdated`: the daemon is another version that speaks this app's API, so every control still works. */
  | {
      kind: 'ok';
      status: Status;
      networks: NetworksResponse | null;
      outdated?: { daemonVersion: string; appVersion: string };
    };

export interface MenuInput {
  daemon: DaemonView;
  openAtLogin: boolean;
  /** The user refused the administrator prompt: say what does not work without the helper. */
  installDeclined: boolean;
  /** An action in flight (connecting, installing): its item is disabled meanwhile. */
  busy: ReadonlySet<string>;
}

export type MenuAction =
  | { kind: 'connect' }
  | { kind: 'disconnect' }
  | { kind: 'route'; network: string; routed: boolean }
  | { kind: 'route-new-networks'; on: boolean }
  | { kind: 'open-at-login'; on: boolean }
  | { kind: 'install-helper' }
  | { kind: 'update-helper' }
  | { kind: 'uninstall-helper' }
  | { kind: 'open-window' }
  | { kind: 'quit' };

export type MenuItemModel =
  | { type: 'label'; label: string }
  | { type: 'separator' }
  | { type: 'action'; label: string; enabled: boolean; action: MenuAction }
  | { type: 'checkbox'; label: string; checked: boolean; enabled: boolean; action: MenuAction };

export interface MenuModel {
  trayState: TrayState;
  /** The tray icon's tooltip: the status line. */
  tooltip: string;
  items: MenuItemModel[];
}

/** Menu items are one line: long reasons (a conflicting host route) are cut. */
export const MAX_LABEL = 90;

function cut(s: string): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > MAX_LABEL ? `${one.slice(0, MAX_LABEL - 1)}…` : one;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The status line (the phase's words, shared with the window and the CLI) and the tray icon. */
function describeStatus(s: Status, networks: NetworksResponse | null): { line: string; tray: TrayState } {
  const tray = PHASE_TRAY[s.phase];
  if (s.phase !== 'connected') return { line: cut(phaseText(s)), tray };
  const routed = networks
    ? networks.networks.filter((n) => n.routed).length
    : s.routes.filter((r) => r.installed).length;
  return { line: `${phaseText(s)} · ${plural(routed, 'network')} routed`, tray };
}

/** The engine label in the menu: which engine, and whether Gangway stays out of its way. */
export function engineLine(e: NonNullable<Status['docker']['engine']>): string {
  if (e.rootless && e.refusal) return `Engine: ${e.label} (rootless: Gangway cannot reach its containers)`;
  return e.routesItself && e.source === 'detected'
    ? `Engine: ${e.label} (it routes container IPs itself)`
    : `Engine: ${e.label}`;
}

function networkItems(
  networks: NetworksResponse | null,
  busy: ReadonlySet<string>,
  disconnected: boolean,
): MenuItemModel[] {
  if (!networks) return [{ type: 'label', label: 'Networks: asking the helper…' }];
  const items: MenuItemModel[] = [{ type: 'label', label: 'Docker networks' }];
  if (networks.networks.length === 0) items.push({ type: 'label', label: 'No Docker networks' });
  // A disconnected daemon routes nothing: the boxes are the choices that apply on Connect.
  else if (disconnected) items.push({ type: 'label', label: 'Routed again on Connect' });
  for (const n of networks.networks) {
    const name = `${n.name} — ${n.subnets.join(', ') || 'no subnet'}`;
    const note = publicNote(n);
    items.push(
      // Public addresses need an explicit confirmation, which a menu cannot ask for: the window or the CLI.
      note === PUBLIC_NOT_ROUTED
        ? {
            type: 'checkbox',
            label: cut(`${name} (${note})`),
            checked: false,
            enabled: false,
            action: { kind: 'route', network: n.name, routed: true },
          }
        : n.conflict
          ? {
              type: 'checkbox',
              label: cut(`${name} (${n.conflict})`),
              checked: false,
              enabled: false,
              action: { kind: 'route', network: n.name, routed: true },
            }
          : {
              type: 'checkbox',
              label: cut(note ? `${name} (${note})` : name),
              checked: n.wanted,
              enabled: !busy.has(`route:${n.name}`),
              action: { kind: 'route', network: n.name, routed: !n.wanted },
            },
    );
  }
  items.push({
    type: 'checkbox',
    label: 'Route new networks automatically',
    checked: networks.routeNewNetworks,
    enabled: !busy.has('route-new-networks'),
    action: { kind: 'route-new-networks', on: !networks.routeNewNetworks },
  });
  return items;
}

const WITHOUT_HELPER =
  'Without the helper, containers cannot be reached: it creates the network interface and adds the routes';

export function buildMenuModel(input: MenuInput): MenuModel {
  const { daemon, busy } = input;
  // One root script at a time: an install and an uninstall side by side would undo each other.
  const helperBusy = busy.has('install') || busy.has('uninstall');
  const head: MenuItemModel[] = [];
  let line: string;
  let tray: TrayState;
  switch (daemon.kind) {
    case 'starting':
      line = 'Starting…';
      tray = 'connecting';
      break;
    case 'unreachable':
      line = daemon.installed ? 'Helper not running' : 'Helper not installed';
      tray = 'error';
      head.push({
        type: 'action',
        label: busy.has('install') ? 'Installing the helper…' : 'Install Helper…',
        enabled: !helperBusy,
        action: { kind: 'install-helper' },
      });
      if (input.installDeclined) head.push({ type: 'label', label: cut(WITHOUT_HELPER) });
      break;
    case 'version-skew':
      line = cut(`Helper ${daemon.daemonVersion} needs an update to ${daemon.appVersion}`);
      tray = 'error';
      head.push({
        type: 'action',
        label: busy.has('install') ? 'Updating the helper…' : 'Update Helper…',
        enabled: !helperBusy,
        action: { kind: 'update-helper' },
      });
      if (input.installDeclined)
        head.push({ type: 'label', label: 'Until it is updated, some controls may not work' });
      break;
    case 'ok': {
      const d = describeStatus(daemon.status, daemon.networks);
      line = d.line;
      tray = d.tray;
      if (daemon.outdated)
        head.push({
          type: 'action',
          label: busy.has('install')
            ? 'Updating the helper…'
            : cut(`Update Helper… (${daemon.outdated.daemonVersion} → ${daemon.outdated.appVersion})`),
          enabled: !helperBusy,
          action: { kind: 'update-helper' },
        });
      if (daemon.status.settingsWarning)
        head.push({ type: 'label', label: cut(`Settings: ${daemon.status.settingsWarning}`) });
      const engine = daemon.status.docker.engine;
      if (engine) head.push({ type: 'label', label: cut(engineLine(engine)) });
      const wanted = daemon.status.agent.wanted;
      const toggleBusy = busy.has('connect') || busy.has('disconnect');
      head.push(
        {
          type: 'action',
          label: busy.has('connect')
            ? 'Connecting…'
            : busy.has('disconnect')
              ? 'Disconnecting…'
              : wanted
                ? 'Disconnect'
                : 'Connect',
          enabled: !toggleBusy,
          action: wanted ? { kind: 'disconnect' } : { kind: 'connect' },
        },
        { type: 'separator' },
        ...networkItems(daemon.networks, busy, !wanted && daemon.status.state !== 'connected'),
      );
      break;
    }
  }
  // Whenever a helper is there to remove (the app cannot tell before the daemon answered, or when it is gone).
  const installed =
    daemon.kind === 'ok' ||
    daemon.kind === 'version-skew' ||
    (daemon.kind === 'unreachable' && (daemon.installed || daemon.service === true));
  return {
    trayState: tray,
    tooltip: `Gangway: ${line}`,
    items: [
      { type: 'label', label: line },
      ...head,
      { type: 'separator' },
      {
        type: 'checkbox',
        label: 'Open at Login',
        checked: input.openAtLogin,
        enabled: true,
        action: { kind: 'open-at-login', on: !input.openAtLogin },
      },
      { type: 'action', label: 'Open Gangway…', enabled: true, action: { kind: 'open-window' } },
      { type: 'separator' },
      ...(installed || busy.has('uninstall')
        ? [
            {
              type: 'action' as const,
              label: busy.has('uninstall') ? 'Uninstalling the helper…' : 'Uninstall Helper…',
              enabled: !helperBusy,
              action: { kind: 'uninstall-helper' as const },
            },
          ]
        : []),
      { type: 'action', label: 'Quit', enabled: true, action: { kind: 'quit' } },
    ],
  };
}

/** At launch, a missing helper is offered at once, unless the user removed it (Uninstall Helper…): then it
 *  waits in the menu until asked for. */
export function offerInstallAtLaunch(view: DaemonView, removedByUser: boolean): boolean {
  return view.kind === 'unreachable' && !view.installed && !removedByUser;
}
