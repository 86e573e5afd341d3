// What the helper install runs as root, built without Electron so it is tested directly: the packaged CLI,
// every argument quoted (and, on Linux, quoted once more for sudo-prompt's `bash -c "…"`), and the
// environment `service install` needs, and nothing else of the user's: `env -i`, so that no NODE_OPTIONS
// (which Electron run as Node honours) or other variable of the user's session reaches root.
//
// On macOS the app bundle is its user's (and /Applications the admin group's), so root does not run it in
// place: the script first copies it with Apple's own tools into a fresh directory only root can enter, makes
// the copy root's, checks its signature against the app's Team ID when the app is signed, and only then runs
// the copy's binary. What the user (or a program of theirs) changes in the bundle after that is not run.
import { isAbsolute, relative } from 'node:path';
import { buildCommand, forSudoPromptLinux, quoteArg } from './shell-quote';

/** Everything root changes, for the prompt; README's "Why does the helper need root?" says the same. */
export function rootChanges(platform: NodeJS.Platform): string[] {
  const mac = platform === 'darwin';
  return [
    `creates one network interface, the tunnel to Docker’s VM (${mac ? 'a utun device' : 'gw0'})`,
    'adds routes to your containers’ private networks through that interface, and only there',
    'answers DNS for container names on port 53 of the tunnel’s own address',
    mac
      ? 'sends names under the container suffix to that server with the file /etc/resolver/<suffix>'
      : 'sends names under the container suffix to that server through the tunnel interface’s DNS settings in systemd-resolved',
    mac
      ? 'installs the service: a root-owned copy of the helper and of the app (its binary runs the helper) in /Library/PrivilegedHelperTools/dev.gangway.helper, and /Library/LaunchDaemons/dev.gangway.helper.plist'
      : 'installs the service: a root-owned copy of the helper in /usr/local/lib/gangway and /etc/systemd/system/gangway.service',
    mac
      ? 'keeps its state, control socket and log in /Library/Application Support/Gangway, /var/run/gangway and /Library/Logs/Gangway'
      : 'keeps its state, control socket and log in /var/lib/gangway, /run/gangway and /var/log/gangway',
  ];
}

export function whyAdmin(platform: NodeJS.Platform = process.platform): string {
  return [
    'Gangway’s helper runs as a system service. It needs administrator rights once, to be installed. As root it:',
    ...rootChanges(platform).map((c) => `• ${c}`),
    'Nothing else on your computer is changed.',
  ].join('\n');
}

export interface InstallPlan {
  /** The program that runs the CLI: the app's own binary, run as Node. */
  runtime: string;
  /** The bundled CLI (Resources/helper/gangway.js); install copies its directory for the service, and on
   *  macOS the app bundle around `runtime` too (helper/service/install-plan.ts). */
  cli: string;
  uid: number;
  gid: number;
}

/** The environment root's command gets, whole. */
const ROOT_ENV = ['/usr/bin/env', '-i', 'PATH=/usr/bin:/bin:/usr/sbin:/sbin', 'ELECTRON_RUN_AS_NODE=1'];

function checkIds(plan: Pick<InstallPlan, 'uid' | 'gid'>): void {
  for (const [name, id] of [
    ['uid', plan.uid],
    ['gid', plan.gid],
  ] as const)
    if (!Number.isInteger(id) || id < 0) throw new Error(`invalid ${name} ${id}`);
}

/**
 * Linux: the command sudo-prompt runs, every argument quoted. pkexec clears the environment as well;
 * ELECTRON_RUN_AS_NODE makes the app's own binary run the CLI as Node. The user who gets the control socket
 * is named on the command line: the prompt sets no SUDO_UID. sudo-prompt runs it inside `/bin/bash -c "…"`,
 * which needs the second quoting.
 */
export function installCommand(
  plan: InstallPlan,
  platform: NodeJS.Platform = process.platform,
  sub: ServiceCommand = 'install',
): string {
  checkIds(plan);
  const command = buildCommand([...ROOT_ENV, plan.runtime, plan.cli, ...serviceArgs(plan, sub, false)]);
  return platform === 'linux' ? forSudoPromptLinux(command) : command;
}

/** What root runs: `gangway service install` (the helper's first install and its updates) or `uninstall`. */
export type ServiceCommand = 'install' | 'uninstall';

// --json: the app shows what the uninstall could not do (install-run.ts uninstallNotes).
const UNINSTALL_ARGS = ['service', 'uninstall', '--json'];

function serviceArgs(
  plan: InstallPlan & { version?: string | undefined },
  sub: ServiceCommand,
  staged: boolean,
) {
  if (sub === 'uninstall') return UNINSTALL_ARGS;
  return [
    'service',
    'install',
    ...(staged ? ['--copy-app'] : []),
    '--socket-owner',
    `${plan.uid}:${plan.gid}`,
    ...(staged && plan.version ? ['--expect-version', plan.version] : []),
  ];
}

