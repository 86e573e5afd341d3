// The window as the Electron app loads it: dist/ui/index.html from a file: address, with a stand-in for the
// preload's bridge (window.gangway) that answers every call as a helper that is not there. In Debian's
// Chromium: the page's own script and style run under its Content-Security-Policy and its hash routes work,
// while what a hostile script in the page would try is refused by that policy alone (the HTTP header of
// `gangway ui` is not there): a frame, an object, a <base>, a form sent away. No daemon, no rig.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';

import { DIST } from '../integration/harness';
import { chromiumAvailable, launchChromium } from './ui-process';

const INDEX = join(DIST, 'ui', 'index.html');

interface Violation {
  directive: string;
  blocked: string;
}

describe(
  'the window from a file: address, in Chromium',
  {
    timeout: 120_000,
    skip:
      (!chromiumAvailable() && 'no /usr/bin/chromium') ||
      (!existsSync(INDEX) && 'no dist/ui/index.html (npm run build:ui)'),
  },
  () => {
    let browser: Browser;
    let page: Page;
    const url = pathToFileURL(INDEX).href;
    // zod probes once whether it may compile validators with `new Function`; the policy refuses it (no
    // 'unsafe-eval'), zod catches that and validates without: the one report the page itself causes.
    const zodProbe = (v: Violation) => v.directive === 'script-src' && v.blocked === 'eval';
    const violations = async () =>
      (
        await page.evaluate(() => (window as unknown as { violations: Violation[] }).violations.splice(0))
      ).filter((v) => !zodProbe(v));

    before(async () => {
      browser = await launchChromium();
      page = await browser.newPage();
      await page.addInitScript(() => {
        const log: Violation[] = [];
        (window as unknown as { violations: Violation[] }).violations = log;
        document.addEventListener('securitypolicyviolation', (e) =>
          log.push({ directive: e.effectiveDirective, blocked: e.blockedURI }),
        );
        const unreachable = {
          status: 502,
          body: { error: { code: 'DAEMON_UNREACHABLE', message: 'cannot reach the Gangway helper: test' } },
        };
        (window as unknown as { gangway: unknown }).gangway = {
          request: () => Promise.resolve(unreachable),
          subscribe: (_onStatus: unknown, onConnection: (up: boolean) => void) => {
            onConnection(false);
            return () => undefined;
          },
        };
      });
      await page.goto(url);
      await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor({ timeout: 10_000 });
    });

    after(async () => {
      await browser?.close();
    });

    test('the page runs its script and style, and its hash routes work, with no policy violation', async () => {
      await page.getByText('Not connected to the helper').waitFor();
      // app.css applied: the page list is laid out beside the page, not above it.
      const nav = await page.locator('nav.nav').boundingBox();
      const main = await page.locator('main.page').boundingBox();
      assert.ok(nav && main && nav.x + nav.width <= main.x + 1, 'app.css laid the page out');
      for (const title of ['Networks', 'Containers', 'Settings', 'Diagnostics', 'Overview']) {
        await page.getByRole('link', { name: title }).click();
        await page.getByRole('heading', { level: 1, name: title }).waitFor();
        assert.equal(page.url(), `${url}#/${title.toLowerCase()}`);
      }
      assert.deepEqual(await violations(), []);
    });

    test('a frame, an object, a <base> and a form sent away are refused by the page’s own policy', async () => {
      await page.evaluate(() => {
        const frame = document.createElement('iframe');
        frame.src = 'file:///etc/passwd';
        document.body.append(frame);
        const object = document.createElement('object');
        object.data = 'file:///etc/hostname';
        document.body.append(object);
        const base = document.createElement('base');
        base.href = 'file:///tmp/';
        document.head.append(base);
      });
      await page.waitForTimeout(500);
      const seen = await violations();
      const directives = seen.map((v) => v.directive);
      assert.deepEqual(
        ['frame-src', 'object-src', 'base-uri'].filter((d) => !directives.includes(d)),
        [],
        `directives not enforced (saw ${JSON.stringify(seen)})`,
      );
      assert.equal(await page.evaluate(() => document.baseURI), url + '#/overview', 'the <base> was ignored');

      const before = page.url();
      await page.evaluate(() => {
        const form = document.createElement('form');
        form.action = 'file:///etc/passwd';
        form.method = 'get';
        document.body.append(form);
        form.submit();
      });
      await page.waitForTimeout(500);
      assert.ok(
        (await violations()).some((v) => v.directive === 'form-action'),
        'form-action refused',
      );
      assert.equal(page.url(), before, 'the page stayed');
    });
  },
);
