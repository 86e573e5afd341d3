// `gangway service install` copies the self-contained helper (helper/bundle-dir.ts) into a directory only
// root can change, and the service runs that copy: never the checkout or the app bundle the user owns,
// which any process of theirs could edit before the service's next start. On macOS the runtime itself, the
// app's Electron binary, lives in that user's app bundle: then the whole bundle is copied too (AppCopy).
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  closeSync,
  constants,
  existsSync,
  fstatSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  writeFileSync,
  type Stats,
} from 'node:fs';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
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

/**
 * The app bundle the runtime lives in, copied whole into the install directory: an Electron binary finds
 * its frameworks and resources relative to itself, so the binary alone would not run.
 */
export interface AppCopy {
  /** The bundle (…/Name.app). */
  from: string;
  /** Its name in the install directory (Name.app). */
  to: string;
  /** The runtime inside the bundle (Contents/MacOS/Name). */
  runtime: string;
}

/**
 * The outermost app bundle that holds `file` as one of its executables (…/Name.app/Contents/…/MacOS/x),
 * and `file` relative to it. The outermost, because a nested helper app links the outer one's frameworks.
 */
export function appBundleOf(file: string): { bundle: string; inside: string } | undefined {
  const m = /^(\/(?:[^/]+\/)*?[^/]+\.app)\/(Contents\/(?:[^/]+\/)*MacOS\/[^/]+)$/.exec(file);
  if (!m || m[2]!.split('/').includes('..') || m[2]!.split('/').includes('.')) return undefined;
  return { bundle: m[1]!, inside: m[2]! };
}

/** Copies the directory tree `from` to the new path `to`: links as links, modes, extended attributes. */
export type TreeCopier = (from: string, to: string) => void;

/**
 * macOS: ditto, which keeps the code signature's extended attributes, links and resource forks; ACLs are
 * left out, as they could grant a user the write access the modes deny. Elsewhere cp -a, which preserves
 * owners as ditto does when root runs it, so the same steps after it are exercised. Both keep the owner,
 * which is why copyAppBundle makes the tree root's afterwards.
 */
