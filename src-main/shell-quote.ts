// @vscode/sudo-prompt takes one command string and hands it to a shell as root. Every argument is quoted
// here, strictly: single quotes for POSIX shells (nothing is special inside them but the quote itself), and
// characters no argument of ours may carry (NUL, line breaks) are refused rather than escaped.

export class UnsafeArgumentError extends Error {}

/** One argument, quoted for sh: 'it'\''s' stays one word whatever it holds. */
export function quoteArg(arg: string): string {
  if (/[\0\r\n]/.test(arg))
    throw new UnsafeArgumentError(`an argument holds a NUL or a line break: ${JSON.stringify(arg)}`);
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** A whole command line from an argument list (the program first). */
export function buildCommand(argv: readonly string[]): string {
  if (argv.length === 0) throw new UnsafeArgumentError('no program to run');
  return argv.map(quoteArg).join(' ');
}

/**
 * Linux: @vscode/sudo-prompt wraps the command as `/bin/bash -c "…"` inside a line that /bin/sh runs, and
 * escapes only `"` in it. Inside those double quotes sh still expands `$`, backticks and `\`: escaping
 * them here hands bash exactly the command built above, whatever a path holds.
 */
export function forSudoPromptLinux(command: string): string {
  return command.replace(/[\\$`]/g, '\\$&');
}
