// The settings file: round trip, validation, a corrupt file kept aside, and crashes during a write (a real
// SIGKILL of a child process between writing the temp file and renaming it).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SETTINGS_FILE, SettingsStore, defaultSettings } from '../../helper/settings/settings-store';

const root = mkdtempSync(join(tmpdir(), 'gw-settings-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const stateDir = () => join(root, `state${n++}`);
const STORE_JS = resolve(__dirname, '..', '..', 'helper', 'settings', 'settings-store.js');

test('a missing file means defaults and no warning; updates round-trip through the file', async () => {
  const dir = stateDir();
  const s = SettingsStore.load(dir);
  assert.deepEqual(s.settings, defaultSettings());
  assert.equal(s.warning, undefined);
  await s.update((d) => {
    d.routeNewNetworks = false;
    d.networks['my net ü "q" $(x);'] = { routed: true };
    d.joins.push(['a', 'b']);
  });
  const again = SettingsStore.load(dir);
  assert.deepEqual(again.settings, {
    version: 1,
    routeNewNetworks: false,
    networks: { 'my net ü "q" $(x);': { routed: true } },
    joins: [['a', 'b']],
  });
  assert.equal(statSync(join(dir, SETTINGS_FILE)).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(dir), [SETTINGS_FILE]);
});

test('settings returns a copy; updates run in order, each on the previous result', async () => {
  const s = SettingsStore.load(stateDir());
  s.settings.networks.x = { routed: true };
  assert.deepEqual(s.settings.networks, {});
  await Promise.all(
    ['a', 'b', 'c'].map((name) =>
      s.update((d) => {
        d.networks[name] = { routed: false };
      }),
    ),
  );
  assert.deepEqual(Object.keys(s.settings.networks), ['a', 'b', 'c']);
});

test('an invalid update is rejected and changes nothing, on disk or in memory', async () => {
  const dir = stateDir();
  const s = SettingsStore.load(dir);
  await s.update((d) => ({ ...d, routeNewNetworks: false }));
  const before = readFileSync(join(dir, SETTINGS_FILE), 'utf8');
  await assert.rejects(s.update((d) => ({ ...d, extra: 1 }) as never));
  await assert.rejects(s.update((d) => void d.joins.push(['same', 'same'])));
  await assert.rejects(s.update((d) => void (d.networks[''] = { routed: true })));
  assert.equal(readFileSync(join(dir, SETTINGS_FILE), 'utf8'), before);
  assert.equal(s.settings.routeNewNetworks, false);
  assert.deepEqual(s.settings.joins, []);
});

function loadWith(text: string) {
  const dir = stateDir();
  mkdirSync(dir);
  writeFileSync(join(dir, SETTINGS_FILE), text);
  const s = SettingsStore.load(dir, { now: () => new Date('2025-01-02T03:04:05.678Z') });
  return { dir, s };
}

test('a truncated file is kept aside, defaults are used, and the warning says where it went', () => {
  const text = '{"version":1,"routeNewNetworks":fal';
  const { dir, s } = loadWith(text);
  assert.deepEqual(s.settings, defaultSettings());
  const aside = `${SETTINGS_FILE}.corrupt-2025-01-02T03-04-05-678Z`;
  assert.deepEqual(readdirSync(dir), [aside]);
  assert.equal(readFileSync(join(dir, aside), 'utf8'), text);
  assert.match(s.warning!, /not valid JSON/);
  assert.ok(s.warning!.includes(join(dir, aside)), s.warning);
});

test('wrong types, an empty file and a newer version are all rejected the same way', () => {
  const cases: [string, RegExp][] = [
    ['{"version":1,"routeNewNetworks":"yes","networks":{},"joins":[]}', /routeNewNetworks/],
    // A known field's bad value still costs the file, unknown fields beside it or not.
    ['{"version":1,"routeNewNetworks":"yes","networks":{},"joins":[],"theme":"dark"}', /routeNewNetworks/],
    ['{"version":1,"routeNewNetworks":true,"networks":{"a":{"routed":1,"x":1}},"joins":[]}', /networks\.a/],
    ['{"version":1,"routeNewNetworks":true,"networks":{},"joins":[["a"]]}', /joins/],
    ['', /not valid JSON/],
    ['null', /not valid/],
    [
      '{"version":2,"routeNewNetworks":true,"networks":{},"joins":[]}',
      /newer Gangway \(settings version 2\)/,
    ],
  ];
  for (const [text, re] of cases) {
    const { dir, s } = loadWith(text);
    assert.deepEqual(s.settings, defaultSettings(), text);
    assert.match(s.warning ?? '', re, text);
    assert.equal(readdirSync(dir).filter((f) => f.includes('.corrupt-')).length, 1, text);
  }
});

test('"__proto__" as a network name neither validates into a key nor pollutes anything', () => {
  const { s } = loadWith(
    '{"version":1,"routeNewNetworks":true,"networks":{"__proto__":{"routed":false},"constructor":{"routed":false}},"joins":[]}',
  );
  const nets = s.settings.networks;
  assert.equal(Object.getPrototypeOf(nets), Object.prototype);
  assert.ok(!Object.hasOwn(nets, '__proto__'));
  assert.deepEqual(nets.constructor, { routed: false });
  assert.equal(({} as Record<string, unknown>).routed, undefined);
});

/** Runs an update in a child process that is SIGKILLed at `when`: a crash, not a thrown error. */
function crashDuringUpdate(dir: string, when: 'before-rename' | 'mid-temp-write'): void {
  const script = `
    const fsp = require('node:fs/promises');
    const { SettingsStore } = require(${JSON.stringify(STORE_JS)});
    const die = () => process.kill(process.pid, 'SIGKILL');
    if (${JSON.stringify(when)} === 'before-rename') fsp.rename = async () => die();
    else {
      const open = fsp.open;
      fsp.open = async (...a) => {
        const h = await open(...a);
        h.writeFile = async (data) => { await h.write(String(data).slice(0, 20)); await h.sync(); die(); };
        return h;
      };
    }
    const s = SettingsStore.load(process.argv[1]);
    s.update((d) => { d.routeNewNetworks = false; d.networks.crashed = { routed: false }; });
    setTimeout(() => process.exit(7), 5000);
  `;
  const r = spawnSync(process.execPath, ['-e', script, dir], { timeout: 10_000, encoding: 'utf8' });
  assert.equal(r.signal, 'SIGKILL', `child should have been killed: ${r.stderr}`);
}

for (const when of ['before-rename', 'mid-temp-write'] as const) {
  test(`a crash ${when} leaves the old settings.json intact and its temp file is cleaned up on load`, async () => {
    const dir = stateDir();
    const s = SettingsStore.load(dir);
    await s.update((d) => void (d.networks.kept = { routed: true }));
    const before = readFileSync(join(dir, SETTINGS_FILE), 'utf8');
    crashDuringUpdate(dir, when);
    const temps = readdirSync(dir).filter((f) => f.startsWith(`${SETTINGS_FILE}.tmp-`));
    assert.equal(temps.length, 1, 'the crash left its temp file behind');
    assert.equal(readFileSync(join(dir, SETTINGS_FILE), 'utf8'), before);
    const loaded = SettingsStore.load(dir);
    assert.equal(loaded.warning, undefined);
    assert.deepEqual(loaded.settings.networks, { kept: { routed: true } });
    assert.deepEqual(readdirSync(dir), [SETTINGS_FILE]);
  });
}

test('a crash on the very first write leaves no settings.json at all, so defaults load cleanly', () => {
  const dir = stateDir();
  crashDuringUpdate(dir, 'before-rename');
  const s = SettingsStore.load(dir);
  assert.deepEqual(s.settings, defaultSettings());
  assert.equal(s.warning, undefined);
});

test('a value a newer rule refuses (a public dnsSuffix or tunnelSubnet) is dropped; the other choices stay', () => {
  const saved = {
    version: 1,
    routeNewNetworks: false,
    networks: { web: { routed: true } },
    joins: [['web', 'db']],
    dnsSuffix: 'com',
    tunnelSubnet: '1.1.2.0/30',
    mtu: 1380,
  };
  const { dir, s } = loadWith(JSON.stringify(saved));
  assert.deepEqual(s.settings, {
    version: 1,
    routeNewNetworks: false,
    networks: { web: { routed: true } },
    joins: [['web', 'db']],
    mtu: 1380,
  });
  assert.match(s.warning ?? '', /no longer accepted.*dnsSuffix: "com" is a public suffix/);
  assert.match(s.warning ?? '', /tunnelSubnet: the tunnel subnet must lie in a private range/);
  assert.equal(readdirSync(dir).filter((f) => f.includes('.corrupt-')).length, 0);
});

// A newer Gangway's file read after a downgrade, or by a helper of another version: its new fields must not
// cost the user's choices, and going back to the newer version must find them again.
const choices = {
  version: 1,
  routeNewNetworks: false,
  networks: { web: { routed: true }, pub: { routed: true, allowPublic: true }, db: { routed: false } },
  joins: [['web', 'db']],
  connected: false,
  mtu: 1380,
  dnsSuffix: 'dev.test',
};

/** The file as the store wrote it. */
const written = (dir: string) =>
  JSON.parse(readFileSync(join(dir, SETTINGS_FILE), 'utf8')) as Record<string, unknown> & {
    networks: Record<string, object>;
  };

function assertKeptWithWarning(text: string, names: RegExp[]) {
  const { dir, s } = loadWith(text);
  assert.deepEqual(s.settings, choices);
  assert.match(s.warning ?? '', /does not know .*ignored and kept in the file/);
  for (const re of names) assert.match(s.warning ?? '', re);
  assert.deepEqual(readdirSync(dir), [SETTINGS_FILE]);
  assert.equal(readFileSync(join(dir, SETTINGS_FILE), 'utf8'), text);
  return { dir, s };
}

test('an unknown top-level field is ignored with a warning naming it; every known choice stays', async () => {
  const text = JSON.stringify({ ...choices, theme: 'dark', futureFlags: { a: [1, 2] } });
  const { dir, s } = assertKeptWithWarning(text, [/theme/, /futureFlags/]);
  await s.update((d) => void (d.networks.api = { routed: true }));
  const file = written(dir);
  assert.deepEqual(file.theme, 'dark');
  assert.deepEqual(file.futureFlags, { a: [1, 2] });
  assert.deepEqual(file.networks.api, { routed: true });
  assert.ok(!('theme' in s.settings));
});

test('an unknown field inside a network entry is ignored with a warning naming it; every known choice stays', async () => {
  const text = JSON.stringify(choices)
    .replace('"web":{"routed":true}', '"web":{"routed":true,"via":"gw1"}')
    .replace('"allowPublic":true}', '"allowPublic":true,"note":"x","__proto__":{"polluted":1}}');
  assert.match(text, /"via".*"__proto__"/);
  const { dir, s } = assertKeptWithWarning(text, [/networks\["web"\]\.via/, /networks\["pub"\]\.note/]);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  // Written back with its network (an own "__proto__" key stays a key); a network the user forgets takes its
  // unknown fields with it.
  await s.update((d) => void (d.networks.web = { routed: false }));
  const pub = written(dir).networks.pub ?? {};
  assert.deepEqual(Object.entries(pub), [
    ['routed', true],
    ['allowPublic', true],
    ['note', 'x'],
    ['__proto__', { polluted: 1 }],
  ]);
  await s.update((d) => void delete d.networks.pub);
  const file = written(dir);
  assert.deepEqual(file.networks.web, { routed: false, via: 'gw1' });
  assert.equal(file.networks.pub, undefined);
  assert.deepEqual(file.networks.db, { routed: false });
  const again = SettingsStore.load(dir);
  assert.deepEqual(again.settings.networks, { web: { routed: false }, db: { routed: false } });
  assert.match(again.warning ?? '', /networks\["web"\]\.via/);
});

test('unknown fields beside a value a newer rule refuses: both are named, the other choices stay', () => {
  const { dir, s } = loadWith(JSON.stringify({ ...choices, tunnelSubnet: '1.1.2.0/30', theme: 'dark' }));
  assert.deepEqual(s.settings, choices);
  assert.match(s.warning ?? '', /no longer accepted.*tunnelSubnet.*does not know.*theme/);
  assert.deepEqual(readdirSync(dir), [SETTINGS_FILE]);
});
