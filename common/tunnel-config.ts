// Validation of the configuration the helper pushes to the agent. The agent trusts only authenticated
// messages, and even those are checked: a bad value must not reach `ip` or iptables.
import { z } from 'zod';
import { isIPv4, isIPv6 } from './ip-address';
import { parseCidr } from './cidr';

/** IPv6 needs an inner MTU of at least 1280 (RFC 8200): below it Linux takes IPv6 off the device. The helper
 *  sends no IPv6 addresses then, and the agent leaves IPv6 off if it gets them anyway. */
export const IPV6_MIN_MTU = 1280;

const ip6 = z.string().refine((s) => isIPv6(s), 'not an IPv6 address');
const ip = z.string().refine((s) => isIPv4(s) || isIPv6(s), 'not an IP address');
export const cidr = z.string().refine((s) => parseCidr(s) !== undefined, 'not a CIDR (like 172.18.0.0/16)');

/** A Linux interface name (IFNAMSIZ - 1 characters); it reaches iptables as an argument, never a shell. */
export const interfaceName = z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/, 'not an interface name');

// Not strict: fields this agent does not know (a newer helper's) are dropped, not refused. A refused
// configuration gets no CONFIG_ACK and leaves the agent without addresses until the container is replaced, so
// a new field must never cost an older agent its tunnel; new fields are optional, and absent means what older
// helpers did (common/wire.ts). The fields it knows are still checked.
export const tunnelConfigSchema = z
  .object({
    seq: z.number().int().min(1).max(0xffffffff),
    mtu: z.number().int().min(576).max(65_000),
    hostAddress: ip,
    agentAddress: ip,
    /** Absent from helpers older than IPv6, and when IPv6 is off: both or neither. */
    hostAddress6: ip6.optional(),
    agentAddress6: ip6.optional(),
    routes: z.array(cidr).max(4096),
    /** Absent from helpers older than joins: none. */
    joins: z
      .array(z.tuple([interfaceName, interfaceName]))
      .max(1024)
      .default([]),
    /** Absent from helpers older than checksum offload, and from a Mac's: every checksum complete. */
    checksumOffload: z.boolean().optional(),
    /** The longest keepalive interval the helper accepts from an idle agent (common/wire.ts); absent from
     *  helpers older than idle keepalives: every 2 s. */
    keepaliveMaxMs: z.number().int().min(1_000).max(60_000).optional(),
  })
  .refine((c) => (c.hostAddress6 === undefined) === (c.agentAddress6 === undefined), {
    message: 'hostAddress6 and agentAddress6 come together',
  });
