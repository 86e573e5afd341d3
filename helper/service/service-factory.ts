// The one place that picks the service manager for the platform.
import type { Runner } from '../../shared/exec';
import { LaunchdServiceManager } from './service-darwin';
import { SystemdServiceManager } from './service-linux';
import type { ServiceManager } from './service-manager';

export interface ServiceFactoryDeps {
  runner?: Runner;
  /** Overrides /etc/systemd/system or /Library/LaunchDaemons (tests). */
  dir?: string;
  /** Overrides /run/systemd/system (tests). */
  systemdRuntimeDir?: string;
}

export function createServiceManager(
  platform: NodeJS.Platform = process.platform,
  deps: ServiceFactoryDeps = {},
): ServiceManager {
  switch (platform) {
    case 'linux':
      return new SystemdServiceManager({
        runner: deps.runner,
        unitDir: deps.dir,
        systemdRuntimeDir: deps.systemdRuntimeDir,
      });
    case 'darwin':
      return new LaunchdServiceManager({ runner: deps.runner, plistDir: deps.dir });
    default:
      throw new Error(`gangway service is not supported on ${platform}`);
  }
}
