// The version the helper reports and the agent image is tagged with (from package.json).
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

export const VERSION = findVersion();
