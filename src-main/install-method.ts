// How the app installs its root helper, decided from plain facts so it is tested without Electron:
//   refuse          the app runs from a disk image (/Volumes) or an App Translocation path: whatever it
//                   installed would vanish or move; the user moves Gangway to Applications first
//   sm-app-service  macOS 13+, packaged and signed: SMAppService registers the plist inside the bundle and
//                   launchd checks the bundle's signature before it starts the helper
//   copy            everything else (Linux, unsigned or development builds, older macOS): the administrator
//                   prompt runs `gangway service install`, which copies the helper into a root-owned
//                   directory (helper/service/helper-copy.ts); on macOS the app bundle too, whole, as the
//                   service's runtime is the app's binary and the bundle is its user's
import { transientLocation } from '../common/install-location';
import { SM_SERVICE_NAME } from './daemon-service-plist';

export type InstallMethod =
  { kind: 'refuse'; message: string } | { kind: 'sm-app-service'; serviceName: string } | { kind: 'copy' };

export interface InstallFacts {
  platform: NodeJS.Platform;
  /** os.release(): Darwin 22 is macOS 13. */
  osRelease: string;
  packaged: boolean;
  /** Whether codesign accepts the app bundle. */
  signed: boolean;
  /** The app's own path (its bundle on macOS, its binary elsewhere). */
  appPath: string;
  /** macOS: COPY_SERVICE_PLIST exists, a helper installed by the copy method (the app of another build, or
   *  `sudo gangway service install`). */
  copyServiceInstalled?: boolean;
}

/** Where the copy method's launchd job lives (helper/service/service-darwin.ts writes it). */
export const COPY_SERVICE_PLIST = '/Library/LaunchDaemons/dev.gangway.helper.plist';

export function chooseInstallMethod(f: InstallFacts): InstallMethod {
  if (f.platform === 'darwin') {
    const transient = transientLocation(f.appPath);
    if (transient) return { kind: 'refuse', message: transient };
    const darwinMajor = Number(/^(\d+)\./.exec(f.osRelease)?.[1] ?? 0);
    // A helper the copy method installed stays with it: registering the SMAppService job beside it would
    // give launchd a second job of the same label, and the old copy would go on running, never updated.
    if (darwinMajor >= 22 && f.packaged && f.signed && !f.copyServiceInstalled)
      return { kind: 'sm-app-service', serviceName: SM_SERVICE_NAME };
  }
  return { kind: 'copy' };
}
