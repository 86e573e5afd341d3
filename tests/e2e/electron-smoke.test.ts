// The real menu-bar app under Playwright's Electron driver: it starts, its tray menu is there (saying the
// helper is missing: no daemon listens on the socket given), and "Open Gangway…" opens the window. Needs
// an Electron binary, which cannot be downloaded on the machines this project is built on: there it skips,
// and says so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

function electronBinary(): string | undefined {
  try {
    // The electron package exports the path of its binary, and throws when the binary was never fetched.
    const path = createRequire(__filename)('electron') as unknown;
    return typeof path === 'string' && existsSync(path) ? path : undefined;
  } catch {
    return undefined;
  }
}

interface TestHooks {
  gangwayTest: { trayLabels(): string[]; openWindow(): unknown };
}

test('Electron smoke: launch, tray menu present, window opens', { timeout: 120_000 }, async (t) => {
  const bin = electronBinary();
  if (!bin) {
    t.skip('no Electron binary on this machine (ELECTRON_SKIP_BINARY_DOWNLOAD)');
    return;
  }
  const { _electron } = await import('playwright-core');
  const dir = mkdtempSync(join(tmpdir(), 'gangway-electron-'));
  const app = await _electron.launch({
    executablePath: bin,
    // The repository root: Electron reads package.json's main (dist/src-main/main.js) and version.
    args: [resolve(__dirname, '..', '..', '..')],
    env: { ...process.env, GANGWAY_SOCKET: join(dir, 'none.sock'), GANGWAY_TEST_HOOKS: '1' },
  });
  try {
    const labels = async () =>
      app.evaluate(() => (globalThis as unknown as TestHooks).gangwayTest.trayLabels());
    const deadline = Date.now() + 10_000;
    let seen: string[] = [];
    while (Date.now() < deadline && !(seen = await labels()).includes('Helper not installed'))
      await new Promise((r) => setTimeout(r, 200));
    assert.ok(seen.includes('Helper not installed'), `tray menu: ${seen.join(' | ')}`);
    assert.ok(seen.includes('Install Helper…') && seen.includes('Open Gangway…') && seen.includes('Quit'));
    const opened = app.waitForEvent('window');
    await app.evaluate(() => void (globalThis as unknown as TestHooks).gangwayTest.openWindow());
    const win = await opened;
    await win.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    assert.equal(await win.title(), 'Gangway');
  } finally {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
