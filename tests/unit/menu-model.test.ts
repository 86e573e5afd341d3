// The tray menu for every daemon state the app can meet, from the pure model (no Electron needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Network, NetworksResponse, Status } from '../../common/api';
import {
  MAX_LABEL,
  buildMenuModel,
  offerInstallAtLaunch,
  type DaemonView,
  type MenuInput,
  type MenuItemModel,
} from '../../src-main/menu-model';

function status(over: Partial<Status> = {}): Status {
  return {
    version: '0.1.0',
    apiVersion: 1,
    state: 'waiting',
    phase: 'disconnected',
    peer: null,
    lastHeardMs: null,
    configAcked: false,
    tunnel: {
      device: 'gw0',
      hostAddress: '10.57.0.1',
      agentAddress: '10.57.0.2',
      mtu: 1420,
      listen: '127.0.0.1:2611',
      offload: true,
    },
    routes: [],
    docker: { enabled: true, state: 'connected', endpoint: 'unix:///var/run/docker.sock' },
    settingsWarning: null,
    dns: { enabled: true, suffix: 'gangway.internal', listen: null, resolver: null, lastError: null },
    agent: { wanted: false, lastError: null },
    counters: { pump: {}, control: {} },
    ...over,
  };
}

function net(name: string, subnet: string, over: Partial<Network> = {}): Network {
  return {
    id: `id-${name}`,
    name,
    driver: 'bridge',
    internal: false,
    subnets: [subnet],
    wanted: true,
    routed: true,
    conflict: null,
    publicSubnets: [],
    allowPublic: false,
    ...over,
  };
}

const NETS: NetworksResponse = {
  routeNewNetworks: true,
  networks: [
    net('bridge', '172.17.0.0/16'),
    net('web', '172.18.0.0/16'),
    net('db', '172.19.0.0/16'),
    net('off', '172.20.0.0/16', { wanted: false, routed: false }),
  ],
  joins: [],
};

const connected = status({
  state: 'connected',
  phase: 'connected',
  peer: '127.0.0.1:50000',
  configAcked: true,
  agent: { wanted: true, lastError: null },
});

function menu(daemon: DaemonView, over: Partial<MenuInput> = {}) {
  return buildMenuModel({ daemon, openAtLogin: false, installDeclined: false, busy: new Set(), ...over });
}

const labels = (items: MenuItemModel[]) => items.map((i) => ('label' in i ? i.label : '---'));
const find = (items: MenuItemModel[], label: string) => items.find((i) => 'label' in i && i.label === label);

test('connected with three of four networks routed', () => {
  const m = menu({ kind: 'ok', status: connected, networks: NETS });
  assert.equal(m.trayState, 'connected');
  assert.equal(m.items[0]?.type === 'label' && m.items[0].label, 'Connected · 3 networks routed');
  assert.equal(m.tooltip, 'Gangway: Connected · 3 networks routed');
  assert.deepEqual(find(m.items, 'Disconnect'), {
    type: 'action',
    label: 'Disconnect',
    enabled: true,
    action: { kind: 'disconnect' },
  });
  assert.deepEqual(find(m.items, 'web — 172.18.0.0/16'), {
    type: 'checkbox',
    label: 'web — 172.18.0.0/16',
    checked: true,
    enabled: true,
    action: { kind: 'route', network: 'web', routed: false },
  });
  const off = find(m.items, 'off — 172.20.0.0/16');
  assert.equal(off?.type === 'checkbox' && off.checked, false);
  assert.deepEqual(off?.type === 'checkbox' && off.action, { kind: 'route', network: 'off', routed: true });
  const auto = find(m.items, 'Route new networks automatically');
  assert.deepEqual(auto?.type === 'checkbox' && auto.action, { kind: 'route-new-networks', on: false });
  // The fixed tail, in order.
  assert.deepEqual(labels(m.items).slice(-6), [
    '---',
    'Open at Login',
    'Open Gangway…',
    '---',
    'Uninstall Helper…',
    'Quit',
  ]);
});

