// Copies the production packages the helper needs (dockerode, zod, tldts and everything they depend on, read from
// package-lock.json) into dist/app-resources/node_modules, which electron-builder packs as a resource next
// to the helper. The window's packages (react, zustand …) are bundled into dist/ui and not needed there.
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const HELPER_PACKAGES = ['dockerode', 'tldts', 'zod'];

interface LockEntry {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

/** The helper's packages and their dependencies (optional ones when installed), sorted. */
export function helperModuleClosure(root: string): string[] {
  const lock = (
    JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, LockEntry>;
    }
  ).packages;
  const seen = new Set<string>();
  const visit = (name: string): void => {
    if (seen.has(name)) return;
    const entry = lock[`node_modules/${name}`];
    if (!entry) return; // an optional dependency for another platform
    seen.add(name);
    for (const dep of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies })) visit(dep);
  };
  HELPER_PACKAGES.forEach(visit);
  return [...seen].sort();
}

export function stageHelperModules(
  root: string,
  out = join(root, 'dist', 'app-resources', 'node_modules'),
): { out: string; names: string[] } {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const names = helperModuleClosure(root).filter((n) => existsSync(join(root, 'node_modules', n)));
  for (const name of names) cpSync(join(root, 'node_modules', name), join(out, name), { recursive: true });
  return { out, names };
}

if (require.main === module) {
  // dist/scripts/stage-helper-modules.js -> the repository root.
  const { out, names } = stageHelperModules(resolve(__dirname, '..', '..'));
  console.log(`staged ${names.length} packages for the helper in ${out}`);
}
