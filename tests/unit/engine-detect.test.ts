// Engine detection from `docker info` / `docker version` facts (two captured here, the rest reconstructed:
// tests/fixtures/engine-infos.ts), what the agent dials per engine, the overrides, and where the engine is
// shown (doctor, the tray's menu).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../common/log';
import { EngineChoice } from '../../helper/docker/engine-choice';
import { ENGINE_KINDS, detectEngine, engineProfile, probeEngine } from '../../helper/docker/engine-detect';
import { runDoctor, type DoctorProbe } from '../../helper/doctor';
import { engineLine } from '../../src-main/menu-model';
import { ENGINE_SAMPLES } from '../fixtures/engine-infos';

const log = createLogger('test', () => undefined);

for (const s of ENGINE_SAMPLES) {
  test(`detects ${s.expect}: ${s.what} (${s.source})`, () => {
    const d = detectEngine(s.facts);
    assert.equal(d.kind, s.expect, d.evidence);
    assert.ok(d.evidence.length > 0);
    assert.equal(d.rootless !== undefined, s.rootless === true, d.rootless);
  });
}

test('every engine kind has a sample, and the captured ones are the rig dockerd and podman', () => {
  const kinds = new Set(ENGINE_SAMPLES.map((s) => s.expect));
  for (const k of ENGINE_KINDS) assert.ok(kinds.has(k), `no sample for ${k}`);
  assert.deepEqual(
    ENGINE_SAMPLES.filter((s) => s.source === 'captured here').map((s) => s.expect),
    ['linux', 'podman', 'podman'],
  );
});

test('what the agent dials per engine, and the host entries its container gets', () => {
  const dial = (k: Parameters<typeof engineProfile>[0]) => engineProfile(k).agentDial;
  assert.equal(dial('docker-desktop'), 'host.docker.internal');
  assert.equal(dial('orbstack'), 'host.docker.internal');
  for (const k of ['colima', 'lima', 'rancher-desktop'] as const) {
    assert.equal(dial(k), 'host.lima.internal');
    assert.deepEqual(engineProfile(k).extraHosts, ['host.lima.internal:192.168.5.2']);
  }
  for (const k of ['podman', 'podman-machine'] as const) {
    assert.equal(dial(k), 'host.containers.internal');
    assert.deepEqual(engineProfile(k).extraHosts, [], 'Podman writes host.containers.internal itself');
    assert.equal(
      engineProfile(k).networkEvents,
      false,
      'Podman 4.3 sent no network events: the list is polled',
    );
  }
  assert.deepEqual(engineProfile('linux').extraHosts, ['host.docker.internal:host-gateway']);
  assert.equal(engineProfile('orbstack').routesItself, true);
  assert.equal(
    ENGINE_KINDS.filter((k) => engineProfile(k).routesItself).join(),
    'orbstack',
    'only OrbStack routes container IPs itself',
  );
});

test('probeEngine asks /info and /version; a failing /version still detects from /info', async () => {
  const d = await probeEngine(
    {
      info: () => Promise.resolve({ OperatingSystem: 'Docker Desktop', Name: 'docker-desktop' }),
      version: () => Promise.reject(new Error('boom')),
    },
    { endpoint: 'unix:///var/run/docker.sock', platform: 'darwin' },
  );
  assert.equal(d.kind, 'docker-desktop');
});

const fakeDocker = (os: string) =>
  ({ info: () => Promise.resolve({ OperatingSystem: os }), version: () => Promise.resolve({}) }) as never;

test('EngineChoice: detected engine decides the dial; --agent-dial and --engine override', async () => {
  let changes = 0;
  const c = new EngineChoice({ log, onChange: () => changes++ });
  assert.equal(c.status(), undefined, 'nothing known before Docker answers');
  await c.detect(fakeDocker('Docker Desktop'), { endpoint: 'unix:///var/run/docker.sock' });
  assert.deepEqual(c.agentTarget(2611), {
    server: 'host.docker.internal:2611',
    extraHosts: ['host.docker.internal:host-gateway'],
  });
  assert.equal(c.status()?.source, 'detected');
  assert.equal(changes, 1);

  const dialed = new EngineChoice({ log, onChange: () => undefined, agentDial: '10.0.0.1' });
  await dialed.detect(fakeDocker('Docker Desktop'), { endpoint: 'unix:///var/run/docker.sock' });
  assert.equal(dialed.agentTarget(3000).server, '10.0.0.1:3000');
  assert.equal(dialed.status()?.agentDial, '10.0.0.1');

  const forced = new EngineChoice({ log, onChange: () => undefined, override: 'colima' });
  await forced.detect(fakeDocker('Docker Desktop'), { endpoint: 'unix:///var/run/docker.sock' });
  assert.equal(forced.status()?.kind, 'colima');
  assert.equal(forced.status()?.source, 'option');
  assert.equal(forced.agentTarget(2611).server, 'host.lima.internal:2611');
});

