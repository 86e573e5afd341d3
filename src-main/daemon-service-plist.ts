// macOS 13+: the signed app registers its helper with SMAppService (Electron's
// app.setLoginItemSettings({ type: 'daemonService' })). launchd reads this plist from the app's own
// Contents/Library/LaunchDaemons and starts BundleProgram, a path inside the bundle, after checking the
// bundle's signature; nothing is copied and no unit is written. Electron runs as Node
// (ELECTRON_RUN_AS_NODE) and loads the helper bundle from Resources/helper. A static plist cannot name the
// user who gets the control socket, so the loader gives it to the owner of the app bundle (the user who
// put Gangway in Applications).
import { HELPER_PROCESS_TYPE } from '../common/launchd-process-type';
import { xmlEscape } from '../common/xml-escape';

export const SM_LABEL = 'dev.gangway.helper';
/** The plist's file name: SMAppService.daemon(plistName:) and Electron's serviceName. */
export const SM_SERVICE_NAME = `${SM_LABEL}.plist`;
export const SM_PLIST_PATH = `Contents/Library/LaunchDaemons/${SM_SERVICE_NAME}`;

const LOG_DIR = '/Library/Logs/Gangway';
/**
 * Where launchd puts what the helper prints before its own log is open (a crash at start). launchd opens it
 * before the helper runs, and on this path nothing has made a folder for it yet (the helper makes LOG_DIR
 * only once it runs). Reports differ on whether launchd makes a missing folder (openclaw/openclaw#909: no;
 * LrGenius/LrGeniusAI#298: yes, where it may write), and a job whose output file cannot be opened exits 78
 * (EX_CONFIG) without running: a file directly in /Library/Logs, which macOS ships, needs no folder.
 */
export const SM_STDERR_LOG = '/Library/Logs/Gangway-helper.log';

/** The JavaScript Electron runs (-e): finds the bundle from its own binary, then starts the daemon. */
export function smDaemonLoader(): string {
  return [
    'const path = require("path"), fs = require("fs");',
    'const app = path.resolve(process.execPath, "../../..");',
    'const owner = fs.statSync(app);',
    'require(path.join(app, "Contents/Resources/helper/gangway.js"))',
    `  .main(["daemon", "--socket-owner", owner.uid + ":" + owner.gid, "--log-file", ${JSON.stringify(`${LOG_DIR}/gangway.log`)}, "--no-stderr-log"])`,
    '  .then((code) => { process.exitCode = code; }, (err) => { console.error(err); process.exitCode = 1; });',
  ].join('\n');
}

/** The plist the packaged app carries at Contents/Library/LaunchDaemons/dev.gangway.helper.plist. */
export function smAppServicePlist(productName = 'Gangway', appId = 'dev.gangway.app'): string {
  const s = (v: string) => `<string>${xmlEscape(v)}</string>`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key>
  ${s(SM_LABEL)}
  <key>BundleProgram</key>
  ${s(`Contents/MacOS/${productName}`)}
  <key>ProgramArguments</key>
  <array>
    ${s(productName)}
    ${s('-e')}
    ${s(smDaemonLoader())}
  </array>
  <key>EnvironmentVariables</key>
  <dict>
    <key>ELECTRON_RUN_AS_NODE</key>
    ${s('1')}
  </dict>
  <key>AssociatedBundleIdentifiers</key>
  <array>
    ${s(appId)}
  </array>
  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  <true/>
  <key>ProcessType</key>
  ${s(HELPER_PROCESS_TYPE)}
  <key>StandardErrorPath</key>
  ${s(SM_STDERR_LOG)}
</dict>
</plist>
`;
}
