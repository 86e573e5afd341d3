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
  user: string;
}

/** The command sudo-prompt runs, every argument quoted; also the environment it needs. */
export function installCommand(plan: InstallPlan): { command: string; env: Record<string, string> } {
  return {
    command: buildCommand([plan.runtime, plan.cli, 'service', 'install']),
    // `service install` gives the control socket to the sudo caller: sudo-prompt's elevation (osascript,
    // pkexec) sets no SUDO_UID, so the user is named here. ELECTRON_RUN_AS_NODE makes the app's binary Node.
    env: {
      ELECTRON_RUN_AS_NODE: '1',
      SUDO_UID: String(plan.uid),
      SUDO_GID: String(plan.gid),
      SUDO_USER: plan.user,
    },
  };
}