test('OrbStack: up is refused with the reason and the way out, unless --engine says otherwise', async () => {
  const c = new EngineChoice({ log, onChange: () => undefined });
  await c.detect(fakeDocker('OrbStack'), { endpoint: 'unix:///Users/a/.orbstack/run/docker.sock' });
  await c.settled();
  assert.equal(c.refusal()?.code, 'ENGINE_ROUTES_ITSELF');
  assert.match(c.refusal()?.message ?? '', /OrbStack already routes container IPs.*--engine orbstack/);
  const told = new EngineChoice({ log, onChange: () => undefined, override: 'orbstack' });
  assert.equal(told.refusal(), undefined);
  assert.equal(told.status()?.routesItself, true);
});

const samplePodman = (rootless: boolean, machine: boolean) => {
  const s = ENGINE_SAMPLES.find(
    (x) => x.expect === (machine ? 'podman-machine' : 'podman') && (x.rootless === true) === rootless,
  );
  assert.ok(s);
  return {
    info: () => Promise.resolve(s.facts.info),
    version: () => Promise.resolve(s.facts.version),
    endpoint: s.facts.endpoint,
  };
};

test('rootless Podman: refused with the way out, whatever --engine says; rootful Podman is not', async () => {
  for (const machine of [true, false]) {
    const rl = samplePodman(true, machine);
    const c = new EngineChoice({ log, onChange: () => undefined });
    await c.detect(rl as never, { endpoint: rl.endpoint });
    const r = c.refusal();
    assert.equal(r?.code, 'ENGINE_ROOTLESS');
    assert.match(r?.message ?? '', /Podman runs rootless \(docker info (Rootless is true|SecurityOptions)/);
    assert.match(
      r?.message ?? '',
      machine ? /podman machine set --rootful/ : /--docker-host unix:\/\/\/run\/podman\/podman\.sock/,
    );
    assert.equal(c.status()?.rootless, true);
    assert.equal(c.status()?.refusal, r?.message);

    const told = new EngineChoice({ log, onChange: () => undefined, override: 'podman' });
    await told.detect(rl as never, { endpoint: rl.endpoint });
    assert.equal(told.status()?.source, 'option');
    assert.equal(told.refusal()?.code, 'ENGINE_ROOTLESS', '--engine cannot make a rootless Podman work');
    for (const other of ['linux', 'docker-desktop', 'unknown'] as const) {
      const elsewhere = new EngineChoice({ log, onChange: () => undefined, override: other });
      await elsewhere.detect(rl as never, { endpoint: rl.endpoint });
      assert.equal(elsewhere.refusal()?.code, 'ENGINE_ROOTLESS', `--engine ${other}`);
    }

    const rf = samplePodman(false, machine);
    const ok = new EngineChoice({ log, onChange: () => undefined });
    await ok.detect(rf as never, { endpoint: rf.endpoint });
    assert.equal(ok.refusal(), undefined);
    assert.equal(ok.status()?.rootless, false);
  }
});

test("a Mac's Podman through podman-mac-helper's /var/run/docker.sock is a machine: the machine's way out", async () => {
  const s = ENGINE_SAMPLES.find(
    (x) =>
      x.facts.endpoint === 'unix:///var/run/docker.sock' &&
      x.facts.platform === 'darwin' &&
      x.expect === 'podman-machine',
  );
  assert.ok(s);
  const c = new EngineChoice({ log, onChange: () => undefined });
  await c.detect(
    { info: () => Promise.resolve(s.facts.info), version: () => Promise.resolve(s.facts.version) } as never,
    { endpoint: s.facts.endpoint, platform: s.facts.platform },
  );
  assert.equal(c.status()?.label, 'Podman machine');
  assert.match(c.refusal()?.message ?? '', /podman machine set --rootful/);
});

test('a switch from rootful to rootless Podman behind the same endpoint is a change', async () => {
  let changes = 0;
  const c = new EngineChoice({ log, onChange: () => changes++ });
  const rf = samplePodman(false, false);
  await c.detect(rf as never, { endpoint: rf.endpoint });
  await c.detect(samplePodman(true, false) as never, { endpoint: rf.endpoint });
  assert.equal(changes, 2);
  assert.equal(c.refusal()?.code, 'ENGINE_ROOTLESS');
});

test('a Docker that cannot be asked leaves the engine unknown, and the defaults apply', async () => {
  const c = new EngineChoice({ log, onChange: () => undefined });
  const broken = {
    info: () => Promise.reject(new Error('ECONNREFUSED')),
    version: () => Promise.resolve({}),
  };
  assert.equal(await c.detect(broken as never, { endpoint: 'unix:///x.sock' }), undefined);
  assert.equal(c.agentTarget(2611).server, 'host.docker.internal:2611');
  assert.equal(c.refusal(), undefined);
});

function probe(engine: NonNullable<DoctorProbe['docker']['engine']>): DoctorProbe {
  return {
    version: '0.1.0',
    socket: '/run/gangway.sock',
    settingsWarning: null,
    docker: { enabled: true, state: 'connected', endpoint: 'unix:///var/run/docker.sock', engine },
    agentWanted: false,
    agentError: null,
    tunnel: { state: 'waiting', peer: null, lastHeardAgoMs: null, configAcked: false },
    device: 'gw0',
    installedRoutes: [],
    networks: [],
    agentImage: () => Promise.resolve({ tag: 'gangway/agent:0.1.0', present: true }),
    agentContainer: () => Promise.resolve({ state: 'absent' as const }),
    tunLink: () => Promise.resolve({ up: true, detail: 'up' }),
    tunRoutes: () => Promise.resolve([]),
    probeAddress: () => Promise.resolve(true),
  };
}

test('doctor names the engine and what the agent dials; on OrbStack it warns that Gangway stays out', async () => {
  const dd = {
    ...engineProfile('docker-desktop'),
    source: 'detected' as const,
    evidence: 'docker info OperatingSystem is "Docker Desktop"',
  };
  const ok = (await runDoctor(probe(dd))).checks.find((c) => c.id === 'docker');
  assert.equal(ok?.status, 'ok');
  assert.match(
    ok?.detail ?? '',
    /engine Docker Desktop \(docker info OperatingSystem is "Docker Desktop"\), the agent dials host\.docker\.internal/,
  );
  const orb = {
    ...engineProfile('orbstack'),
    source: 'detected' as const,
    evidence: 'docker context "orbstack"',
  };
  const warn = (await runDoctor(probe(orb))).checks.find((c) => c.id === 'docker');
  assert.equal(warn?.status, 'warn');
  assert.match(warn?.detail ?? '', /routes container IPs itself/);
  assert.match(warn?.fix ?? '', /--engine/);
  const refusal = 'Podman runs rootless (docker info Rootless is true): … podman machine set --rootful …';
  const rl = {
    ...engineProfile('podman-machine'),
    source: 'detected' as const,
    evidence: 'the endpoint contains "/machine/"',
    rootless: true,
    refusal,
  };
  const fail = (await runDoctor(probe(rl))).checks.find((c) => c.id === 'docker');
  assert.equal(fail?.status, 'fail');
  assert.match(fail?.detail ?? '', /Podman machine .*rootless: Gangway cannot work with it/);
  assert.equal(fail?.fix, refusal);
});

test("the tray's menu line names the engine", () => {
  const orb = { ...engineProfile('orbstack'), source: 'detected' as const, evidence: '' };
  assert.equal(engineLine(orb), 'Engine: OrbStack (it routes container IPs itself)');
  assert.equal(engineLine({ ...orb, source: 'option' }), 'Engine: OrbStack');
  const pm = { ...engineProfile('podman-machine'), source: 'detected' as const, evidence: '' };
  assert.equal(engineLine(pm), 'Engine: Podman machine');
  assert.equal(
    engineLine({ ...pm, rootless: true, refusal: 'Podman runs rootless …' }),
    'Engine: Podman machine (rootless: Gangway cannot reach its containers)',
  );
});
