// Counting the syscalls of one thread with `strace -c`: attach, let the caller do its work, detach, parse
// the summary. Bounded: strace is killed after `maxMs` whatever happens.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface SyscallCount {
  calls: number;
  errors: number;
}

/** Parses `strace -c -U calls,errors,name` output into counts by syscall name. */
export function parseStraceSummary(text: string): Map<string, SyscallCount> {
  const out = new Map<string, SyscallCount>();
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+)\s+(\d+)?\s+([a-z_0-9]+)\s*$/.exec(line);
    if (!m || m[3] === 'total') continue;
    out.set(m[3]!, { calls: Number(m[1]), errors: Number(m[2] ?? 0) });
  }
  return out;
}

/** The thread of process `pid` whose name (comm) is `name`. */
export function threadId(pid: number, name: string): number {
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    if (readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim() === name) return Number(tid);
  }
  throw new Error(`process ${pid} has no thread named ${name}`);
}

export class StraceCount {
  private stderr = '';
  private readonly exited: Promise<void>;
  private readonly killer: NodeJS.Timeout;

  private constructor(
    private readonly child: ChildProcess,
    maxMs: number,
  ) {
    child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((r) => child.once('exit', () => r()));
    this.killer = setTimeout(() => child.kill('SIGKILL'), maxMs);
  }

  /** Attaches to thread `tid` (only that thread) and resolves once strace says it is attached. */
  static async attach(tid: number, maxMs = 60_000): Promise<StraceCount> {
    const child = spawn('strace', ['-c', '-U', 'calls,errors,name', '-p', String(tid)], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const s = new StraceCount(child, maxMs);
    const deadline = Date.now() + 10_000;
    while (!/attached/.test(s.stderr)) {
      if (child.exitCode !== null || Date.now() > deadline) {
        s.stop();
        throw new Error(`strace did not attach to ${tid}: ${s.stderr}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    return s;
  }

  /** Detaches (SIGINT makes strace print its summary) and returns the counts. */
  async detach(): Promise<Map<string, SyscallCount>> {
    this.child.kill('SIGINT');
    await this.exited;
    clearTimeout(this.killer);
    return parseStraceSummary(this.stderr);
  }

  stop(): void {
    clearTimeout(this.killer);
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}
