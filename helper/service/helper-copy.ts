// `gangway service install` copies the self-contained helper (helper/bundle-dir.ts) into a directory only
// root can change, and the service runs that copy: never the checkout or the app bundle the user owns,
// which any process of theirs could edit before the service's next start.
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { BUNDLE_FILES } from '../bundle-dir';

/** The macOS helper's directory; launchd's convention for privileged helpers. */
export const DARWIN_HELPER_DIR = '/Library/PrivilegedHelperTools/dev.gangway.helper';
/** Linux keeps one directory per version under this one. */
export const LINUX_HELPER_ROOT = '/usr/local/lib/gangway';

/** The directory an install of `version` copies the helper into. */
export function helperInstallDir(platform: NodeJS.Platform, version: string): string {
  if (platform === 'darwin') return DARWIN_HELPER_DIR;
  if (!/^[0-9A-Za-z][0-9A-Za-z.+-]{0,63}$/.test(version) || version.includes('..'))
    throw new Error(`the version "${version}" cannot name a directory`);
  return join(LINUX_HELPER_ROOT, version);
}

/** What uninstall removes: every version's copy. */
export function helperInstallRoot(platform: NodeJS.Platform): string {
  return platform === 'darwin' ? DARWIN_HELPER_DIR : LINUX_HELPER_ROOT;
}

export interface CopyItem {
  from: string;
  /** Relative to the install directory. */
  to: string;
  mode: number;
}

/** The files of a bundle directory to copy: the four the helper needs, and the agent's Linux prebuilds. */
export function helperCopyPlan(bundleDir: string): CopyItem[] {
  const items: CopyItem[] = [
    { from: join(bundleDir, BUNDLE_FILES.cli), to: BUNDLE_FILES.cli, mode: 0o644 },
    { from: join(bundleDir, BUNDLE_FILES.addon), to: BUNDLE_FILES.addon, mode: 0o755 },
    { from: join(bundleDir, BUNDLE_FILES.agent), to: BUNDLE_FILES.agent, mode: 0o644 },
    { from: join(bundleDir, BUNDLE_FILES.agentDockerfile), to: BUNDLE_FILES.agentDockerfile, mode: 0o644 },
  ];
  const missing = items.filter((i) => !existsSync(i.from)).map((i) => i.from);
  if (missing.length)
    throw new Error(
      `the helper's bundle is incomplete, missing ${missing.join(', ')} (from a checkout: npm run build)`,
    );
  const prebuilds = join(bundleDir, 'prebuilds');
  if (existsSync(prebuilds))
    for (const d of readdirSync(prebuilds).sort()) {
      if (!/^linux-(x64|arm64)$/.test(d)) continue;
      const f = join(prebuilds, d, BUNDLE_FILES.addon);
      if (existsSync(f)) items.push({ from: f, to: `prebuilds/${d}/${BUNDLE_FILES.addon}`, mode: 0o755 });
    }
  return items;
}

/** Creates missing directories down to `dir`, each 0755 and root's. */
export function makeRootDirs(dir: string): void {
  if (existsSync(dir)) return;
  makeRootDirs(dirname(dir));
  mkdirSync(dir, { mode: 0o755 });
  chmodSync(dir, 0o755); // mkdir's mode passes through the umask
  if (process.getuid?.() === 0) chownSync(dir, 0, 0);
}

/**
 * Copies the plan into `dest`, replacing what was there as one rename: files are written into a fresh
 * sibling directory (root's, 0755, modes set, root-owned), which then takes `dest`'s place.
 */
export function copyHelper(items: readonly CopyItem[], dest: string): void {
  const parent = dirname(dest);
  makeRootDirs(parent);
  const staging = `${dest}.new-${process.pid}`;
  const old = `${dest}.old-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { mode: 0o755 });
  try {
    chmodSync(staging, 0o755);
    const root = process.getuid?.() === 0;
    if (root) chownSync(staging, 0, 0);
    for (const item of items) {
      const to = join(staging, item.to);
      if (!existsSync(dirname(to))) {
        mkdirSync(dirname(to), { recursive: true, mode: 0o755 });
        for (let d = dirname(to); d !== staging; d = dirname(d)) {
          chmodSync(d, 0o755);
          if (root) chownSync(d, 0, 0);
        }
      }
      copyFileSync(item.from, to);
      chmodSync(to, item.mode);
      if (root) chownSync(to, 0, 0);
    }
    const had = existsSync(dest) || isLink(dest);
    if (had) renameSync(dest, old);
    renameSync(staging, dest);
    if (had) rmSync(old, { recursive: true, force: true });
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw err;
  }
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/** Linux: the copies of other versions, once the service runs this one. */
export function pruneOtherVersions(platform: NodeJS.Platform, keep: string): void {
  if (platform !== 'linux' || dirname(keep) !== LINUX_HELPER_ROOT) return;
  for (const d of readdirSync(LINUX_HELPER_ROOT))
    if (join(LINUX_HELPER_ROOT, d) !== keep)
      rmSync(join(LINUX_HELPER_ROOT, d), { recursive: true, force: true });
}

/** Uninstall: the whole copy (every version); returns what was removed. */
export function removeHelperCopies(root: string): string[] {
  if (!existsSync(root)) return [];
  rmSync(root, { recursive: true, force: true });
  return [root];
}
