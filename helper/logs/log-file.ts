// The daemon's log file: JSON lines, appended synchronously (a crash loses no line that was logged), rotated
// by size to FILE.1 … FILE.<keep> so a chatty daemon never fills the disk. Writing a log line must never
// take the daemon down: a failing write is counted and reported once on stderr, then retried on rotation.
import { closeSync, fstatSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export const DEFAULT_MAX_BYTES = 5 * 1024 * 1024;
export const DEFAULT_KEEP = 3;

export interface LogFileOptions {
  maxBytes?: number;
  /** Rotated files kept besides the current one. */
  keep?: number;
}

export class LogFile {
  private fd: number | undefined;
  private size = 0;
  private readonly maxBytes: number;
  private readonly keep: number;
  /** Lines that could not be written. */
  failed = 0;

  constructor(
    readonly path: string,
    opts: LogFileOptions = {},
  ) {
    this.maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
    this.keep = opts.keep ?? DEFAULT_KEEP;
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    this.open();
  }

  /** Rotated files, newest first (FILE.1 is the one before the current file). */
  static rotatedPaths(path: string, keep = DEFAULT_KEEP): string[] {
    return Array.from({ length: keep }, (_, i) => `${path}.${i + 1}`);
  }

  write(line: string): void {
    if (this.fd === undefined) this.open();
    if (this.fd === undefined) {
      this.failed++;
      return;
    }
    const bytes = Buffer.from(line);
    if (this.size > 0 && this.size + bytes.length > this.maxBytes) this.rotate();
    try {
      if (this.fd === undefined) throw new Error('log file not open');
      writeSync(this.fd, bytes);
      this.size += bytes.length;
    } catch (err) {
      if (this.failed++ === 0)
        process.stderr.write(`cannot write the log file ${this.path}: ${String(err)}\n`);
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private open(): void {
    try {
      // 0640: logs name networks and containers; the owning user reads them through the API.
      this.fd = openSync(this.path, 'a', 0o640);
      this.size = fstatSync(this.fd).size;
    } catch (err) {
      this.fd = undefined;
      if (this.failed++ === 0)
        process.stderr.write(`cannot open the log file ${this.path}: ${String(err)}\n`);
    }
  }

  private rotate(): void {
    this.close();
    const rotated = LogFile.rotatedPaths(this.path, this.keep);
    try {
      rmSync(rotated[rotated.length - 1] ?? `${this.path}.1`, { force: true });
      for (let i = rotated.length - 1; i > 0; i--) {
        try {
          renameSync(rotated[i - 1] as string, rotated[i] as string);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
      }
      renameSync(this.path, rotated[0] ?? `${this.path}.1`);
    } catch (err) {
      process.stderr.write(`cannot rotate the log file ${this.path}: ${String(err)}\n`);
    }
    this.open();
  }
}
