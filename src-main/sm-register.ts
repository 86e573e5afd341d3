// Registering the helper's SMAppService daemon, again for an update, from plain calls so it is tested without
// Electron. Unregistering finishes after its call returns: a register meanwhile fails ("Operation not
// permitted", nielsmouthaan/ejectify-macos#139), and Electron only logs that, so the helper would be left
// unregistered. So the update waits (bounded) until the old registration is gone, and a register that did not
// take is tried again, each for a few seconds.
/** What Electron's getLoginItemSettings says of a daemonService. */
export type DaemonServiceStatus = 'not-registered' | 'enabled' | 'requires-approval' | 'not-found';

export interface SmCalls {
  register: () => void;
  unregister: () => void;
  status: () => DaemonServiceStatus;
  sleep: (ms: number) => Promise<void>;
  now: () => number;
}

export const UNREGISTER_WAIT_MS = 5_000;
export const REGISTER_RETRY_MS = 10_000;
export const POLL_MS = 250;

/** Registers (after unregistering, for an update) and returns the status it ends in. */
export async function registerService(calls: SmCalls, update: boolean): Promise<DaemonServiceStatus> {
  if (update) {
    calls.unregister();
    const until = calls.now() + UNREGISTER_WAIT_MS;
    while (calls.status() !== 'not-registered' && calls.now() < until) await calls.sleep(POLL_MS);
  }
  const until = calls.now() + REGISTER_RETRY_MS;
  for (;;) {
    calls.register();
    const status = calls.status();
    if (status !== 'not-registered' || calls.now() >= until) return status;
    await calls.sleep(POLL_MS * 2);
  }
}

/** Unregisters (the helper's uninstall) and waits, bounded, until launchd has let it go; returns the status it
 *  ends in ('not-registered' when it went). */
export async function unregisterService(calls: SmCalls): Promise<DaemonServiceStatus> {
  calls.unregister();
  const until = calls.now() + UNREGISTER_WAIT_MS;
  let status = calls.status();
  while (status !== 'not-registered' && status !== 'not-found' && calls.now() < until) {
    await calls.sleep(POLL_MS);
    status = calls.status();
  }
  return status;
}
