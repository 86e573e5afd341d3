// Named event counters: every dropped or rejected control message is counted under a reason, so that bad
// input is visible in `gangway status` instead of silently ignored.
export class Counters<K extends string> {
  private readonly values: Record<string, number> = {};

  constructor(names: readonly K[]) {
    for (const n of names) this.values[n] = 0;
  }

  inc(name: K, by = 1): void {
    this.values[name] = (this.values[name] ?? 0) + by;
  }

  get(name: K): number {
    return this.values[name] ?? 0;
  }

  snapshot(): Record<K, number> {
    return { ...this.values } as Record<K, number>;
  }
}
