// The CLI's exit codes (documented in the README): scripts depend on them.
export const EXIT = { ok: 0, failure: 1, usage: 2, unreachable: 3 } as const;
