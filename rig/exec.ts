// Running commands inside the rig's namespaces. Always argument arrays, never a shell.
import { execFile, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs a command and resolves with its output; rejects with the command line and stderr on failure. */
export function run(cmd: string, args: string[], opts: { timeoutMs?: number; allowFail?: boolean } = {}) {
  return new Promise<RunResult>((resolve, reject) => {
    execFile(
      cmd,
      args,
      { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        if (err && !opts.allowFail) {
          reject(
            new Error(
              `${cmd} ${args.join(' ')} failed (${String(err.code ?? err.signal)}): ${stderr || err.message}`,
            ),
          );
          return;
        }
        resolve({ stdout, stderr, code });
      },
    );
  });
}

/** `ip netns exec NS cmd args...` */
export function nsRun(
  ns: string,
  cmd: string,
  args: string[],
  opts: { timeoutMs?: number; allowFail?: boolean } = {},
) {
  return run('ip', ['netns', 'exec', ns, cmd, ...args], opts);
}

/** Starts a long-running process inside a namespace. The caller (usually the Rig) must kill it. */
export function nsSpawn(ns: string, cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['pipe', 'pipe', 'pipe'], ...opts });
}

/** Resolves when `pred` returns a truthy value, polling every `intervalMs`; rejects after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  pred: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 10_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await pred();
      if (v) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) {
      const why = lastErr instanceof Error ? `: ${lastErr.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
