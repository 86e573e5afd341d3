// What the helper install runs as root, built without Electron so it is tested directly: the packaged CLI,
// every argument quoted (and, on Linux, quoted once more for sudo-prompt's `bash -c "…"`), and the
// environment `service install` needs.
import { buildCommand, forSudoPromptLinux } from './shell-quote';

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

/**
 * The command sudo-prompt runs, every argument quoted. It goes through /usr/bin/env because pkexec (Linux)
 * clears the environment: ELECTRON_RUN_AS_NODE makes the app's own binary run the CLI as Node. The user
 * who gets the control socket is named on the command line: the prompt sets no SUDO_UID. macOS runs the
 * command as a script, Linux inside sudo-prompt's `/bin/bash -c "…"`, which needs the second quoting.
 */
export function installCommand(plan: InstallPlan, platform: NodeJS.Platform = process.platform): string {
  for (const [name, id] of [
    ['uid', plan.uid],
    ['gid', plan.gid],
  ] as const)
    if (!Number.isInteger(id) || id < 0) throw new Error(`invalid ${name} ${id}`);
  const command = buildCommand([
    '/usr/bin/env',
    'ELECTRON_RUN_AS_NODE=1',
    plan.runtime,
    plan.cli,
    'service',
    'install',
    '--socket-owner',
    `${plan.uid}:${plan.gid}`,
  ]);
  return platform === 'linux' ? forSudoPromptLinux(command) : command;
}
