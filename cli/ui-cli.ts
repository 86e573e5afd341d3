// `gangway ui`: the app's window in a browser, for Linux and headless users and for tests. Prints the
// address to open (token included) as the first line of stdout, then serves until interrupted.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { callApi } from '../client/api-client';
import { ROUTES } from '../common/api-routes';
import { UsageError } from '../common/usage-error';
import { defaultSocketPath } from '../common/default-paths';
import { findPackage } from '../shared/package-root';
import { startUiServer } from './ui-server';

export const DEFAULT_UI_PORT = 2612;

export const UI_USAGE = `Usage: gangway ui [--port N] [--socket PATH]

Serves Gangway's window on http://127.0.0.1:PORT (default ${DEFAULT_UI_PORT}; 0 picks a free port) and prints
the address to open, with a token for this run, as its first line. Stop it with Ctrl-C.`;

/**
 * The built window: dist/ui under the package root (a checkout), beside the bundle (dist/bundle/../ui), or in a
 * packaged app's Resources (Resources/helper/../dist/ui), which has no package.json.
 */
export function findStaticDir(): string {
  const pkg = findPackage();
  const candidates = [
    ...(pkg ? [join(pkg.root, 'dist', 'ui')] : []),
    resolve(__dirname, '..', 'ui'),
    resolve(__dirname, '..', 'dist', 'ui'),
  ];
  for (const c of candidates) if (existsSync(join(c, 'index.html'))) return c;
  throw new Error(`the built window was not found (looked in ${candidates.join(', ')}): run "npm run build"`);
}

export async function runUiCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      port: { type: 'string' },
      socket: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(UI_USAGE);
    return 0;
  }
  const port = values.port === undefined ? DEFAULT_UI_PORT : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`--port must be a number from 0 to 65535\n\n${UI_USAGE}`);
  const socketPath = values.socket ?? defaultSocketPath();
  // Listen for the stop signal before printing the address: a script may stop us as soon as it reads it.
  const stopped = new Promise<void>((r) => {
    process.once('SIGINT', () => r());
    process.once('SIGTERM', () => r());
  });
  const ui = await startUiServer({ socketPath, staticDir: findStaticDir(), port });
  // First line, alone: scripts and tests read it.
  console.log(ui.url);
  callApi(socketPath, ROUTES.version, { timeoutMs: 2_000 }).then(
    (v) => console.error(`gangway ui: talking to the Gangway daemon ${v.version} on ${socketPath}`),
    (err: Error) => console.error(`gangway ui: warning: ${err.message} (the page will say so too)`),
  );
  await stopped;
  await ui.close();
  return 0;
}
