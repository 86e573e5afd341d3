// The version the helper reports and the agent image is tagged with: from package.json, or written into the
// bundle by esbuild (an installed copy of the helper has no package.json beside it).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

function findVersion(): string {
  for (const up of ['..', '../..']) {
    try {
      const pkg = JSON.parse(readFileSync(join(__dirname, up, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'gangway' && pkg.version) return pkg.version;
    } catch {
      // try the next level
    }
  }
  return '0.0.0-unknown';
}

declare const GANGWAY_VERSION: string | undefined;

export const VERSION = typeof GANGWAY_VERSION === 'string' ? GANGWAY_VERSION : findVersion();
