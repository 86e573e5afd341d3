// GANGWAY_PUMP_MACLIKE=1: the bench's mac-like path. The daemon (and the agent, if it gets the variable too)
// opens its TUN framed as macOS utun frames packets and runs its pump one packet per syscall, with no
// offloads, so a Linux machine measures what a Mac pays per packet. Hidden on purpose: not a setting, not in
// any usage text; bench/maclike-path.ts sets it. On macOS the pump always works this way.
export const MACLIKE_ENV = 'GANGWAY_PUMP_MACLIKE';

/** True when the environment asks for the mac-like pump; throws on a value that is neither 1 nor 0. */
export function macLikePump(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env[MACLIKE_ENV];
  if (v === undefined || v === '' || v === '0') return false;
  if (v === '1') return true;
  throw new Error(
    `${MACLIKE_ENV} must be 1 (the bench's mac-like pump) or 0, got "${v.slice(0, 40)}"; unset it for normal use`,
  );
}