export function treeCopier(platform: NodeJS.Platform = process.platform): TreeCopier {
  const [cmd, args] = platform === 'darwin' ? ['/usr/bin/ditto', ['--noacl']] : ['/bin/cp', ['-a']];
  return (from, to) => {
    // Absolute, so neither is taken for an option; `to` does not exist yet, so it becomes the copy.
    if (!isAbsolute(from) || !isAbsolute(to)) throw new Error(`not absolute paths: ${from} -> ${to}`);
    try {
      execFileSync(cmd, [...args, from, to], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    } catch (err) {
      const stderr = (err as { stderr?: string }).stderr?.trim();
      throw new Error(`${cmd} could not copy ${from}: ${stderr || (err as Error).message}`);
    }
  };
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
 * Copies the plan into `dest`, replacing what was there (a previous version's app bundle included) as one
 * rename: files are written into a fresh sibling directory (root's, modes set, root-owned), which then
 * takes `dest`'s place. That directory is 0700 until everything in it is root's: the app bundle's copy
 * keeps its user's owner for a moment, and a user who could reach it then could keep a file open for
 * writing past the chown.
 */
export function copyHelper(
  items: readonly CopyItem[],
  dest: string,
  app?: AppCopy,
  copyTree: TreeCopier = treeCopier(),
): void {
  const parent = dirname(dest);
  makeRootDirs(parent);
  const staging = `${dest}.new-${process.pid}`;
  const old = `${dest}.old-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { mode: 0o700 });
  try {
    chmodSync(staging, 0o700);
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
      const sourceMode = copyRegularFile(item.from, to);
      chmodSync(to, copiedMode(item.mode, sourceMode));
      if (root) chownSync(to, 0, 0);
    }
    if (app) copyAppBundle(app, join(staging, app.to), copyTree);
    chmodSync(staging, 0o755);
    const had = existsSync(dest) || isLink(dest);
    if (had) renameSync(dest, old);
    renameSync(staging, dest);
    if (had) rmSync(old, { recursive: true, force: true });
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Copies one file, refusing anything but a regular file at `from` itself (no link followed at its last step),
 * and returns the source's mode. Root reads the source, which its user can swap while the install runs: a
 * link would let root copy whatever it points at, /etc/shadow included, and a hard link (macOS has no
 * protected_hardlinks) is a regular file whose mode says whom it belongs to (copiedMode).
 */
export function copyRegularFile(from: string, to: string): number {
  let fd: number;
  try {
    fd = openSync(from, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP')
      throw new Error(`${from} is a symbolic link; the install copies regular files only`);
    throw err;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error(`${from} is not a regular file; the install copies regular files only`);
    writeFileSync(to, readFileSync(fd), { mode: 0o600, flag: 'wx' });
    return st.mode;
  } finally {
    closeSync(fd);
  }
}

/** The copy's mode: the plan's, but readable only by whom the source was (a hard link to a file of root's
 *  that others may not read stays unreadable to them in the copy). */
export function copiedMode(planned: number, sourceMode: number): number {
  const unreadable = 0o444 & ~sourceMode;
  return planned & ~unreadable;
}

/** Copies the app bundle to `to`, makes every entry root's and writable by root alone, then checks it. */
export function copyAppBundle(app: AppCopy, to: string, copyTree: TreeCopier): void {
  copyTree(app.from, to);
  if (process.getuid?.() === 0) makeTreeRoots(to);
  const problems = treeProblems(to);
  if (!problems.length && !existsSync(join(to, app.runtime)))
    problems.push(`${join(to, app.runtime)}, the runtime, is missing from the copy`);
  if (problems.length)
    throw new Error(
      `the copy of ${app.from} could still be changed by a user other than root, or reach outside itself:\n` +
        problems.map((p) => `  ${p}`).join('\n'),
    );
}

/**
 * Calls `visit` with each entry of the tree at `top` (itself first, links not followed), then lists a
 * directory's entries: after the visit, so a visit that makes a directory root's does so before it is read.
 */
function walkTree(top: string, visit: (path: string, st: Stats) => void): void {
  const stack = [top];
  for (let p = stack.pop(); p !== undefined; p = stack.pop()) {
    const st = lstatSync(p);
    visit(p, st);
    if (st.isDirectory()) for (const e of readdirSync(p).sort().reverse()) stack.push(join(p, e));
  }
}

/**
 * Root as the owner of every entry, and modes without group or other write and without set-id bits: a
 * set-uid file of the user's would otherwise become a set-uid root program here.
 */
function makeTreeRoots(top: string): void {
  walkTree(top, (p, st) => {
    if (st.isSymbolicLink()) return lchownSync(p, 0, 0);
    if (!st.isDirectory() && !st.isFile()) return; // treeProblems refuses it
    chownSync(p, 0, 0);
    // After the chown, which clears set-id bits on some systems and not on others.
    chmodSync(p, st.mode & 0o755);
  });
}

/**
 * What in the tree at `top` a user other than root could change, or what leads out of it: entries not
 * root's, writable by group or others, set-id, neither file, directory nor link; links that are absolute,
 * dangling, or resolve outside the tree (the service would follow them into the user's files). One line
 * each; empty when none.
 */
export function treeProblems(top: string): string[] {
  const problems: string[] = [];
  const realTop = realpathSync(top);
  const inside = (p: string) => p === realTop || p.startsWith(realTop + sep);
  walkTree(top, (p, st) => {
    const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
    if (st.uid !== 0) problems.push(`${p} is owned by uid ${st.uid}`);
    if (st.isSymbolicLink()) {
      const target = readlinkSync(p);
      let real: string | undefined;
      try {
        real = realpathSync(p);
      } catch {
        // dangling
      }
      const lexical = resolve(dirname(p), target);
      if (isAbsolute(target)) problems.push(`${p} links to the absolute path ${target}`);
      else if (real === undefined)
        problems.push(
          lexical === top || lexical.startsWith(top + sep)
            ? `${p} links to ${target}, which does not exist`
            : `${p} links to ${lexical}, outside the copy (and missing)`,
        );
      else if (!inside(real)) problems.push(`${p} links to ${real}, outside the copy`);
      return;
    }
    if (!st.isDirectory() && !st.isFile()) problems.push(`${p} is neither a file, a directory nor a link`);
    else if (st.mode & 0o022) problems.push(`${p} is writable by its group or others (mode ${mode})`);
    else if (st.mode & 0o6000) problems.push(`${p} is set-uid or set-gid (mode ${mode})`);
  });
  return problems;
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
