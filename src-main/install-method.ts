// How the app installs its root helper, decided from plain facts so it is tested without Electron:
//   refuse          the app runs from a disk image (/Volumes) or an App Translocation path: whatever it
//                   installed would vanish or move; the user moves Gangway to Applications first. Or, on
//                   Linux, from an AppImage: its files are in a FUSE mount of the user's, which root cannot
//                   read, and are the user's to change (`service install` refuses such a runtime), so the
//                   install could only fail after the password prompt; the user installs the .deb instead
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
  /** Whether a developer signed the running app (a Team ID in its signature). */
  signed: boolean;
  /** macOS: the signed app's bundle on disk fails `codesign --verify` (its words): changed since. */
  signatureBroken?: string | undefined;
  /** The app's own path (its bundle on macOS, its binary elsewhere). */
  appPath: string;
  /** macOS: COPY_SERVICE_PLIST exists, a helper installed by the copy method (the app of another build, or
   *  `sudo gangway service install`). */
  copyServiceInstalled?: boolean;
  /** Linux: APPIMAGE, the .AppImage file, which the AppImage runtime sets for the app it starts. */
  appImage?: string;
  /** Linux: APPDIR, where that runtime mounted (or extracted) the AppImage's files. The app runs from an
   *  AppImage when appPath lies in it: a program started from another AppImage inherits both variables. */
  appImageDir?: string;
}

/** Where the copy method's launchd job lives (helper/service/service-darwin.ts writes it). */
export const COPY_SERVICE_PLIST = '/Library/LaunchDaemons/dev.gangway.helper.plist';
/** Where the Linux service's unit lives (helper/service/service-linux.ts writes it). */
export const SYSTEMD_UNIT = '/etc/systemd/system/gangway.service';

/** The AppImage runtime's default mount point, $TMPDIR/.mount_XXXXXX, should APPDIR not be known. */
const APPIMAGE_MOUNT = /\/\.mount_[^/]+\//;

function fromAppImage(f: InstallFacts): boolean {
  const dir = f.appImageDir?.replace(/\/+$/, '');
  return (!!dir && f.appPath.startsWith(`${dir}/`)) || APPIMAGE_MOUNT.test(f.appPath);
}

export function chooseInstallMethod(f: InstallFacts): InstallMethod {
  if (f.platform === 'linux' && fromAppImage(f))
    return {
      kind: 'refuse',
      message:
        `Gangway runs from an AppImage${f.appImage ? ` (${f.appImage})` : ''}, and the helper cannot be ` +
        `installed from one: root cannot read the AppImage's files, mounted for your user alone, and a system ` +
        `service must not run files that you can change. Install Gangway's .deb package instead, or run ` +
        `\`sudo gangway service install\` from a copy of Gangway that root owns`,
    };
  if (f.platform === 'darwin' && f.signed && f.signatureBroken !== undefined)
    return {
      kind: 'refuse',
      message:
        `Gangway.app no longer matches its signature (${f.signatureBroken}): something changed its files ` +
        `after it was installed, and the helper, which runs as root, is not installed from it. Install ` +
        `Gangway again (download it anew), then install the helper.`,
    };
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

/** How the installed helper is removed: the way it was installed. An SMAppService job is unregistered (no
 *  password); anything else is `gangway service uninstall` as root, refused where an install would be (the
 *  app cannot hand root its files from there). */
export function chooseUninstallMethod(f: InstallFacts & { smRegistered: boolean }): InstallMethod {
  if (f.platform === 'darwin' && !f.copyServiceInstalled && f.smRegistered)
    return { kind: 'sm-app-service', serviceName: SM_SERVICE_NAME };
  const m = chooseInstallMethod({ ...f, copyServiceInstalled: true });
  if (m.kind !== 'refuse') return { kind: 'copy' };
  const cli =
    f.platform === 'darwin'
      ? 'cd /Library/PrivilegedHelperTools/dev.gangway.helper && sudo env ELECTRON_RUN_AS_NODE=1 ' +
        'Gangway.app/Contents/MacOS/Gangway gangway.js service uninstall'
      : 'sudo gangway service uninstall';
  return {
    kind: 'refuse',
    message: `The app cannot remove the helper from here: ${m.message.replace(/\.$/, '')}. To remove it without the app: ${cli}`,
  };
}