test('Uninstall Helper… whenever a helper is there to remove; busy while it goes', () => {
  const un = (d: DaemonView, over: Partial<MenuInput> = {}) => find(menu(d, over).items, 'Uninstall Helper…');
  assert.deepEqual(un({ kind: 'ok', status: connected, networks: NETS }), {
    type: 'action',
    label: 'Uninstall Helper…',
    enabled: true,
    action: { kind: 'uninstall-helper' },
  });
  assert.ok(un({ kind: 'version-skew', daemonVersion: '0.0.9', appVersion: '0.1.0' }));
  assert.ok(un({ kind: 'unreachable', installed: true, reason: 'ECONNREFUSED' }), 'installed, not running');
  assert.equal(un({ kind: 'unreachable', installed: false, reason: 'ENOENT' }), undefined);
  // A service that never made its socket (waiting for approval, booted out, failing early) is removable too.
  assert.ok(un({ kind: 'unreachable', installed: false, reason: 'ENOENT', service: true }));
  assert.equal(un({ kind: 'starting' }), undefined);
  const going = find(
    menu({ kind: 'unreachable', installed: false, reason: 'ENOENT' }, { busy: new Set(['uninstall']) }).items,
    'Uninstalling the helper…',
  );
  assert.equal(going?.type === 'action' && going.enabled, false);
  // Not while an install runs, and no install or update while an uninstall runs: one root script at a time.
  const installing = un({ kind: 'ok', status: connected, networks: NETS }, { busy: new Set(['install']) });
  assert.equal(installing?.type === 'action' && installing.enabled, false);
  const removing = new Set(['uninstall']);
  for (const [d, label] of [
    [{ kind: 'unreachable', installed: true, reason: 'x' }, 'Install Helper…'],
    [{ kind: 'version-skew', daemonVersion: '0.0.9', appVersion: '0.1.0' }, 'Update Helper…'],
  ] as const) {
    const item = find(menu(d, { busy: removing }).items, label);
    assert.equal(item?.type === 'action' && item.enabled, false, label);
  }
});

test('at launch a missing helper is offered, unless the user removed it', () => {
  const missing: DaemonView = { kind: 'unreachable', installed: false, reason: 'ENOENT' };
  assert.equal(offerInstallAtLaunch(missing, false), true);
  assert.equal(offerInstallAtLaunch(missing, true), false);
  assert.equal(offerInstallAtLaunch({ ...missing, installed: true }, false), false, 'installed, not running');
  assert.equal(offerInstallAtLaunch({ kind: 'starting' }, false), false);
});

test('one routed network is singular', () => {
  const one = { ...NETS, networks: [net('web', '172.18.0.0/16')] };
  assert.equal(
    menu({ kind: 'ok', status: connected, networks: one }).tooltip,
    'Gangway: Connected · 1 network routed',
  );
});

test('a conflicting network is a disabled, unticked checkbox that says why', () => {
  const nets: NetworksResponse = {
    ...NETS,
    networks: [
      net('clash', '192.168.1.0/24', {
        routed: false,
        conflict: '192.168.1.0/24 overlaps the host route 192.168.1.0/24 dev en0',
      }),
    ],
  };
  const m = menu({ kind: 'ok', status: connected, networks: nets });
  const item = m.items.find((i) => i.type === 'checkbox' && i.label.startsWith('clash'));
  assert.deepEqual(item, {
    type: 'checkbox',
    label: 'clash — 192.168.1.0/24 (192.168.1.0/24 overlaps the host route 192.168.1.0/24 dev en0)',
    checked: false,
    enabled: false,
    action: { kind: 'route', network: 'clash', routed: true },
  });
  assert.equal(m.tooltip, 'Gangway: Connected · 0 networks routed');
});

test('public addresses: not routed automatically; once allowed (window or CLI), an ordinary box', () => {
  const nets: NetworksResponse = {
    ...NETS,
    networks: [
      net('pub', '8.8.0.0/16', { routed: false, publicSubnets: ['8.8.0.0/16'] }),
      net('allowed', '1.1.0.0/16', { publicSubnets: ['1.1.0.0/16'], allowPublic: true }),
    ],
  };
  const m = menu({ kind: 'ok', status: connected, networks: nets });
  const box = (name: string) => m.items.find((i) => i.type === 'checkbox' && i.label.startsWith(name));
  // A menu cannot ask for the confirmation: disabled, with the reason.
  assert.deepEqual(box('pub'), {
    type: 'checkbox',
    label: 'pub — 8.8.0.0/16 (public addresses: not routed automatically)',
    checked: false,
    enabled: false,
    action: { kind: 'route', network: 'pub', routed: true },
  });
  assert.deepEqual(box('allowed'), {
    type: 'checkbox',
    label: 'allowed — 1.1.0.0/16 (public addresses: routed by your choice)',
    checked: true,
    enabled: true,
    action: { kind: 'route', network: 'allowed', routed: false },
  });
});

