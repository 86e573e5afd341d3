// The XDG autostart entry (~/.config/autostart/gangway.desktop) that starts the app at login on Linux.
// Desktop-entry Exec lines have their own quoting: double quotes, with ", `, $ and \ escaped by a backslash.

export const AUTOSTART_FILE_NAME = 'gangway.desktop';

export function quoteExecArg(arg: string): string {
  if (/[\0\r\n]/.test(arg))
    throw new Error(`cannot put a NUL or a line break in an Exec line: ${JSON.stringify(arg)}`);
  // A literal % must be doubled: %f, %u … are field codes.
  const escaped = arg.replace(/(["`$\\])/g, '\\$1').replace(/%/g, '%%');
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg.replace(/%/g, '%%') : `"${escaped}"`;
}

export function autostartDesktopEntry(execPath: string, args: readonly string[] = []): string {
  return [
    '[Desktop Entry]',
    'Type=Application',
    'Version=1.0',
    'Name=Gangway',
    'Comment=Reach Docker containers by IP and by name',
    `Exec=${[execPath, ...args].map(quoteExecArg).join(' ')}`,
    'Terminal=false',
    'X-GNOME-Autostart-enabled=true',
    '',
  ].join('\n');
}
