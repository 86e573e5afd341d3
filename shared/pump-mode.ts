// GANGWAY_PUMP_MACLIKE=1: the bench's mac-like path. The daemon (and the agent, if it gets the variable too)
// opens its TUN framed as macOS utun frames packets and runs its pump one packet per syscall, with no
// offloads, so a Linux machine measures what a Mac pays per packet. Hidden on purpose: not a setting, not in
// any usage text; bench/maclike-path.ts sets it. On macOS the pump always works this way.
export const MACLIKE_ENV = 'GANGWAY_PUMP_MACLIKE';

/**
 * How the daemon and the agent open their TUN for the pump: the mac-like pump gets a utun-framed device and one
 * queue (a Mac's utun has one), whatever was asked; otherwise offloads as asked and a multi-queue device when
 * more than one queue runs. The options are native/index.ts OpenTunOptions.
 */
export function tunPlan(
  macLike: boolean,
  offload: boolean,
  queues: number,
): { queues: number; options: { macLike: true } | { offload: boolean; multiQueue: boolean } } {
  return macLike
    ? { queues: 1, options: { macLike: true } }
    : { queues, options: { offload, multiQueue: queues > 1 } };
}

/** True when the environment asks for the mac-like pump; throws on a value that is neither 1 nor 0. */
export function macLikePump(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env[MACLIKE_ENV];
  if (v === undefined || v === '' || v === '0') return false;
  if (v === '1') return true;
  throw new Error(
    `${MACLIKE_ENV} must be 1 (the bench's mac-like pump) or 0, got "${v.slice(0, 40)}"; unset it for normal use`,
  );
}
