// The helper the copy method installed on macOS, as its root-owned plist names it: the copied app's binary and
// the copied gangway.js under /Library/PrivilegedHelperTools/dev.gangway.helper. Its uninstall runs those, so
// it needs nothing of the app's own bundle (which may since have been changed, moved or translocated) and
// copies nothing. The plist and that directory are root's (the install checked them).
import { plistPrograms } from '../common/plist-programs';

/** helper/service/helper-copy.ts DARWIN_HELPER_DIR (the app may not import the helper). */
export const INSTALLED_HELPER_DIR = '/Library/PrivilegedHelperTools/dev.gangway.helper';

export interface InstalledHelper {
  runtime: string;
  cli: string;
}

/** The runtime and CLI a launchd plist of ours starts, when both lie inside the installed copy. */
export function installedHelper(plistXml: string): InstalledHelper | undefined {
  const [runtime, cli] = plistPrograms(plistXml);
  const ours = (p: string | undefined): p is string =>
    p !== undefined &&
    p.startsWith(`${INSTALLED_HELPER_DIR}/`) &&
    !p.split('/').includes('..') &&
    !/[\0\r\n]/.test(p);
  return ours(runtime) && ours(cli) ? { runtime, cli } : undefined;
}
