// The connection's state machine with a fake Docker and a fake data plane: intent, Docker's state, the
// agent's launch and the tunnel give one phase; down wins at once; every change of phase is published once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Status } from '../../common/api';
import { PHASES, PHASE_TRAY, phaseText, type Phase } from '../../common/phase';
import {
  ConnectionState,
  type DockerSource,
  type DockerState,
  type Intent,
  type PlaneSource,
} from '../../helper/connection-state';
import { formatStatus } from '../../cli/gangway';
import { buildMenuModel } from '../../src-main/menu-model';

class FakeDocker implements DockerSource {
  constructor(
    readonly enabled = true,
    public current: DockerState = 'connected',
  ) {}
  state(): DockerState {
    return this.current;
  }
}

class FakePlane implements PlaneSource {
  tunnel: 'connected' | 'waiting' = 'waiting';
  tunnelState() {
    return this.tunnel;
  }
}

function machine(intent: Intent = null, docker = new FakeDocker()) {
  const plane = new FakePlane();
  const m = new ConnectionState(docker, plane, intent);
  const seen: Phase[] = [];
  m.on('phase', (p) => seen.push(p));
  return { m, docker, plane, seen };
}

test('a fresh install: routes on, no agent wanted, disconnected until asked', () => {
  const { m } = machine();
  assert.equal(m.intent, null);
  assert.equal(m.routing, true);
  assert.equal(m.agentWanted, false);
  assert.equal(m.phase(), 'disconnected');
});

test('up: starting while the agent launches, waiting for it, then connected', () => {
  const { m, plane, seen } = machine();
  m.up();
  assert.equal(m.agentWanted, true);
  assert.equal(m.phase(), 'waiting-for-agent');
  m.launchStarted();
  assert.equal(m.phase(), 'starting');
  m.launchSucceeded();
  assert.equal(m.phase(), 'waiting-for-agent');
  plane.tunnel = 'connected';
  assert.equal(m.update(), 'connected');
  assert.deepEqual(seen, ['waiting-for-agent', 'starting', 'waiting-for-agent', 'connected']);
});

test('down wins at once although the tunnel still reports its old peer (the CLI said "connected")', () => {
  const { m, plane, seen } = machine('up');
  plane.tunnel = 'connected';
  m.update();
  m.down();
  assert.equal(plane.tunnel, 'connected');
  assert.equal(m.phase(), 'disconnected');
  assert.equal(m.routing, false);
  assert.equal(m.agentWanted, false);
  assert.deepEqual(seen, ['connected', 'disconnected']);
});

test('Docker unreachable or unusable is docker-unavailable; connecting to it is starting', () => {
  const docker = new FakeDocker(true, 'connecting');
  const { m } = machine('up', docker);
  assert.equal(m.phase(), 'starting');
  docker.current = 'unreachable';
  assert.equal(m.phase(), 'docker-unavailable');
  docker.current = 'disabled';
  assert.equal(m.phase(), 'docker-unavailable');
  docker.current = 'connected';
  assert.equal(m.phase(), 'waiting-for-agent');
});

test('a failed launch is an error with its reason until a launch succeeds or the user says down', () => {
  const { m } = machine('up');
  m.launchStarted();
  m.launchFailed('image build failed: no space left on device');
  assert.equal(m.phase(), 'error');
  assert.equal(m.lastError, 'image build failed: no space left on device');
  m.launchStarted();
  m.launchSucceeded();
  assert.equal(m.phase(), 'waiting-for-agent');
  m.launchFailed('again');
  m.down();
  assert.equal(m.lastError, null);
  assert.equal(m.phase(), 'disconnected');
});

test('without Docker (--no-docker) the agent runs by hand: waiting for it, then connected', () => {
  const { m, plane } = machine(null, new FakeDocker(false, 'disabled'));
  assert.equal(m.agentWanted, false);
  assert.equal(m.phase(), 'waiting-for-agent');
  plane.tunnel = 'connected';
  assert.equal(m.phase(), 'connected');
});

test('the tray and the CLI show the same words for every phase (one function)', () => {
  const base = {
    version: '0.1.0',
    apiVersion: 1,
    state: 'waiting',
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
    dns: { enabled: false, suffix: 'gangway.internal', listen: null, resolver: null, lastError: null },
    agent: { wanted: true, lastError: 'no space left' },
    counters: { pump: {}, control: {} },
  } satisfies Omit<Status, 'phase'>;
  const words = new Set<string>();
  for (const phase of PHASES) {
    const s: Status = { ...base, phase };
    const text = phaseText(s);
    words.add(text);
    const menu = buildMenuModel({
      daemon: { kind: 'ok', status: s, networks: null },
      openAtLogin: false,
      installDeclined: false,
      busy: new Set(),
    });
    assert.ok(menu.tooltip.startsWith(`Gangway: ${text}`), `${phase}: ${menu.tooltip}`);
    assert.equal(menu.trayState, PHASE_TRAY[phase]);
    assert.match(
      formatStatus(s),
      new RegExp(`^Gangway 0\\.1\\.0: ${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'),
    );
  }
  assert.equal(words.size, PHASES.length, 'each phase has its own words');
});
