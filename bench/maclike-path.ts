// The gangway-maclike path: Gangway as a Mac runs it. macOS's utun has no offloads and no batched reads, and
// macOS has no public recvmmsg/sendmmsg or UDP GSO/GRO, so the daemon on a Mac pays one syscall per packet on
// each side of its pump. Here the daemon gets GANGWAY_PUMP_MACLIKE=1 (shared/pump-mode.ts): its TUN frames
// packets with a 4-byte header as utun does and its pump moves one packet per syscall, like
// native/src/udp_darwin.c and tun_darwin.c. The agent is left as it is, because on a Mac it runs in Docker's
// Linux VM, with offloads when the VM's kernel has them.
import { MACLIKE_ENV } from '../shared/pump-mode';

/** The environment the daemon of the gangway-maclike path starts with. */
export function maclikeDaemonEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...base, [MACLIKE_ENV]: '1' };
}
