// The package root: the folder with Gangway's package.json, which holds dist/, node_modules/ and the native
// build (in a packaged app: its Resources folder). Found once, by walking up from this file, so it holds
// wherever the compiled (or bundled) file sits.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface PackageInfo {
  root: string;
  version: string;
}

let found: PackageInfo | undefined;

export function findPackage(start = __dirname): PackageInfo | undefined {
  for (let dir = start; ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'gangway' && pkg.version) return { root: dir, version: pkg.version };
    } catch {
      // not here: one level up
    }
    if (dirname(dir) === dir) return undefined;
  }
}

/** Gangway's package root; throws with where it looked when there is none. */
export function packageRoot(): string {
  found ??= findPackage();
  if (!found) throw new Error(`Gangway's package.json was not found above ${__dirname}`);
  return found.root;
}

/** The version in Gangway's package.json ('0.0.0-unknown' when it cannot be found). */
export function packageVersion(): string {
  found ??= findPackage();
  return found?.version ?? '0.0.0-unknown';
}
