// Starting `gangway ui` as a real process and Debian's Chromium through playwright-core, for the e2e tests.
// Both run in the test's own namespace on loopback only: the ui server binds 127.0.0.1 and talks to the
// daemon through its unix socket (a file path, reachable from any namespace).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { chromium, type Browser } from 'playwright-core';
import { CLI, type Proc } from '../integration/harness';

export const CHROMIUM = process.env.GANGWAY_CHROMIUM ?? '/usr/bin/chromium';

/** Flags for a quiet, offline, throwaway browser (playwright-core gives it a fresh temporary profile). */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface UiProcess extends Proc {
  url: string;
  origin: string;
  token: string;
}

/** Runs `gangway ui --port 0` and reads the address from its first line of stdout. */
export async function startUi(socket: string, timeoutMs = 10_000): Promise<UiProcess> {
  const child = spawn(
    process.execPath,
    ['--enable-source-maps', CLI, 'ui', '--port', '0', '--socket', socket],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const lines = createInterface({ input: child.stdout });
  const first = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`gangway ui printed no address (output: ${out})`)),
      timeoutMs,
    );
    lines.once('line', (l) => {
      clearTimeout(timer);
      resolve(l);
    });
    child.once('exit', (code) => reject(new Error(`gangway ui exited with ${code}: ${out}`)));
  });
  lines.on('line', (l) => (out += `${l}\n`));
  const url = new URL(first);
  return {
    child,
    output: () => out,
    url: first,
    origin: url.origin,
    // The token rides in the fragment (#token=…), which the browser never sends to a server.
    token: new URLSearchParams(url.hash.slice(1)).get('token') ?? url.searchParams.get('token') ?? '',
  };
}

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM);
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true, timeout: 30_000 });
}