test('an empty network list says so; a very long reason is cut to one line', () => {
  const m = menu({
    kind: 'ok',
    status: connected,
    networks: { routeNewNetworks: false, networks: [], joins: [] },
  });
  assert.ok(find(m.items, 'No Docker networks'));
  const off = menu({
    kind: 'ok',
    status: status(),
    networks: { routeNewNetworks: true, networks: [], joins: [] },
  });
  assert.ok(find(off.items, 'No Docker networks'), 'disconnected or not, an empty list says so');
  const offWithNets = menu({
    kind: 'ok',
    status: status(),
    networks: {
      routeNewNetworks: true,
      networks: [
        {
          id: 'n1',
          name: 'app',
          driver: 'bridge',
          internal: false,
          subnets: ['172.18.0.0/16'],
          wanted: true,
          routed: false,
          conflict: null,
          publicSubnets: [],
          allowPublic: false,
        },
      ],
      joins: [],
    },
  });
  assert.ok(find(offWithNets.items, 'Routed again on Connect'), 'disconnected: the choices apply on Connect');
  const box = offWithNets.items.find((i) => i.type === 'checkbox' && i.label.startsWith('app'));
  assert.ok(box && box.type === 'checkbox' && box.checked && box.enabled, 'the box shows the kept choice');
  assert.equal(m.items.filter((i) => i.type === 'checkbox' && i.action.kind === 'route').length, 0);
  const long = menu({
    kind: 'ok',
    status: connected,
    networks: {
      ...NETS,
      networks: [net('x', '10.0.0.0/8', { routed: false, conflict: 'a\nvery '.repeat(50) })],
    },
  });
  const item = long.items.find((i) => i.type === 'checkbox' && i.label.startsWith('x —'));
  assert.ok(item && item.type === 'checkbox' && item.label.length === MAX_LABEL && item.label.endsWith('…'));
  assert.doesNotMatch(item.label, /\n/);
});

test('waiting for the agent (Connect was asked for, no agent yet)', () => {
  const m = menu({
    kind: 'ok',
    status: status({ phase: 'waiting-for-agent', agent: { wanted: true, lastError: null } }),
    networks: NETS,
  });
  assert.equal(m.trayState, 'connecting');
  assert.equal(m.tooltip, 'Gangway: Waiting for the agent');
  assert.ok(find(m.items, 'Disconnect'));
});

test('disconnected offers Connect; while connecting the toggle is disabled', () => {
  const idle = menu({ kind: 'ok', status: status(), networks: NETS });
  assert.equal(idle.trayState, 'disconnected');
  assert.equal(idle.tooltip, 'Gangway: Disconnected');
  assert.deepEqual(find(idle.items, 'Connect'), {
    type: 'action',
    label: 'Connect',
    enabled: true,
    action: { kind: 'connect' },
  });
  const busy = menu({ kind: 'ok', status: status(), networks: NETS }, { busy: new Set(['connect']) });
  const item = find(busy.items, 'Connecting…');
  assert.equal(item?.type === 'action' && item.enabled, false);
});

// A stopped Docker refuses (ENOENT, ECONNREFUSED); a frozen or paused VM keeps its socket and never answers.
for (const [lastError, text] of [
  ['ENOENT', 'Docker is not running'],
  [
    'Docker did not answer within 5 s (is its VM asleep, paused or frozen? "docker info" tells)',
    'Docker is not answering',
  ],
] as const) {
  test(`${text} (${lastError.slice(0, 30)})`, () => {
    const m = menu({
      kind: 'ok',
      status: status({
        phase: 'docker-unavailable',
        docker: { enabled: true, state: 'unreachable', endpoint: 'unix:///var/run/docker.sock', lastError },
      }),
      networks: { routeNewNetworks: true, networks: [], joins: [] },
    });
    assert.equal(m.trayState, 'error');
    assert.equal(m.tooltip, `Gangway: ${text}`);
  });
}

