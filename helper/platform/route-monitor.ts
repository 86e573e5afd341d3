// Follows the host's routing table through the platform's monitor command (`ip monitor route` on Linux,
// `route -n monitor` on macOS) and reports changes, debounced. The daemon re-plans on each: a route deleted
// by hand comes back at once, and a VPN that appears is seen as a conflict without waiting for a resync.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '../../common/log';

export interface RouteMonitorOptions {
  command: { cmd: string; args: string[] };
  onChange: () => void;
  log?: Logger;
  debounceMs?: number;
}

export class RouteMonitor {
  private child: ChildProcess | undefined;
  private timer: NodeJS.Timeout | undefined;
  private restart: NodeJS.Timeout | undefined;
  private stopped = false;
  private failures = 0;

  constructor(private readonly o: RouteMonitorOptions) {}

  start(): void {
    this.stopped = false;
    this.spawn();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.restart);
    this.child?.kill();
    this.child = undefined;
  }

  private spawn(): void {
    const { cmd, args } = this.o.command;
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    this.child = child;
    child.stdout?.on('data', () => {
      this.failures = 0;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.o.onChange(), this.o.debounceMs ?? 100);
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      // Without the monitor, the periodic resync still catches changes, only later.
      this.o.log?.warn('cannot follow the routing table; relying on the periodic check', {
        command: cmd,
        error: err.message,
      });
      this.stopped = true;
    });
    child.on('exit', () => {
      if (this.child === child) this.child = undefined;
      if (this.stopped) return;
      const delay = Math.min(30_000, 500 * 2 ** this.failures++);
      this.restart = setTimeout(() => this.spawn(), delay);
    });
  }
}
