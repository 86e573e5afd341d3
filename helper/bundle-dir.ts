// Where the self-contained helper lives: gangway.js (CLI and daemon), gangway-agent.js and its Dockerfile,
// the native addon, and Linux prebuilds of the addon for the agent. `npm run build` writes them into
// dist/bundle (scripts/build-bundles.mjs); `gangway service install` copies that directory into a root-owned
// one, from which the service then runs. The daemon builds the agent's image from the same directory.
import { resolve } from 'node:path';

/** Set to true by esbuild in the bundles; undefined when this file runs as tsc's output. */
declare const GANGWAY_BUNDLE: boolean | undefined;

export const BUNDLE_FILES = {
  cli: 'gangway.js',
  agent: 'gangway-agent.js',
  agentDockerfile: 'gangway-agent.Dockerfile',
  addon: 'gangway_native.node',
} as const;

/** True inside dist/bundle/gangway.js (or an installed copy of it). */
export function isBundled(): boolean {
  return typeof GANGWAY_BUNDLE !== 'undefined' && GANGWAY_BUNDLE === true;
}

/** The directory holding the bundles: the running bundle's own, or dist/bundle beside tsc's dist/helper. */
export function bundleDir(): string {
  return isBundled() ? __dirname : resolve(__dirname, '..', 'bundle');
}
