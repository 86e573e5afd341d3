// Where the daemon's control socket is unless --socket says otherwise: the CLI and the app find the daemon
// there without loading any daemon code.
export function defaultSocketPath(platform: NodeJS.Platform = process.platform): string {
  return platform === 'darwin' ? '/var/run/gangway/gangway.sock' : '/run/gangway/gangway.sock';
}
