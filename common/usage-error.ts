// A command line that cannot be run as given: the CLI prints the message (which names the rule and the way
// out) and exits 2. Shared by the CLI and the daemon's flag parser, so one `instanceof` catches both.
export class UsageError extends Error {}
