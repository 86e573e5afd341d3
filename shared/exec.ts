// The one way the helper runs external programs: execFile with an argument array, never a shell, so no
// value from the network, the API or a Docker name can become a command.
import { execFile } from 'node:child_process';

export class CommandError extends Error {
  constructor(
    readonly cmd: string,
    readonly args: readonly string[],
    readonly stderr: string,
    readonly exitCode: number | string | undefined,
  ) {
    super(`${cmd} ${args.join(' ')}: ${stderr.trim() || `exit ${String(exitCode)}`}`);
  }
}

export type Runner = (cmd: string, args: readonly string[]) => Promise<string>;

export const runCommand: Runner = (cmd, args) =>
  new Promise((resolve, reject) => {
    execFile(cmd, [...args], { timeout: 15_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new CommandError(cmd, args, stderr, err.code ?? err.signal ?? undefined));
      else resolve(stdout);
    });
  });
