// Registering Gangway's DNS server with the operating system for the suffix only, so that other names keep
// going to the usual resolvers. One implementation per platform behind this interface.
import { DarwinResolver } from './resolver-darwin';
import { LinuxResolver } from './resolver-linux';

export interface ResolverTarget {
  /** The DNS server's address and port. */
  address: string;
  port: number;
  suffix: string;
  /** The TUN device (Linux: the link the configuration is attached to). */
  device: string;
}

export interface RegisterResult {
  /** Where it is registered (a file, a link), or null when it is not. */
  where: string | null;
  /** Why not, and what to do, when it is not. */
  hint?: string;
}

export interface OsResolver {
  register(t: ResolverTarget): Promise<RegisterResult>;
  /** Undoes the last successful register(); a no-op otherwise. */
  unregister(): Promise<void>;
}

/** A platform without a supported mechanism: the server still answers, names just do not resolve by default. */
class NoResolver implements OsResolver {
  constructor(private readonly platform: string) {}
  register(): Promise<RegisterResult> {
    return Promise.resolve({
      where: null,
      hint: `registering a DNS server is not supported on ${this.platform}; query it directly`,
    });
  }
  unregister(): Promise<void> {
    return Promise.resolve();
  }
}

export function createOsResolver(
  platform: NodeJS.Platform = process.platform,
  resolverDir?: string,
): OsResolver {
  if (resolverDir) return new DarwinResolver(resolverDir);
  if (platform === 'darwin') return new DarwinResolver();
  if (platform === 'linux') return new LinuxResolver();
  return new NoResolver(platform);
}

/**
 * What `gangway service uninstall` removes: registrations a daemon that did not stop cleanly left behind.
 * Returns what was removed.
 */
export async function removeLeftoverRegistrations(
  platform: NodeJS.Platform = process.platform,
): Promise<string[]> {
  // Linux's per-link configuration goes with the TUN device, which goes with the daemon's process.
  if (platform !== 'darwin') return [];
  return new DarwinResolver().removeAllOurs();
}
