// Follows the host's routing table through the platform's monitor command (`ip monitor route` on Linux,
// `route -n monitor` on macOS) and reports changes, debounced. The daemon re-plans on each: a route deleted
// by hand comes back at once, and a VPN that appears is seen as a conflict without waiting for a resync.
// Each re-plan reads the whole routing table, so output that cannot change the plan must not cause one: an
// idle laptop on a busy network would otherwise re-plan all the time. `ip monitor route` prints only routes;
// macOS's routing socket also carries the neighbour cache, lookups and interface flags, which the command's
// `relevant` filter (net-darwin.ts) drops line by line.
import { spawn, type ChildProcess } from 'node:child_process';
import { LineBuffer } from '../../common/line-buffer';
import type { Logger } from '../../common/log';

/** A line longer than this is no monitor message; dropped rather than held without end. */
const MAX_LINE = 64 * 1024;

export interface RouteMonitorOptions {
  command: {
    cmd: string;
    args: string[];
    /** Whether one line of the output can change the plan; without it, any output counts. */
    relevant?: (line: string) => boolean;
  };
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
    const { cmd, args, relevant } = this.o.command;
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    this.child = child;
    const lines = new LineBuffer({ maxPending: MAX_LINE, overflow: 'drop' });
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      this.failures = 0;
      if (relevant && !lines.push(chunk).some(relevant)) return;
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
