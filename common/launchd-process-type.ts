// launchd throttles the CPU and I/O of a job whose plist names no ProcessType ("light resource limits",
// launchd.plist(5)). The helper moves the user's traffic to their containers while they wait on it (a curl,
// a browser tab, a database client), so both of its plists ask for what apps get: no limits.
export const HELPER_PROCESS_TYPE = 'Interactive';