export interface MacInstallPlan extends InstallPlan {
  /** The app bundle (…/Gangway.app) that holds `runtime`. */
  bundle: string;
  /** The Team ID and signing identifier the app goes by (release-signer.ts: a release's own, else what
   *  codesign saw), if it is signed: the copy must carry a valid signature of that team and identifier. */
  team?: string | undefined;
  identifier?: string | undefined;
  /** The running app's version: the staged copy's helper must be that version (an older signed build
   *  swapped in for the bundle is refused). */
  version?: string | undefined;
}

/** Apple's programs the script runs, by absolute path (root's PATH is not trusted); tests swap in stand-ins. */
export interface MacTools {
  mktemp: string;
  ditto: string;
  chown: string;
  chmod: string;
  codesign: string;
  rm: string;
  env: string;
  /** Where the staging directory is made: root's home, root:wheel 0750 on every Mac. */
  stageParent: string;
}

export const MAC_TOOLS: MacTools = {
  mktemp: '/usr/bin/mktemp',
  ditto: '/usr/bin/ditto',
  chown: '/usr/sbin/chown',
  chmod: '/bin/chmod',
  codesign: '/usr/bin/codesign',
  rm: '/bin/rm',
  env: '/usr/bin/env',
  stageParent: '/private/var/root',
};

/** A path inside `dir`, relative, or undefined when it lies outside. */
function inside(dir: string, path: string): string | undefined {
  const r = relative(dir, path);
  return r && !r.startsWith('..') && !isAbsolute(r) ? r : undefined;
}

/**
 * The script root runs on macOS (`do shell script`, i.e. /bin/sh): stage the bundle, and the CLI's
 * directory when it is not in the bundle (a development build), as root's; verify a signed bundle; run the
 * staged copy's `service install --copy-app` (which copies the bundle once more, to where the service runs
 * it from) or `service uninstall`; remove the stage on every way out.
 */
export function macInstallScript(
  plan: MacInstallPlan,
  tools: MacTools = MAC_TOOLS,
  sub: ServiceCommand = 'install',
): string {
  checkIds(plan);
  if (plan.team !== undefined && !/^[A-Z0-9]{10}$/.test(plan.team))
    throw new Error(`invalid Team ID ${JSON.stringify(plan.team)}`);
  if (plan.team !== undefined && !/^[A-Za-z0-9][A-Za-z0-9.-]*$/.test(plan.identifier ?? ''))
    throw new Error(`invalid signing identifier ${JSON.stringify(plan.identifier)}`);
  if (plan.version !== undefined && !/^[0-9A-Za-z.+-]+$/.test(plan.version))
    throw new Error(`invalid version ${JSON.stringify(plan.version)}`);
  const runtime = inside(plan.bundle, plan.runtime);
  if (!runtime || !/\.app$/.test(plan.bundle))
    throw new Error(`the app's binary ${plan.runtime} is not inside an app bundle (${plan.bundle})`);
  const name = plan.bundle.slice(plan.bundle.lastIndexOf('/') + 1);
  const cliInBundle = inside(plan.bundle, plan.cli);
  const cliDir = plan.cli.slice(0, plan.cli.lastIndexOf('/'));
  const cliName = plan.cli.slice(plan.cli.lastIndexOf('/') + 1);
  const q = quoteArg;
  const staged = (rel: string) => `"$S"/${q(rel)}`;
  const verify = plan.team
    ? [
        q(tools.codesign),
        '--verify --strict --deep -R',
        q(
          `=anchor apple generic and identifier "${plan.identifier}" and certificate leaf[subject.OU] = "${plan.team}"`,
        ),
        staged(name),
      ].join(' ')
    : undefined;
  return [
    'set -e',
    `S=$(${q(tools.mktemp)} -d ${q(`${tools.stageParent}/gangway-install.XXXXXXXX`)})`,
    `unstage() { ${q(tools.rm)} -rf "$S"; }`,
    'trap unstage EXIT',
    `${q(tools.ditto)} --noacl ${q(plan.bundle)} ${staged(name)}`,
    ...(cliInBundle ? [] : [`${q(tools.ditto)} --noacl ${q(cliDir)} ${staged('helper')}`]),
    `${q(tools.chown)} -R -h 0:0 "$S"`,
    `${q(tools.chmod)} -R go-w,u-s,g-s "$S"`,
    ...(verify ? [verify] : []),
    [
      q(tools.env),
      ...ROOT_ENV.slice(1).map(q),
      staged(`${name}/${runtime}`),
      staged(cliInBundle ? `${name}/${cliInBundle}` : `helper/${cliName}`),
      ...serviceArgs(plan, sub, true).map(q),
    ].join(' '),
  ].join('\n');
}

/** macOS: the copy method's uninstall, run by the installed copy itself (installed-helper.ts). */
export function macUninstallInstalledScript(
  h: { runtime: string; cli: string },
  env = MAC_TOOLS.env,
): string {
  return buildCommand([env, ...ROOT_ENV.slice(1), h.runtime, h.cli, ...UNINSTALL_ARGS]);
}
