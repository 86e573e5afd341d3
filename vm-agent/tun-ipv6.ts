// The agent's TUN side of IPv6: its tunnel address and the host's, when the helper's configuration carries
// them (hostAddress6/agentAddress6), and nothing global when it does not. IPv4 addressing stays with
// LinuxNet.configureTun, which knows one family per call.
import { readFileSync } from 'node:fs';
import type { Logger } from '../common/log';
import { IPV6_MIN_MTU } from '../common/tunnel-config';
import type { TunnelConfig } from '../common/wire';
import type { Runner } from '../shared/exec';

export interface TunAddressing6 {
  /** The agent's IPv6 tunnel address. */
  local: string;
  /** The host's IPv6 tunnel address (point-to-point peer: the kernel adds its /128 route on the TUN). */
  peer: string;
}

/** The configuration's IPv6 tunnel addresses, when it has them and the MTU can carry IPv6. */
export function ipv6Of(cfg: TunnelConfig, log: Logger): TunAddressing6 | undefined {
  if (cfg.agentAddress6 === undefined || cfg.hostAddress6 === undefined) return undefined;
  if (cfg.mtu < IPV6_MIN_MTU) {
    log.warn('IPv6 left off: the tunnel MTU is below the 1280 bytes IPv6 needs', { mtu: cfg.mtu });
    return undefined;
  }
  return { local: cfg.agentAddress6, peer: cfg.hostAddress6 };
}

/**
 * Gives the TUN the agent's IPv6 address and a route to the host's, or (undefined) removes any global IPv6
 * address it had: a re-addressed or IPv6-off configuration must not leave the old one. The link-local
 * address stays (scope global only). nodad: a point-to-point TUN has no one to collide with, and the address
 * is usable at once.
 */
export async function configureTun6(
  run: Runner,
  device: string,
  a: TunAddressing6 | undefined,
): Promise<void> {
  await run('ip', ['-6', 'addr', 'flush', 'dev', device, 'scope', 'global']);
  if (!a) return;
  await run('ip', ['-6', 'addr', 'replace', a.local, 'peer', a.peer, 'dev', device, 'nodad']);
}

/**
 * Whether the VM forwards IPv6. The agent does not turn it on: Docker does when it makes a network with
 * IPv6 (and only such networks have container addresses to reach), turning it on would stop the VM from taking
 * router advertisements on its own links, and /proc/sys is read-only in the agent's container anyway.
 */
export function ipv6Forwarding(file = '/proc/sys/net/ipv6/conf/all/forwarding'): boolean | undefined {
  try {
    return readFileSync(file, 'utf8').trim() === '1';
  } catch {
    return undefined; // no IPv6 in this kernel
  }
}
