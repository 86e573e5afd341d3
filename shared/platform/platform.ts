// The only place that looks at process.platform: it picks the implementation of each platform interface.
import { runCommand, type Runner } from '../exec';
import { DarwinNet } from './net-darwin';
import { LinuxNet } from './net-linux';
import type { NetPlatform } from './net-platform';

export function createNetPlatform(
  run: Runner = runCommand,
  platform: NodeJS.Platform = process.platform,
): NetPlatform {
  switch (platform) {
    case 'linux':
      return new LinuxNet(run);
    case 'darwin':
      return new DarwinNet(run);
    default:
      throw new Error(`Gangway's helper does not support ${platform} yet (supported: linux, darwin)`);
  }
}

/** The TUN device name to ask for: macOS assigns utunN itself. */
export function defaultTunName(platform: NodeJS.Platform = process.platform): string {
  return platform === 'darwin' ? 'utun' : 'gw0';
}
