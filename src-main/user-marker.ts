// A yes or no the app remembers across launches: a file in its user data folder, there or not. Losing it
// (a folder the app cannot write) costs no more than being asked once more.
import { existsSync, rmSync, writeFileSync } from 'node:fs';

export class UserMarker {
  private cached: boolean | undefined;

  constructor(private readonly file: () => string) {}

  get(): boolean {
    return (this.cached ??= existsSync(this.file()));
  }

  set(on: boolean): void {
    if (this.get() === on) return;
    this.cached = on;
    try {
      if (on) writeFileSync(this.file(), '');
      else rmSync(this.file(), { force: true });
    } catch {
      // remembered for this run only
    }
  }
}
