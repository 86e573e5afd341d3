// The app's steps on the SMAppService path (src-main/sm-approval.ts): register once, then, while macOS waits
// for the user to allow the helper, say once where to allow it instead of registering again and showing an
// error at every launch. Electron and macOS do not run here; main.ts does what each step names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DaemonServiceStatus } from '../../src-main/daemon-service-electron';
import { LOGIN_ITEMS_SETTINGS_URL, smNextStep, type SmFacts } from '../../src-main/sm-approval';

/** What main.ts's installWithSmAppService does with the steps, against a stand-in for macOS. */
function install(
  mac: { status: DaemonServiceStatus; afterRegister: DaemonServiceStatus },
  trigger: SmFacts['trigger'],
  told: boolean,
): { registered: boolean; asked: boolean; checked: boolean; told: boolean } {
  let step = smNextStep({ status: mac.status, registered: false, trigger, told });
  const registered = step.action === 'register';
  if (registered) {
    mac.status = mac.afterRegister;
    step = smNextStep({ status: mac.status, registered: true, trigger, told });
  }
  return {
    registered,
    asked: step.action === 'ask-approval',
    checked: step.action === 'check',
    told: step.told,
  };
}

test('launches while the helper waits for approval: registered once, told once, no error each time', () => {
  const mac = {
    status: 'not-registered' as DaemonServiceStatus,
    afterRegister: 'requires-approval' as const,
  };
  let told = false;
  const seen: { registered: boolean; asked: boolean }[] = [];
  for (let launch = 0; launch < 5; launch++) {
    const r = install(mac, 'launch', told);
    told = r.told;
    seen.push({ registered: r.registered, asked: r.asked });
  }
  assert.deepEqual(
    seen[0],
    { registered: true, asked: true },
    'the first launch registers and says what to do',
  );
  assert.deepEqual(
    seen.slice(1),
    Array(4).fill({ registered: false, asked: false }),
    'later launches neither register again nor ask again',
  );
});

test('choosing Install in the menu says it again, without registering again; a launch stays quiet', () => {
  assert.deepEqual(
    smNextStep({ status: 'requires-approval', registered: false, trigger: 'menu', told: true }),
    {
      action: 'ask-approval',
      told: true,
    },
  );
  assert.deepEqual(
    smNextStep({ status: 'requires-approval', registered: false, trigger: 'launch', told: true }),
    {
      action: 'wait-for-approval',
      told: true,
    },
  );
});

test('a launch that finds approval pending but was never told (e.g. registered by an older app) tells', () => {
  assert.deepEqual(
    smNextStep({ status: 'requires-approval', registered: false, trigger: 'launch', told: false }),
    { action: 'ask-approval', told: true },
  );
});

test('allowed: register (an update registers again), then ask the helper; a later switch-off is told again', () => {
  for (const trigger of ['launch', 'menu'] as const) {
    const mac = { status: 'enabled' as DaemonServiceStatus, afterRegister: 'enabled' as const };
    assert.deepEqual(install(mac, trigger, true), {
      registered: true,
      asked: false,
      checked: true,
      told: false,
    });
  }
  const unregistered = {
    status: 'not-registered' as DaemonServiceStatus,
    afterRegister: 'not-found' as const,
  };
  assert.deepEqual(install(unregistered, 'menu', true), {
    registered: true,
    asked: false,
    checked: true,
    told: true,
  });
});

test('the Login Items pane is opened by its System Settings URL', () => {
  assert.equal(LOGIN_ITEMS_SETTINGS_URL, 'x-apple.systempreferences:com.apple.LoginItems-Settings.extension');
});
