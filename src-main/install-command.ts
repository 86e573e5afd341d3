// What the helper install runs as root, built without Electron so it is tested directly: the packaged CLI,
// every argument quoted, and the environment `service install` needs.
import { buildCommand } from './shell-quote';

export const WHY_ADMIN =
  'Gangway’s helper runs as a system service. It needs administrator rights once, to be installed, because it ' +
  'creates a network interface (the tunnel to Docker’s VM) and adds routes to your containers’ networks. ' +
  'Nothing else on your computer is changed.';

export interface InstallPlan {
  /** The program that runs the CLI: the app's own binary, run as Node. */
  runtime: string;
  cli: string;
  uid: number;
  gid: number;
}

/**
 * The command sudo-prompt runs, every argument quoted. It goes through /usr/bin/env because pkexec (Linux)
 * clears the environment: ELECTRON_RUN_AS_NODE makes the app's own binary run the CLI as Node. The user
 * who gets the control socket is named on the command line: the prompt sets no SUDO_UID.
 */
export function installCommand(plan: InstallPlan): string {
  for (const [name, id] of [
    ['uid', plan.uid],
    ['gid', plan.gid],
  ] as const)
    if (!Number.isInteger(id) || id < 0) throw new Error(`invalid ${name} ${id}`);
  return buildCommand([
    '/usr/bin/env',
    'ELECTRON_RUN_AS_NODE=1',
    plan.runtime,
    plan.cli,
    'service',
    'install',
    '--socket-owner',
    `${plan.uid}:${plan.gid}`,
  ]);
}
