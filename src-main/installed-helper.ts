// The helper the copy method installed on macOS, as its root-owned plist names it: the copied app's binary and
// the copied gangway.js under /Library/PrivilegedHelperTools/dev.gangway.helper. Its uninstall runs those, so
// it needs nothing of the app's own bundle (which may since have been changed, moved or translocated) and
// copies nothing. The plist and that directory are root's (the install checked them).

/** helper/service/helper-copy.ts DARWIN_HELPER_DIR (the app may not import the helper). */
export const INSTALLED_HELPER_DIR = '/Library/PrivilegedHelperTools/dev.gangway.helper';

export interface InstalledHelper {
  runtime: string;
  cli: string;
}

const unescape = (s: string) =>
  s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');

/** The runtime and CLI a launchd plist of ours starts, when both lie inside the installed copy. */
export function installedHelper(plistXml: string): InstalledHelper | undefined {
  const array = /<key>ProgramArguments<\/key>\s*<array>([\s\S]*?)<\/array>/.exec(plistXml)?.[1];
  const args = [...(array ?? '').matchAll(/<string>([^<]*)<\/string>/g)].map((m) => unescape(m[1] ?? ''));
  const [runtime, cli] = args;
  const ours = (p: string | undefined): p is string =>
    p !== undefined &&
    p.startsWith(`${INSTALLED_HELPER_DIR}/`) &&
    !p.split('/').includes('..') &&
    !/[\0\r\n]/.test(p);
  return ours(runtime) && ours(cli) ? { runtime, cli } : undefined;
}
