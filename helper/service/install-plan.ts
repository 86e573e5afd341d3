// What `gangway service install` will do, decided before anything changes (and all that --dry-run shows):
// which files are copied where, which runtime the service starts, and every reason to refuse.
import { existsSync, lstatSync, realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { BUNDLE_FILES } from '../bundle-dir';
import { transientLocation } from '../../common/install-location';
import { appBundleOf, helperCopyPlan, helperInstallDir, type AppCopy, type CopyItem } from './helper-copy';
import { nonRootWritable, type OwnershipDeps } from './root-owned';
import type { InstallOptions } from './service-manager';

export interface InstallPlan {
  /** The service's options: the runtime's real path and the copied gangway.js. */
  options: InstallOptions;
  /** Where the helper is copied to. */
  dest: string;
  files: CopyItem[];
  /** macOS: the runtime's app bundle, which a user can change, copied whole beside the files; the service
   *  runs the copy's binary. */
  app?: AppCopy;
  /** Reasons to refuse, each naming the path, what is wrong and the way out. Empty: go ahead. */
  refusals: string[];
}

export interface PlanInput {
  platform: NodeJS.Platform;
  version: string;
  /** The bundle directory to copy from (helper/bundle-dir.ts). */
  bundleDir: string;
  /** The options as the CLI gathered them; nodePath is the runtime to start. */
  base: InstallOptions;
  /** Overrides the install directory (tests). */
  dest?: string;
  ownership?: OwnershipDeps;
  /** --copy-app: copy the runtime's app bundle even when only root can change it (the app's install runs
   *  from a staged copy that it removes afterwards, src-main/install-command.ts). */
  copyApp?: boolean;
}

export function planServiceInstall(input: PlanInput): InstallPlan {
  const dest = input.dest ?? helperInstallDir(input.platform, input.version);
  const refusals: string[] = [];
  const from = transientLocation(input.bundleDir);
  if (from) refusals.push(from);
  let files: CopyItem[] = [];
  try {
    files = helperCopyPlan(input.bundleDir);
  } catch (err) {
    refusals.push((err as Error).message);
  }
  // The unit names the runtime's real path: a link (/usr/local/bin/node -> a user's version manager) could
  // be pointed elsewhere later, and its target is what runs.
  let runtime = input.base.nodePath;
  let resolved = false;
  try {
    runtime = (input.ownership?.realpath ?? realpathSync.native)(runtime);
    resolved = true;
  } catch {
    // nonRootWritable reports it
  }
  const unsafe = nonRootWritable(input.base.nodePath, input.ownership);
  // The install replaces `dest` whole, so a runtime already in it (a copy made earlier) is copied again.
  const inDest = runtime.startsWith(dest + sep);
  // On macOS the runtime is the app's Electron binary, and the app bundle is its user's (and /Applications
  // is the admin group's): the bundle is copied whole, as the binary needs its frameworks beside it.
  const bundle =
    input.platform === 'darwin' && resolved && (unsafe.length || inDest || input.copyApp)
      ? appBundleOf(runtime)
      : undefined;
  let app: AppCopy | undefined;
  if (bundle) {
    app = { from: bundle.bundle, to: basename(bundle.bundle), runtime: bundle.inside };
    runtime = join(dest, app.to, app.runtime);
  } else if (inDest)
    refusals.push(
      `the runtime the service would start, ${runtime}, lies in ${dest}, which the install replaces: ` +
        `run the install with another runtime`,
    );
  else if (unsafe.length)
    refusals.push(
      `the runtime the service would start, ${input.base.nodePath}, can be changed by a user other than root: ` +
        `${unsafe.join('; ')}. Install Node.js (or Gangway) where only root can write, e.g. from your ` +
        `distribution's packages, and run the install with that one`,
    );
  // The directories above the copy must be root's already (the copy creates the missing ones as root's).
  let existing = dirname(dest);
  while (!existsSync(existing)) existing = dirname(existing);
  const above = nonRootWritable(existing, input.ownership);
  if (above.length)
    refusals.push(
      `the helper would be copied under ${existing}, which a user other than root can change: ${above.join('; ')}`,
    );
  refusals.push(...rootDataRefusals(input.base, input.ownership));
  return {
    options: { ...input.base, nodePath: runtime, cliPath: join(dest, BUNDLE_FILES.cli) },
    dest,
    files,
    ...(app && { app }),
    refusals,
  };
}

/** Daemon flags whose path the service (root) reads its settings from or writes to. */
const ROOT_DATA_FLAGS: Record<string, string> = {
  '--config': 'read its settings from',
  '--state-dir': 'keep its secret and settings in',
  '--log-file': 'write its log to',
  '--dns-resolver-dir': 'write DNS resolver files into',
};

/** The value each of ROOT_DATA_FLAGS last has in `args` (`--flag value` or `--flag=value`). */
function flagPaths(args: readonly string[]): Map<string, string> {
  const found = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? '';
    const eq = a.indexOf('=');
    const name = eq === -1 ? a : a.slice(0, eq);
    if (!(name in ROOT_DATA_FLAGS)) continue;
    const value = eq === -1 ? args[++i] : a.slice(eq + 1);
    if (value !== undefined) found.set(name, value);
  }
  return found;
}