test('the agent failed to launch', () => {
  const m = menu({
    kind: 'ok',
    status: status({
      phase: 'error',
      agent: { wanted: true, lastError: 'image build failed: no space left on device' },
    }),
    networks: NETS,
  });
  assert.equal(m.trayState, 'error');
  assert.equal(m.tooltip, 'Gangway: Agent failed to start: image build failed: no space left on device');
});

test('a settings warning is shown under the status line', () => {
  const m = menu({
    kind: 'ok',
    status: { ...connected, settingsWarning: 'settings.json was unreadable and was moved aside' },
    networks: NETS,
  });
  assert.equal(labels(m.items)[1], 'Settings: settings.json was unreadable and was moved aside');
  assert.equal(m.trayState, 'connected');
});

test('helper not installed: Install Helper…, and after a refusal, what does not work', () => {
  const m = menu({ kind: 'unreachable', installed: false, reason: 'ENOENT' });
  assert.equal(m.trayState, 'error');
  assert.equal(m.tooltip, 'Gangway: Helper not installed');
  assert.deepEqual(find(m.items, 'Install Helper…'), {
    type: 'action',
    label: 'Install Helper…',
    enabled: true,
    action: { kind: 'install-helper' },
  });
  assert.equal(
    m.items.some((i) => i.type === 'checkbox' && i.action.kind === 'route'),
    false,
  );
  const refused = menu(
    { kind: 'unreachable', installed: false, reason: 'ENOENT' },
    { installDeclined: true },
  );
  assert.match(labels(refused.items).join('\n'), /Without the helper, containers cannot be reached/);
  // The app keeps running: Open at Login, Open Gangway… and Quit are still there.
  assert.ok(find(refused.items, 'Quit') && find(refused.items, 'Open Gangway…'));
});

test('helper installed but not answering', () => {
  const m = menu({ kind: 'unreachable', installed: true, reason: 'ECONNREFUSED' });
  assert.equal(m.tooltip, 'Gangway: Helper not running');
  assert.ok(find(m.items, 'Install Helper…'));
});

test('version skew offers Update Helper…', () => {
  const m = menu({ kind: 'version-skew', daemonVersion: '0.0.9', appVersion: '0.1.0' });
  assert.equal(m.trayState, 'error');
  assert.equal(m.tooltip, 'Gangway: Helper 0.0.9 needs an update to 0.1.0');
  assert.deepEqual(find(m.items, 'Update Helper…'), {
    type: 'action',
    label: 'Update Helper…',
    enabled: true,
    action: { kind: 'update-helper' },
  });
});

test('another version that speaks this API: every control stays, with Update Helper… beside them', () => {
  const m = menu({
    kind: 'ok',
    status: connected,
    networks: NETS,
    outdated: { daemonVersion: '0.1.0', appVersion: '0.1.1' },
  });
  assert.equal(m.trayState, 'connected');
  assert.deepEqual(find(m.items, 'Update Helper… (0.1.0 → 0.1.1)'), {
    type: 'action',
    label: 'Update Helper… (0.1.0 → 0.1.1)',
    enabled: true,
    action: { kind: 'update-helper' },
  });
  assert.ok(find(m.items, 'Disconnect'), 'Connect/Disconnect stays');
  assert.equal(find(m.items, 'web — 172.18.0.0/16')?.type, 'checkbox', 'the networks stay');
  // The same version: no update offered.
  assert.equal(
    menu({ kind: 'ok', status: connected, networks: NETS }).items.some(
      (i) => 'label' in i && i.label.startsWith('Update Helper'),
    ),
    false,
  );
});

test('starting, and Open at Login reflects the setting', () => {
  const m = menu({ kind: 'starting' }, { openAtLogin: true });
  assert.equal(m.trayState, 'connecting');
  const item = find(m.items, 'Open at Login');
  assert.deepEqual(item?.type === 'checkbox' && [item.checked, item.action], [
    true,
    { kind: 'open-at-login', on: false },
  ]);
});

test('networks not fetched yet: the status counts installed routes', () => {
  const m = menu({
    kind: 'ok',
    status: {
      ...connected,
      routes: [
        { cidr: '172.18.0.0/16', installed: true },
        { cidr: '172.19.0.0/16', installed: false },
      ],
    },
    networks: null,
  });
  assert.equal(m.tooltip, 'Gangway: Connected · 1 network routed');
  assert.ok(find(m.items, 'Networks: asking the helper…'));
});