/** The path itself when it exists, else its nearest existing parent (the one that decides who may create it). */
function nearestExisting(p: string, ownership?: OwnershipDeps): string {
  const lstat = ownership?.lstat ?? lstatSync;
  for (let cur = resolve(p); ; cur = dirname(cur)) {
    try {
      lstat(cur);
      return cur;
    } catch {
      if (dirname(cur) === cur) return cur;
    }
  }
}

/**
 * Root re-reads the service's settings file at every start and writes its secret, settings and log: a user
 * who can change any of them (or swap the log for a link to /etc/ld.so.preload) can steer root. So each
 * must be root's all the way up, as the copy of the helper is.
 */
function rootDataRefusals(base: InstallOptions, ownership?: OwnershipDeps): string[] {
  const paths = new Map<string, string>([
    ['--state-dir', base.stateDir],
    ['--log-file', base.logFile],
  ]);
  for (const [flag, value] of flagPaths(base.extraArgs)) paths.set(flag, value);
  if (paths.get('--log-file') === 'none') paths.delete('--log-file');
  const refusals: string[] = [];
  for (const [flag, path] of paths) {
    const problems = isAbsolute(path)
      ? nonRootWritable(nearestExisting(path, ownership), ownership)
      : [`${path} is not an absolute path (the service does not start where you are)`];
    if (problems.length)
      refusals.push(
        `the service would ${ROOT_DATA_FLAGS[flag] ?? 'use'} ${path} (${flag}), which a user other than root ` +
          `can change: ${problems.join('; ')}. Choose a path only root can write (the defaults are)`,
      );
  }
  return refusals;
}

/** After the copy: the copied helper must itself pass (a parent directory a user owns would undo it all),
 *  and so must the runtime when it was copied too. */
export function checkInstalledCopy(plan: InstallPlan, ownership?: OwnershipDeps): string[] {
  return [
    ...plan.files.map((f) => join(plan.dest, f.to)),
    ...(plan.app ? [plan.options.nodePath] : []),
  ].flatMap((p) => nonRootWritable(p, ownership));
}

/** The --dry-run text: the unit or plist, then the copies, then what would stop the install. */
export function describePlan(plan: InstallPlan, unitPath: string, unitText: string): string {
  return [
    `# ${unitPath}`,
    unitText.trimEnd(),
    '',
    `# files copied into ${plan.dest} (owner root, not writable by group or others)`,
    ...plan.files.map((f) => `${f.from} -> ${join(plan.dest, f.to)} (mode ${f.mode.toString(8)})`),
    ...(plan.app
      ? [
          '',
          `# the runtime's app bundle (a user other than root can change it, or --copy-app), copied whole (ditto: its ` +
            `signature, links and extended attributes kept), then made root's and checked; the service runs ` +
            `${plan.options.nodePath}`,
          `${plan.app.from} -> ${join(plan.dest, plan.app.to)}`,
        ]
      : []),
    '',
    plan.refusals.length
      ? `# the install would be refused:\n${plan.refusals.map((r) => `- ${r}`).join('\n')}`
      : '# nothing stops the install; nothing was changed (--dry-run)',
  ].join('\n');
}
